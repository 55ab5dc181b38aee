"""The public surface is listed and documented (STYLE.md): every public module has ``__all__``, every public
definition is in it, and every name in it has a docstring (functions, classes and their public methods) or a
comment (constants: on its line, above it or above its block of assignments, or named in the module docstring).
"""

from __future__ import annotations

import ast
import importlib
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analyzer", "flyte_otel", "propeller_sim")


def _public_modules() -> list[Path]:
    """Every module whose dotted path has no private part (``__init__`` counts as public)."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if not any(p.startswith("_") and p != "__init__.py" for p in parts):
                out.append(path)
    return out


def _all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return None


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level functions, classes and assigned names."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for name in t.elts if isinstance(t, ast.Tuple) else [t]:
                    if isinstance(name, ast.Name):
                        out[name.id] = node
    return out


def _comment_lines(source: str) -> set[int]:
    return {
        t.start[0]
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type == tokenize.COMMENT
    }


def _constant_documented(name: str, node: ast.stmt, tree: ast.Module, comments: set[int]) -> bool:
    """A comment on the assignment's lines, or above it or above the block of assignments it is in, or the
    name in the module docstring."""
    if name in (ast.get_docstring(tree) or ""):
        return True
    if any(line in comments for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)):
        return True
    i = tree.body.index(node)
    while True:
        if tree.body[i].lineno - 1 in comments:
            return True
        above = tree.body[i - 1] if i else None
        if not isinstance(above, ast.Assign | ast.AnnAssign) or above.end_lineno != tree.body[i].lineno - 1:
            return False
        i -= 1


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _problems(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    defs = _definitions(tree)
    listed = _all(tree)
    public_defs = [
        n for n, d in defs.items() if not n.startswith("_") and not isinstance(d, ast.Assign | ast.AnnAssign)
    ]
    if listed is None:
        return [] if path.name == "__init__.py" and not public_defs else ["no __all__"]
    problems = [f"{n} is public but not in __all__" for n in public_defs if n not in listed]
    comments = _comment_lines(source)
    for name in listed:
        node = defs.get(name)
        if node is None:
            # imported at the top level, in a top-level try (an optional dependency's fallback), or, in a
            # package that loads its names on first use (a module __getattr__), under `if TYPE_CHECKING:`
            tried = [n for d in tree.body if isinstance(d, ast.Try) for n in d.body]
            if "__getattr__" in defs:
                tried += [n for d in tree.body if _is_type_checking(d) for n in d.body]
            if not any(
                isinstance(d, ast.ImportFrom) and name in {a.asname or a.name for a in d.names}
                for d in [*tree.body, *tried]
            ):
                problems.append(f"{name} is in __all__ but not defined or imported")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if not ast.get_docstring(node):
                problems.append(f"{name} has no docstring")
            if isinstance(node, ast.ClassDef):
                problems += [
                    f"{name}.{m.name} has no docstring"
                    for m in node.body
                    if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not m.name.startswith("_")
                    and not ast.get_docstring(m)
                ]
        elif not _constant_documented(name, node, tree, comments):  # type: ignore[arg-type]
            problems.append(f"{name} has no comment")
    return problems


@pytest.mark.parametrize("path", _public_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_public_names_are_listed_and_documented(path: Path) -> None:
    assert _problems(path) == []


def test_the_check_finds_an_unlisted_function_and_an_undocumented_constant(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Doc."""\n\n__all__ = ["A", "f"]\n\nA = 1\n\n\ndef f():\n    pass\n\n\ndef g():\n    """G."""\n'
    )
    assert _problems(module) == ["g is public but not in __all__", "A has no comment", "f has no docstring"]


def test_a_lazy_package_gives_every_listed_name_as_its_defining_module_has_it() -> None:
    import flyte_otel
    import flyte_otel.spans

    for name in flyte_otel.__all__:
        value = getattr(flyte_otel, name)
        homes = [m for m in flyte_otel._MODULES if getattr(importlib.import_module(m), name, None) is value]
        assert homes, name
    assert flyte_otel.round is flyte_otel.spans.round
    assert set(flyte_otel.__all__) <= set(dir(flyte_otel))
    with pytest.raises(AttributeError):
        flyte_otel.no_such_name  # noqa: B018


def test_the_analyzer_package_gives_each_function_as_its_module_has_it() -> None:
    """`import analyzer` is the notebook's whole import: load, frame, self_time, critical_path, segments and
    report, each the function its module defines, and documented."""
    import analyzer

    functions = sorted(set(analyzer.__all__) - {"__version__"})
    assert functions == ["critical_path", "frame", "load", "report", "segments", "self_time"]
    for name in functions:
        home = importlib.import_module(analyzer._HOMES[name])
        assert getattr(analyzer, name) is getattr(home, name) and getattr(home, name).__doc__, name
    assert set(analyzer.__all__) <= set(dir(analyzer))
    with pytest.raises(AttributeError):
        analyzer.no_such_name  # noqa: B018
