"""Act 1 of the demo: the agent reads, and the policy keeps it inside its lane."""

from __future__ import annotations

from sandbox_project.shop.demo.runner import HostFacts, Step
from sandbox_project.shop.models import Order
from sandbox_project.shop.seed import TENANTS


def read_steps(facts: HostFacts) -> list[Step]:
    """Act 1: the agent reads, and the policy keeps it inside its lane."""
    pending = {
        "model": "Order",
        "where": {"status": "pending"},
        "fields": ["customer", "status", "total_cents", "currency", "created_at"],
        "order_by": ["-created_at"],
        "limit": 3,
    }
    return [
        Step(
            "First the agent asks what it may see of customers (without 'model', db.describe "
            "covers every model): fields, which are masked, what it may write, which lookups "
            "'where' accepts. Secrets (password_hash, api_token) aren't even listed.",
            {"name": "db.describe", "arguments": {"model": "Customer"}},
        ),
        Step(
            "A user asks about open orders. The agent lists pending orders, newest first, "
            "three at a time. Only tenant 7's rows exist for it.",
            {"name": "db.query", "arguments": pending},
        ),
        Step(
            "It asks for the next page by passing next_cursor back (an opaque, signed token).",
            lambda run: {
                "name": "db.query",
                "arguments": {**pending, "cursor": run.last["next_cursor"]},
            },
        ),
        Step(
            "It opens the customer behind the newest pending order. Email and phone come "
            "back masked; the password hash and API token are simply not there.",
            lambda run: {
                "name": "db.get",
                "arguments": {"model": "Customer", "id": run.results[1]["rows"][0]["customer"]},
            },
        ),
        Step(
            "Revenue of EUR orders by status: db.aggregate with group_by, "
            "computed by the database.",
            {
                "name": "db.aggregate",
                "arguments": {
                    "model": "Order",
                    "where": {"currency": "EUR"},
                    "aggregations": {
                        "orders": {"count": "id"},
                        "revenue_cents": {"sum": "total_cents"},
                    },
                    "group_by": "status",
                },
            },
        ),
        Step(
            "Orders of customers whose name contains 'anna', through the customer relation. "
            f"{TENANTS[8]} (tenant 8) has an 'anna' too; the relation is scoped, "
            "so its orders stay out.",
            {
                "name": "db.query",
                "arguments": {
                    "model": "Order",
                    "where": {"customer__name__icontains": "anna"},
                    "fields": ["customer", "status", "total_cents", "currency"],
                },
            },
            aside=lambda run: (
                "Host check: the table holds "
                f"{Order.objects.filter(customer__name__icontains='anna').count()} orders of "
                f"'anna' customers across both tenants; the agent got {run.last['count']}."
            ),
        ),
        Step(
            "Guard rail: email is masked, so it can't be filtered either; otherwise "
            "a filter would reveal the address one guess at a time.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "where": {"email__iendswith": "@example.com"}},
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            "Guard rail: the agent asks for password_hash by name. Denied, not silently dropped.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "fields": ["name", "password_hash"]},
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            "Guard rail: nor can it test a secret through a relation.",
            {
                "name": "db.query",
                "arguments": {
                    "model": "Order",
                    "where": {"customer__password_hash__startswith": "pbkdf2"},
                },
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            f"Guard rail: customer {facts.other_tenant_customer_id} exists, but belongs to "
            f"{TENANTS[8]} (tenant 8). The answer is NOT_FOUND...",
            {
                "name": "db.get",
                "arguments": {"model": "Customer", "id": facts.other_tenant_customer_id},
            },
            expect="error NOT_FOUND",
        ),
        Step(
            f"...exactly what a customer that doesn't exist (id {facts.missing_customer_id}) "
            "gets, so the agent can't even learn that the row is there.",
            {"name": "db.get", "arguments": {"model": "Customer", "id": facts.missing_customer_id}},
            expect="error NOT_FOUND",
        ),
        Step(
            "Guard rail: only allow-listed lookups pass; a regex is not one of them.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "where": {"name__regex": "^A"}},
            },
            expect="denied LOOKUP_NOT_ALLOWED",
        ),
        Step(
            "A value the field can't take is an error the agent can act on, "
            "not a database exception.",
            {
                "name": "db.query",
                "arguments": {"model": "Order", "where": {"created_at__gte": "last tuesday"}},
            },
            expect="error INVALID_ARGUMENTS",
        ),
        Step(
            "A malformed call (the JSON string is cut short) is an error, never a traceback.",
            '{"name": "db.query", "arguments": {"model": "Order", "where": {"status": "paid"}',
            expect="error INVALID_JSON",
        ),
    ]
