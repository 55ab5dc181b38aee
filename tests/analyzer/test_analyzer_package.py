"""`import analyzer` loads nothing heavy; `analyzer.load` is the function however it was first reached; the
notebook's functions load pandas only when called; in a light install (no `analyzer` extra) each says what to
install when called. Each in a fresh interpreter."""

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
    # One span as OTLP/JSON: enough for the notebook's frame.
    "notebook functions load pandas when called": (
        "import sys, analyzer\n"
        "f = analyzer.frame\n"
        "assert f is sys.modules['analyzer.notebook'].frame and analyzer.report.__module__ == 'analyzer.notebook'\n"
        "assert 'pandas' not in sys.modules\n"
        "span = {'traceId': '0af7651916cd43dd8448eb211c80319c', 'spanId': 'b7ad6b7169203331', 'name': 'x',\n"
        "        'startTimeUnixNano': '1', 'endTimeUnixNano': '3'}\n"
        "import json\n"
        "df = f(json.dumps({'resourceSpans': [{'scopeSpans': [{'spans': [span]}]}]}).encode())\n"
        "assert 'pandas' in sys.modules and str(df['duration'].dtype) == 'timedelta64[ns]', df.dtypes\n"
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
    "light install, notebook": (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "import analyzer\n"
        "try:\n"
        "    analyzer.frame('spans.jsonl')\n"
        "except ModuleNotFoundError as e:\n"
        "    assert e.name == 'pyarrow' and str(e).endswith(\"pip install 'flyte-otel[analyzer]'\"), e\n"
        "    assert analyzer.frame.__name__ == 'frame'\n"
        "    print('ok')\n"
    ),
}


@pytest.mark.parametrize("snippet", _SNIPPETS.values(), ids=_SNIPPETS.keys())
def test_the_package_and_its_load(snippet: str) -> None:
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
