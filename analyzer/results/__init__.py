"""Result types: what a reduction returns and a renderer formats (fold lines, node timeline, report document, diff).

Plain data, no computation beyond a property or a sum: renderers may import this package, never a reduction.
"""
