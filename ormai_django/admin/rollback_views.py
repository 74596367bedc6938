"""The admin's "Roll back" page of one executed write.

GET shows the inverse row by row (``preview_rollback``: computed, never recorded, so
opening or reloading the page leaves no audit row): for each field what is there now, what
the write left and what the rollback puts back; rows already back at the restored value
are marked and need no force; only rows changed since to something else are conflicts.
POST runs the rollback through the one audited path (``rollback_audit_id``) as the
logged-in user, logs it in Django's history, and shows the changes it applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.log_entries import log_write
from ormai_django.models import AuditEvent
from ormai_django.orm.history import history_user
from ormai_django.rollback import RollbackError, rollback_audit_id
from ormai_django.rollback.preview import preview_rollback

# Lines of the preview table the page shows.
MAX_ROLLBACK_LINES = 500
TEMPLATES = "admin/ormai_django/auditevent/"


def audit_url(model_admin: Any, view: str, pk: Any) -> str:
    return reverse(
        f"admin:ormai_django_auditevent_{view}",
        args=[quote(pk)],
        current_app=model_admin.admin_site.name,
    )


def posted_rollback(
    model_admin: Any, request: HttpRequest, roll_back: Callable[[str, bool], dict[str, Any]]
) -> tuple[dict[str, Any] | None, str]:
    """On a POST with a reason, ``roll_back(reason, force)`` as the logged-in user (its
    history rows name them); the result (None when refused, or not a POST, with the reason
    said on the page) and the reason given."""
    if request.method != "POST":
        return None, ""
    reason = request.POST.get("reason", "").strip()
    if not reason:
        model_admin.message_user(
            request, _("A rollback needs a reason; nothing was changed."), messages.ERROR
        )
        return None, reason
    try:
        with history_user(request.user):
            return roll_back(reason, request.POST.get("force") == "on"), reason
    except RollbackError as error:
        model_admin.message_user(request, f"{error.code}: {error.message}", messages.ERROR)
        return None, reason


def rollback_page(model_admin: Any, request: HttpRequest, obj: AuditEvent) -> HttpResponse:
    """The page (GET) and the rollback (POST) of the write ``obj``."""
    change_url = audit_url(model_admin, "change", obj.pk)
    actor = request.user.get_username()
    result, reason = posted_rollback(
        model_admin,
        request,
        lambda why, force: rollback_audit_id(obj.pk, actor=actor, force=force, reason=why),
    )
    if result is not None:
        return rolled_back(model_admin, request, obj, result, reason)
    try:
        preview = preview_rollback(obj.pk, actor=actor, max_lines=MAX_ROLLBACK_LINES)
    except RollbackError as error:
        model_admin.message_user(request, f"{error.code}: {error.message}", messages.ERROR)
        return HttpResponseRedirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "title": str(_("Roll back %(id)s")) % {"id": obj.pk},
        "lines": preview["rows"],
        "rows_truncated": preview["rows_truncated"],
        "restored_rows": preview["restored_rows"],
        "conflicts": preview["conflicts"],
        "conflicting_rows": preview["conflicting_rows"],
        "already_restored": preview["already_restored"],
        "reason": reason,
        "change_url": change_url,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATES + "rollback_confirmation.html", context)


def rolled_back(
    model_admin: Any, request: HttpRequest, obj: AuditEvent, result: dict[str, Any], reason: str
) -> HttpResponse:
    """After the rollback: Django's history gets it, the page shows what it changed."""
    rollback_id = result["audit_id"]
    message = str(_("Rolled back by %(rollback)s: %(rows)d row(s) restored; “%(reason)s”")) % {
        "rollback": rollback_id,
        "rows": result["restored_rows"],
        "reason": reason,
    }
    model_admin.log_change(request, obj, message)
    log_write(request.user, rollback_id, message)
    model_admin.message_user(
        request,
        str(
            _(
                "Rolled back %(id)s: %(rows)d row(s) restored%(forced)s; the rollback is audit "
                "event %(rollback)s."
            )
        )
        % {
            "id": obj.pk,
            "rows": result["restored_rows"],
            "forced": str(_(" (conflicts overwritten)")) if result.get("forced") else "",
            "rollback": rollback_id,
        },
        messages.SUCCESS,
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "title": str(_("Rolled back %(id)s")) % {"id": obj.pk},
        "lines": result["rows"][:MAX_ROLLBACK_LINES],
        "rows_truncated": result.get("rows_truncated") or len(result["rows"]) > MAX_ROLLBACK_LINES,
        "restored_rows": result["restored_rows"],
        "rollback_url": audit_url(model_admin, "change", rollback_id),
        "rollback_id": rollback_id,
        "change_url": audit_url(model_admin, "change", obj.pk),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATES + "rollback_done.html", context)
