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

# The configuration reference (docs/_ext/jhembed_config_ref.py): one generated
# page per class, in this order.  A class whose module does not import yet is
# left out (logged, not a warning).  Add a class with one line.
jhembed_config_classes = [
    "jhembed.proxy.app:EmbedProxy",
    "jhembed.spawner:EmbedSpawner",
    "jhembed.apps:App",
    "jhembed.apps:AppOption",
    "jhembed.auth_request:AuthRequest",
    "jhembed.launcher.app:Launcher",
]
# first paragraph of a page, instead of the class docstring's
jhembed_config_intros = {
    "EmbedProxy": (
        "The options of `jupyter-embedproxy`: on its command line, or in "
        "`jupyter_embedproxy_config.py` (`jupyter-embedproxy --generate-config` "
        "writes one)."
    ),
    "EmbedSpawner": (
        'The options of the spawner (`c.JupyterHub.spawner_class = "embed"`), set in '
        "`jupyterhub_config.py`. `c.EmbedSpawner.*` also configures the other "
        "compositions of `EmbedSpawnerMixin`."
    ),
    "App": (
        "The fields of one entry of `c.EmbedSpawner.apps`, given as a dict "
        "(or a preset name, or a jupyter-server-proxy `servers` entry)."
    ),
    "Launcher": (
        "The options of the launcher service (`python -m jhembed.launcher`); "
        "pass them as `jhembed.launcher.configure(c, options={...})`, which puts "
        "them on its command line (`--Launcher.start_wait=2`)."
    ),
    "AppOption": (
        "The fields of one entry of an app's `options`: a value a user may set "
        "in the options form or in `user_options`."
    ),
}
# command-line spellings that are not aliases or flags
jhembed_config_cli_notes = {
    "EmbedProxy.command": "the arguments after `--`",
}
