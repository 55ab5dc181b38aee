"""Our YAML writers: a mapping that appears twice is written out twice, never as an anchor and an alias, so
every file we write loads back through the report reader, which refuses aliases."""

from __future__ import annotations

from analyzer import plain_yaml
from analyzer.render.structured import dump


def test_a_shared_mapping_is_written_twice_not_aliased() -> None:
    shared = {"p50": 1, "max": 2}
    doc = {"a": shared, "b": shared, "c": [shared, shared]}
    text = dump(doc, "yaml")
    assert "&" not in text and "*" not in text
    assert plain_yaml.load(text, "out.yaml", max_depth=8) == doc
