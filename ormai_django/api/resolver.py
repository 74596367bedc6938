"""Who an API request calls the tools as: the pluggable ``ContextResolver``.

``ORMAI["CONTEXT_RESOLVER"]`` names the class (a dotted path); subclass the default to
customise one step, e.g. where a Django user's tenant comes from::

    class ShopResolver(ContextResolver):
        def user_tenant(self, request, user):
            return user.profile.tenant_id
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import import_string
from rest_framework import exceptions, status

from ormai_django import codes
from ormai_django.conf import ormai_settings
from ormai_django.context import ToolContext
from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.loading import get_policy
from ormai_django.policy.policy import Policy
from ormai_django.tokens import Capability, verify_token

logger = logging.getLogger("ormai_django")


class PolicyUnavailable(exceptions.APIException):
    """The host's policy can't be loaded: no call can run (a server-side misconfiguration)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The host's ormai_django policy is not configured; no tool can run."
    default_code = codes.POLICY_NOT_CONFIGURED


class ContextResolver:
    """Maps an API request to the ``(ToolContext, Policy)`` its tool calls run under.

    The default:

    - a capability token gives its own context and its narrowed policy, nothing else;
    - a Django user (session) may call the tools only if active and ``is_staff``; the
      principal is ``user:<username>``, ``on_behalf_of`` the username (so the approval
      gate knows them as the requester), and there is **no tenant**: tenant-scoped
      models answer ``TENANT_REQUIRED`` until ``user_tenant`` is overridden;
    - anyone else is refused (401 or 403); nothing ever runs as an anonymous principal.
    """

    def base_policy(self, request: Any) -> Policy:
        """The policy every caller's policy is part of: ``ORMAI["POLICY"]``."""
        try:
            return get_policy()
        except PolicyConfigurationError as exc:
            logger.error("ormai_django policy is not usable: %s", exc)
            raise PolicyUnavailable() from None

    def verify_token(self, request: Any, token: str) -> Capability:
        """The capability a bearer token grants (raises ``CapabilityTokenError``)."""
        return verify_token(token, self.base_policy(request))

    def resolve(self, request: Any) -> tuple[ToolContext, Policy]:
        """The context and policy of this request's tool calls, or a DRF refusal."""
        if isinstance(request.auth, Capability):
            return request.auth.context, request.auth.policy
        user = request.user
        if not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        if not self.user_may_call_tools(request, user):
            raise exceptions.PermissionDenied(
                "Your account can't call the agent tools; ask for a capability token "
                "or a staff account."
            )
        return self.user_context(request, user), self.user_policy(request, user)

    def user_may_call_tools(self, request: Any, user: Any) -> bool:
        """Whether a signed-in Django user may call the tools (default: active staff)."""
        return bool(user.is_active and user.is_staff)

    def user_context(self, request: Any, user: Any) -> ToolContext:
        username = user.get_username()
        return ToolContext(
            principal=f"user:{username}",
            tenant_id=self.user_tenant(request, user),
            on_behalf_of=username,
        )

    def user_tenant(self, request: Any, user: Any) -> Any:
        """The tenant a Django user's calls are scoped to (default: none, so tenant-scoped
        models are refused with ``TENANT_REQUIRED``). Never read it from the request body
        or a header the caller controls."""
        return None

    def user_policy(self, request: Any, user: Any) -> Policy:
        """The policy of a Django user's calls (default: the whole base policy)."""
        return self.base_policy(request)


def get_context_resolver() -> ContextResolver:
    """An instance of the class ``ORMAI["CONTEXT_RESOLVER"]`` names."""
    return import_string(ormai_settings.CONTEXT_RESOLVER)()
