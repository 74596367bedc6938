"""OpenAPI (drf-spectacular) knowledge of what the API adds: the bearer capability token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CapabilityTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ormai_django.api.authentication.CapabilityTokenAuthentication"
    name = "capabilityToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A capability token from ormai_django.tokens.issue_token: "
            "'Authorization: Bearer <token>'. It can call the tools only.",
        }
