"""The shadow-policy path of ``ormai_bench``: a single-row ``db.update`` with
``ORMAI["SHADOW_POLICY"]`` set against the same update without it, so the cost of judging
every write under a second policy (``runtime.decide_call``: no lock, no write, no audit) is
measured. The shadow policy is the live one, so both decide the same and the shadow does
its whole work. Target: at most 1.2x.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from sandbox_project.shop.bench.cases import Bench, Case

SHADOW_TARGET = 1.2


def shadow_cases(bench: Bench) -> list[Case]:
    pk = bench.customer_ids[1]
    names = itertools.cycle(("Shadow A", "Shadow B"))
    update = bench.tool(
        "db.update", model="Customer", id=pk, reason="bench: rename", data={"preferred_name": ""}
    )
    base = dict(getattr(settings, "ORMAI", {}) or {})
    # Both sides enter override_settings, so the comparison is only the shadow's work.
    without = override_settings(ORMAI={**base, "SHADOW_POLICY": None})
    beside = override_settings(ORMAI={**base, "SHADOW_POLICY": bench.policy})

    def rename(settings_: Any) -> dict[str, Any]:
        update.args[0]["arguments"]["data"]["preferred_name"] = next(names)
        with settings_:
            return update()

    return [
        Case(
            "db.update 1 row with a shadow policy vs without",
            lambda: rename(without),
            lambda: rename(beside),
            target=SHADOW_TARGET,
            agree=lambda bare, tool: bare["outcome"] == tool["outcome"] == "ok",
        )
    ]
