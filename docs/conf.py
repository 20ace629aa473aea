"""Sphinx configuration of the fasthmm documentation.

Build: ``pip install -e ".[docs]"`` then
``python -m sphinx -W -b html docs docs/_build/html``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # the fasthmm of this checkout
os.environ.setdefault("MPLBACKEND", "Agg")

import fasthmm  # noqa: E402

project = "fasthmm"
author = "fasthmm developers"
copyright = "fasthmm developers"  # noqa: A001
release = fasthmm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/README.txt", "**/*.ipynb"]

# API reference: one page per public object, from the docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# The user guide pages are the Markdown files of docs/ (also read on GitHub).
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# The gallery: docs/examples/plot_*.py, run at build time.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "alabaster"
html_static_path = []
suppress_warnings = ["myst.header"]
