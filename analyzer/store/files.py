"""Where the local trace store is, and which of its files hold spans (docs/store.md).

Reading them is `analyzer.load`'s job (it decodes); this module only knows the directory's layout, so the
store stays a leaf that the decoders never import.
"""

from __future__ import annotations

from pathlib import Path

from analyzer.errors import NotFound
from analyzer.framing import SUFFIXES
from flyte_otel.paths import STORE_ENV, default_store

__all__ = ["STORE_ENV", "default_store", "store_files"]


def store_files(directory: Path) -> list[Path]:
    """The store's data files, in name order (not recursive)."""
    if not directory.is_dir():
        raise NotFound(f"no trace store at {directory}")
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)
