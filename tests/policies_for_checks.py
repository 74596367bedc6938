"""Small policies that ORMAI["POLICY"] points at in tests/policy/test_system_checks.py.

Each is a callable returning a Policy (built lazily, as a project's policy is), except
``NOT_A_POLICY``, which is what a typo in the setting might name.
"""

from datetime import timedelta

from ormai_django import DEFAULT_PROD, Policy, PolicyBuilder

NOT_A_POLICY = {"models": ["shop.Customer"]}


def good_policy() -> Policy:
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order"])
        .mask_fields(["customer.email"])
        .tenant_scope("tenant_id")
        .enable_writes(models=["Customer"], writable_fields={"Customer": ["preferred_name"]})
        .build()
    )


def group_only_policy() -> Policy:
    return PolicyBuilder(DEFAULT_PROD).register_models(["auth.Group"]).build()


def unknown_model_policy() -> Policy:
    return PolicyBuilder(DEFAULT_PROD).register_models(["shop.Customer", "shop.Invoice"]).build()


def unknown_field_policy() -> Policy:
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer"])
        .mask_fields(["customer.nickname"])
        .build()
    )


def tenant_scope_without_field_policy() -> Policy:
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "auth.Group"])
        .tenant_scope("tenant_id")
        .build()
    )


def many_problems_policy() -> Policy:
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "auth.Group", "shop.Invoice"])
        .mask_fields(["customer.nickname"])
        .tenant_scope("tenant_id")
        .build()
    )


def writes_without_history_policy() -> Policy:
    """auth.Group is installed and has no django-simple-history HistoricalRecords."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["auth.Group", "shop.Customer"])
        .enable_writes(
            models=["auth.Group", "Customer"],
            writable_fields={"auth.Group": ["name"], "Customer": ["preferred_name"]},
        )
        .build()
    )


def read_only_model_without_history_policy() -> Policy:
    return PolicyBuilder(DEFAULT_PROD).register_models(["auth.Group", "shop.Customer"]).build()


# A Policy instance (not a callable): ORMAI["POLICY"] may name one directly. Built at import,
# which import_string does only when the setting is read, after the app registry is ready.
GROUP_POLICY_INSTANCE = group_only_policy()


def raises_value_error():
    """A factory whose builder call is refused (approvers must be positive)."""
    return PolicyBuilder().register_models(["shop.Order"]).require_approval(approvers=0).build()


def dead_rules_policy() -> Policy:
    """Rules on models that nothing opens to writes: they can never apply."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order", "shop.Note"])
        .enable_writes(models=["Customer"], writable_fields={"Customer": ["preferred_name"]})
        .require_approval(tool="db.update", model="Order")
        .require_approval(tool="db.delete", model="Customer", approvers=2)
        .require_approval(tool="db.update")
        .bounded_burst(model="Note", max_calls=5, max_rows=10, per=timedelta(minutes=1))
        .build()
    )


def allows_a_ghost_tool():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Order"])
        .allow_tools(["shop.refund_order", "ghost.haunt"])
        .build()
    )


def allows_refunds_without_their_models():
    """shop.refund_order writes Order and Refund; this policy registers only Order."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Order"])
        .allow_tools(["shop.refund_order"])
        .build()
    )
