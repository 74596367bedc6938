"""``approvals/``: the queue of held writes, read and decided over HTTP.

Deciding calls ``ormai_django.approvals.approve`` / ``deny`` with the signed-in user's
username as the approver, exactly as the admin does; the held call then runs through the
pipeline once, when the last approval it needs lands.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ormai_django import approvals
from ormai_django.api.base_view import HasOrmaiPermission, OrmaiAPIMixin
from ormai_django.api.filters import APPROVAL_PARAMETERS, NewestFirstPagination, filter_approvals
from ormai_django.api.responses import error_body
from ormai_django.api.serializers import (
    ApprovalRequestSerializer,
    ApproveRequestSerializer,
    DecisionRequestSerializer,
    DecisionResultSerializer,
    ErrorSerializer,
)
from ormai_django.models import ApprovalRequest

VIEW = "ormai_django.view_approvalrequest"
APPROVE = "ormai_django.approve_approvalrequest"
# Public ids are "appr_" + a ULID: anything else can't name a row (and never reaches SQL).
PUBLIC_ID = re.compile(r"[A-Za-z0-9_]{1,32}")

STATUS_BY_APPROVAL_CODE = {
    approvals.UNKNOWN_APPROVAL: status.HTTP_404_NOT_FOUND,
    approvals.APPROVER_IS_REQUESTER: status.HTTP_403_FORBIDDEN,
    approvals.INVALID_APPROVER: status.HTTP_403_FORBIDDEN,
    approvals.APPROVAL_NOT_PENDING: status.HTTP_409_CONFLICT,
    approvals.INVALID_EDITS: status.HTTP_400_BAD_REQUEST,
    approvals.APPROVAL_EXPIRED: status.HTTP_409_CONFLICT,
    approvals.DUPLICATE_APPROVER: status.HTTP_409_CONFLICT,
}

DECISION_RESPONSES = {
    200: DecisionResultSerializer,
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: OpenApiResponse(ErrorSerializer, description="No permission, or APPROVER_IS_REQUESTER."),
    404: OpenApiResponse(ErrorSerializer, description="UNKNOWN_APPROVAL."),
    409: OpenApiResponse(
        ErrorSerializer,
        description="APPROVAL_NOT_PENDING, APPROVAL_EXPIRED or DUPLICATE_APPROVER.",
    ),
}


@extend_schema_view(
    list=extend_schema(
        operation_id="ormai_approvals_list",
        parameters=APPROVAL_PARAMETERS,
        responses={
            200: ApprovalRequestSerializer(many=True),
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
    ),
    retrieve=extend_schema(
        operation_id="ormai_approvals_read",
        responses={
            200: ApprovalRequestSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    ),
)
class ApprovalRequestViewSet(OrmaiAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Held writes: list (filter by status, model, tool, principal, tenant_id), read,
    approve and deny. Reading needs ``view_approvalrequest`` or ``approve_approvalrequest``;
    deciding needs ``approve_approvalrequest``."""

    serializer_class = ApprovalRequestSerializer
    permission_classes = [HasOrmaiPermission]
    pagination_class = NewestFirstPagination
    permissions_by_action = {
        "list": (VIEW, APPROVE),
        "retrieve": (VIEW, APPROVE),
        "approve": (APPROVE,),
        "deny": (APPROVE,),
    }

    def get_queryset(self) -> Any:
        rows = ApprovalRequest.objects.prefetch_related("decisions")
        if self.action == "list":
            rows = filter_approvals(rows, self.request.query_params)
        return rows

    def get_object(self) -> ApprovalRequest:
        if not PUBLIC_ID.fullmatch(str(self.kwargs.get(self.lookup_field, ""))):
            raise exceptions.NotFound("No such approval request.")
        return super().get_object()

    def _decide(
        self, request: Request, pk: str, decide: Any, body_class: Any = DecisionRequestSerializer
    ) -> Response:
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        if not PUBLIC_ID.fullmatch(str(pk)):
            return Response(
                error_body(approvals.UNKNOWN_APPROVAL, f"No approval request {pk!r}."),
                status=status.HTTP_404_NOT_FOUND,
            )
        data = body.validated_data
        options = {"edits": data["edits"]} if data.get("edits") is not None else {}
        try:
            outcome = decide(pk, request.user.get_username(), data["note"], **options)
        except approvals.ApprovalError as exc:
            return Response(
                error_body(exc.code, exc.message, **exc.details),
                status=STATUS_BY_APPROVAL_CODE.get(exc.code, status.HTTP_409_CONFLICT),
            )
        return Response({"approval_id": pk, **outcome})

    @extend_schema(
        operation_id="ormai_approvals_approve",
        request=ApproveRequestSerializer,
        responses=DECISION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Approve as the signed-in user (with ``edits``: approve with changes); the held call
        runs when the last approval lands."""
        return self._decide(request, pk, approvals.approve, ApproveRequestSerializer)

    @extend_schema(
        operation_id="ormai_approvals_deny",
        request=DecisionRequestSerializer,
        responses=DECISION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def deny(self, request: Request, pk: str) -> Response:
        """Deny as the signed-in user: one denial ends the request; the call never runs."""
        return self._decide(request, pk, approvals.deny)
