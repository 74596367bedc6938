"""The load test's baseline: a plain DRF endpoint doing one ``Order.status`` update with the
bare ORM, mounted at ``/loadtest/orders/status/`` only in the load test's own server
(``ORMAI_LOADTEST=1``, see ``sandbox_project/urls.py``).

It authenticates exactly as the tool endpoint does (``Authorization: Bearer <capability
token>``, verified by ``CapabilityTokenAuthentication``), takes the tenant from the token,
and checks its body with a DRF serializer, as a hand-written endpoint would; then it runs
``Order.objects.filter(pk=..., tenant_id=...).update(status=...)``: no policy, no budget,
no before/after, no history row, no audit row, no idempotency record. What the tool
endpoint costs above it is what the pipeline costs.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ormai_django.api.authentication import CapabilityTokenAuthentication
from sandbox_project.shop.models import Order


class OrderStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=Order.Status.choices)


class PlainOrderStatusUpdate(APIView):
    """``POST {"id": 12, "status": "paid"}`` -> ``{"updated": 1}`` (0: no such order in the
    token's tenant)."""

    authentication_classes = [CapabilityTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def post(self, request: Request) -> Response:
        body = OrderStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated = Order.objects.filter(
            pk=body.validated_data["id"], tenant_id=request.auth.context.tenant_id
        ).update(status=body.validated_data["status"])
        return Response({"updated": updated})
