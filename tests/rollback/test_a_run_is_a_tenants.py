"""A run is (tenant, run id): agents of two tenants may use the same run id, and rolling back
tenant 7's run must not revert tenant 8's writes (issue 19, attack 5). Tenant ids are
normalised once, by the tenant field's type, so ``"07"`` is tenant 7 wherever it is compared
(attack 7)."""

import pytest

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.errors import RollbackError
from ormai_django.models import AuditEvent
from ormai_django.rollback import rollback_run
from sandbox_project.shop.models import Order
from tests.factories import SubscriptionFactory
from tests.rollback.test_rollback_command import manage
from tests.support import cancel_customer_orders

pytestmark = pytest.mark.django_db

RUN = "nightly-cleanup"


def both_tenants_cancel_orders():
    """Tenant 7's agent and tenant 8's each cancel their own orders under one run id."""
    seven = cancel_customer_orders(ToolContext(principal="agent:a", tenant_id=7, run_id=RUN))[1]
    eight = cancel_customer_orders(ToolContext(principal="agent:b", tenant_id=8, run_id=RUN))[1]
    return seven, eight


def statuses(orders):
    return [Order.objects.get(pk=o.pk).status for o in orders]


def test_a_run_id_two_tenants_used_is_refused_without_a_tenant_and_nothing_changes():
    seven, eight = both_tenants_cancel_orders()

    with pytest.raises(RollbackError) as refused:
        rollback_run(RUN, actor="ops:kim")
    status, _, err = manage("--run", RUN, "--actor", "ops:kim")

    assert refused.value.code == "AMBIGUOUS_RUN"
    assert "7, 8" in refused.value.message
    assert status == 2 and "AMBIGUOUS_RUN" in err and "--tenant" in err
    assert statuses(seven) == statuses(eight) == ["cancelled", "cancelled"]


@pytest.mark.parametrize("tenant", ["7", "07"])
def test_rolling_back_tenant_7s_run_leaves_tenant_8s_write_alone(tenant):
    seven, eight = both_tenants_cancel_orders()

    status, out, err = manage("--run", RUN, "--tenant", tenant, "--actor", "ops:kim")

    assert status == 0, err
    assert "2 row(s) restored" in out
    assert statuses(seven) == ["pending", "pending"]
    assert statuses(eight) == ["cancelled", "cancelled"]
    (rollback,) = AuditEvent.objects.filter(tool="rollback")
    assert rollback.tenant_id == "7"


def test_tenant_goes_with_run_only():
    status, _, err = manage("aud_whatever", "--tenant", "7")

    assert status == 2 and "--tenant goes with --run" in err


def test_a_tenant_given_as_07_is_tenant_7_in_the_audit_and_for_approval_status():
    subscription = SubscriptionFactory(tenant_id=7, seats=1)
    padded = ToolContext(principal="agent:support-bot", tenant_id="07", run_id="r")
    plain = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="r")
    held = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"seats": 4},
                "reason": "The team grew to four",
            },
        },
        plain,
    )
    assert held["outcome"] == "pending_approval", held

    looked = execute(
        {"name": "approval.status", "arguments": {"approval_id": held["approval_id"]}}, padded
    )
    approve(held["approval_id"], "lee@example.com")
    again = execute(
        {"name": "approval_status", "arguments": {"approval_id": held["approval_id"]}}, padded
    )

    assert looked["outcome"] == "ok", looked
    assert looked["status"] == "pending"
    assert again["status"] == "executed"
    assert AuditEvent.objects.get(id=looked["audit_id"]).tenant_id == "7"
