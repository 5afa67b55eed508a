"""Sphinx configuration of the docs site: ``make docs`` (strict: every warning is an error; ``make test`` builds it
the same way). The pages are the Markdown files of this folder, read by MyST-Parser; the API reference is built
from the package's docstrings (``reference/``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports the package, which imports Airflow: give it a home of its own (never ~/airflow) and quiet logs.
os.environ.setdefault("AIRFLOW_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "msgflash-docs-airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

from airflow_provider_msgflash import __version__  # noqa: E402

project = "airflow-provider-msgflash"
author = "airflow-provider-msgflash developers"
copyright = "airflow-provider-msgflash developers, Apache License 2.0"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# Only the site's pages: conf.py, build output and the charts' sources are not pages.
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

# MyST: headings get anchors (links such as sandbox.md#seeded-instances), definition lists, ::: fences.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc: members in source order, the signature's types in the description (the docstrings use :param x:).
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
    # What Airflow calls, not the DAG author: their docstrings would be Airflow's own (BaseOperator.execute...).
    "exclude-members": "execute, execute_complete, on_kill, poke, serialize, run, get_openlineage_facets_on_complete,"
    " template_fields_renderers, ui_color, ui_fgcolor",
}
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# Airflow's classes are documented by Airflow: references to them are not this site's to resolve.
nitpicky = False

html_theme = "furo"
html_title = f"airflow-provider-msgflash {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
