"""The audit list's filters and paginator: none of them scans the whole ledger.

Django's ``AllValuesFieldListFilter`` lists its choices with ``SELECT DISTINCT`` over the
table, and its paginator counts every matching row; on a log of millions of rows each is a
scan on every page load. Here the choices come from what is known without a query (the
outcomes, the policy's tools and models), exact values (a run id, a principal, a tenant,
an error code) are typed into a box, and the count stops at ``COUNT_CAP`` rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ormai_django import names

# Rows the changelist counts at most: past it, the page says "more than 10,000" and pages
# through the newest 10,000 matches (narrow the filters to reach older ones).
COUNT_CAP = 10_000

# What the ledger names its own steps (not tool calls) and the built-in tools.
LEDGER_TOOLS = (
    *names.BUILTIN_TOOLS,
    names.ROLLBACK,
    names.APPROVAL_APPROVE,
    names.APPROVAL_DENY,
    names.APPROVAL_EXPIRE,
    names.APPROVAL_REMIND,
    names.APPROVAL_ESCALATE,
    names.BUDGET_RESET,
)
# What is not a write: reads, previews and the ledger's own steps (rollbacks are writes).
NOT_WRITES = (
    *names.READ_TOOLS,
    *names.DRY_RUN_TOOLS,
    names.APPROVAL_STATUS,
    names.APPROVAL_APPROVE,
    names.APPROVAL_DENY,
    names.APPROVAL_EXPIRE,
    names.APPROVAL_REMIND,
    names.APPROVAL_ESCALATE,
    names.BUDGET_RESET,
)


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``COUNT_CAP + 1`` rows: ``SELECT COUNT(*) FROM
    (SELECT ... LIMIT 10001)`` stops early where ``COUNT(*)`` of a large log reads it all.
    ``capped`` says whether more rows match than were counted."""

    @cached_property
    def count(self) -> int:
        # Only the keys, in no order: the count needs neither the list's sorting nor its
        # annotations (the queue's approvals-so-far subquery).
        return self.object_list.order_by().values("pk")[: COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def cap_display(self) -> str:
        return f"{COUNT_CAP:,}"


class ExactValueFilter(admin.ListFilter):
    """A text box whose value must equal the field's (``?run_id=write-run-2`` finds that
    run, not ``write-run-21``). Subclasses name ``parameter_name`` and ``title``."""

    parameter_name = ""
    template = "admin/ormai_django/auditevent/exact_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any):
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, None)
        # Django hands list filters a list of values per parameter since 5.0.
        if isinstance(value, list):
            value = value[-1] if value else None
        self.value = value.strip() if isinstance(value, str) else None
        if self.value is not None:
            self.used_parameters[self.parameter_name] = self.value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value is None:
            return queryset
        return queryset.filter(**{self.parameter_name: self.value})

    def choices(self, changelist: Any) -> list[dict[str, Any]]:
        # The form keeps the other filters: they go along as hidden fields.
        others = [
            (key, value)
            for key, values in changelist.filter_params.items()
            if key != self.parameter_name
            for value in values
        ]
        return [
            {
                "parameter_name": self.parameter_name,
                "value": self.value or "",
                "others": others,
                "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
                "selected": self.value is not None,
            }
        ]


class RunFilter(ExactValueFilter):
    title = _("run id (exact)")
    parameter_name = "run_id"


class PrincipalFilter(ExactValueFilter):
    title = _("principal (exact)")
    parameter_name = "principal"


class TenantFilter(ExactValueFilter):
    title = _("tenant (exact)")
    parameter_name = "tenant_id"


class ErrorCodeFilter(ExactValueFilter):
    title = _("error code (exact)")
    parameter_name = "error_code"


class KnownValuesFilter(admin.SimpleListFilter):
    """Choices known without a query; any other value in the URL still filters."""

    def known(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        values = list(dict.fromkeys(self.known()))
        current = self.value()
        if current and current not in values:
            values.append(current)
        return [(value, value) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.parameter_name: value})


class KindFilter(admin.SimpleListFilter):
    """Writes (what the dashboard's chart counts: every tool but reads, previews and the
    ledger's own steps) or reads."""

    title = _("kind of call")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("write", _("writes")), ("read", _("reads"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "write":
            return queryset.exclude(tool__in=NOT_WRITES)
        if self.value() == "read":
            return queryset.filter(tool__in=names.READ_TOOLS)
        return queryset


def configured_policy() -> Any:
    from ormai_django.errors import PolicyConfigurationError
    from ormai_django.policy.loading import get_policy

    try:
        return get_policy()
    except PolicyConfigurationError:
        return None


class ToolFilter(KnownValuesFilter):
    title = _("tool")
    parameter_name = "tool"

    def known(self) -> list[str]:
        policy = configured_policy()
        domain = sorted(policy.domain_tools) if policy is not None else []
        return [*LEDGER_TOOLS[:7], *domain, *LEDGER_TOOLS[7:]]


class ModelFilter(KnownValuesFilter):
    title = _("model")
    parameter_name = "model"

    def known(self) -> list[str]:
        policy = configured_policy()
        # The ledger names a model by its label ("shop.Order").
        return [mp.label for mp in policy.models] if policy is not None else []


def minute(now: dt.datetime) -> dt.datetime:
    return now.replace(second=0, microsecond=0)


class TimeRangeFilter(admin.FieldListFilter):
    """Last hour / 24 hours / 7 days, and any ``created_at__gte`` / ``created_at__lt`` range
    (the dashboard's links use them), shown with its time zone."""

    template = "admin/filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since = f"{field_path}__gte"
        self.until = f"{field_path}__lt"
        self.received = {}
        for key in (self.since, self.until):
            value = params.get(key)
            if value is not None:
                self.received[key] = value[-1] if isinstance(value, list) else value
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = _("time")
        now = minute(timezone.now())
        self.links = (
            (_("Any time"), {}),
            (_("Last hour"), {self.since: (now - dt.timedelta(hours=1)).isoformat()}),
            (_("Last 24 hours"), {self.since: (now - dt.timedelta(days=1)).isoformat()}),
            (_("Last 7 days"), {self.since: (now - dt.timedelta(days=7)).isoformat()}),
        )

    def expected_parameters(self) -> list[str]:
        return [self.since, self.until]

    def choices(self, changelist: Any):
        matched = False
        for title, params in self.links:
            selected = params == self.received
            matched = matched or selected
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string(params, [self.since, self.until]),
                "display": title,
            }
        if not matched:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": self.range_text(),
            }

    def range_text(self) -> str:
        def shown(key: str) -> str:
            try:
                value = dt.datetime.fromisoformat(self.received[key])
            except (KeyError, ValueError):
                return str(_("any time"))
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")

        return _("%(since)s to %(until)s") % {
            "since": shown(self.since),
            "until": shown(self.until),
        }
