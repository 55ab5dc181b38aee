"""The renderers table names modules instead of importing them: every row must name a renderer that exists."""

from __future__ import annotations

from analyzer.render import diff_text, structured
from analyzer.render.formats import RENDERERS, renderer


def test_every_format_names_a_function_of_a_renderer_module() -> None:
    for result, by_format in RENDERERS.items():
        for fmt in by_format:
            assert callable(renderer(result, fmt)), (result, fmt)


def test_a_renderer_is_the_named_function_given_its_format() -> None:
    assert renderer("diff", "text") is diff_text.render_diffs
    as_yaml = renderer("fold", "yaml")
    assert (as_yaml.func, as_yaml.keywords) == (structured.render_fold, {"fmt": "yaml"})
