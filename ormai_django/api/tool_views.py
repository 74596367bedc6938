"""``GET tools/`` and ``POST tools/call/``: the tools, over HTTP, through the one pipeline."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ormai_django import codes
from ormai_django.api.base_view import OrmaiAPIMixin
from ormai_django.api.resolver import get_context_resolver
from ormai_django.api.responses import error_body, outcome_response
from ormai_django.api.serializers import (
    ErrorSerializer,
    OutcomeSerializer,
    ToolCallSerializer,
    ToolListSerializer,
)
from ormai_django.conf import ormai_settings
from ormai_django.runtime import execute
from ormai_django.tools.schemas import FORMATS, NAME_STYLES, tool_definitions

REFUSED = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated, or a bad token."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed to call the tools."),
}


class ToolListView(OrmaiAPIMixin, APIView):
    """The tool definitions of the caller's policy (a token's is narrowed)."""

    permission_classes = [IsAuthenticated]
    answers_with_outcome = True

    @extend_schema(
        operation_id="ormai_tools_list",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(FORMATS),
                description="The provider's shape: openai, anthropic or json_schema (default).",
            ),
            OpenApiParameter(
                "names",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(NAME_STYLES),
                description="provider (db_query, the default) or dotted (db.query).",
            ),
        ],
        responses={200: ToolListSerializer, 400: ErrorSerializer, **REFUSED},
    )
    def get(self, request: Request) -> Response:
        context, policy = get_context_resolver().resolve(request)
        shape = request.query_params.get("format", "json_schema")
        spelling = request.query_params.get("names", "provider")
        if spelling not in NAME_STYLES:
            return Response(
                {
                    "outcome": "error",
                    **error_body(
                        codes.INVALID_ARGUMENTS,
                        f"'names' must be one of {', '.join(NAME_STYLES)}.",
                    ),
                },
                status=400,
            )
        if shape not in FORMATS:
            return Response(
                {
                    "outcome": "error",
                    **error_body(
                        codes.INVALID_ARGUMENTS,
                        f"'format' must be one of {', '.join(FORMATS)}.",
                    ),
                },
                status=400,
            )
        return Response(
            {
                "format": shape,
                "context": {
                    "principal": context.principal,
                    "tenant_id": context.tenant_id,
                    "on_behalf_of": context.on_behalf_of,
                    "run_id": context.run_id,
                },
                "tools": tool_definitions(policy, format=shape, context=context, names=spelling),
            }
        )


def _raw_body(request: Request) -> bytes:
    """The body as sent, read up to one byte past the size limit (``execute`` refuses a
    larger call itself, and audits it, without reading the rest)."""
    stream = request.stream
    if stream is None:
        return b""
    return stream.read(ormai_settings.MAX_CALL_BYTES + 1)


class ToolCallView(OrmaiAPIMixin, APIView):
    """Run one tool call as the caller, through ``ormai_django.execute``."""

    permission_classes = [IsAuthenticated]
    answers_with_outcome = True

    @extend_schema(
        operation_id="ormai_tools_call",
        request=ToolCallSerializer,
        responses={
            200: OpenApiResponse(OutcomeSerializer, description="ok, dry_run or pending_approval."),
            400: OpenApiResponse(OutcomeSerializer, description="error: a malformed call."),
            404: OpenApiResponse(OutcomeSerializer, description="error: NOT_FOUND."),
            409: OpenApiResponse(OutcomeSerializer, description="error: a conflict; retry."),
            429: OpenApiResponse(
                OutcomeSerializer, description="denied: RATE_LIMITED; see Retry-After."
            ),
            **REFUSED,
        },
        description="The body is the call exactly as execute() takes it: "
        '{"name": "db.query", "arguments": {...}}. The answer is its outcome JSON; the '
        "tenant, principal and policy come from the authentication, never from the body.",
    )
    def post(self, request: Request) -> Response:
        context, policy = get_context_resolver().resolve(request)
        # The raw bytes, not request.data: a malformed body is the pipeline's to refuse
        # (and audit) with the outcome shape, not DRF's parser's.
        result = execute(_raw_body(request), context, policy=policy)
        return outcome_response(result)
