"""jhembed: run any web app as a JupyterHub user's server, embeddable in your own site."""

from ._version import __version__

__all__ = ["__version__"]
