"""Policies the shadow tests run live and as candidates (named by dotted path in settings)."""

from tests.support import shop_writes


def live():
    """Customer, Order and Note open to writes with their usual fields."""
    return shop_writes().build()


def tighter():
    """Every update of a customer waits for a human."""
    return (
        shop_writes()
        .require_approval(tool="db.update", model="Customer", id="customer-updates")
        .build()
    )


def looser():
    """The VIP flag becomes writable too."""
    return shop_writes().enable_writes(writable_fields={"Customer": ["is_vip"]}).build()


def broken():
    raise RuntimeError("this candidate was left half-written")


def refunds_live():
    """Refunds run freely."""
    return (
        shop_writes()
        .register_models(["shop.Refund"])
        .allow_tools(["shop.refund_order"])
        .require_approval(tool="db.update", model="Order", id="order-updates")
        .build()
    )


def refunds_held():
    """Refunds over 10.00 wait for a person."""
    return (
        shop_writes()
        .register_models(["shop.Refund"])
        .allow_tools(["shop.refund_order"])
        .require_approval(tool="db.update", model="Order", id="order-updates")
        .require_approval(
            tool="shop.refund_order",
            when=lambda call: call.data["amount_cents"] > 1000,
            id="big-refunds",
        )
        .build()
    )


def _queries_a_missing_table(call):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM ormai_no_such_table")
    return True


def failing_sql():
    """An approval rule whose when() runs a statement the database refuses."""
    return (
        shop_writes()
        .require_approval(tool="db.update", model="Customer", when=_queries_a_missing_table)
        .build()
    )
