"""What the API answers: outcome -> HTTP status, and JSON for every refusal.

A tool call's body is its outcome JSON, exactly as ``execute`` returns it; the status
says the same thing in HTTP terms. Every other refusal (authentication, permission,
an unknown URL, a malformed body) is ``{"error": {"code", "message"}}`` with a stable
code, never DRF's HTML page or a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ormai_django import codes

logger = logging.getLogger("ormai_django")

OK_OUTCOMES = frozenset({"ok", "dry_run", "pending_approval"})
# Error codes whose HTTP status is not the outcome's default (403 denied, 400 error).
STATUS_BY_CODE = {
    codes.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    codes.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    codes.IDEMPOTENCY_KEY_CONFLICT: status.HTTP_409_CONFLICT,
    codes.WRITE_CONFLICT: status.HTTP_409_CONFLICT,
    codes.INTERNAL_ERROR: status.HTTP_500_INTERNAL_SERVER_ERROR,
    codes.POLICY_NOT_CONFIGURED: status.HTTP_503_SERVICE_UNAVAILABLE,
}
# DRF's own codes, as the API's stable UPPER_SNAKE_CASE ones.
_CODE_BY_EXCEPTION = (
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.ParseError, codes.INVALID_JSON),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.Throttled, codes.RATE_LIMITED),
    (exceptions.ValidationError, codes.INVALID_ARGUMENTS),
)


def outcome_response(result: dict[str, Any]) -> Response:
    """The HTTP response of a tool call's outcome: 200 for ok, dry_run and
    pending_approval; 403 for denied (429 with Retry-After for RATE_LIMITED, and for
    BUDGET_EXCEEDED where a window frees up); 400 for error (404 for NOT_FOUND, 409 for
    conflicts)."""
    outcome = result.get("outcome")
    error = result.get("error") or {}
    headers = {}
    if outcome in OK_OUTCOMES:
        code = status.HTTP_200_OK
    else:
        default = status.HTTP_403_FORBIDDEN if outcome == "denied" else status.HTTP_400_BAD_REQUEST
        code = STATUS_BY_CODE.get(error.get("code"), default)
        if error.get("code") == codes.BUDGET_EXCEEDED and "retry_after" in error:
            code = status.HTTP_429_TOO_MANY_REQUESTS  # a window frees up: retry later
    retry_after = error.get("retry_after")
    if code == status.HTTP_429_TOO_MANY_REQUESTS and isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return Response(result, status=code, headers=headers)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def _code_of(exc: exceptions.APIException) -> str:
    given = exc.get_codes()
    if isinstance(given, str) and given.isupper():
        return given  # raised with one of our codes (TOKEN_EXPIRED, POLICY_NOT_CONFIGURED...)
    for kind, code in _CODE_BY_EXCEPTION:
        if isinstance(exc, kind):
            return code
    return str(getattr(exc, "default_code", "ERROR")).upper()


def _message_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict | list):
        return "The request's fields are not valid; see 'fields'."
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every exception of an API view as ``{"error": {"code", "message"}}``; tool endpoints
    add ``"outcome"`` so an agent's client reads one shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.APIException):
        code = _code_of(exc)
        details: dict[str, Any] = {}
        if isinstance(exc.detail, dict | list):
            details["fields"] = exc.detail
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(math.ceil(exc.wait))
        body = error_body(code, _message_of(exc), **details)
        status_code = exc.status_code
    else:
        logger.exception("ormai_django API: unexpected failure")
        body = error_body(
            codes.INTERNAL_ERROR, "The request failed unexpectedly; it was logged server-side."
        )
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    set_rollback()  # under ATOMIC_REQUESTS, as DRF's own handler does
    view = context.get("view")
    if getattr(view, "answers_with_outcome", False):
        body["outcome"] = "denied" if status_code in (401, 403, 429) else "error"
    return Response(body, status=status_code, headers=headers)


class JSONOnlyNegotiation(BaseContentNegotiation):
    """The API speaks JSON only; ``?format=`` is the tools' provider format, not a renderer."""

    def select_parser(self, request: Any, parsers: list[Any]) -> Any:
        for parser in parsers:
            if request.content_type.split(";")[0].strip() == parser.media_type:
                return parser
        return None

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type
