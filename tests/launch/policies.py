"""A soft-launched policy, named by dotted path in the surface tests."""

from ormai_django import DEFAULT_PROD, PolicyBuilder


def tenant_seven_launch():
    """Customer names writable for tenant 7 only; orders' statuses for everyone."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order", "shop.Refund"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, tenants=[7])
        .allow_tools(["shop.refund_order"], tenants=[7])
        .build()
    )
