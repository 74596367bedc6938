"""What every endpoint of the API shares: authentication, JSON in and out, error shape."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from ormai_django.api import schema  # noqa: F401  (registers the bearer scheme)
from ormai_django.api.responses import JSONOnlyNegotiation, exception_handler
from ormai_django.conf import ormai_settings
from ormai_django.tokens import Capability


class OrmaiAPIMixin:
    """Authentication from ``ORMAI["API_AUTHENTICATION_CLASSES"]`` (a capability token,
    then the Django session), JSON only, and every refusal as ``{"error": {...}}``."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    schema = AutoSchema()
    # Tool endpoints answer refusals with an "outcome" too (see responses.exception_handler).
    answers_with_outcome = False

    def perform_authentication(self, request: Any) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        if isinstance(request.auth, Capability):
            # A token holder is not a Django user: Django code that reads the HttpRequest's
            # user (django-simple-history's history_user, say) must see none.
            request._request.user = AnonymousUser()

    def get_authenticators(self) -> list[Any]:
        return [import_string(path)() for path in ormai_settings.API_AUTHENTICATION_CLASSES]

    def get_exception_handler(self) -> Any:
        return exception_handler


class HasOrmaiPermission(BasePermission):
    """A signed-in Django user holding one of the permissions the view names for the
    action (``view.permissions_by_action``); a capability token never qualifies."""

    message = "You need one of these permissions: {}."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if isinstance(request.auth, Capability) or not getattr(user, "is_authenticated", False):
            self.message = (
                "This endpoint needs a signed-in Django user with permissions; "
                "a capability token can call the tools only."
            )
            return False
        needed = view.permissions_by_action.get(view.action, ())
        if not needed or not user.is_active:
            return False
        if any(user.has_perm(perm) for perm in needed):
            return True
        self.message = HasOrmaiPermission.message.format(", ".join(needed))
        return False
