"""Query-parameter filters of the approvals and audit-event lists, and their pagination.

Every value is checked before it reaches SQL: an unknown outcome or status, a malformed
date or a value no column can hold is ``400 INVALID_FILTER``, never a server error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination

from ormai_django.models import ApprovalRequest, AuditEvent

MAX_FILTER_LENGTH = 200


class InvalidFilter(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "INVALID_FILTER"


def _text(params: Any, name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if "\x00" in value or len(value) > MAX_FILTER_LENGTH:
        raise InvalidFilter(
            f"'{name}' must be text of at most {MAX_FILTER_LENGTH} characters.",
            code="INVALID_FILTER",
        )
    return value


def _choice(params: Any, name: str, choices: list[str]) -> str | None:
    value = _text(params, name)
    if value is not None and value not in choices:
        raise InvalidFilter(f"'{name}' must be one of {', '.join(choices)}.", code="INVALID_FILTER")
    return value


def _moment(params: Any, name: str, end_of_day: bool) -> dt.datetime | None:
    value = _text(params, name)
    if value is None:
        return None
    try:
        # A bare date means its whole day: from its first moment, or up to its last.
        day = parse_date(value)
        if day is not None:
            moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        else:
            moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidFilter(
            f"'{name}' must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z.",
            code="INVALID_FILTER",
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidFilter(f"'{name}' is out of range.", code="INVALID_FILTER") from None


def _by_model(queryset: QuerySet, value: str | None) -> QuerySet:
    """``Order`` matches the label ``shop.Order``; ``shop.Order`` matches itself."""
    if value is None:
        return queryset
    return queryset.filter(Q(model__iexact=value) | Q(model__iendswith=f".{value}"))


def filter_audit_events(queryset: QuerySet, params: Any) -> QuerySet:
    """Narrow audit events by ``outcome``, ``tool``, ``model``, ``principal``,
    ``on_behalf_of``, ``tenant_id``, ``run_id``, ``error_code``, ``approval`` and the
    ``created_after`` / ``created_before`` range (inclusive)."""
    exact = {
        "outcome": _choice(params, "outcome", list(AuditEvent.Outcome.values)),
        **{
            name: _text(params, name)
            for name in (
                "tool",
                "principal",
                "on_behalf_of",
                "tenant_id",
                "run_id",
                "error_code",
            )
        },
        "approval_id": _text(params, "approval"),
    }
    queryset = queryset.filter(**{k: v for k, v in exact.items() if v is not None})
    queryset = _by_model(queryset, _text(params, "model"))
    after = _moment(params, "created_after", end_of_day=False)
    before = _moment(params, "created_before", end_of_day=True)
    if after is not None:
        queryset = queryset.filter(created_at__gte=after)
    if before is not None:
        queryset = queryset.filter(created_at__lte=before)
    return queryset


def filter_approvals(queryset: QuerySet, params: Any) -> QuerySet:
    """Narrow approval requests by ``status``, ``model``, ``tool``, ``principal`` and
    ``tenant_id``."""
    exact = {
        "status": _choice(params, "status", list(ApprovalRequest.Status.values)),
        "tool": _text(params, "tool"),
        "principal": _text(params, "principal"),
        "tenant_id": _text(params, "tenant_id"),
    }
    queryset = queryset.filter(**{k: v for k, v in exact.items() if v is not None})
    return _by_model(queryset, _text(params, "model"))


def _parameter(name: str, description: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=description, **kwargs
    )


AUDIT_EVENT_PARAMETERS = [
    _parameter(
        "outcome",
        "ok, dry_run, pending_approval, denied or error.",
        enum=list(AuditEvent.Outcome.values),
    ),
    _parameter("tool", "The tool, e.g. db.update (or approval.approve, rollback...)."),
    _parameter("model", "The model: Order or shop.Order."),
    _parameter("principal", "Who called, e.g. agent:support-bot."),
    _parameter("on_behalf_of", "The end user the call was made for."),
    _parameter("tenant_id", "The tenant, as text."),
    _parameter("run_id", "The agent run."),
    _parameter("error_code", "The error code of a denied or failed call."),
    _parameter("approval", "The approval request (appr_...) the event belongs to."),
    OpenApiParameter(
        "created_after",
        OpenApiTypes.DATETIME,
        OpenApiParameter.QUERY,
        description="Events at or after this ISO 8601 date or date-time (UTC if naive).",
    ),
    OpenApiParameter(
        "created_before",
        OpenApiTypes.DATETIME,
        OpenApiParameter.QUERY,
        description="Events at or before this ISO 8601 date or date-time (UTC if naive).",
    ),
]

APPROVAL_PARAMETERS = [
    _parameter(
        "status",
        "pending, executed, denied, expired or failed.",
        enum=list(ApprovalRequest.Status.values),
    ),
    _parameter("model", "The model: Order or shop.Order."),
    _parameter("tool", "db.create, db.update or db.delete."),
    _parameter("principal", "Who asked for the write."),
    _parameter("tenant_id", "The tenant, as text."),
]


class NewestFirstPagination(CursorPagination):
    """Cursor pagination, newest first: stable while rows are appended."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Any) -> Any:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            # DRF cursors aren't signed: a hand-made position must still be a date-time.
            try:
                position = parse_datetime(cursor.position)
                if position is not None and timezone.is_aware(position):
                    position.astimezone(dt.UTC)  # out of range raises here, not in SQL
            except (ValueError, OverflowError):
                position = None
            if position is None or timezone.is_naive(position):
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor
