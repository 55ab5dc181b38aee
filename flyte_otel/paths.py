"""Where otel-fold keeps its files by default: the trace store (data), the settings file (configuration) and
the store indexes it cannot keep beside files it may not write (cache).

Per the XDG Base Directory Specification (specifications.freedesktop.org/basedir-spec, version 0.7, section 3
"Environment variables": unset or empty means ``~/.local/share`` / ``~/.config`` / ``~/.cache``; the latest
version adds that a relative path is invalid and ignored): ``$XDG_DATA_HOME`` / ``$XDG_CONFIG_HOME`` /
``$XDG_CACHE_HOME`` when set to an absolute path, else ``~/.local/share`` / ``~/.config`` / ``~/.cache``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CONFIG_ENV", "STORE_ENV", "default_cache", "default_config_file", "default_store"]

STORE_ENV = "OTEL_FOLD_STORE"  # names the store directory, before any XDG default
CONFIG_ENV = "OTEL_FOLD_CONFIG"  # names the settings file, before any XDG default
_APP = "otel-fold"


def _base(environ: Mapping[str, str], variable: str, *fallback: str) -> Path:
    value = environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home().joinpath(*fallback)


def default_store(environ: Mapping[str, str] | None = None) -> Path:
    """``$OTEL_FOLD_STORE``, else ``$XDG_DATA_HOME/otel-fold/store``, else ``~/.local/share/otel-fold/store``."""
    env = os.environ if environ is None else environ
    named = env.get(STORE_ENV)
    return Path(named) if named else _base(env, "XDG_DATA_HOME", ".local", "share") / _APP / "store"


def default_config_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/otel-fold/config.yaml``, else ``~/.config/otel-fold/config.yaml`` (``$OTEL_FOLD_CONFIG``
    and ``--config`` name one explicitly, and then it must exist)."""
    env = os.environ if environ is None else environ
    return _base(env, "XDG_CONFIG_HOME", ".config") / _APP / "config.yaml"


def default_cache(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/otel-fold``, else ``~/.cache/otel-fold``: what can be rebuilt, e.g. store indexes."""
    env = os.environ if environ is None else environ
    return _base(env, "XDG_CACHE_HOME", ".cache") / _APP
