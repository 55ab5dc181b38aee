"""Builds the one compiled module (analyzer/decode/_wire.pyx); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("analyzer.decode._wire", ["analyzer/decode/_wire.pyx"])],
        language_level=3,
    )
)
