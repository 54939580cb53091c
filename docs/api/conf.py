"""Sphinx configuration of the seqcnn API reference (autodoc + napoleon, numpydoc-style docstrings).

Build: ``python -m sphinx -W --keep-going -b html docs/api /tmp/api-html`` (CI builds it with warnings
as errors).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from seqcnn import __version__  # noqa: E402

project = "seqcnn"
author = "seqcnn authors"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" sections as fields, not entries that :members: would repeat
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"undoc-members": False}
html_theme = "alabaster"
exclude_patterns = ["_build"]
