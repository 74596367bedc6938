"""The sandbox's example data: a multi-tenant shop an agent supports.

Every model carries ``tenant_id`` (the policy scopes reads by it) and
django-simple-history's ``HistoricalRecords``. Customers keep secrets
(``password_hash``, ``api_token``) and personal data (``email``, ``phone``) so
the policy has something to deny and to mask.
"""

from decimal import Decimal

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from ormai_django import agent_model


class Customer(models.Model):
    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        FRENCH = "fr", "French"
        GERMAN = "de", "German"
        SPANISH = "es", "Spanish"

    tenant_id = models.PositiveIntegerField(db_index=True)
    name = models.CharField(max_length=120)
    preferred_name = models.CharField(max_length=80, blank=True)
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    password_hash = models.CharField(max_length=128)
    api_token = models.CharField(max_length=64, blank=True)
    is_vip = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.name


class Subscription(models.Model):
    class Plan(models.TextChoices):
        BASIC = "basic", "Basic"
        PRO = "pro", "Pro"
        ENTERPRISE = "enterprise", "Enterprise"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELLED = "cancelled", "Cancelled"

    tenant_id = models.PositiveIntegerField(db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.BASIC)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    seats = models.PositiveIntegerField(default=1)
    # How many seats the customer's team uses now: a plan change can't go below it.
    seats_in_use = models.PositiveIntegerField(default=1)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2)
    renews_on = models.DateField()

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.plan}"


# Monthly price per seat of each plan (bigger plans cost less per seat).
PRICE_PER_SEAT = {
    Subscription.Plan.BASIC: Decimal("29.00"),
    Subscription.Plan.PRO: Decimal("19.00"),
    Subscription.Plan.ENTERPRISE: Decimal("12.00"),
}


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    tenant_id = models.PositiveIntegerField(db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"order {self.pk}"


@agent_model(soft_delete_field="deleted_at", mask_fields=["author_email"])
class Note(models.Model):
    tenant_id = models.PositiveIntegerField(db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()
    author_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"note {self.pk}"


class Refund(models.Model):
    """Money given back on an order (the domain tool shop.refund_order makes them). A refund
    is never edited away: undoing one is a reversal (``reversed_at``), a write of its own."""

    tenant_id = models.PositiveIntegerField(db_index=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveIntegerField()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"refund {self.pk} of order {self.order_id}"
