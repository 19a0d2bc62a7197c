"""The shape docs/architecture.md describes, checked: who imports whom, and how big things get."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Functions allowed past the limit, with the reason.
FUNCTION_EXCEPTIONS: dict[str, str] = {
    "inference/bench.py::run": (
        "the benchmark CLI: one measurement per table of BENCHMARKS.md, in sequence; "
        "splitting it would scatter one table's setup over several functions"
    ),
    "inference/engines.py::engine_build": (
        "the inference-engine factory: one short branch per engine (eager, folded, "
        "channels-last, torch.compile, ONNX Runtime), read best side by side"
    ),
}


def _modules(*packages: str, skip: tuple[str, ...] = ("migrations",)) -> list[Path]:
    return [
        p
        for package in packages
        for p in sorted((ROOT / package).rglob("*.py"))
        if not any(part in skip for part in p.relative_to(ROOT).parts)
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_model_library_never_imports_django():
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            n for n in _imports(p) if re.match(r"(django|rest_framework|screening|portal)\b", n)
        )
        for p in _modules("inference")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_app_uses_only_the_pipeline_and_the_constants_of_the_model_library():
    allowed = {"inference.pipeline", "inference.constants"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            n for n in _imports(p) if n.startswith("inference") and n not in allowed
        )
        for p in _modules("screening")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _relative_imports(path: Path) -> set[str]:
    """Modules of the app a module imports (``from .x import``, ``from ..x import``, ``from . import x``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        ("screening/services", {"views", "forms", "serializers", "api", "presenters"}),
        ("screening/selectors", {"services", "views", "forms", "tasks"}),
        ("screening/presenters.py", {"services", "views", "forms", "tasks"}),
        ("screening/tasks.py", {"views", "forms", "serializers", "api"}),
    ],
)
def test_the_layers_of_the_app_import_downwards_only(modules, forbidden):
    target = ROOT / modules
    paths = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    offenders = {str(p.relative_to(ROOT)): sorted(_relative_imports(p) & forbidden) for p in paths}
    assert {k: v for k, v in offenders.items() if v} == {}


# ``python -m inference.train`` / ``inference.evaluate`` keep working: thin shims into training.
TRAINING_SHIMS = ("inference/train.py", "inference/evaluate.py")


def test_serving_and_intake_never_import_training():
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            n for n in _imports(p) if n.startswith("inference.training")
        )
        for p in _modules("inference", skip=("training",))
        if str(p.relative_to(ROOT)) not in TRAINING_SHIMS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("package", ["inference", "screening"])
def test_no_module_is_over_400_lines_and_no_function_over_60(package):
    too_long, long_functions = [], []
    for path in _modules(package):
        source = path.read_text()
        name = str(path.relative_to(ROOT))
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(name)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                key = f"{name}::{node.name}"
                if length > MAX_FUNCTION_LINES and key not in FUNCTION_EXCEPTIONS:
                    long_functions.append(f"{key} ({length} lines)")
    assert too_long == [] and long_functions == []
