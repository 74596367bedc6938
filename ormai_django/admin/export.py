"""Export of the audit list as it is filtered, as CSV or JSON lines, streamed: the rows are
read ``CHUNK_SIZE`` at a time (a server-side cursor on PostgreSQL) and written as they
come, so an export of millions of rows holds one chunk in memory, never the file.

CSV has the scalar columns, for a spreadsheet; JSON lines has every column, ``arguments``
and ``changes`` included, one event per line. A CSV cell that starts with ``=``, ``+``,
``-`` or ``@`` gets a leading ``'``: agents write the reasons, and a spreadsheet would run
such a cell as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

CHUNK_SIZE = 2000
CSV_COLUMNS = (
    "id",
    "created_at",
    "tool",
    "model",
    "outcome",
    "error_code",
    "error_message",
    "principal",
    "on_behalf_of",
    "tenant_id",
    "run_id",
    "reason",
    "affected_rows",
    "approval_id",
    "caused_by_id",
    "idempotency_key",
    "duration_ms",
)
JSON_COLUMNS = (*CSV_COLUMNS, "arguments", "changes", "result", "shadow_verdict")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Echo:
    """A file whose ``write`` returns what it was given, for ``csv.writer`` to stream into."""

    def write(self, value: str) -> str:
        return value


def stamp(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    return value


def csv_cell(value: Any) -> Any:
    value = stamp(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_lines(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in queryset.values_list(*CSV_COLUMNS).iterator(chunk_size=CHUNK_SIZE):
        yield writer.writerow([csv_cell(value) for value in row])


def json_lines(queryset: QuerySet) -> Iterator[str]:
    for row in queryset.values(*JSON_COLUMNS).iterator(chunk_size=CHUNK_SIZE):
        yield json.dumps({k: stamp(v) for k, v in row.items()}, ensure_ascii=False) + "\n"


FORMATS = {
    "csv": ("text/csv; charset=utf-8", csv_lines),
    "jsonl": ("application/x-ndjson; charset=utf-8", json_lines),
}


def export_response(queryset: QuerySet, file_format: str) -> StreamingHttpResponse:
    """The rows of ``queryset`` as a streamed download in ``file_format`` ("csv", "jsonl")."""
    content_type, lines = FORMATS[file_format]
    name = f"audit-events-{timezone.now():%Y%m%d-%H%M%S}.{file_format}"
    response = StreamingHttpResponse(lines(queryset), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
