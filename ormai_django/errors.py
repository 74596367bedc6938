"""The one error hierarchy of ormai_django.

Every exception the package raises on purpose is an :class:`OrmaiError` with a stable
``code`` (``ormai_django.codes``), a ``message`` a person or a model can act on, and
``details``. Subclasses exist only where callers catch them apart:

    OrmaiError
    ├── ToolError                  a tool call that can't run (outcome "error")
    │   └── ToolDenied             the policy said no (outcome "denied")
    │       └── CapabilityTokenError   a token that grants nothing
    ├── ApprovalError              a decision on a held call that can't be taken
    ├── RollbackError              a rollback that was refused
    ├── PolicyConfigurationError   a policy that can't be built (``problems`` lists all)
    └── PolicyWideningError        a narrowing that would grant more (also a ValueError)

Inside the pipeline, the runtime alone turns a ``ToolError`` into an outcome; nothing
raises out of ``execute``.
"""

from __future__ import annotations

from typing import Any

from ormai_django import codes


class OrmaiError(Exception):
    """Base of every error ormai_django raises on purpose: ``code``, ``message``, details."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_error(self) -> dict[str, Any]:
        """``{"code", "message", **details}``: the ``error`` object of an outcome."""
        return {"code": self.code, "message": self.message, **self.details}


class ToolError(OrmaiError):
    """A call that can't run; ``outcome`` says whether the call was malformed or refused."""

    outcome = "error"


class ToolDenied(ToolError):
    """The policy said no: the call was well formed but is not allowed for this context."""

    outcome = "denied"


class CapabilityTokenError(ToolDenied):
    """A token that grants nothing: ``code`` is ``TOKEN_INVALID`` (bad signature, malformed,
    tampered), ``TOKEN_EXPIRED`` or ``TOKEN_WIDENS_POLICY`` (it names more than the policy
    grants)."""


class ApprovalError(OrmaiError):
    """A decision that can't be taken; ``code`` says why (``UNKNOWN_APPROVAL``,
    ``APPROVAL_NOT_PENDING``, ``APPROVAL_EXPIRED``, ``APPROVER_IS_REQUESTER``,
    ``DUPLICATE_APPROVER``, ``INVALID_APPROVER``)."""


class RollbackError(OrmaiError):
    """A rollback that was refused; nothing was changed. ``code`` says why.

    ``ROLLBACK_CONFLICT`` carries ``conflicts``: one entry per field that changed since the
    write (``audit_id``, ``model``, ``pk``, ``field``, ``expected``, ``current``), or per row
    that is gone or back (``field`` None, ``problem``).
    """

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        return self.details.get("conflicts", [])

    def as_dict(self) -> dict[str, Any]:
        return self.as_error()


class PolicyConfigurationError(OrmaiError):
    """A policy that can't be built: unknown or ambiguous models, unknown fields, bad settings.

    ``problems`` lists every problem found, so a system check can report them all at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(codes.POLICY_INVALID, "; ".join(self.problems), problems=self.problems)


class PolicyWideningError(OrmaiError, ValueError):
    """A narrowing that would grant more than the policy does: a model or tool the policy
    doesn't grant, or write tools where no model accepts writes."""

    def __init__(self, message: str) -> None:
        super().__init__(codes.POLICY_WIDENING, message)
