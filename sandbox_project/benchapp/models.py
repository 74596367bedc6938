"""Two copies of ``shop.Order`` (the same columns, the same index on ``tenant_id``, the same
foreign key), each tracked by django-pghistory: one by a row-level trigger, one by a
statement-level trigger (a transition table, one trigger call per statement). The bench
updates them as it updates ``shop.Order`` and compares each with the bare
``QuerySet.update()`` of ``shop.Order``. Only updates are tracked: the bench's rows are made
with ``bulk_create`` and the inserts are not what is measured.
"""

import pghistory
from django.db import models


class TrackedOrderFields(models.Model):
    tenant_id = models.PositiveIntegerField(db_index=True)
    customer = models.ForeignKey("shop.Customer", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, default="pending")
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@pghistory.track(pghistory.UpdateEvent(level=pghistory.Row), model_name="RowTrackedOrderEvent")
class RowTrackedOrder(TrackedOrderFields):
    def __str__(self) -> str:
        return f"row-tracked order {self.pk}"


@pghistory.track(
    pghistory.UpdateEvent(level=pghistory.Statement), model_name="StatementTrackedOrderEvent"
)
class StatementTrackedOrder(TrackedOrderFields):
    def __str__(self) -> str:
        return f"statement-tracked order {self.pk}"
