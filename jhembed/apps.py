"""The app catalog: what a user may start, and how.

An admin lists apps in ``c.EmbedSpawner.apps``: a dict from a slug to either
a preset name (``"voila"``), a dict of :class:`App` fields (optionally with
``"preset"`` to start from one), or a jupyter-server-proxy ``servers`` entry
pasted unchanged (``command``, ``environment``, ``timeout``, ``absolute_url``,
``launcher_entry``, ``request_headers_override``...).  Installed packages that
register ``jupyter_serverproxy_servers`` entry points add apps too.

Commands are argv lists with placeholders: ``{port}``, ``{base_url}`` and
``{unix_socket}`` are filled in by ``jupyter-embedproxy``; every option the
app declares (``{notebook}``) is filled in by the spawner with the user's
validated value, always inside one argument, never through a shell.  An
argument that is only an option placeholder and whose value is empty is left
out.
"""

from __future__ import annotations

import re
import string
from importlib.metadata import entry_points

from traitlets import Bool, Dict, Float, HasTraits, Instance, Int, List, TraitError, Unicode, Union

from .proxy.entrypoints import GROUP
from .proxy.entrypoints import call as call_server_proxy

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TAG = re.compile(r"^[\w][\w -]{0,31}$")
_THUMBNAIL = re.compile(
    r"^(https?://[^\s\"'<>]+|/[^\s\"'<>]*|[A-Za-z0-9_-]+\.(svg|png|jpg|jpeg|webp))$"
)
PROXY_PLACEHOLDERS = frozenset(("port", "base_url", "base_path", "unix_socket"))
OPTION_TYPES = ("string", "int", "bool", "choice")
# jupyter-server-proxy `servers` keys that mean nothing for a whole-server app
_JSP_IGNORED = frozenset(
    ("launcher_entry", "new_browser_tab", "mappath", "rewrite_response", "update_last_activity",
     "raw_socket_proxy", "port", "unix_socket", "exclude_last_activity_patterns")
)  # fmt: skip


class CatalogError(TraitError):
    """A bad catalog entry; the message names ``c.EmbedSpawner.apps['name'].field``."""


def _where(app, field=None):
    where = f"c.EmbedSpawner.apps[{app!r}]"
    return f"{where}.{field}" if field else where


class AppOption(HasTraits):
    """One option a user may set for an app (a form field, a ``user_options`` key)."""

    name = Unicode(help="Key in user_options and placeholder in the command, e.g. 'notebook'.")
    type = Unicode("string", help="One of: string, int, bool, choice.")
    display_name = Unicode(help="Label in the options form; default: the name.")
    help = Unicode(help="Explanation shown under the field.")
    default = Union([Unicode(), Int(), Bool()], allow_none=True, default_value=None,
                    help="Value used when the user gives none; None makes the option required.")  # fmt: skip
    choices = List(Unicode(), help="Allowed values for type 'choice'.")
    regex = Unicode(help="For type 'string': the whole value must match this regular expression.")
    max_length = Int(256, help="For type 'string': longest value accepted.")
    minimum = Int(allow_none=True, default_value=None, help="For type 'int': smallest value.")
    maximum = Int(allow_none=True, default_value=None, help="For type 'int': largest value.")

    @property
    def label(self):
        return self.display_name or self.name

    def check(self, app_name):
        """Raise CatalogError when the declaration itself is wrong."""
        where = _where(app_name, f"options[{self.name!r}]")
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", self.name) or self.name in PROXY_PLACEHOLDERS:
            raise CatalogError(
                f"{where}: option names are lower-case identifiers other than "
                f"{', '.join(sorted(PROXY_PLACEHOLDERS))}"
            )
        if self.name == "app":
            raise CatalogError(f"{where}: 'app' is reserved for the choice of app")
        if self.type not in OPTION_TYPES:
            raise CatalogError(
                f"{where}.type: {self.type!r} is not one of {', '.join(OPTION_TYPES)}"
            )
        if self.type == "choice" and not self.choices:
            raise CatalogError(f"{where}.choices: a 'choice' option needs a list of choices")
        if self.regex:
            try:
                self._regex = re.compile(self.regex)
            except re.error as e:
                raise CatalogError(
                    f"{where}.regex: {self.regex!r} is not a valid regular expression: {e}"
                ) from None
        if self.default is not None:
            try:
                self.convert(self.default)
            except ValueError as e:
                raise CatalogError(f"{where}.default: {e}") from None

    def convert(self, value):
        """The validated value for ``value`` (str from a form, JSON type from the API).

        Raises ValueError with a message saying what is allowed.
        """
        kind = self.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "on", "1", "yes"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "off", "0", "no", ""):
                return False
            raise ValueError("must be true or false")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("must be an integer")
            if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
                value = int(value.strip())
            if not isinstance(value, int):
                raise ValueError("must be an integer")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be at most {self.maximum}")
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if kind == "choice":
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(repr(c) for c in self.choices)}")
            return value
        if value == "" and self.default == "":
            return ""  # an optional string left empty
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must not contain control characters")
        if "{" in value or "}" in value:
            raise ValueError("must not contain '{' or '}'")
        if value.startswith("-"):
            raise ValueError("must not start with '-'")
        if self.regex and not re.fullmatch(self.regex, value):
            raise ValueError(f"must match the pattern {self.regex}")
        return value


