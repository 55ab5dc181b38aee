"""YAML from elsewhere: plain data as `yaml.safe_load` reads it, without aliases, tags or deep nesting."""

from __future__ import annotations

import pytest
import yaml

from analyzer import plain_yaml
from analyzer.errors import DecodeError


def test_plain_data_loads_as_safe_load_reads_it() -> None:
    text = "a: 1\nb: [1.5, x, null, true, '2001-01-01']\nc: {d: -3, e: ''}\n"
    assert plain_yaml.load(text, "f.yaml", max_depth=8) == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: &x [1]\nb: *x\n", "f.yaml: line 1, column 4: anchors and aliases"),
        (
            "a: &x 1\n",
            "f.yaml: line 1, column 4: anchors and aliases",
        ),  # an anchor alone: nothing we write has one
        ("a: *x\n", "f.yaml: line 1, column 4: anchors and aliases"),
        ("[[[[1]]]]\n", "f.yaml: line 1, column 4: nested deeper than 3 levels"),
        ("a: {b: {c: 1}}\n", "f.yaml: line 1, column 9: nested deeper than 3 levels"),
        ("a: !!set {b}\n", "f.yaml: line 1, column 4: 'set' values are not allowed"),
        ("a: !!bool maybe\n", "f.yaml: line 1, column 4: cannot read this bool ('maybe')"),
        ("a: !local 1\n", "f.yaml: line 1, column 4: '!local' values are not allowed"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yaml: line 2, column 1: expected a single document in the stream, but found another document",
        ),
    ],
)
def test_what_is_not_plain_data_is_a_one_line_error_at_its_place(text: str, says: str) -> None:
    with pytest.raises(DecodeError) as e:
        plain_yaml.load(text, "f.yaml", max_depth=3)
    assert str(e.value).startswith(says) and "\n" not in str(e.value)


def test_nesting_up_to_the_limit_loads() -> None:
    assert plain_yaml.load("[[1]]\n", "f.yaml", max_depth=3) == [[1]]
