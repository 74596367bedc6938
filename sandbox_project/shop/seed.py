"""Deterministic demo data for the sandbox shop: two tenants, their customers and orders.

Everything comes from ``random.Random(42)`` and a fixed base time, and rows get
explicit ids, so every run of ``python manage.py seed_sandbox --reset`` writes
exactly the same rows and the demo transcript stays the same from run to run.

    Tenant 7 "Acme":   25 customers, their subscriptions, 88 orders, 180 notes,
                       and 1 prospect (a customer with no subscription, order or note)
    Tenant 8 "Globex": 10 customers, their subscriptions, 32 orders, 10 notes

Tenant 7 has enough notes for one bulk update to go past the sandbox policy's burst
bound (100 rows a minute), and a prospect whose delete cascades into nothing.

Customers carry the things a policy must protect: an email and a phone (masked
for agents), a password hash and an API token (denied to agents).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import string
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, models, transaction
from simple_history.utils import bulk_create_with_history

from sandbox_project.shop.models import (
    PRICE_PER_SEAT,
    Customer,
    Note,
    Order,
    Refund,
    Subscription,
)

SEED = 42
BASE_TIME = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
TENANTS = {7: "Acme", 8: "Globex"}
SHOP_MODELS: tuple[type[models.Model], ...] = (Customer, Subscription, Order, Note, Refund)
CHANGE_REASON = "sandbox seed"

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "ormai-demo"
ADMIN_URL = "http://127.0.0.1:8000/admin/"

# Full names are unique across tenants (the demo proves tenant 8's never show up
# in tenant 7's answers). "anna" matches customers in both tenants on purpose.
CUSTOMER_NAMES = {
    7: [
        "Ann Lee",
        "Hannah Okafor",
        "Marcus Webb",
        "Priya Raman",
        "Tomas Ortega",
        "Lena Fischer",
        "Omar Haddad",
        "Grace Kim",
        "Felix Moreau",
        "Sofia Rossi",
        "Daniel Novak",
        "Yuki Tanaka",
        "Chloe Martin",
        "Ibrahim Diallo",
        "Emma Johansson",
        "Lucas Silva",
        "Mei Chen",
        "Noah Schmidt",
        "Zara Ahmed",
        "Oliver Brooks",
        "Isabel Garcia",
        "Kofi Mensah",
        "Clara Dubois",
        "Ravi Patel",
        "Anna Kowalski",
    ],
    8: [
        "Johanna Berg",
        "Victor Hale",
        "Nadia Petrov",
        "Samuel Price",
        "Ingrid Holm",
        "Pablo Reyes",
        "Aisha Bello",
        "Henrik Lund",
        "Rosa Vidal",
        "Ethan Cole",
    ],
}
# Tenant 7's prospect signed up but has no subscription, order or note yet: deleting it
# cascades into nothing, so the demo can ask for a delete that DEFAULT_PROD allows.
PROSPECT_NAMES = {7: ["Theo Marsh"]}
ORDERS_PER_TENANT = {7: 88, 8: 32}
NOTES_PER_TENANT = {7: 180, 8: 10}
SOFT_DELETED_NOTES = 4

EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
PHONE_PREFIX = {7: "+1 415 555", 8: "+44 20 7946"}
SUPPORT_STAFF = {
    7: ("dana@support.acme.example", "li@support.acme.example"),
    8: ("max@help.globex.example", "eva@help.globex.example"),
}
CURRENCY_WEIGHTS = {7: {"EUR": 7, "USD": 2, "GBP": 1}, 8: {"USD": 6, "EUR": 3, "GBP": 1}}
ORDER_STATUS_WEIGHTS = {
    Order.Status.PENDING: 20,
    Order.Status.PAID: 30,
    Order.Status.SHIPPED: 35,
    Order.Status.CANCELLED: 8,
    Order.Status.REFUNDED: 7,
}
PLAN_WEIGHTS = {
    Subscription.Plan.BASIC: 5,
    Subscription.Plan.PRO: 3,
    Subscription.Plan.ENTERPRISE: 1,
}
SUBSCRIPTION_STATUS_WEIGHTS = {
    Subscription.Status.ACTIVE: 7,
    Subscription.Status.PAST_DUE: 2,
    Subscription.Status.CANCELLED: 1,
}
NOTE_BODIES = (
    "Asked how to add a second seat to the plan.",
    "Prefers to be contacted in the morning.",
    "Reported a late delivery; apologised and tracked the parcel.",
    "Wants invoices addressed to the finance team.",
    "Interested in the annual billing discount.",
    "Card declined twice; sent the payment update link.",
    "Asked for a refund on a duplicate order.",
    "Happy with the last release, asked about the API.",
    "Requested a call about upgrading to Enterprise.",
    "Changed shipping address for future orders.",
)


@dataclass(frozen=True)
class SeedSummary:
    """How many rows of each model the seed wrote."""

    customers: int
    prospects: int  # customers without subscription, order or note (counted in customers)
    subscriptions: int
    orders: int
    notes: int
    soft_deleted_notes: int


class ShopNotEmptyError(Exception):
    """The shop already has rows; seeding again would mix old and new data."""


def _weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _password_hash(rng: random.Random, email: str) -> str:
    # Looks like Django's hash but costs nothing to compute: nobody logs in as a customer.
    salt = "".join(rng.choices(string.ascii_letters + string.digits, k=22))
    digest = hashlib.sha256(f"{salt}:{email}".encode()).digest()
    return f"pbkdf2_sha256$1000000${salt}${base64.b64encode(digest).decode()}"


def _api_token(rng: random.Random) -> str:
    return "tok_live_" + "".join(rng.choices("0123456789abcdef", k=32))


def _customer(
    rng: random.Random, tenant: int, name: str, number: int, days_ago: tuple[int, int]
) -> Customer:
    """One customer, signed up between ``days_ago`` days before ``BASE_TIME``."""
    first, last = name.lower().split()
    email = f"{first}.{last}@{rng.choice(EMAIL_DOMAINS)}"
    return Customer(
        tenant_id=tenant,
        name=name,
        preferred_name=name.split()[0] if rng.random() < 0.3 else "",
        preferred_language=_weighted(rng, {"en": 6, "fr": 2, "de": 2, "es": 1}),
        email=email,
        phone=f"{PHONE_PREFIX[tenant]} {number:04d}",
        password_hash=_password_hash(rng, email),
        api_token=_api_token(rng),
        is_vip=rng.random() < 0.2,
        created_at=BASE_TIME
        - dt.timedelta(days=rng.randint(*days_ago), minutes=rng.randint(0, 1439)),
    )


def _customers(rng: random.Random) -> list[Customer]:
    customers = []
    for tenant, names in CUSTOMER_NAMES.items():
        phone_numbers = rng.sample(range(10_000), len(names))
        for name, number in zip(names, phone_numbers, strict=True):
            customers.append(_customer(rng, tenant, name, number, days_ago=(30, 720)))
    # Ids follow sign-up time across tenants, as in a real shared table.
    customers.sort(key=lambda c: c.created_at)
    for pk, customer in enumerate(customers, start=1):
        customer.pk = pk
    return customers


def _prospects(rng: random.Random, customers: list[Customer]) -> list[Customer]:
    """The newest sign-ups, with no subscription, order or note: ids after the customers'."""
    prospects = []
    for tenant, names in PROSPECT_NAMES.items():
        taken = {c.phone for c in customers if c.tenant_id == tenant}
        free = [n for n in range(10_000) if f"{PHONE_PREFIX[tenant]} {n:04d}" not in taken]
        for name, number in zip(names, rng.sample(free, len(names)), strict=True):
            prospects.append(_customer(rng, tenant, name, number, days_ago=(1, 3)))
    prospects.sort(key=lambda c: c.created_at)
    for pk, prospect in enumerate(prospects, start=len(customers) + 1):
        prospect.pk = pk
    return prospects


