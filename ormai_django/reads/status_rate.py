"""The rate limit of ``approval.status``: so many looks per principal per period.

Counted in Django's cache (``ORMAI["APPROVAL_STATUS_CACHE"]``, the ``default`` cache unless
told), as DRF's throttles are: one atomic ``incr`` per look in a fixed window, no database
write. With a cache shared by every process (Redis, Memcached, the database cache) the limit
holds across them; with the per-process ``LocMemCache`` each process counts on its own.
"""

from __future__ import annotations

import hashlib
import math
import re
import time

from django.core.cache import caches

from ormai_django import codes
from ormai_django.conf import ormai_settings
from ormai_django.errors import ToolDenied

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"60/minute"`` -> ``(60, 60)``: looks, and the period in seconds (``"10/5s"`` is ten
    per five seconds). ``None`` means no limit; anything else is a ``ValueError``."""
    if rate is None:
        return None
    found = RATE.match(str(rate))
    if found is None or int(found.group(1)) < 1:
        raise ValueError(
            f"APPROVAL_STATUS_RATE must look like '60/minute' or '10/5s', not {rate!r}"
        )
    return int(found.group(1)), int(found.group(2) or 1) * PERIODS[found.group(3)]


def check_status_rate(principal: str) -> None:
    """Count one look by ``principal``; past the limit, ``denied`` / ``RATE_LIMITED`` with
    ``retry_after`` (seconds until the window turns)."""
    rate = parse_rate(ormai_settings.APPROVAL_STATUS_RATE)
    if rate is None:
        return
    limit, period = rate
    now = time.time()
    window = int(now // period)
    who = hashlib.sha256(principal.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"ormai_django:approval_status:{who}:{period}:{window}"
    cache = caches[ormai_settings.APPROVAL_STATUS_CACHE]
    cache.add(key, 0, timeout=period + 1)
    try:
        used = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=period + 1)
        used = 1
    if used > limit:
        retry_after = max(1, math.ceil((window + 1) * period - now))
        raise ToolDenied(
            codes.RATE_LIMITED,
            f"approval.status answers {limit} looks per {period} s per caller and this caller "
            f"has used them; wait {retry_after} seconds before looking again. A decision "
            "takes people minutes or hours: look every minute or so, not every second.",
            retry_after=retry_after,
        )
