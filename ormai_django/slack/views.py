"""The interactions endpoint: Slack posts every click and modal submission here.

1. The signature and its timestamp are checked (``slack_sdk.signature.SignatureVerifier``:
   ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret, at most five
   minutes old). Missing, wrong or stale: 401, and nothing else happens.
2. The interaction is recorded once (``InteractionReceipt``, keyed by its ``trigger_id``):
   a retry of it (``X-Slack-Retry-Num``) or a replay is acknowledged and does nothing.
3. The work is enqueued (``ormai_django.slack.handle_interaction``) and Slack gets its
   200 at once, well within its 3 seconds; the worker decides and answers in Slack.

A deny modal's submission is checked here, synchronously, only for its note: an empty note
is answered with the modal's own error (``response_action: errors``), so the modal stays
open and says what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from ormai_django.models import InteractionReceipt
from ormai_django.slack.blocks import DENY_CALLBACK, NOTE_BLOCK
from ormai_django.slack.config import slack_config
from ormai_django.slack.interactions import note_of
from ormai_django.slack.receivers import ENQUEUE_RETRY_POLICY

logger = logging.getLogger("ormai_django.slack")

MAX_BODY_BYTES = 512 * 1024
NOTE_REQUIRED = "Write why, in a line: the agent tells the user this note as the reason."


def _verified(request: HttpRequest, secret: str) -> bool:
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    signature = request.headers.get("X-Slack-Signature")
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    return SignatureVerifier(secret).is_valid(
        body=request.body, timestamp=timestamp, signature=signature
    )


def _payload(request: HttpRequest) -> dict[str, Any] | None:
    try:
        payload = json.loads(request.POST.get("payload") or "")
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def receipt_key(payload: dict[str, Any], body: bytes) -> str:
    """What identifies one interaction across Slack's retries: its type and ``trigger_id``
    (Slack gives each click and submission its own), else the body's digest."""
    trigger = payload.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return f"{payload.get('type')}:{trigger}"[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Slack's interactivity request URL (``<prefix>interactions/``)."""
    config = slack_config()
    if config is None:
        logger.warning("A Slack interaction arrived, but ORMAI['SLACK'] isn't configured")
        return HttpResponse("Slack is not configured here.", status=401)
    if len(request.body) > MAX_BODY_BYTES:
        return HttpResponse(status=413)
    if not _verified(request, config.signing_secret):
        return HttpResponse("Invalid or stale signature.", status=401)
    payload = _payload(request)
    if payload is None:
        return HttpResponse("Expected a form field 'payload' holding a JSON object.", status=400)
    view = payload.get("view") or {}
    is_deny_note = (
        payload.get("type") == "view_submission" and view.get("callback_id") == DENY_CALLBACK
    )
    if is_deny_note and not note_of(view):
        return JsonResponse({"response_action": "errors", "errors": {NOTE_BLOCK: NOTE_REQUIRED}})
    key = receipt_key(payload, request.body)
    try:
        with transaction.atomic():
            InteractionReceipt.objects.create(key=key, service="slack")
    except IntegrityError:
        logger.info(
            "Slack interaction %s seen before (retry %s): nothing done again",
            key,
            request.headers.get("X-Slack-Retry-Num", "-"),
        )
        return HttpResponse(status=200)
    from ormai_django.slack.tasks import handle_interaction

    try:
        handle_interaction.apply_async(args=[payload], retry_policy=ENQUEUE_RETRY_POLICY)
    except Exception:
        logger.exception("Could not enqueue the Slack interaction %s", key)
        InteractionReceipt.objects.filter(key=key).delete()
        return HttpResponse("Could not take the interaction now; try again.", status=503)
    return HttpResponse(status=200)
