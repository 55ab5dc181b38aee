"""The local trace store (docs/store.md): record framing shared with the writer, and the reader."""
