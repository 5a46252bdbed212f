"""jupyter-server-proxy entry points, resolved where they run: in the user's server.

Packages such as jupyter-marimo-proxy register a setup function under the
``jupyter_serverproxy_servers`` entry point group.  It may read the server's
environment (``JUPYTERHUB_SERVICE_PREFIX``), make a per-server secret, or
look at the files of the working directory, so the proxy calls it at start,
in the user's server, never the Hub.

The app is served the way jupyter-server-proxy serves it: under
``<server prefix><name>/``, with ``{base_url}`` meaning the server's prefix.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points

GROUP = "jupyter_serverproxy_servers"
# keys of a `servers` entry that the proxy uses; the others mean nothing here
_USED = ("command", "environment", "timeout", "absolute_url", "request_headers_override")


class EntryPointError(Exception):
    """The entry point is missing or its setup function failed (the message says which)."""


def find(name):
    """The installed entry point called ``name``."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        installed = sorted({ep.name for ep in entry_points(group=GROUP)})
        raise EntryPointError(
            f"no {GROUP} entry point named {name!r} is installed in this server's "
            f"environment (installed: {', '.join(installed) or 'none'}); install its "
            "package in the image or environment the servers run in"
        )
    return found[0]


def call(func, server_prefix="{base_url}"):
    """Call a jupyter-server-proxy callable as it does: only the named arguments it takes.

    ``port`` and ``unix_socket`` stay placeholders for the proxy to fill in;
    ``base_url`` is ``server_prefix`` (by default a placeholder too).
    """
    values = {"port": "{port}", "unix_socket": "{unix_socket}", "base_url": server_prefix}
    params = inspect.signature(func).parameters
    return func(**{p: values[p] for p in params if p in values})


def resolve(name, *, server_prefix):
    """The app of entry point ``name``: a dict with the keys of ``_USED`` it declares.

    ``command`` and ``environment`` are plain lists/dicts, their ``{base_url}``
    replaced by ``server_prefix`` (jupyter-server-proxy's meaning); ``{port}``
    and ``{unix_socket}`` are left for the proxy.
    """
    ep = find(name)
    try:
        entry = dict(ep.load()())
        spec = {key: entry[key] for key in _USED if key in entry}
        for key in ("command", "environment"):
            if callable(spec.get(key)):
                spec[key] = call(spec[key], server_prefix)
    except Exception as e:  # third-party code: say whose it is
        raise EntryPointError(
            f"the setup function of {GROUP} entry point {name!r} ({ep.value}) failed in "
            f"this server: {type(e).__name__}: {e}"
        ) from None
    spec["command"] = [_prefixed(str(arg), server_prefix) for arg in spec.get("command") or ()]
    if not spec["command"]:
        raise EntryPointError(f"{GROUP} entry point {name!r} ({ep.value}) gives no command")
    spec["environment"] = {
        str(k): _prefixed(str(v), server_prefix) for k, v in (spec.get("environment") or {}).items()
    }
    return spec


def _prefixed(text, server_prefix):
    return text.replace("{base_url}", server_prefix)


__all__ = ["EntryPointError", "GROUP", "find", "resolve"]
