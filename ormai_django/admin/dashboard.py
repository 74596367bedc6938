"""The audit dashboard (DESIGN section 14): what the agents did in the last hour, day and
week, writes per hour as a chart, who and what they touched most, and the held calls
waiting by age. Every figure links into the audit list or the approval queue filtered to
the rows it counts.

Six queries whatever the size of the log, each bounded by ``created_at`` (the week at
most) or by ``status = 'pending'``. They count ``created_at`` (never null) rather than the
id, so on PostgreSQL they read only the covering index of migration 0016 (an index-only
scan; docs/dashboard.md shows their plans).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.audit_filters import NOT_WRITES, minute
from ormai_django.admin.chart import Bar, bar_chart
from ormai_django.models import ApprovalRequest, AuditEvent

WINDOWS = (
    ("hour", _("last hour"), dt.timedelta(hours=1)),
    ("day", _("last 24 hours"), dt.timedelta(days=1)),
    ("week", _("last 7 days"), dt.timedelta(days=7)),
)
CHART_HOURS = 24
TOP = 8
AGE_BUCKETS = (
    (_("under 1 hour"), dt.timedelta(0), dt.timedelta(hours=1)),
    (_("1 to 24 hours"), dt.timedelta(hours=1), dt.timedelta(days=1)),
    (_("1 to 7 days"), dt.timedelta(days=1), dt.timedelta(days=7)),
    (_("older than 7 days"), dt.timedelta(days=7), None),
)


@dataclass(frozen=True)
class Figure:
    """One number on the dashboard and the filtered list that shows its rows."""

    label: Any
    count: int
    url: str


def audit_list_url(**params: Any) -> str:
    url = reverse("admin:ormai_django_auditevent_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def approval_list_url(**params: Any) -> str:
    return f"{reverse('admin:ormai_django_approvalrequest_changelist')}?{urlencode(params)}"


def outcome_table(now: dt.datetime) -> dict[str, Any]:
    """Counts by outcome for the last hour, day and week: one query over the week."""
    starts = {key: now - span for key, _label, span in WINDOWS}
    rows = (
        AuditEvent.objects.filter(created_at__gte=starts["week"], created_at__lt=now)
        .order_by()
        .values("outcome")
        .annotate(
            **{
                key: Count("created_at", filter=Q(created_at__gte=starts[key]))
                for key, _label, _span in WINDOWS
            }
        )
    )
    found = {row["outcome"]: row for row in rows}
    lines = []
    totals = dict.fromkeys(starts, 0)
    for outcome, label in AuditEvent.Outcome.choices:
        cells = []
        for key, _label, _span in WINDOWS:
            count = found.get(outcome, {}).get(key, 0)
            totals[key] += count
            since = starts[key].isoformat()
            url = audit_list_url(outcome__exact=outcome, created_at__gte=since)
            cells.append(Figure(label, count, url))
        lines.append({"outcome": outcome, "label": label, "cells": cells})
    total_cells = [
        Figure(_("all"), totals[key], audit_list_url(created_at__gte=starts[key].isoformat()))
        for key, _label, _span in WINDOWS
    ]
    return {
        "windows": [label for _key, label, _span in WINDOWS],
        "lines": lines,
        "totals": total_cells,
    }


def writes_per_hour(now: dt.datetime, hours: int = CHART_HOURS) -> list[Bar]:
    """Writes per hour (executed, and refused or held) for the last ``hours`` hours, oldest
    first, an hour with none included: one query."""
    # Hours as the viewer's clock shows them; stepped in UTC so a DST change doesn't skew.
    last = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    first = last.astimezone(dt.UTC) - dt.timedelta(hours=hours - 1)
    rows = (
        AuditEvent.objects.filter(created_at__gte=first)
        .exclude(tool__in=NOT_WRITES)
        .order_by()
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(
            executed=Count("created_at", filter=Q(outcome=AuditEvent.Outcome.OK)),
            refused=Count("created_at", filter=~Q(outcome=AuditEvent.Outcome.OK)),
        )
    )
    by_hour = {row["hour"]: row for row in rows}
    bars = []
    for step in range(hours):
        start = timezone.localtime(first + dt.timedelta(hours=step))
        row = by_hour.get(start, {})
        end = start + dt.timedelta(hours=1)
        window = {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}
        bars.append(
            Bar(
                start=start,
                executed=row.get("executed", 0),
                refused=row.get("refused", 0),
                executed_url=audit_list_url(kind="write", outcome__exact="ok", **window),
                refused_url=audit_list_url(kind="write", **window),
            )
        )
    return bars


def top_values(field: str, since: dt.datetime, filter_param: str) -> list[Figure]:
    """The ``TOP`` most frequent non-empty values of ``field`` since ``since``: one query."""
    rows = (
        AuditEvent.objects.filter(created_at__gte=since)
        .exclude(**{field: ""})
        .order_by()
        .values(field)
        .annotate(n=Count("*"))
        .order_by("-n", field)[:TOP]
    )
    return [
        Figure(
            row[field],
            row["n"],
            audit_list_url(**{filter_param: row[field], "created_at__gte": since.isoformat()}),
        )
        for row in rows
    ]


def pending_by_age(now: dt.datetime) -> dict[str, Any]:
    """Pending approvals by how long they have waited, and how many are past their expiry:
    one query."""
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
    counts: dict[str, Any] = {"overdue": Count("created_at", filter=Q(expires_at__lte=now))}
    for index, (_label, young, old) in enumerate(AGE_BUCKETS):
        window = Q(created_at__lte=now - young)
        if old is not None:
            window &= Q(created_at__gt=now - old)
        counts[f"b{index}"] = Count("created_at", filter=window)
    found = pending.order_by().aggregate(**counts)
    buckets = []
    for index, (label, young, old) in enumerate(AGE_BUCKETS):
        params = {"status__exact": "pending", "created_at__lte": (now - young).isoformat()}
        if old is not None:
            params["created_at__gt"] = (now - old).isoformat()
        buckets.append(Figure(label, found[f"b{index}"] or 0, approval_list_url(**params)))
    overdue = Figure(
        _("past their expiry"),
        found["overdue"] or 0,
        approval_list_url(status__exact="pending", expires_at__lte=now.isoformat()),
    )
    return {"buckets": buckets, "overdue": overdue}


def dashboard_context(now: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the dashboard at ``now`` (default: this minute)."""
    now = minute(now or timezone.now())
    week = now - dt.timedelta(days=7)
    bars = writes_per_hour(now)
    return {
        "now": timezone.localtime(now),
        "outcomes": outcome_table(now),
        "bars": bars,
        "chart": bar_chart(bars),
        "top": [
            (_("Principals"), top_values("principal", week, "principal")),
            (_("Models"), top_values("model", week, "model")),
            (_("Error codes"), top_values("error_code", week, "error_code")),
        ],
        "pending": pending_by_age(now),
    }


def dashboard_page(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The dashboard's page in the admin, for users who may view the audit log."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Agent activity"),
        "audit_list_url": audit_list_url(),
        **dashboard_context(),
    }
    return TemplateResponse(request, "admin/ormai_django/dashboard/dashboard.html", context)
