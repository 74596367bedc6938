"""The proposed change of a held call as a before/after table: every row it would touch.

The preview stored with the request holds the before values of its first rows (the
profile's ``max_preview_rows``); ``held_ids`` holds the key of every row. The table lists
them all, a page at a time, reads the rows as they are now (one query per page) and marks
a row whose value is no longer the one it had when the call was held: the approver sees
what would actually change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import models
from django.urls import NoReverseMatch, reverse

from ormai_django import names
from ormai_django.admin.approval_summary import held_arguments
from ormai_django.admin.display import cell_text
from ormai_django.errors import ToolError
from ormai_django.models import ApprovalRequest
from ormai_django.orm.rows import to_json
from ormai_django.policy.loading import get_policy

PER_PAGE = 50
MISSING = object()


def held_preview(approval: ApprovalRequest) -> Mapping[str, Any]:
    """The preview of the call as it now runs (the edited call's, after an edit)."""
    for preview in (approval.edited_preview, approval.preview):
        if isinstance(preview, Mapping) and preview.get("would_change") is not None:
            return preview
    return {}


def host_model(approval: ApprovalRequest) -> type[models.Model] | None:
    try:
        return apps.get_model(approval.model) if approval.model else None
    except (LookupError, ValueError):
        return None


def object_url(model: type[models.Model] | None, pk: Any, site_name: str = "admin") -> str:
    """The admin change page of the row, when its model is registered; else ""."""
    if model is None or pk is None:
        return ""
    opts = model._meta
    try:
        return reverse(
            f"{site_name}:{opts.app_label}_{opts.model_name}_change",
            args=[quote(pk)],
            current_app=site_name,
        )
    except NoReverseMatch:
        return ""


def _field_name(model: type[models.Model] | None, key: str) -> str:
    """A data key (a field's name or attname) as the preview names it (the name)."""
    if model is None:
        return key
    for field in model._meta.concrete_fields:
        if key in (field.name, field.attname):
            return field.name
    return key


def _masked(approval: ApprovalRequest, model: type[models.Model] | None) -> set[str]:
    """The fields the requester's policy masks: their held values were masked, so the rows'
    current values are neither shown nor compared."""
    if model is None:
        return set()
    try:
        mp = get_policy().for_model(model)
    except (ToolError, LookupError, ValueError, ImportError):
        return set()
    if mp is None:
        return set()
    return {name for name, info in mp.fields.items() if info.masked}


def _entries(approval: ApprovalRequest, preview: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of the change: the previewed ones with their held values, then the other
    held keys (their held values weren't kept)."""
    previewed = [e for e in preview.get("would_change") or [] if isinstance(e, Mapping)]
    held = approval.held_ids if isinstance(approval.held_ids, list) else None
    if approval.tool not in (names.DB_UPDATE, names.DB_DELETE) or not held:
        return [dict(e) for e in previewed]
    by_id = {to_json(e.get("id")): e for e in previewed}
    return [dict(by_id.get(pk) or {"id": pk, "_not_previewed": True}) for pk in held]


def proposed_rows(
    approval: ApprovalRequest,
    page_number: Any = 1,
    *,
    per_page: int = PER_PAGE,
    site: str = "admin",
) -> tuple[list[dict[str, Any]], Page]:
    """One page of the change: ``[{"id", "url", "not_previewed", "drifted", "fields": [{"name",
    "before", "after", "current", "changed", "drifted"}]}]`` and the paginator's page."""
    preview = held_preview(approval)
    entries = _entries(approval, preview)
    page = Paginator(entries, per_page).get_page(page_number)
    model = host_model(approval) if approval.tool in names.WRITE_TOOLS else None
    arguments = held_arguments(approval)
    data = arguments.get("data") if isinstance(arguments.get("data"), Mapping) else {}
    afters = {_field_name(model, k): v for k, v in data.items()}
    current = _current_values(model, approval, page.object_list, afters)
    masked = _masked(approval, model)
    rows = []
    for entry in page.object_list:
        pk = entry.get("id")
        now = current.get(to_json(pk)) if current is not None else None
        names_ = dict.fromkeys(
            [
                *(k[: -len("_before")] for k in entry if k.endswith("_before")),
                *(k[: -len("_after")] for k in entry if k.endswith("_after")),
                *(afters if approval.tool == names.DB_UPDATE else ()),
            ]
        )
        fields = []
        for name in names_:
            before = entry.get(f"{name}_before", MISSING)
            after = entry.get(f"{name}_after", afters.get(name, MISSING))
            if approval.tool == names.DB_DELETE:
                after = MISSING
            now_value = MISSING if now is None or name in masked else now.get(name, MISSING)
            if before is MISSING and entry.get("_not_previewed") and now_value is not MISSING:
                before = now_value  # not kept when held: the value now is what changes
            drifted = (
                not entry.get("_not_previewed")
                and before is not MISSING
                and now_value is not MISSING
                and now_value != before
            )
            fields.append(
                {
                    "name": name,
                    "before": None if before is MISSING else cell_text(before),
                    "after": None if after is MISSING else cell_text(after),
                    "current": None if now_value is MISSING else cell_text(now_value),
                    "changed": before != after,
                    "drifted": drifted,
                }
            )
        rows.append(
            {
                "id": cell_text(pk) if pk is not None else "",
                "url": object_url(model, pk, site) if current and to_json(pk) in current else "",
                "not_previewed": bool(entry.get("_not_previewed")),
                "gone": current is not None and pk is not None and to_json(pk) not in current,
                "drifted": any(f["drifted"] for f in fields),
                "fields": fields,
            }
        )
    return rows, page


def _current_values(
    model: type[models.Model] | None,
    approval: ApprovalRequest,
    entries: list[dict[str, Any]],
    afters: Mapping[str, Any],
) -> dict[Any, dict[str, Any]] | None:
    """The page's rows as they are now, by JSON primary key (None: not readable here)."""
    if model is None or approval.tool == names.DB_CREATE:
        return None
    keys = [e.get("id") for e in entries if e.get("id") is not None]
    if not keys:
        return {}
    wanted = {k[: -len("_before")] for e in entries for k in e if k.endswith("_before")}
    wanted |= set(afters)
    concrete = {f.name: f for f in model._meta.concrete_fields}
    fields = [concrete[n] for n in wanted if n in concrete and not concrete[n].primary_key]
    pk_field = model._meta.pk
    try:
        pks = [pk_field.to_python(k) for k in keys]
    except (ValidationError, TypeError, ValueError):
        return None  # a key that no longer parses (the model changed): nothing to read
    found = model._base_manager.filter(pk__in=pks).values_list("pk", *(f.attname for f in fields))
    return {
        to_json(pk): {f.name: to_json(v) for f, v in zip(fields, values, strict=True)}
        for pk, *values in found
    }


def diff_sample(approval: ApprovalRequest, limit: int) -> dict[str, Any]:
    """The first ``limit`` rows of the change (no query: the stored preview only) and how
    many more rows it touches, for the bulk confirmation page."""
    preview = held_preview(approval)
    entries = [e for e in preview.get("would_change") or [] if isinstance(e, Mapping)]
    arguments = held_arguments(approval)
    data = arguments.get("data") if isinstance(arguments.get("data"), Mapping) else {}
    shown = []
    for entry in entries[:limit]:
        fields = []
        keys = dict.fromkeys(
            k.rsplit("_", 1)[0] for k in entry if k.endswith(("_before", "_after"))
        )
        for name in keys:
            before = entry.get(f"{name}_before", MISSING)
            after = entry.get(f"{name}_after", MISSING)
            if approval.tool == names.DB_UPDATE and name not in data and before == after:
                continue
            fields.append(
                {
                    "name": name,
                    "before": None if before is MISSING else cell_text(before),
                    "after": None if after is MISSING else cell_text(after),
                }
            )
        shown.append({"id": cell_text(entry.get("id")), "fields": fields})
    total = approval.affected_rows if approval.affected_rows is not None else len(entries)
    return {"rows": shown, "more": max(0, total - len(shown))}
