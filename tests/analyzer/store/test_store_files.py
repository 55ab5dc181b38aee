"""Where the local store is (docs/store.md)."""

from __future__ import annotations

from analyzer.store.files import STORE_ENV, default_store


def test_default_store_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(STORE_ENV, str(tmp_path))
    assert default_store() == tmp_path
    monkeypatch.delenv(STORE_ENV)
    assert default_store().parts[-3:] == ("share", "otel-fold", "store")
