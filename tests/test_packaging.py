"""The wheel: exactly our three packages at the top level (no `examples`), the profiles inside, and it works installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from propeller_sim.portfolio import PORTFOLIO

ROOT = Path(__file__).resolve().parents[1]
# What a checkout holds besides the sources: never part of a build, and large or machine-specific.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "out", ".otel-fold", "*.egg-info", "__pycache__", "*_cache", "*.so", "_wire.c"
)
# Run from the unpacked wheel: the profile by name, the portfolio's modules, and `otel-fold bench`.
_INSTALLED = """
import json, sys
import analyzer, propeller_sim
from analyzer.cli import main
from propeller_sim.portfolio import PORTFOLIO
from propeller_sim.profile import load_profile, named_profiles

rc = main(["bench", "tiny_chain", "-n", "1", "--small", "--profile", "fixed", "--store", sys.argv[1],
           "-o", sys.argv[2]])
print(json.dumps({"files": [propeller_sim.__file__, analyzer.__file__], "default": load_profile("default").name,
                  "named": named_profiles(), "portfolio": [e.name for e in PORTFOLIO],
                  "bottlenecks": [e.bottleneck for e in PORTFOLIO], "bench": rc}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of this tree (so the build leaves nothing in the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=_NOT_SOURCES)
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(tmp / "src"),
        "--no-deps",
        "-q",
        "-w",
        str(tmp / "dist"),
    ]
    done = subprocess.run(build, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    (path,) = (tmp / "dist").glob("*.whl")
    return path


@pytest.mark.slow
def test_wheel_installs_only_our_three_packages_and_the_profiles(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"analyzer", "flyte_otel", "propeller_sim"}
    shipped = {
        f"propeller_sim/profiles/{p.name}" for p in (ROOT / "propeller_sim" / "profiles").glob("*.yaml")
    }
    assert shipped and shipped <= set(names)
    assert "propeller_sim/py.typed" in names


@pytest.mark.slow
def test_installed_wheel_loads_profiles_and_portfolio_and_runs_bench(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    paths = sysconfig.get_paths()
    # -S: no site module, so this venv's editable-install finder (a .pth) is not active; its
    # site-packages still provides the dependencies through PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), paths["purelib"], paths["platlib"]])}
    out = tmp_path / "bench.yaml"
    command = [sys.executable, "-S", "-c", _INSTALLED, str(tmp_path / "store"), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert all(Path(f).is_relative_to(site) for f in found["files"]), found["files"]
    assert found["default"] == "default"
    assert {"default", "fixed", "slow-etcd"} <= set(found["named"])
    assert found["portfolio"] == [e.name for e in PORTFOLIO]
    assert found["bottlenecks"] == [e.bottleneck for e in PORTFOLIO]
    assert found["bench"] == 0 and "flyte.benchmark.tiny_chain" in out.read_text()


# The analyzer's and simulator's dependencies: a task image's light install has none of them.
_HEAVY = ("pandas", "numpy", "pyarrow", "scipy", "yaml", "msgspec", "orjson", "tqdm")


def test_the_light_install_needs_none_of_the_analyzer_s_dependencies(wheel: Path) -> None:
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    base = [r for r in requires if "extra ==" not in r]
    assert base and not [r for r in base if r.split(">")[0].split("=")[0].lower() in (*_HEAVY, "pyyaml")]
    analyzer_extra = [r for r in requires if 'extra == "analyzer"' in r]
    assert {r.split(">")[0].lower() for r in analyzer_extra} >= {"pandas", "numpy", "pyarrow", "scipy"}


_LIGHT = f"""
import sys
for heavy in {_HEAVY!r}:
    sys.modules[heavy] = None
import flyte_otel
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
memory = InMemorySpanExporter()
flyte_otel.configure(exporter=memory, batch=False)
from flyte_otel.flytekit_instrumentor import FlytekitInstrumentor, pod_attributes
with flyte_otel.round("e1"):
    pass
assert [s.name for s in memory.get_finished_spans()] == ["pkg.controller.Propeller/Handle"]
from analyzer.cli import main
sys.exit(main(["fold", "e1"]))
"""


def test_the_library_and_the_instrumentor_work_without_them_and_otel_fold_says_what_is_missing() -> None:
    done = subprocess.run([sys.executable, "-c", _LIGHT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr  # the library worked; otel-fold then asked for the extra
    (line,) = done.stderr.strip().splitlines()  # one line, whichever of them is imported first
    missing = line.removeprefix("otel-fold: the analyzer needs ").split(",")[0]
    assert missing in _HEAVY and line.endswith("pip install 'flyte-otel[analyzer]'"), line