def _subscriptions(rng: random.Random, customers: list[Customer]) -> list[Subscription]:
    subscriptions = []
    for customer in customers:
        plan = _weighted(rng, PLAN_WEIGHTS)
        seats = {
            Subscription.Plan.BASIC: 1,
            Subscription.Plan.PRO: rng.randint(2, 10),
            Subscription.Plan.ENTERPRISE: rng.randint(10, 200),
        }[plan]
        status = _weighted(rng, SUBSCRIPTION_STATUS_WEIGHTS)
        renews_in = rng.randint(1, 60) if status != Subscription.Status.CANCELLED else 0
        subscriptions.append(
            Subscription(
                pk=len(subscriptions) + 1,
                tenant_id=customer.tenant_id,
                customer=customer,
                plan=plan,
                status=status,
                seats=seats,
                # Most of a team's seats are in use (the change_plan tool keeps them).
                seats_in_use=max(1, seats * 3 // 4),
                monthly_price=PRICE_PER_SEAT[plan] * seats,
                renews_on=(BASE_TIME + dt.timedelta(days=renews_in)).date(),
            )
        )
    return subscriptions


def _orders(rng: random.Random, customers: list[Customer]) -> list[Order]:
    orders = []
    for tenant, count in ORDERS_PER_TENANT.items():
        mine = [c for c in customers if c.tenant_id == tenant]
        for _ in range(count):
            status = _weighted(rng, ORDER_STATUS_WEIGHTS)
            # Pending orders are recent; the rest spread over the last three months.
            days_ago = rng.randint(0, 9) if status == Order.Status.PENDING else rng.randint(3, 90)
            created_at = BASE_TIME - dt.timedelta(days=days_ago, minutes=rng.randint(1, 1439))
            shipped_at = None
            if status in (Order.Status.SHIPPED, Order.Status.REFUNDED):
                shipped_at = min(created_at + dt.timedelta(hours=rng.randint(6, 96)), BASE_TIME)
            orders.append(
                Order(
                    tenant_id=tenant,
                    customer=rng.choice(mine),
                    status=status,
                    total_cents=rng.randint(5, 600) * 100 + rng.choice((0, 50, 99)),
                    currency=_weighted(rng, CURRENCY_WEIGHTS[tenant]),
                    created_at=created_at,
                    shipped_at=shipped_at,
                )
            )
    orders.sort(key=lambda o: o.created_at)
    for pk, order in enumerate(orders, start=1):
        order.pk = pk
    return orders


def _notes(rng: random.Random, customers: list[Customer]) -> list[Note]:
    notes = []
    for tenant, count in NOTES_PER_TENANT.items():
        mine = [c for c in customers if c.tenant_id == tenant]
        for _ in range(count):
            created_at = BASE_TIME - dt.timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
            notes.append(
                Note(
                    tenant_id=tenant,
                    customer=rng.choice(mine),
                    body=rng.choice(NOTE_BODIES),
                    author_email=rng.choice(SUPPORT_STAFF[tenant]),
                    created_at=created_at,
                )
            )
    notes.sort(key=lambda n: n.created_at)
    for pk, note in enumerate(notes, start=1):
        note.pk = pk
    for note in rng.sample(notes, SOFT_DELETED_NOTES):
        note.deleted_at = min(note.created_at + dt.timedelta(days=1), BASE_TIME)
    return notes


def delete_shop_rows() -> None:
    """Delete every row of the shop and its django-simple-history records."""
    for model in reversed(SHOP_MODELS):
        model._default_manager.all().delete()
        model.history.model._default_manager.all().delete()


def _reset_sequences() -> None:
    # Rows were inserted with explicit ids: move PostgreSQL's sequences past them
    # (a no-op on SQLite) so later creates, from the admin or an agent, don't collide.
    statements = connection.ops.sequence_reset_sql(no_style(), list(SHOP_MODELS))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@transaction.atomic
def seed_shop(reset: bool = False) -> SeedSummary:
    """Write the demo data; with ``reset``, delete the shop's rows (and history) first.

    Raises :class:`ShopNotEmptyError` when the shop has rows and ``reset`` is false.
    """
    if reset:
        delete_shop_rows()
    elif any(model._default_manager.exists() for model in SHOP_MODELS):
        raise ShopNotEmptyError("The shop already has data; pass --reset to replace it.")
    rng = random.Random(SEED)
    customers = _customers(rng)
    subscriptions = _subscriptions(rng, customers)
    orders = _orders(rng, customers)
    notes = _notes(rng, customers)
    prospects = _prospects(rng, customers)  # drawn last: the rows before them stay the same
    for model, rows in (
        (Customer, customers + prospects),
        (Subscription, subscriptions),
        (Order, orders),
        (Note, notes),
    ):
        bulk_create_with_history(
            rows, model, default_change_reason=CHANGE_REASON, default_date=BASE_TIME
        )
    _reset_sequences()
    return SeedSummary(
        customers=len(customers) + len(prospects),
        prospects=len(prospects),
        subscriptions=len(subscriptions),
        orders=len(orders),
        notes=len(notes),
        soft_deleted_notes=sum(1 for n in notes if n.deleted_at is not None),
    )


def ensure_demo_admin() -> None:
    """Create the demo superuser, or give it back its demo password and rights."""
    user_model = get_user_model()
    user, _ = user_model._default_manager.get_or_create(
        username=ADMIN_USERNAME, defaults={"email": "admin@example.com"}
    )
    user.is_active = user.is_staff = user.is_superuser = True
    user.set_password(ADMIN_PASSWORD)
    user.save()
