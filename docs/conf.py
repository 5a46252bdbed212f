"""Sphinx configuration for the jhembed docs (MyST markdown)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from jhembed import __version__  # noqa: E402

project = "jhembed"
author = "jhembed developers"
copyright = "2026, jhembed developers"
version = release = __version__

extensions = ["myst_parser", "jhembed_config_ref"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = "jhembed"

# classes whose config traits make up the configuration reference; a class
# whose module is not importable (optional parts) is left out
jhembed_config_classes = [
    "jhembed.proxy.app:EmbedProxy",
    "jhembed.spawner:EmbedSpawnerMixin",
    "jhembed.apps:App",
]
