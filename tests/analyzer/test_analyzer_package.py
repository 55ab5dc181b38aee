"""`import analyzer` loads nothing heavy; `analyzer.load` is the function however it was first reached, and in a
light install (no `analyzer` extra) it says what to install when called. Each in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each snippet prints "ok" when the package behaves.
_SNIPPETS = {
    "light import": (
        "import sys, analyzer\n"
        "heavy = [m for m in ('pandas', 'numpy', 'pyarrow', 'orjson', 'msgspec') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    ),
    # Importing the submodule binds it on the package (which would leave `analyzer.load` a module).
    "submodule first": (
        "import sys, analyzer\n"
        "from analyzer.load import read_store\n"
        "assert analyzer.load is sys.modules['analyzer.load'].load, analyzer.load\n"
        "print('ok')\n"
    ),
    "attribute first": (
        "import sys, analyzer\n"
        "f = analyzer.load\n"
        "assert f is sys.modules['analyzer.load'].load and analyzer.load is f, f\n"
        "print('ok')\n"
    ),
    "light install": (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "import analyzer\n"
        "try:\n"
        "    analyzer.load('spans.jsonl')\n"
        "except ModuleNotFoundError as e:\n"
        "    assert e.name == 'pyarrow' and str(e).endswith(\"pip install 'flyte-otel[analyzer]'\"), e\n"
        "    print('ok')\n"
    ),
}


@pytest.mark.parametrize("snippet", _SNIPPETS.values(), ids=_SNIPPETS.keys())
def test_the_package_and_its_load(snippet: str) -> None:
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
