"""The import contracts (pyproject.toml's [tool.importlinter], drawn in docs/architecture.md) bite: a copy of the
tree with one import against the flow per contract fails every contract, each naming the offending import."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"

# A contract (by the start of its name) -> (the module given an import against the flow, the import).
VIOLATIONS: dict[str, tuple[str, str]] = {
    "analyzer's stages": ("analyzer/results/fold.py", "analyzer.reduce.fold"),
    "flyte_otel is a library": ("flyte_otel/ids.py", "analyzer.errors"),
    "the simulator is an instrumented component": ("propeller_sim/clock.py", "analyzer.units"),
    "reductions are pure": ("analyzer/reduce/percentiles.py", "analyzer.render.svg"),
    "renderers only format": ("analyzer/render/stats_text.py", "analyzer.reduce.self_time"),
    "sources fetch": ("analyzer/source/executions.py", "analyzer.reduce.segments"),
    "the HTTP transport": ("analyzer/source/http.py", "analyzer.decode"),
    "decoders and the store": ("analyzer/store/files.py", "analyzer.decode"),
}


def test_each_contract_fails_on_an_import_against_the_flow(tmp_path: Path) -> None:
    for item in ("analyzer", "flyte_otel", "propeller_sim"):
        shutil.copytree(
            ROOT / item, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for module, target in VIOLATIONS.values():
        with open(tmp_path / module, "a", encoding="utf-8") as f:
            f.write(f"\nimport {target}  # noqa: E402, F401\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [str(LINT), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    report = re.sub(r"\s+", " ", done.stdout)
    assert done.returncode != 0
    for contract, (module, target) in VIOLATIONS.items():
        verdict = re.search(re.escape(contract) + r".*?(KEPT|BROKEN)", report)  # the summary comes first
        assert verdict is not None and verdict.group(1) == "BROKEN", (
            f"{contract!r} not broken:\n{done.stdout}"
        )
        importer = module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {target}" in report, f"{importer} -> {target} not named:\n{done.stdout}"


def test_the_tree_itself_keeps_every_contract() -> None:
    done = subprocess.run([str(LINT), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(VIOLATIONS)} kept, 0 broken" in done.stdout
