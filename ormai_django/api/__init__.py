"""The HTTP API of ormai_django (Django REST framework), mounted with one include:

    path("ormai/", include("ormai_django.api.urls"))

Tool calls go through ``ormai_django.execute``, the one pipeline; approvals through
``ormai_django.approvals``; rollbacks through ``ormai_django.rollback``. Callers authenticate
with a capability token (``Authorization: Bearer <token>``) or a Django session; the
resolver named by ``ORMAI["CONTEXT_RESOLVER"]`` turns the request into the ``ToolContext``
and ``Policy`` its calls run under. See docs/integrations.md.
"""
