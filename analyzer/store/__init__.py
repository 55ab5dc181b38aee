"""The local trace store (docs/store.md): where it is and which files it holds, and the append-only writer."""
