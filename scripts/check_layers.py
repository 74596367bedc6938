"""Check the import structure of ormai_django: no circles, and every import runs down the layers.

    python scripts/check_layers.py            # prints the problems, exits 1 if there are any
    python scripts/check_layers.py --graph    # also prints every import edge, by layer

Every ``import`` and ``from ... import`` of the package counts, wherever it stands: at the
top of a module, inside a function (a lazy import), or under ``if TYPE_CHECKING:``. Three
things are checked:

1. no import circle between modules;
2. no import circle between the package's parts (its subpackages and top-level modules,
   e.g. ``writes`` and ``tools``), so no part leans on another that leans back;
3. every import goes from a part to a part of the same or a lower layer of ``LAYERS``
   (docs/architecture.md draws them), and every part of the package is in a layer.

The test suite runs this (tests/test_layers.py), so a new circle or an import that runs
back up fails CI.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "ormai_django"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Lowest first. A part may import parts of its own layer or below, never above.
LAYERS: list[tuple[str, ...]] = [
    # Leaves: names, codes, settings, identifiers; they import nothing of the package
    # except each other (errors imports codes, context imports errors).
    ("version", "names", "codes", "errors", "conf", "ids", "signals", "fields", "context"),
    ("models",),
    ("policy",),
    ("orm", "tokens"),
    ("invocation", "audit"),
    # The tool handlers: what each tool does.
    ("reads", "writes"),
    # Domain tools: the project's own functions, run as writes.
    ("domain",),
    # The registry and the tool definitions, over every handler.
    ("tools",),
    ("runtime", "verdicts"),
    # What runs calls through the runtime, or builds on the handlers.
    ("approvals", "rollback", "budgets", "testing"),
    # Outside services.
    ("notifications", "slack", "webhooks"),
    # Surfaces and operators' tools.
    (
        "api",
        "mcp",
        "admin",
        "templatetags",
        "tasks",
        "checks",
        "inventory",
        "probe",
        "shadow",
        "management",
    ),
    ("apps",),
    # The public API re-exports lazily from every layer.
    ("__init__",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(ROOT.rglob("*.py"))
        if "migrations" not in path.relative_to(ROOT).parts
    }


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (``from x import y`` counts ``x.y`` when
    ``y`` is a module, else ``x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                targets.append(candidate if candidate in known else base)
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                # "import ormai_django.a.b" loads ormai_django.a.b: count the deepest module.
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != name:
                    found.add(target)
    return found


def part_of(module: str) -> str:
    """``ormai_django.writes.pipeline`` -> ``writes``; ``ormai_django`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems() -> tuple[list[str], dict[str, set[str]]]:
    found = modules()
    known = set(found)
    graph = {name: imports_of(name, path, known) for name, path in found.items()}
    out: list[str] = []
    for component in circles(graph):
        out.append("import circle between modules: " + " <-> ".join(component))
    parts: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        for target in targets:
            if part_of(source) != part_of(target):
                parts[part_of(source)].add(part_of(target))
    for component in circles(parts):
        out.append("import circle between parts of the package: " + " <-> ".join(component))
    layer_of = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    for part in sorted({part_of(m) for m in known}):
        if part not in layer_of:
            out.append(f"{PACKAGE}.{part} is in no layer: add it to LAYERS in this script")
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = part_of(source), part_of(target)
            if a in layer_of and b in layer_of and layer_of[b] > layer_of[a]:
                out.append(f"import back up the layers: {source} imports {target} ({a} -> {b})")
    return out, graph


def main(argv: list[str]) -> int:
    found, graph = problems()
    if "--graph" in argv:
        for source in sorted(graph):
            for target in sorted(graph[source]):
                print(f"{source} -> {target}")
    for line in found:
        print(line)
    if not found:
        print(f"{PACKAGE}: {len(graph)} modules, no import circle, every import runs down.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
