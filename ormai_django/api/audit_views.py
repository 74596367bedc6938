"""``audit-events/``: the ledger, read over HTTP, and the rollback of a write."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ormai_django.api.base_view import HasOrmaiPermission, OrmaiAPIMixin
from ormai_django.api.filters import (
    AUDIT_EVENT_PARAMETERS,
    NewestFirstPagination,
    filter_audit_events,
)
from ormai_django.api.responses import error_body
from ormai_django.api.serializers import (
    AuditEventSerializer,
    AuditEventSummarySerializer,
    ErrorSerializer,
    RollbackRequestSerializer,
)
from ormai_django.models import AuditEvent
from ormai_django.rollback import (
    INVALID_ARGUMENTS,
    NOT_A_WRITE,
    UNKNOWN_AUDIT_EVENT,
    RollbackError,
    rollback_audit_id,
)

VIEW = "ormai_django.view_auditevent"
ROLLBACK = "ormai_django.rollback_auditevent"
PUBLIC_ID = re.compile(r"[A-Za-z0-9_]{1,32}")

# RollbackError codes whose status is not 409 Conflict (ALREADY_ROLLED_BACK,
# ROLLBACK_CONFLICT, NOT_REVERSIBLE: the state of the rows or the ledger refuses it).
STATUS_BY_ROLLBACK_CODE = {
    UNKNOWN_AUDIT_EVENT: status.HTTP_404_NOT_FOUND,
    NOT_A_WRITE: status.HTTP_400_BAD_REQUEST,
    INVALID_ARGUMENTS: status.HTTP_400_BAD_REQUEST,
}


@extend_schema_view(
    list=extend_schema(
        operation_id="ormai_audit_events_list",
        parameters=AUDIT_EVENT_PARAMETERS,
        responses={
            200: AuditEventSummarySerializer(many=True),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
    ),
    retrieve=extend_schema(
        operation_id="ormai_audit_events_read",
        responses={
            200: AuditEventSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    ),
)
class AuditEventViewSet(OrmaiAPIMixin, viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first: list with filters (outcome, tool, model, principal,
    tenant_id, run_id, created_after/created_before...), read one event, roll a write back.
    Reading needs ``view_auditevent``; rolling back needs ``rollback_auditevent``."""

    serializer_class = AuditEventSerializer
    permission_classes = [HasOrmaiPermission]
    pagination_class = NewestFirstPagination
    permissions_by_action = {
        "list": (VIEW,),
        "retrieve": (VIEW,),
        "rollback": (ROLLBACK,),
    }

    def get_serializer_class(self) -> Any:
        return AuditEventSummarySerializer if self.action == "list" else AuditEventSerializer

    def get_queryset(self) -> Any:
        rows = AuditEvent.objects.all()
        if self.action == "list":
            rows = filter_audit_events(rows, self.request.query_params).defer("changes")
        return rows

    def get_object(self) -> AuditEvent:
        if not PUBLIC_ID.fullmatch(str(self.kwargs.get(self.lookup_field, ""))):
            raise exceptions.NotFound("No such audit event.")
        return super().get_object()

    @extend_schema(
        operation_id="ormai_audit_events_rollback",
        request=RollbackRequestSerializer,
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description='{"outcome": "ok" | "dry_run", "audit_id", "restored_rows", ...}',
            ),
            400: OpenApiResponse(ErrorSerializer, description="NOT_A_WRITE, or a bad body."),
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: OpenApiResponse(ErrorSerializer, description="UNKNOWN_AUDIT_EVENT."),
            409: OpenApiResponse(
                ErrorSerializer, description="ALREADY_ROLLED_BACK or ROLLBACK_CONFLICT."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str) -> Response:
        """Undo the write this event recorded, as the signed-in user (its own audit row
        links to the original); ``dry_run`` shows it, ``force`` overrides conflicts."""
        body = RollbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not PUBLIC_ID.fullmatch(str(pk)):
            return Response(
                error_body(UNKNOWN_AUDIT_EVENT, f"No audit event {pk!r}."),
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            result = rollback_audit_id(
                pk,
                actor=request.user.get_username(),
                dry_run=body.validated_data["dry_run"],
                force=body.validated_data["force"],
                reason=body.validated_data["reason"],
            )
        except RollbackError as exc:
            return Response(
                {"error": exc.as_dict()},
                status=STATUS_BY_ROLLBACK_CODE.get(exc.code, status.HTTP_409_CONFLICT),
            )
        return Response(result)
