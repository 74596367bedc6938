"""Old idempotency records are purged by a management command and a Celery task."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import IdempotencyRecord
from ormai_django.tasks import purge_idempotency_records
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7)


def keyed_write(customer, key, name):
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "id": customer.id,
            "data": {"preferred_name": name},
            "reason": "the customer asked",
            "idempotency_key": key,
        },
    }
    return execute(call, AGENT)


def age(key, hours):
    IdempotencyRecord.objects.filter(key=key).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )


def test_the_command_deletes_records_older_than_the_given_age():
    customer = CustomerFactory()
    keyed_write(customer, "old", "A")
    keyed_write(customer, "new", "B")
    age("old", 30)
    out = StringIO()

    call_command("ormai_purge_idempotency", "--older-than-hours", "24", stdout=out)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert "Deleted 1 idempotency record(s)" in out.getvalue()


def test_a_purged_key_runs_again_as_a_new_call():
    customer = CustomerFactory(preferred_name="")
    first = keyed_write(customer, "k", "A")
    age("k", 24 * 8)
    call_command("ormai_purge_idempotency", stdout=StringIO())  # default: 7 days

    again = keyed_write(customer, "k", "A")

    assert "idempotent_replay" not in again
    assert again["audit_id"] != first["audit_id"]


def test_the_command_follows_the_retention_setting():
    customer = CustomerFactory()
    keyed_write(customer, "k", "A")
    age("k", 2)

    with override_settings(
        ORMAI={
            "POLICY": "sandbox_project.shop.policy.build_policy",
            "IDEMPOTENCY_RETENTION": timedelta(hours=1),
        }
    ):
        call_command("ormai_purge_idempotency", stdout=StringIO())

    assert not IdempotencyRecord.objects.exists()


def test_a_negative_age_is_refused():
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("ormai_purge_idempotency", "--older-than-hours", "-1")


def test_the_celery_task_purges_and_returns_how_many():
    customer = CustomerFactory()
    keyed_write(customer, "a", "A")
    keyed_write(customer, "b", "B")
    age("a", 48)

    # .apply() runs the task as a worker would (eagerly, in this process).
    deleted = purge_idempotency_records.apply(kwargs={"older_than_seconds": 3600}).get()

    assert deleted == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["b"]
