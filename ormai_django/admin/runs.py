"""The run page: every event of one agent run, in order, the ledger read as a story:
what the agent read, what it was refused, what it proposed, who approved it and why,
what each write changed (before and after), and what was rolled back.

A run is a tenant's (agents of two tenants may use the same run id), so the page is for one
``(tenant_id, run_id)``. It shows ``EVENTS_PER_PAGE`` events a page in three queries: the
page of the run's events, the rollbacks of its writes, and whether there are more.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ormai_django import names
from ormai_django.admin.audit_filters import NOT_WRITES
from ormai_django.admin.dashboard import audit_list_url
from ormai_django.models import AuditEvent

EVENTS_PER_PAGE = 200
# Rows of a write's before/after table shown on the run page; the event's page has them all.
ROWS_PER_WRITE = 20
VALUE_CHARS = 60

KINDS = {
    "read": _("read"),
    "proposal": _("held for approval"),
    "approval": _("approval"),
    "denial": _("refused"),
    "error": _("failed"),
    "write": _("write"),
    "preview": _("dry run"),
    "rollback": _("rollback"),
    "step": _("step"),
}


def run_url(tenant_id: str, run_id: str, page: int = 1) -> str:
    params = {"tenant_id": tenant_id, "run_id": run_id}
    if page > 1:
        params["page"] = page
    return f"{reverse('admin:ormai_django_auditevent_run')}?{urlencode(params)}"


def kind_of(event: AuditEvent) -> str:
    """What the event is in the run's story (see ``KINDS``)."""
    if event.tool == names.ROLLBACK:
        return "rollback"
    if event.tool in (names.APPROVAL_APPROVE, names.APPROVAL_DENY, names.APPROVAL_EXPIRE):
        return "approval"
    if event.outcome == AuditEvent.Outcome.PENDING_APPROVAL:
        return "proposal"
    if event.outcome == AuditEvent.Outcome.DENIED:
        return "denial"
    if event.outcome == AuditEvent.Outcome.ERROR:
        return "error"
    if event.outcome == AuditEvent.Outcome.DRY_RUN:
        return "preview"
    if event.tool in names.READ_TOOLS:
        return "read"
    if event.tool in NOT_WRITES:
        return "step"
    return "write"


def shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text


def change_lines(event: AuditEvent) -> tuple[list[dict[str, Any]], int]:
    """The first ``ROWS_PER_WRITE`` rows of a write's ``changes`` as table lines (model, pk,
    field, before, after), and how many rows were left out."""
    entries = event.changes if isinstance(event.changes, list) else []
    lines = []
    for entry in entries[:ROWS_PER_WRITE]:
        if not isinstance(entry, dict):
            continue
        before = entry.get("before") if isinstance(entry.get("before"), dict) else None
        after = entry.get("after") if isinstance(entry.get("after"), dict) else None
        fields = list(dict.fromkeys([*(before or {}), *(after or {})]))
        for name in fields:
            old = (before or {}).get(name, ...)
            new = (after or {}).get(name, ...)
            lines.append(
                {
                    "model": entry.get("model") or event.model,
                    "pk": shown(entry.get("pk")),
                    "field": name,
                    "before": "" if before is None or old is ... else shown(old),
                    "after": "" if after is None or new is ... else shown(new),
                    "changed": old != new,
                }
            )
    return lines, max(0, len(entries) - ROWS_PER_WRITE)


def arguments_text(event: AuditEvent) -> str:
    if event.arguments in (None, {}):
        return ""
    text = json.dumps(event.arguments, ensure_ascii=False, sort_keys=True)
    return Truncator(text).chars(240)


def run_page(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The page of ``?tenant_id=...&run_id=...`` (``&page=N`` for later events)."""
    tenant_id = request.GET.get("tenant_id", "")
    run_id = request.GET.get("run_id", "")
    if not run_id:
        return HttpResponseBadRequest(_("Which run? Give ?run_id= (and ?tenant_id=)."))
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * EVENTS_PER_PAGE
    found = list(
        AuditEvent.objects.filter(tenant_id=tenant_id, run_id=run_id)
        .select_related("approval")
        .order_by("created_at", "id")[start : start + EVENTS_PER_PAGE + 1]
    )
    more = len(found) > EVENTS_PER_PAGE
    events = found[:EVENTS_PER_PAGE]
    writes = [e.pk for e in events if kind_of(e) == "write"]
    # Rollbacks carry another run id ("rollback:<run>", or none when one write was undone).
    rollbacks = list(
        AuditEvent.objects.filter(tool=names.ROLLBACK, caused_by__in=writes)
        .exclude(run_id=run_id, tenant_id=tenant_id)
        .order_by("created_at", "id")
    )
    undone = {r.caused_by_id for r in rollbacks if r.outcome == AuditEvent.Outcome.OK}
    may_roll_back = model_admin.has_rollback_permission(request)
    timeline = sorted([*events, *rollbacks], key=lambda e: (e.created_at, e.pk))
    entries = []
    for event in timeline:
        kind = kind_of(event)
        lines, hidden = change_lines(event) if kind in ("write", "rollback") else ([], 0)
        entries.append(
            {
                "event": event,
                "kind": kind,
                "kind_label": KINDS[kind],
                "url": model_admin.url_of(AuditEvent, "change", event.pk),
                "arguments": arguments_text(event) if kind != "write" else "",
                "lines": lines,
                "hidden_rows": hidden,
                "rolled_back": event.pk in undone,
                "rollback_url": (
                    model_admin.url_of(AuditEvent, "rollback", event.pk)
                    if may_roll_back and kind == "write" and event.pk not in undone
                    else ""
                ),
                "approval_url": (
                    reverse(
                        "admin:ormai_django_approvalrequest_change",
                        args=[quote(event.approval_id)],
                    )
                    if event.approval_id
                    else ""
                ),
            }
        )
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Run %(run)s") % {"run": run_id},
        "run_id": run_id,
        "tenant_id": tenant_id,
        "entries": entries,
        "counts": [(KINDS[kind], n) for kind, n in counts.items()],
        "page": page,
        "previous_url": run_url(tenant_id, run_id, page - 1) if page > 1 else "",
        "next_url": run_url(tenant_id, run_id, page + 1) if more else "",
        "audit_list_url": audit_list_url(run_id=run_id, tenant_id=tenant_id),
        "may_roll_back": may_roll_back,
        "run_rollback_url": (
            reverse("admin:ormai_django_auditevent_run_rollback")
            + "?"
            + urlencode({"tenant_id": tenant_id, "run_id": run_id})
        ),
        "first_number": start + 1,
    }
    return TemplateResponse(request, "admin/ormai_django/dashboard/run.html", context)
