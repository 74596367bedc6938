"""The admin's "Roll back this run" page: every executed write of one (tenant, run id),
newest first, all or nothing.

GET shows the inverse of the whole run, line by line, without recording anything: the dry
run of ``rollback_run`` runs inside a transaction that is always rolled back, so its audit
row goes with it (reloading the page leaves the ledger as it was). POST runs
``rollback_run`` through the one audited path as the logged-in user, logs it in Django's
history, and goes back to the run page, which then shows the rollbacks.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.log_entries import log_write
from ormai_django.admin.rollback_views import posted_rollback
from ormai_django.admin.runs import run_url
from ormai_django.models import AuditEvent
from ormai_django.rollback import RollbackError, rollback_run

MAX_LINES = 500


class _Discard(Exception):
    """Raised to roll the preview's transaction back."""


def preview_run_rollback(run_id: str, tenant_id: str, actor: str) -> dict[str, Any]:
    """``rollback_run(..., dry_run=True)``, with nothing it wrote kept (its audit row
    included); raises ``RollbackError`` as the rollback would."""
    preview: dict[str, Any] = {}
    try:
        with transaction.atomic(using=router.db_for_write(AuditEvent)):
            preview = rollback_run(
                run_id, tenant_id=tenant_id, actor=actor, dry_run=True, max_lines=MAX_LINES
            )
            raise _Discard
    except _Discard:
        pass
    return preview


def run_rollback_page(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The page (GET) and the rollback (POST) of ``?tenant_id=...&run_id=...``."""
    tenant_id = request.GET.get("tenant_id", "")
    run_id = request.GET.get("run_id", "")
    if not run_id:
        return HttpResponseBadRequest(_("Which run? Give ?run_id= (and ?tenant_id=)."))
    back = run_url(tenant_id, run_id)
    actor = request.user.get_username()
    result, reason = posted_rollback(
        model_admin,
        request,
        lambda why, force: rollback_run(
            run_id, tenant_id=tenant_id, actor=actor, reason=why, force=force
        ),
    )
    if result is not None:
        return rolled_back(model_admin, request, run_id, result, reason, back)
    try:
        preview = preview_run_rollback(run_id, tenant_id, actor)
    except RollbackError as error:
        model_admin.message_user(request, f"{error.code}: {error.message}", messages.ERROR)
        return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": str(_("Roll back run %(run)s")) % {"run": run_id},
        "run_id": run_id,
        "tenant_id": tenant_id,
        "lines": preview["rows"],
        "rows_truncated": preview["rows_truncated"],
        "restored_rows": preview["restored_rows"],
        "writes": len(preview.get("rolled_back") or ()),
        "skipped": len(preview.get("skipped") or ()),
        "conflicts": preview["conflicts"],
        "reason": reason,
        "run_url": back,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/ormai_django/dashboard/run_rollback.html", context)


def rolled_back(
    model_admin: Any,
    request: HttpRequest,
    run_id: str,
    result: dict[str, Any],
    reason: str,
    back: str,
) -> HttpResponse:
    """After the rollback: each undone write and its rollback get a LogEntry; back to the run."""
    for write_id, rollback_id in zip(result["rolled_back"], result["audit_ids"], strict=False):
        message = str(_("Rolled back with run %(run)s by %(rollback)s; “%(reason)s”")) % {
            "run": run_id,
            "rollback": rollback_id,
            "reason": reason,
        }
        write = AuditEvent.objects.filter(pk=write_id).first()
        if write is not None:
            model_admin.log_change(request, write, message)
        log_write(request.user, rollback_id, message)
    model_admin.message_user(
        request,
        str(_("Rolled back run %(run)s: %(writes)d write(s), %(rows)d row(s) restored."))
        % {
            "run": run_id,
            "writes": len(result["rolled_back"]),
            "rows": result["restored_rows"],
        },
        messages.SUCCESS,
    )
    return HttpResponseRedirect(back)
