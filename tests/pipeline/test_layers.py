"""The package's imports run one way: no circle, nothing back up the layers.

scripts/check_layers.py reads every import of ormai_django (lazy ones and those under
``TYPE_CHECKING`` included) and checks them against its LAYERS (docs/architecture.md).
"""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_layers.py"


def load_checker():
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_import_circle_and_no_import_back_up_the_layers():
    problems, graph = load_checker().problems()

    assert problems == []
    assert len(graph) > 50  # it read the package, not an empty folder


def test_the_checker_finds_a_circle_a_lazy_import_back_up_and_an_unlayered_part(tmp_path):
    checker = load_checker()
    package = tmp_path / "ormai_django"
    (package / "policy").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "policy" / "__init__.py").write_text("")
    (package / "names.py").write_text("from ormai_django import codes\n")
    (package / "codes.py").write_text("from ormai_django import names\n")
    (package / "policy" / "loading.py").write_text(
        "def f():\n    from ormai_django.runtime import execute\n"
    )
    (package / "runtime.py").write_text("")
    (package / "gadgets.py").write_text("")
    checker.ROOT = package

    problems, _ = checker.problems()

    assert any("circle between modules" in p and "ormai_django.names" in p for p in problems)
    assert any(
        "back up" in p and "ormai_django.policy.loading imports ormai_django.runtime" in p
        for p in problems
    )
    assert any("ormai_django.gadgets is in no layer" in p for p in problems)
