"""propeller_sim stands on flyte_otel alone: none of its modules imports the analyzer."""

from __future__ import annotations

import json
import subprocess
import sys

# Every module of the package, portfolio included, imported in a fresh interpreter.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import propeller_sim
names = [m.name for m in pkgutil.walk_packages(propeller_sim.__path__, "propeller_sim.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "analyzer": [m for m in sys.modules if m.partition(".")[0] == "analyzer"]}))
"""


def test_no_module_of_propeller_sim_imports_the_analyzer() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {"propeller_sim.engine", "propeller_sim.profile", "propeller_sim.portfolio.tiny_chain"} <= set(
        found["modules"]
    )
    assert found["analyzer"] == []
