"""Reductions: pure functions of a span table or a stitched execution, returning data (never text)."""