class App(HasTraits):
    """One catalog entry."""

    name = Unicode(help="Slug: lower-case letters, digits, '-' and '_'; names named servers too.")
    display_name = Unicode(help="Name shown to users; default: the slug.")
    description = Unicode(help="One sentence shown in the options form.")
    command = List(
        Unicode(), help="argv of the app, with {port}, {base_url} and option placeholders."
    )
    environment = Dict(Unicode(), help="Environment variables for the app.")
    ready_path = Unicode("/", help="Path polled until the app answers (relative to the prefix).")
    timeout = Float(30, help="Seconds the app has to start answering.")
    absolute_url = Bool(False, help="Keep the server's prefix in paths sent to the app.")
    request_headers_override = Dict(Unicode(), help="Request headers forced on every request.")
    frame_ancestors = List(Unicode(), allow_none=True, default_value=None,
                           help="Origins that may frame the app (CSP); None: the spawner's default.")  # fmt: skip
    cors_origins = List(Unicode(), allow_none=True, default_value=None,
                        help="Origins allowed to call the app with CORS; None: the spawner's default.")  # fmt: skip
    allow_token_login = Bool(allow_none=True, default_value=None,
                             help="Iframe login with ?token=; None: the spawner's default.")  # fmt: skip
    cookie_partitioned = Bool(allow_none=True, default_value=None,
                              help="Partitioned cookies in cross-site frames; None: the spawner's default.")  # fmt: skip
    cookie_samesite = Unicode(allow_none=True, default_value=None,
                              help="SameSite forced on the app's cookies; None: the spawner's default.")  # fmt: skip
    forward_user = Bool(False, help="Send X-Forwarded-User / X-Forwarded-Groups to the app.")
    bridge = Bool(False, help="Add the postMessage bridge (save/saved/ready) to the app's pages.")
    proxy_args = List(Unicode(), help="More jupyter-embedproxy flags for this app.")
    options = Dict(Instance(AppOption), help="Options the user may set, by name.")
    tags = List(Unicode(), help="Short labels shown in the launcher's catalog, e.g. ['dashboard'].")
    thumbnail = Unicode(
        help="Image shown in the launcher: an https:// URL, a /path on the Hub's site, or the "
        "file name of an image shipped in share/jupyterhub/jhembed/static/thumbnails "
        "(the presets use theirs). Default: none."
    )
    keep_alive = Bool(
        False,
        help="Report activity to the Hub at every interval, with or without traffic "
        "(jupyter-embedproxy --keep-alive): the idle culler never stops these servers. "
        "Default: False.",
    )
    viewers_may_start = Bool(
        False,
        help="A user this app's server is shared with may start it from the launcher while it "
        "is stopped (the launcher starts it with its own narrowly scoped role and logs it). "
        "Default: False.",
    )
    public = Bool(
        False,
        help="Serve this app's servers WITHOUT a Hub login (jupyter-embedproxy "
        "--no-authentication): anyone who can reach a running server's URL uses it as "
        "its owner. The spawner logs a warning at every start. Default: False.",
    )
    source = Unicode("config", help="Where the entry came from: config, preset or an entry point.")
    entry_point = Unicode(
        help="A jupyter_serverproxy_servers entry point whose app the user's server runs "
        "(resolved there, at start); set for apps found through entry points."
    )

    @property
    def label(self):
        return self.display_name or self.name

    def placeholders(self):
        names = set()
        for arg in self.command:
            for _, field, _, _ in string.Formatter().parse(arg):
                if field is not None:
                    names.add(field)
        return names

    def check(self):
        """Raise CatalogError naming the field when the entry is wrong."""
        if not SLUG.match(self.name):
            raise CatalogError(
                f"{_where(self.name)}: {self.name!r} is not a valid app name; use lower-case "
                "letters, digits, '-' and '_' (at most 63, starting with a letter or digit)"
            )
        if not self.command and not self.entry_point:
            raise CatalogError(
                f"{_where(self.name, 'command')}: missing; give the app's argv as a list"
            )
        try:
            used = self.placeholders()
        except ValueError as e:
            raise CatalogError(
                f"{_where(self.name, 'command')}: bad placeholder syntax: {e}"
            ) from None
        for opt_name, option in self.options.items():
            option.name = option.name or opt_name
            option.check(self.name)
        unknown = used - PROXY_PLACEHOLDERS - set(self.options)
        if unknown:
            allowed = sorted(PROXY_PLACEHOLDERS | set(self.options))
            raise CatalogError(
                f"{_where(self.name, 'command')}: unknown placeholder "
                f"{', '.join('{' + u + '}' for u in sorted(unknown))}; allowed: "
                + ", ".join("{" + a + "}" for a in allowed)
            )
        for tag in self.tags:
            if not _TAG.match(tag):
                raise CatalogError(
                    f"{_where(self.name, 'tags')}: {tag[:40]!r} is not a tag; use at most 32 "
                    "letters, digits, spaces, '-' or '_'"
                )
        if self.thumbnail and not _THUMBNAIL.match(self.thumbnail):
            raise CatalogError(
                f"{_where(self.name, 'thumbnail')}: {self.thumbnail[:80]!r} is not an https:// "
                "or http:// URL, a /path, or the file name of a shipped thumbnail (name.svg)"
            )
        if not self.ready_path.startswith("/"):
            raise CatalogError(f"{_where(self.name, 'ready_path')}: must start with '/'")
        if self.timeout <= 0:
            raise CatalogError(f"{_where(self.name, 'timeout')}: must be positive")
        from .proxy.headers import (
            validate_cors_origins,
            validate_frame_ancestors,
            validate_samesite,
        )

        try:
            if self.frame_ancestors is not None:
                self.frame_ancestors = validate_frame_ancestors(
                    self.frame_ancestors, _where(self.name, "frame_ancestors")
                )
            if self.cors_origins is not None:
                self.cors_origins = validate_cors_origins(
                    self.cors_origins, _where(self.name, "cors_origins")
                )
            if self.cookie_samesite is not None:
                self.cookie_samesite = validate_samesite(
                    self.cookie_samesite, _where(self.name, "cookie_samesite")
                )
        except CatalogError:
            raise
        except TraitError as e:
            raise CatalogError(str(e)) from None
        return self

    def expand(self, values):
        """The command with option placeholders filled from validated ``values``.

        ``{port}``, ``{base_url}`` and ``{unix_socket}`` stay for the proxy.
        """
        keep = {p: "{" + p + "}" for p in PROXY_PLACEHOLDERS}
        argv = []
        for arg in self.command:
            fields = [f for _, f, _, _ in string.Formatter().parse(arg) if f]
            if len(fields) == 1 and arg == "{" + fields[0] + "}" and fields[0] in values:
                value = values[fields[0]]
                if value == "" or value is None:
                    continue  # an empty optional argument is left out
            text = arg.format(**keep, **{k: _as_text(v) for k, v in values.items()})
            # values may not add placeholders of their own: braces are refused by
            # AppOption.convert, and the proxy sees the result as a literal
            argv.append(text)
        return argv


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------
# presets: flags that make each program work behind jupyter-embedproxy

