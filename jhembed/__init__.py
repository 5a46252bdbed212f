"""jhembed: run any web app as a JupyterHub user's server, embeddable in your own site.

In ``jupyterhub_config.py``::

    import jhembed

    jhembed.configure(c, apps={"dashboard": "voila", "lab": "jupyterlab"})

``import jhembed`` stays light: ``configure`` (and what it needs) is imported
when first used.
"""

from ._version import __version__

__all__ = ["__version__", "configure"]


def __getattr__(name):
    if name == "configure":
        from .config import configure

        return configure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
