"""Default places of the store and the settings file: OTEL_FOLD_* first, then the XDG Base Directory variables
when absolute, then ~/.local/share and ~/.config (freedesktop.org basedir-spec: empty or relative is ignored)."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from analyzer.source import config
from flyte_otel.paths import default_cache, default_config_file, default_store

HOME = Path.home()


@pytest.mark.parametrize(
    "environ, store, config_file",
    [
        ({}, HOME / ".local/share/otel-fold/store", HOME / ".config/otel-fold/config.yaml"),
        ({"XDG_DATA_HOME": "/x/data", "XDG_CONFIG_HOME": "/x/cfg"}, Path("/x/data/otel-fold/store"),
         Path("/x/cfg/otel-fold/config.yaml")),
        ({"XDG_DATA_HOME": "", "XDG_CONFIG_HOME": ""}, HOME / ".local/share/otel-fold/store",
         HOME / ".config/otel-fold/config.yaml"),
        ({"XDG_DATA_HOME": "rel/data", "XDG_CONFIG_HOME": "rel"}, HOME / ".local/share/otel-fold/store",
         HOME / ".config/otel-fold/config.yaml"),
        ({"OTEL_FOLD_STORE": "/s", "XDG_DATA_HOME": "/x/data"}, Path("/s"), HOME / ".config/otel-fold/config.yaml"),
    ],
    ids=["unset", "absolute", "empty", "relative", "OTEL_FOLD_STORE wins"],
)  # fmt: skip
def test_defaults_follow_the_xdg_rules(environ: dict[str, str], store: Path, config_file: Path) -> None:
    assert default_store(environ) == store
    assert default_config_file(environ) == config_file


@pytest.mark.parametrize(
    "environ, cache",
    [({}, HOME / ".cache/otel-fold"), ({"XDG_CACHE_HOME": "/x/c"}, Path("/x/c/otel-fold")),
     ({"XDG_CACHE_HOME": ""}, HOME / ".cache/otel-fold"), ({"XDG_CACHE_HOME": "rel"}, HOME / ".cache/otel-fold")],
    ids=["unset", "absolute", "empty", "relative"],
)  # fmt: skip
def test_the_cache_follows_the_xdg_rules(environ: dict[str, str], cache: Path) -> None:
    assert default_cache(environ) == cache


def test_the_settings_file_under_xdg_config_home_is_read(tmp_path: Path) -> None:
    (tmp_path / "otel-fold").mkdir()
    (tmp_path / "otel-fold" / "config.yaml").write_text("backend: jaeger\n")
    args = argparse.Namespace(config=None)
    assert config.configured_backend(args, {"XDG_CONFIG_HOME": str(tmp_path)}) == "jaeger"
    assert config.configured_backend(args, {"XDG_CONFIG_HOME": str(tmp_path / "elsewhere")}) is None


_REPO = Path(__file__).resolve().parents[2]


def _finds_home(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "home"
    text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
    return text is not None and (text == "HOME" or text.startswith("~/"))


def _home_lookups(path: Path) -> list[int]:
    """Lines that find the home directory themselves: Path.home(), os.path.expanduser("~..."), $HOME."""
    return [n.lineno for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if _finds_home(n)]  # type: ignore[attr-defined]


def test_only_flyte_otel_paths_builds_paths_under_home():
    # every default directory honours XDG_*_HOME because one module makes them all
    files = [p for pkg in ("analyzer", "flyte_otel", "propeller_sim") for p in (_REPO / pkg).rglob("*.py")]
    lookups = {p.relative_to(_REPO).as_posix(): lines for p in files if (lines := _home_lookups(p))}
    assert set(lookups) == {"flyte_otel/paths.py"}, lookups
