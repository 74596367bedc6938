"""Every ```python example in docs/*.md runs, so the documentation can't drift from the code.

The blocks of one file run in order in one namespace (a later block uses what an earlier
one defined), inside a database test, against the sandbox project and its
``ORMAI["POLICY"]``. The factories of ``tests/factories.py`` are in the namespace.
A block opts out with a first line ``# not-run: <reason>`` (kept for settings snippets
and code that needs a network or a third-party SDK). Blocks state their expected
results with ``assert``, so a wrong example fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import factories

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
NOT_RUN = re.compile(r"#\s*not-run:\s*(\S.*)")


@dataclass(frozen=True)
class Example:
    line: int  # line of the first code line in the Markdown file
    code: str

    @property
    def skipped(self) -> bool:
        first = self.code.lstrip("\n").split("\n", 1)[0].strip()
        return first.startswith("# not-run")


def examples_of(path: Path) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    return [
        Example(line=text.count("\n", 0, match.start(1)) + 1, code=match.group(1))
        for match in FENCE.finditer(text)
    ]


def documents_with_examples() -> list[Path]:
    return [p for p in sorted(DOCS.glob("*.md")) if examples_of(p)]


def test_the_user_guides_have_examples_that_run():
    # Guards the parametrization below: an empty docs/ would otherwise pass silently.
    names = {p.name for p in documents_with_examples()}
    assert {
        "getting-started.md",
        "policy.md",
        "tools.md",
        "security.md",
        "writes.md",
        "approvals.md",
        "integrations.md",
    } <= names


def test_every_opted_out_example_says_why():
    for path in documents_with_examples():
        for example in examples_of(path):
            if example.skipped:
                first = example.code.lstrip("\n").split("\n", 1)[0]
                assert NOT_RUN.match(first.strip()), (
                    f"{path.name}:{example.line}: write '# not-run: <reason>'"
                )


@pytest.mark.django_db
@pytest.mark.parametrize("path", documents_with_examples(), ids=lambda p: p.name)
def test_python_examples_in_document_run(path: Path):
    namespace: dict[str, object] = {
        "__name__": f"docs_{path.stem.replace('-', '_')}",
        **{name: getattr(factories, name) for name in dir(factories) if name.endswith("Factory")},
    }
    ran = 0
    for example in examples_of(path):
        if example.skipped:
            continue
        # Padding keeps traceback line numbers equal to the Markdown file's own.
        source = "\n" * (example.line - 1) + example.code
        exec(compile(source, str(path), "exec"), namespace)
        ran += 1
    assert ran, f"{path.name}: every example is marked not-run"
