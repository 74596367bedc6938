"""The API's URLs; mount them with ``path("ormai/", include("ormai_django.api.urls"))``.

GET  tools/                          tool definitions (?format=openai|anthropic|json_schema)
POST tools/call/                     run one call: {"name", "arguments"}
GET  approvals/, approvals/<id>/     held writes (filters: status, model, tool, ...)
POST approvals/<id>/approve/, approvals/<id>/deny/
GET  audit-events/, audit-events/<id>/
POST audit-events/<id>/rollback/
GET  schema/                         the OpenAPI 3 schema of these endpoints
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from ormai_django.api.approval_views import ApprovalRequestViewSet
from ormai_django.api.audit_views import AuditEventViewSet
from ormai_django.api.tool_views import ToolCallView, ToolListView
from ormai_django.version import __version__

app_name = "ormai_api"

router = SimpleRouter()
router.register("approvals", ApprovalRequestViewSet, basename="approval")
router.register("audit-events", AuditEventViewSet, basename="audit-event")


class OrmaiSchemaView(SpectacularAPIView):
    """The OpenAPI schema of this API only (not the rest of the project), with its paths
    under wherever the project mounted it. Public: it describes endpoints, not data."""

    renderer_classes = [OpenApiJsonRenderer, OpenApiYamlRenderer]
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    custom_settings = {
        "TITLE": "ormai_django API",
        "DESCRIPTION": "Policy-governed tools over the Django ORM, their approvals and "
        "their audit log. See docs/integrations.md.",
        "VERSION": __version__,
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "ormai_django.api.schema.add_common_responses",
        ],
    }

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        mount = request.path_info.removesuffix("schema/").lstrip("/")
        self.patterns = [path(mount, include("ormai_django.api.urls"))]
        return super().get(request, *args, **kwargs)


ENDPOINTS = "tools/, tools/call/, approvals/, audit-events/, schema/"


def unknown_endpoint(request: Any, unmatched: str) -> JsonResponse:
    """404 for a path under the API's prefix that no endpoint has."""
    hint = "" if unmatched.endswith("/") or not unmatched else " (the paths end with '/')"
    return JsonResponse(
        {
            "error": {
                "code": "NOT_FOUND",
                "message": f"No endpoint at {request.path!r}{hint}. Endpoints: {ENDPOINTS}.",
            }
        },
        status=404,
    )


urlpatterns = [
    path("tools/", ToolListView.as_view(), name="tools"),
    path("tools/call/", ToolCallView.as_view(), name="tool-call"),
    path("schema/", OrmaiSchemaView.as_view(), name="schema"),
    path("", include(router.urls)),
    # Anything else under the prefix is the API's own 404, in its error shape (not Django's
    # HTML page), naming the endpoints there are.
    re_path(r"^(?P<unmatched>.*)$", unknown_endpoint, name="unknown-endpoint"),
]