_JUPYTER_SERVER = [
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    "--ServerApp.port={port}",
    "--ServerApp.base_url={base_url}",
    # the proxy logs users in with the Hub; the app's own token would ask again
    "--IdentityProvider.token=",
    "--ServerApp.password=",
    "--ServerApp.allow_root=True",
    # API clients authenticate with a Hub token that the proxy checks and
    # removes, so the app sees them without credentials and would ask for an
    # _xsrf value; cross-site requests are refused by the proxy instead
    # (Origin / Sec-Fetch-Site checks on cookie-authenticated writes)
    "--ServerApp.disable_check_xsrf=True",
]

PRESETS = {
    "voila": {
        "display_name": "Voila dashboard",
        "thumbnail": "voila.svg",
        "tags": ["dashboard"],
        "description": "A notebook shown as an interactive dashboard, without its code.",
        "command": ["voila", "--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
                    "--Voila.base_url={base_url}", "--Voila.server_url=/", "{notebook}"],
        "options": {
            "notebook": {
                "display_name": "Notebook",
                "help": "Path of the notebook, relative to the home directory.",
                "default": "",
                "regex": r"(?!/)(?!.*(^|/)\.\.(/|$))[\w ./-]*\.ipynb",
            }
        },
        "timeout": 60,
    },
    "jupyterlab": {
        "display_name": "JupyterLab",
        "thumbnail": "jupyterlab.svg",
        "tags": ["notebooks", "ide"],
        "description": "The full JupyterLab 4 interface.",
        "command": ["jupyter-lab", *_JUPYTER_SERVER, "--LabApp.expose_app_in_browser=True"],
        "absolute_url": True,
        "ready_path": "/api",
        "timeout": 60,
    },
    "notebook": {
        "display_name": "Notebook",
        "thumbnail": "notebook.svg",
        "tags": ["notebooks"],
        "description": "The Jupyter Notebook 7 interface.",
        "command": ["jupyter-notebook", *_JUPYTER_SERVER, "--JupyterNotebookApp.expose_app_in_browser=True"],
        "absolute_url": True,
        "ready_path": "/api",
        "timeout": 60,
    },
    "streamlit": {
        "display_name": "Streamlit",
        "thumbnail": "streamlit.svg",
        "tags": ["dashboard"],
        "description": "A Streamlit app.",
        "command": ["streamlit", "run", "{script}", "--server.port={port}", "--server.address=127.0.0.1",
                    "--server.headless=true", "--server.baseUrlPath={base_url}",
                    "--server.enableCORS=false", "--browser.gatherUsageStats=false"],
        "absolute_url": True,
        "ready_path": "/_stcore/health",
        "options": {"script": {"display_name": "Script", "help": "Path of the Streamlit script.",
                               "regex": r"(?!/)(?!.*(^|/)\.\.(/|$))[\w ./-]*\.py"}},
    },
    "panel": {
        "display_name": "Panel",
        "thumbnail": "panel.svg",
        "tags": ["dashboard"],
        "description": "A Panel app or notebook.",
        "command": ["panel", "serve", "{script}", "--port={port}", "--address=127.0.0.1",
                    "--allow-websocket-origin=*", "--prefix={base_url}"],
        "absolute_url": True,
        "options": {"script": {"display_name": "Script", "help": "Path of the .py or .ipynb file.",
                               "regex": r"(?!/)(?!.*(^|/)\.\.(/|$))[\w ./-]*\.(py|ipynb)"}},
    },
    "http-server": {
        "display_name": "Files",
        "thumbnail": "files.svg",
        "tags": ["files"],
        "description": "The home directory as a plain listing (python -m http.server).",
        "command": ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
    },
}  # fmt: skip


