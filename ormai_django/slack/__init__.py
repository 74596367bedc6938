"""Slack, both ways: held calls posted with Approve / Deny buttons, decided from Slack.

An optional integration (the ``slack`` extra: the official ``slack_sdk``; and Celery): the
core never imports it. Configure ``ORMAI["SLACK"]``::

    ORMAI = {
        ...,
        "SLACK": {
            "BOT_TOKEN": os.environ["SLACK_BOT_TOKEN"],          # xoxb-...
            "SIGNING_SECRET": os.environ["SLACK_SIGNING_SECRET"],
            "CHANNEL": "C0123456789",                              # where held calls go
            "USERS": {"U0123ABCD": "lee"},   # optional: Slack user -> username or e-mail
        },
    }

and include ``ormai_django.slack.urls`` (e.g. at ``ormai/slack/``); Slack's interactivity
URL is ``<prefix>interactions/``. The parts:

- ``receivers``: the approval signals enqueue the Celery tasks of ``tasks``, which post the
  message (``messages``) and update it in place as the request moves on; each task runs its
  work in ``work``, imported when it runs, with the ``WebClient`` of ``client``, so registering
  the tasks and reading ``config`` (what every process does) loads no ``slack_sdk``;
- ``views``: the interactions endpoint (signature and timestamp checked with
  ``slack_sdk.signature.SignatureVerifier``, a receipt per interaction so Slack's retries
  decide nothing twice, the work handed to Celery);
- ``interactions``: what a click or a modal's submission does, as the mapped approver
  (``people``); ``blocks``: the Block Kit message and the deny modal.

See docs/approvals.md, "Slack".
"""
