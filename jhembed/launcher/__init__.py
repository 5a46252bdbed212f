"""The launcher: a JupyterHub service where users start, open, embed and share their apps.

In ``jupyterhub_config.py``, after the catalog is set::

    import jhembed
    import jhembed.launcher

    jhembed.configure(c, apps={"dashboard": "voila", "lab": "jupyterlab"})
    jhembed.launcher.configure(c)

The service runs at ``/services/apps/`` (``python -m jhembed.launcher``) and
calls the Hub's REST API only with the logged-in user's own OAuth token, whose
scopes are :data:`USER_SCOPES` (see ``docs/launcher.md``).

``import jhembed.launcher`` stays light: the tornado app is in
``jhembed.launcher.app``, imported when the service runs.
"""

from .setup import SERVICE_SCOPES_VIEWERS_MAY_START, USER_SCOPES, configure, describe_catalog

__all__ = ["configure", "describe_catalog", "USER_SCOPES", "SERVICE_SCOPES_VIEWERS_MAY_START"]
