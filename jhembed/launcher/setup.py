"""``jhembed.launcher.configure(c)``: the launcher service, its OAuth client, roles and Hub link."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from traitlets import TraitError

_log = logging.getLogger("jhembed.launcher")

# The scopes of the OAuth token the launcher gets for a logged-in user (its
# oauth_client_allowed_scopes). The Hub grants the intersection with what the
# user holds, so a user never gets more through the launcher than by the API.
USER_SCOPES = [
    # "my apps": the user's servers, their state, URL, last activity; start progress
    "read:servers!user",
    # start and stop the user's own servers (the Hub's spawner validates the options)
    "servers!user",
    # share the user's own servers, list and revoke shares, share codes, "shared with me"
    # (expands to read:shares!user, users:shares!user, access:servers!user)
    "shares!user",
    # JupyterHub requires these to share with a user / a group named by the sharer
    "read:users:name",
    "read:groups:name",
    # "Create an embed token" (POST /hub/api/users/<user>/tokens): the launcher asks
    # only for access:servers!server=<user>/<app>, but the Hub checks a new token's
    # scopes against the user's, not this token's (docs/launcher.md, "Embed tokens")
    "tokens!user",
]

# What users need on top of the default `self` to share (JupyterHub does not
# give `shares!user` by default), and to log in to the service.
_USER_ROLE_EXTRA = ["shares!user", "read:users:name", "read:groups:name"]

# The service's own role, only when an app sets viewers_may_start: start a
# server shared with the viewer (the service checks the share first, with
# read:shares) and nothing else. JupyterHub has no filter for "servers shared
# with someone", so `servers` is not narrower than all users' servers: the
# launcher code is what limits it (docs/launcher.md, "viewers_may_start").
SERVICE_SCOPES_VIEWERS_MAY_START = ["servers", "read:shares"]

CATALOG_ENV = "JHEMBED_LAUNCHER_CATALOG"
TEMPLATE_DIR_ENV = "JHEMBED_LAUNCHER_TEMPLATE_DIR"


def _hub_templates_dir():
    candidates = [
        Path(__file__).resolve().parents[2] / "share" / "jupyterhub" / "jhembed" / "hub-templates",
        Path(sys.prefix) / "share" / "jupyterhub" / "jhembed" / "hub-templates",
    ]
    for p in candidates:
        if p.is_dir():
            return str(p)
    return None


def describe_catalog(catalog, *, frame_ancestors=("'self'",), allow_token_login=False):
    """What the launcher shows of each app (JSON-able): no commands, no environment."""
    out = {}
    for name, app in catalog.items():
        out[name] = {
            "name": name,
            "label": app.label,
            "description": app.description,
            "tags": list(app.tags),
            "thumbnail": app.thumbnail,
            "options": [
                {
                    "name": o.name or opt_name,
                    "type": o.type,
                    "label": o.label,
                    "help": o.help,
                    "default": o.default,
                    "choices": list(o.choices),
                    "max_length": o.max_length,
                    "minimum": o.minimum,
                    "maximum": o.maximum,
                }
                for opt_name, o in app.options.items()
            ],
            "frame_ancestors": list(
                app.frame_ancestors if app.frame_ancestors is not None else frame_ancestors
            ),
            "allow_token_login": bool(
                app.allow_token_login if app.allow_token_login is not None else allow_token_login
            ),
            "keep_alive": app.keep_alive,
            "viewers_may_start": app.viewers_may_start,
            "public": app.public,
        }
    return out


def _find_role(load_roles, name):
    for role in load_roles:
        if role.get("name") == name:
            return role
    return None


def _command_line(key, value):
    """``--Launcher.<key>=`` arguments as traitlets reads them: a list or a dict gives
    the flag once per item (its ``--X.y=[...]`` form is deprecated since traitlets 5)."""

    def text(v):
        return v if isinstance(v, str) else json.dumps(v)

    if isinstance(value, (list, tuple)):
        return [f"--Launcher.{key}={text(v)}" for v in value]
    if isinstance(value, dict):
        return [f"--Launcher.{key}={k}={text(v)}" for k, v in value.items()]
    return [f"--Launcher.{key}={text(value)}"]


def configure(c, *, name="apps", port=None, home_link=True, template_dir="", options=None):
    """Add the launcher service to the Hub's config ``c``; call it after the catalog is set.

    - ``c.JupyterHub.services``: the managed service ``name`` (at
      ``/services/<name>/``, ``python -m jhembed.launcher`` on
      ``127.0.0.1:<port>``, a free port when ``port`` is None) with an OAuth
      client limited to :data:`USER_SCOPES`, no confirmation page;
    - ``c.JupyterHub.load_roles``: the ``user`` role gets ``shares!user``,
      ``read:users:name``, ``read:groups:name`` (sharing) and
      ``access:services!service=<name>``; when an app sets
      ``viewers_may_start``, the service gets a role with
      :data:`SERVICE_SCOPES_VIEWERS_MAY_START`;
    - ``c.JupyterHub.allow_named_servers`` and
      ``c.EmbedSpawner.app_from_server_name``: one named server per app;
    - with ``home_link``, a link on the Hub's home page (a ``home.html``
      that extends the Hub's own, added to ``c.JupyterHub.template_paths``);
    - ``template_dir``: your own launcher templates, used before the shipped ones;
    - ``options``: ``Launcher`` settings for the service's command line, e.g.
      ``{"start_wait": 2, "public_url": "https://hub.example.com"}``.

    Raises ``TraitError`` when the catalog is wrong or not set yet.
    """
    from jupyterhub.utils import random_port

    from ..config import check

    if "apps" not in c.get("EmbedSpawner", {}):
        raise TraitError(
            "jhembed.launcher.configure: set the catalog first (jhembed.configure(c, apps=...))"
        )
    c.JupyterHub.allow_named_servers = True
    c.EmbedSpawner.app_from_server_name = True
    catalog = check(c)
    spawner = c.EmbedSpawner
    described = describe_catalog(
        catalog,
        frame_ancestors=spawner.get("frame_ancestors", ["'self'"]),
        allow_token_login=spawner.get("allow_token_login", False),
    )
    from .app import Launcher

    args = []
    for key, value in (options or {}).items():
        if key not in Launcher.class_traits(config=True) or key == "catalog":
            raise TraitError(
                f"jhembed.launcher.configure: options[{key!r}] is not a Launcher option"
            )
        args += _command_line(key, value)
    for app in described.values():
        if app["public"]:
            _log.warning(
                "jhembed: app %r is PUBLIC: its servers answer anyone without a Hub login",
                app["name"],
            )
    port = port or random_port()
    environment = {CATALOG_ENV: json.dumps(described)}
    if template_dir:
        environment[TEMPLATE_DIR_ENV] = str(template_dir)
    service = {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "jhembed.launcher", *args],
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": list(USER_SCOPES),
        "display": True,
        "environment": environment,
    }
    services = [s for s in c.JupyterHub.get("services", []) if s.get("name") != name]
    c.JupyterHub.services = services + [service]

    roles = [dict(r) for r in c.JupyterHub.get("load_roles", [])]
    user_role = _find_role(roles, "user")
    if user_role is None:
        user_role = {"name": "user", "scopes": ["self"]}
        roles.append(user_role)
    scopes = list(user_role.get("scopes", ["self"]))
    for scope in [*_USER_ROLE_EXTRA, f"access:services!service={name}"]:
        if scope not in scopes:
            scopes.append(scope)
    user_role["scopes"] = scopes
    if any(a["viewers_may_start"] for a in described.values()):
        role_name = f"jhembed-launcher-{name}"
        roles = [r for r in roles if r.get("name") != role_name]
        roles.append(
            {
                "name": role_name,
                "description": "jhembed launcher: start servers shared with their viewer",
                "scopes": list(SERVICE_SCOPES_VIEWERS_MAY_START),
                "services": [name],
            }
        )
    c.JupyterHub.load_roles = roles

    if home_link:
        hub_templates = _hub_templates_dir()
        if hub_templates is None:
            _log.warning("jhembed launcher: hub-templates not found; no link on the home page")
        else:
            paths = list(c.JupyterHub.get("template_paths", []))
            if hub_templates not in paths:
                paths.append(hub_templates)
            c.JupyterHub.template_paths = paths
            template_vars = dict(c.JupyterHub.get("template_vars", {}))
            template_vars["jhembed_launcher"] = name
            c.JupyterHub.template_vars = template_vars
    return service