def _from_server_proxy(name, entry):
    """App fields from a jupyter-server-proxy ``servers`` entry."""
    fields = {}
    command = entry.get("command", [])
    if callable(command):
        command = call_server_proxy(command)
    fields["command"] = list(command)
    environment = entry.get("environment", {})
    if callable(environment):
        environment = call_server_proxy(environment)
    fields["environment"] = dict(environment)
    for key in ("timeout", "absolute_url", "request_headers_override"):
        if key in entry:
            fields[key] = entry[key]
    launcher = entry.get("launcher_entry") or {}
    if isinstance(launcher, dict) and launcher.get("title"):
        fields["display_name"] = launcher["title"]
    return fields


_APP_FIELDS = frozenset(App.class_trait_names()) - {"options", "name", "source", "entry_point"}


def make_app(name, value, source="config"):
    """An :class:`App` from a catalog value: preset name, dict, or jupyter-server-proxy entry."""
    if isinstance(value, App):
        app = value
        app.name = app.name or name
        return app.check()
    if isinstance(value, str):
        value = {"preset": value}
    if not isinstance(value, dict):
        raise CatalogError(
            f"{_where(name)}: expected a preset name or a dict, not {type(value).__name__}"
        )
    value = dict(value)
    fields = {}
    preset = value.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise CatalogError(
                f"{_where(name, 'preset')}: unknown preset {preset!r}; presets: {', '.join(PRESETS)}"
            )
        fields.update(PRESETS[preset])
        source = "preset" if source == "config" else source
    if (
        set(value) & _JSP_IGNORED
        or callable(value.get("command"))
        or callable(value.get("environment"))
    ):
        fields.update(_from_server_proxy(name, value))
        value = {k: v for k, v in value.items() if k in _APP_FIELDS and k not in fields}
    # options merge field by field: {"preset": "voila", "options": {"notebook": {"default": "x.ipynb"}}}
    options = {
        name: dict(opt) if isinstance(opt, dict) else opt
        for name, opt in fields.pop("options", {}).items()
    }
    for opt_name, opt in value.pop("options", {}).items():
        if isinstance(opt, dict) and isinstance(options.get(opt_name), dict):
            options[opt_name] = {**options[opt_name], **opt}
        else:
            options[opt_name] = opt
    unknown = set(value) - _APP_FIELDS
    if unknown:
        raise CatalogError(
            f"{_where(name, sorted(unknown)[0])}: unknown field; fields: {', '.join(sorted(_APP_FIELDS | {'options', 'preset'}))}"
        )
    fields.update(value)
    try:
        opts = {}
        for opt_name, opt in options.items():
            if isinstance(opt, AppOption):
                opts[opt_name] = opt
            else:
                opts[opt_name] = AppOption(name=opt_name, **dict(opt))
        app = App(name=name, source=source, options=opts, **fields)
    except CatalogError:
        raise
    except (TraitError, TypeError) as e:
        raise CatalogError(f"{_where(name)}: {e}") from None
    return app.check()


