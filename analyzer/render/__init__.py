"""Renderers: format what a reduction returned (text, YAML, JSON, pictures); they compute no metric."""
