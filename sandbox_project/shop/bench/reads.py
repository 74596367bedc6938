"""The read paths of ``ormai_bench``: ratios to the bare ORM and statement counts.

- ``db.query``: ``--rows`` rows of the sandbox ``Customer`` (email and phone
  masked, secrets denied) against
  ``list(Customer.objects.filter(tenant_id=7).order_by("id").values(<the same
  visible fields>)[:rows])``. Target: at most 2.0x.
- ``db.get``: one ``Customer`` by id against ``.filter(pk=...).values(...).first()``.
- ``db.aggregate``: count and sum of ``Order`` grouped by ``status`` against
  ``.values("status").annotate(...)``.
- The SQL statements one call issues, the audit ``INSERT`` included: ``db.get``
  (target: at most 3), ``db.query`` and ``db.aggregate``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum

from sandbox_project.shop.bench.cases import TENANT, Bench, Case, StatementCase

QUERY_TARGET = 2.0
GET_STATEMENTS_TARGET = 3


def read_cases(bench: Bench) -> list[Case]:
    customer, order = bench.models["Customer"], bench.models["Order"]
    fields = bench.visible_fields(customer)
    rows = bench.rows
    pk = bench.customer_ids[len(bench.customer_ids) // 2]

    def same_ids(bare: list[dict[str, Any]], tool: dict[str, Any]) -> bool:
        if tool["outcome"] != "ok" or [r["id"] for r in tool["rows"]] != [r["id"] for r in bare]:
            return False
        # The tool must be doing the masking work the case is named after.
        return any(t["email"] != b["email"] for t, b in zip(tool["rows"], bare, strict=True))

    def same_groups(bare: list[dict[str, Any]], tool: dict[str, Any]) -> bool:
        if tool["outcome"] != "ok":
            return False
        return {g["status"]: g["n"] for g in tool["groups"]} == {r["status"]: r["n"] for r in bare}

    aggregations = {"n": {"count": "id"}, "total": {"sum": "total_cents"}}
    return [
        Case(
            f"db.query {rows} rows, masked",
            lambda: list(
                customer.objects.filter(tenant_id=TENANT).order_by("id").values(*fields)[:rows]
            ),
            bench.tool("db.query", model="Customer", limit=rows),
            target=QUERY_TARGET,
            agree=same_ids,
        ),
        Case(
            "db.get 1 row, masked",
            lambda: customer.objects.filter(tenant_id=TENANT, pk=pk).values(*fields).first(),
            bench.tool("db.get", model="Customer", id=pk),
            agree=lambda bare, tool: tool["outcome"] == "ok" and tool["row"]["id"] == bare["id"],
        ),
        Case(
            "db.aggregate group_by status",
            lambda: list(
                order.objects.filter(tenant_id=TENANT)
                .values("status")
                .annotate(n=Count("id"), total=Sum("total_cents"))
                .order_by("status")
            ),
            bench.tool("db.aggregate", model="Order", group_by="status", aggregations=aggregations),
            agree=same_groups,
        ),
    ]


def read_statement_cases(bench: Bench) -> list[StatementCase]:
    pk = bench.customer_ids[0]
    return [
        StatementCase(
            "db.get", bench.tool("db.get", model="Customer", id=pk), GET_STATEMENTS_TARGET
        ),
        StatementCase(
            f"db.query ({bench.rows} rows)",
            bench.tool("db.query", model="Customer", limit=bench.rows),
        ),
        StatementCase(
            "db.aggregate",
            bench.tool(
                "db.aggregate",
                model="Order",
                group_by="status",
                aggregations={"n": {"count": "id"}},
            ),
        ),
    ]
