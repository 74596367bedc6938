"""``python manage.py demo_agent``: a scripted support agent, printed as a transcript.

Each step is a short narration, the tool call the agent sends (``>>>``) and the
JSON that ``ormai_django.execute`` returns (``<<<``). The script checks every
outcome it expects, so the demo doubles as a smoke test of the sandbox: a step
that behaves differently is flagged with ``!!`` and the command fails.

Run ``python manage.py seed_sandbox --reset`` first. The demo can run again at
once, without a new seed. The script lives in ``sandbox_project/shop/demo/``: the
runner in ``runner.py``, one module per act, the acts in order in ``ACTS``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox_project.shop.demo import ACTS
from sandbox_project.shop.demo.runner import Step, run_demo

# Step and ACTS are named here too: tests script their own act through this module.
__all__ = ["ACTS", "Command", "Step"]


class Command(BaseCommand):
    help = "Run a scripted support agent against the sandbox and print the transcript."

    def handle(self, *args: Any, **options: Any) -> None:
        # ACTS is looked up here at each run, so a test can replace this module's ACTS.
        run_demo(ACTS, self.stdout, self.style)
