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


# The answers every endpoint can give besides its own (docs/integrations.md, status codes).
COMMON_RESPONSES = {
    "405": "METHOD_NOT_ALLOWED: the endpoint doesn't take this HTTP method.",
    "500": "INTERNAL_ERROR: the call failed unexpectedly and changed nothing.",
    "503": "POLICY_NOT_CONFIGURED: the host's policy is not usable; nothing can run.",
}


def add_common_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """A drf-spectacular post-processing hook: 405, 500 and 503 on every operation, in the
    error shape, where an operation doesn't describe them itself."""
    error = {"$ref": "#/components/schemas/Error"}
    if "Error" not in result.get("components", {}).get("schemas", {}):
        error = {"type": "object", "properties": {"error": {"type": "object"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error}},
                    },
                )
    return result