def entry_point_apps(log=None):
    """Apps from installed ``jupyter_serverproxy_servers`` entry points.

    The Hub reads only what the form shows (the title); the command is resolved
    by the user's server at start (``jupyter-embedproxy --server-proxy-entry-point``),
    with that server's environment.  A package that cannot be imported here is
    skipped, with its reason in the log; a setup function that needs the
    server's environment is fine (the app is listed by its name).
    """
    apps = {}
    for ep in entry_points(group=GROUP):
        slug = ep.name.lower().replace(" ", "-")
        where = f"{GROUP} entry point {ep.name!r} ({ep.value})"
        if not SLUG.match(slug):
            _log(log, "warning", "Skipping %s: %r is not a usable app name", where, ep.name)
            continue
        try:
            setup = ep.load()
        except Exception as e:  # a broken third-party package must not stop the Hub
            _log(log, "warning", "Skipping %s: it cannot be imported: %s: %s", where, type(e).__name__, e)  # fmt: skip
            continue
        title = ""
        try:
            launcher = (setup() or {}).get("launcher_entry") or {}
            if isinstance(launcher, dict):
                title = str(launcher.get("title") or "")
        except Exception as e:  # noqa: BLE001 - it may need the user's server
            _log(log, "info", "%s reads its settings in the user's server (%s: %s); listed as %r", where, type(e).__name__, e, slug)  # fmt: skip
        apps[slug] = App(
            name=slug,
            display_name=title,
            description=f"{title or slug} (from the installed package {ep.dist.name if ep.dist else ep.value}).",
            entry_point=ep.name,
            source=f"entry point {ep.value}",
        ).check()
    return apps


def _log(log, level, *args):
    if log is not None:
        getattr(log, level)(*args)


def load_catalog(apps, *, include_entry_points=True, log=None):
    """The catalog from ``c.EmbedSpawner.apps`` (admin entries win over entry points)."""
    catalog = entry_point_apps(log) if include_entry_points else {}
    for name, value in apps.items():
        catalog[name] = make_app(name, value)
    return catalog


__all__ = ["App", "AppOption", "CatalogError", "PRESETS", "load_catalog", "make_app"]
