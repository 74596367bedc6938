"""``CapabilityTokenAuthentication``: ``Authorization: Bearer <capability token>``.

A verified token authenticates as a ``CapabilityUser``: not a Django user, holding no
Django permission, so a token can call the tools and nothing else (approving, reading
the audit log and rolling back need a signed-in Django user with the permissions).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from ormai_django import codes
from ormai_django.api.resolver import get_context_resolver
from ormai_django.tokens import Capability, CapabilityTokenError


class CapabilityUser:
    """``request.user`` of a token-authenticated request: the token's principal."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, capability: Capability) -> None:
        self.capability = capability
        self.principal = capability.context.principal

    def get_username(self) -> str:
        return self.principal

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.principal


class CapabilityTokenAuthentication(BaseAuthentication):
    """Authenticates ``Authorization: Bearer <token>`` with a capability token.

    A request without a bearer header is left to the next authentication class; a bad
    token is refused (401, ``TOKEN_INVALID`` or ``TOKEN_EXPIRED``), and so is a token
    that names more than the current policy grants (403, ``TOKEN_WIDENS_POLICY``).
    """

    keyword = b"bearer"

    def authenticate(self, request: Any) -> tuple[CapabilityUser, Capability] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as 'Authorization: Bearer <token>'.", code=codes.TOKEN_INVALID
            )
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "The capability token is malformed.", code=codes.TOKEN_INVALID
            ) from None
        try:
            capability = get_context_resolver().verify_token(request, token)
        except CapabilityTokenError as exc:
            if exc.code == codes.TOKEN_WIDENS_POLICY:
                raise exceptions.PermissionDenied(exc.message, code=exc.code) from None
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
        return CapabilityUser(capability), capability

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="ormai"'
