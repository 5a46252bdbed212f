"""EmbedSpawner: users pick an app from a catalog; the server runs it behind jupyter-embedproxy.

``EmbedSpawnerMixin`` adds the catalog, the options form, one validation of
``user_options`` for every way in (form, REST API, query) and the command line
of ``jupyter-embedproxy`` to any spawner:

- ``EmbedSpawner`` = mixin + ``LocalProcessSpawner`` (``spawner_class = "embed"``)
- ``SimpleEmbedSpawner`` = mixin + ``SimpleLocalProcessSpawner`` (no system users;
  demos and tests, ``"embed-simple"``)
- ``EmbedDockerSpawner`` / ``EmbedKubeSpawner`` = mixin + DockerSpawner /
  KubeSpawner (``pip install jhembed[docker]`` / ``jhembed[kubernetes]``)
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pwd
import sys
import tempfile
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from jupyterhub import orm, roles
from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from tornado import web
from traitlets import Bool, Dict, HasTraits, List, Unicode, default, observe

from .apps import CatalogError, load_catalog
from .proxy.headers import validate_cors_origins, validate_frame_ancestors, validate_samesite
from .proxy.rules import START_REPORT_ENV

MAX_OPTIONS_BYTES = 64 * 1024


def _templates_dirs():
    """Where the shipped templates are: a source checkout first, then installed data files."""
    candidates = [
        Path(__file__).resolve().parents[1] / "share" / "jupyterhub" / "jhembed" / "templates",
        Path(sys.prefix) / "share" / "jupyterhub" / "jhembed" / "templates",
    ]
    return [str(p) for p in candidates if p.is_dir()]


@functools.lru_cache(maxsize=16)
def _form_environment(dirs):
    """The jinja environment for the options form, one per tuple of template directories.

    The admin's directory (``options_form_template_dir``) comes first, so its
    ``options_form.html`` wins; jinja still reloads a template whose file changed.
    """
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
        autoescape=select_autoescape(default=True),
    )


def _first(values):
    if isinstance(values, list | tuple):
        return values[0] if values else None
    return values


class EmbedSpawnerMixin(HasTraits):
    """The app catalog, options form, validation and proxy command for any spawner."""

    apps = Dict(
        help="""The apps users may start, by name (the name is a slug that also names servers).

        A value is a preset name, a dict of app fields, or a jupyter-server-proxy
        ``servers`` entry pasted unchanged. Presets: ``voila``, ``jupyterlab``,
        ``notebook``, ``streamlit``, ``panel``, ``http-server``. Fields:
        ``display_name``, ``description``, ``command`` (argv with ``{port}``,
        ``{base_url}`` and option placeholders), ``environment``,
        ``ready_path``, ``timeout``, ``absolute_url``, ``frame_ancestors``,
        ``cors_origins``, ``allow_token_login``, ``cookie_partitioned``,
        ``cookie_samesite``, ``forward_user``, ``bridge``,
        ``proxy_args``, ``request_headers_override``, ``tags``, ``thumbnail``,
        ``keep_alive``, ``viewers_may_start``, ``public`` (see
        docs/launcher.md), ``options`` (name ->
        ``type`` string/int/bool/choice, ``choices``, ``regex``, ``default``,
        ``help``, ``max_length``, ``minimum``, ``maximum``) and ``preset`` to
        start from a preset. Default: ``{"jupyterlab": "jupyterlab"}``.
        Example::

            c.EmbedSpawner.apps = {
                "dashboard": {"preset": "voila", "frame_ancestors": ["https://host.example"]},
                "lab": "jupyterlab",
                "report": {"command": ["python", "-m", "http.server", "{port}"]},
            }

        Set it with ``jhembed.configure(c, apps={...})`` in ``jupyterhub_config.py``: a
        bad entry then stops the Hub at start-up with an error naming
        ``c.EmbedSpawner.apps['name'].field`` (``jhembed check-config
        jupyterhub_config.py`` gives the same error without starting a Hub).
        Set directly, a bad entry fails the first spawn with that error.
        """,
    ).tag(config=True)

    @default("apps")
    def _default_apps(self):
        return {"jupyterlab": "jupyterlab"}

    default_app = Unicode(
        help="""App started when a request names none; default: the first app in ``apps``.

        Example: ``c.EmbedSpawner.default_app = "lab"``.
        """,
    ).tag(config=True)

    include_server_proxy_entry_points = Bool(
        True,
        help="""Also offer apps that installed packages register as ``jupyter_serverproxy_servers``
        entry points (the jupyter-server-proxy plugin mechanism). Entries in ``apps`` with
        the same name win. Default: True.
        """,
    ).tag(config=True)

    app_from_server_name = Bool(
        False,
        help="""Start the app named like the server, without a form: ``/hub/spawn/bob/voila``.

        Lets a host site keep one named server per app per user (needs
        ``c.JupyterHub.allow_named_servers = True``). Default: False.
        """,
    ).tag(config=True)

    frame_ancestors = List(
        Unicode(),
        default_value=["'self'"],
        help="""Default CSP ``frame-ancestors`` for apps that set none: origins that may frame them.

        Example: ``c.EmbedSpawner.frame_ancestors = ["'self'", "https://host.example.com"]``.
        Default: ``["'self'"]``.
        """,
    ).tag(config=True)

    @observe("frame_ancestors")
    def _check_frame_ancestors(self, change):
        validate_frame_ancestors(change.new, "c.EmbedSpawner.frame_ancestors")

    cors_origins = List(
        Unicode(),
        help="""Default CORS origins for apps that set none. Default: none.""",
    ).tag(config=True)

    @observe("cors_origins")
    def _check_cors(self, change):
        validate_cors_origins(change.new, "c.EmbedSpawner.cors_origins")

    allow_token_login = Bool(
        False,
        help="""Default for apps that set none: allow iframe login with ``?token=``. Default: False.""",
    ).tag(config=True)

    cookie_partitioned = Bool(
        None,
        allow_none=True,
        help="""Default for apps that set none: add ``Partitioned`` to the servers' cookies.

        ``None`` (default): on for every server that another origin may frame
        (``frame_ancestors``), which is what lets a cross-site frame keep its
        login in browsers that block third-party cookies. ``False`` opts out.
        """,
    ).tag(config=True)

    cookie_samesite = Unicode(
        "",
        help="""Default for apps that set none: ``SameSite`` forced on the servers' cookies.

        ``""`` (default): ``None`` (with ``Secure``) when another origin may frame
        the server, else the app's own. One of ``""``, ``"None"``, ``"Lax"``, ``"Strict"``.
        """,
    ).tag(config=True)

    @observe("cookie_samesite")
    def _check_samesite(self, change):
        validate_samesite(change.new, "c.EmbedSpawner.cookie_samesite")

    proxy_command = List(
        Unicode(),
        default_value=["jupyter-embedproxy"],
        help="""The proxy program (and any leading arguments). Default: ``["jupyter-embedproxy"]``.""",
    ).tag(config=True)

    proxy_args = List(
        Unicode(),
        help="""Extra ``jupyter-embedproxy`` flags for every server, e.g. ``["--log-level=DEBUG"]``.""",
    ).tag(config=True)

    options_form_template_dir = Unicode(
        help="""A directory with your own ``options_form.html`` to use instead of the shipped one.

        The template gets ``apps`` (name -> App, with ``label``, ``description``
        and ``options``), ``selected`` (app name) and ``values`` (previous options).
        Autoescape is on.
        """,
    ).tag(config=True)

    @classmethod
    def section_names(cls):
        """``c.EmbedSpawner.*`` configures every composition (Simple, Docker, Kube...);
        settings under the concrete class's own name win."""
        names = super().section_names()
        if "EmbedSpawner" not in names:
            names.insert(len(names) - 1, "EmbedSpawner")
        return names

    # -- catalog ---------------------------------------------------------------------------

    _catalog = None

    @property
    def catalog(self):
        if self._catalog is None:
            self._catalog = load_catalog(
                self.apps, include_entry_points=self.include_server_proxy_entry_points, log=self.log
            )
            if not self._catalog:
                raise CatalogError("c.EmbedSpawner.apps is empty: list at least one app")
            if self.default_app and self.default_app not in self._catalog:
                names = ", ".join(sorted(self._catalog))
                self._catalog = None
                raise CatalogError(
                    f"c.EmbedSpawner.default_app: {self.default_app!r} is not in the catalog; "
                    f"choose one of: {names}"
                )
        return self._catalog

    def _default_app_name(self):
        catalog = self.catalog
        if self.app_from_server_name and self.name in catalog:
            return self.name
        if self.default_app:
            return self.default_app
        if self.apps:
            return next(iter(self.apps))
        return next(iter(catalog))

    # -- options form ------------------------------------------------------------------------

    @default("options_form")
    def _embed_options_form(self):
        return self._render_options_form

    def _render_options_form(self, spawner=None):
        catalog = self.catalog
        if self.app_from_server_name and self.name in catalog and not catalog[self.name].options:
            return ""
        if len(catalog) == 1 and not next(iter(catalog.values())).options:
            return ""
        dirs = (self.options_form_template_dir,) if self.options_form_template_dir else ()
        env = _form_environment(dirs + tuple(_templates_dirs()))
        previous = self.orm_spawner.user_options if getattr(self, "orm_spawner", None) else None
        previous = previous if isinstance(previous, dict) else {}
        selected = (
            previous.get("app") if previous.get("app") in catalog else self._default_app_name()
        )
        return env.get_template("options_form.html").render(
            apps=catalog,
            selected=selected,
            values=previous,
            fixed_app=self.name if self.app_from_server_name and self.name in catalog else None,
        )

    @default("options_from_form")
    def _embed_options_from_form(self):
        return self._embed_form_to_options

    def _embed_form_to_options(self, formdata, spawner=None):
        """Form fields -> user_options (only the chosen app's fields), validated."""
        app_name = _first(formdata.get("app")) or self._default_app_name()
        options = {"app": app_name}
        app = self.catalog.get(app_name)
        if app is not None:
            for name, option in app.options.items():
                key = f"{app_name}.{name}"
                if option.type == "bool":
                    options[name] = _first(formdata.get(key, [])) not in (None, "", "false", "off")
                elif key in formdata:
                    options[name] = _first(formdata[key])
        self.validate_user_options(options)
        return options

    def options_from_query(self, query_data):
        """``/hub/spawn?app=voila&notebook=x.ipynb`` (or JupyterHub 6's ``opt-`` prefix)."""
        options = {}
        for key, values in query_data.items():
            name = key[4:] if key.startswith("opt-") else key
            options[name] = _first(values)
        self.validate_user_options(options)
        return options

    # -- validation --------------------------------------------------------------------------

    def validate_user_options(self, user_options):
        """Check ``user_options``; return (app, values). Raises HTTPError(400) naming the key."""
        try:
            return self._validate(user_options)
        except ValueError as e:
            self.log.warning("Refused user_options for %s: %s", self._log_name, e)
            raise web.HTTPError(400, str(e)) from None

    def _validate(self, user_options):
        if user_options is None:
            user_options = {}
        if not isinstance(user_options, dict):
            raise ValueError("user_options must be an object")
        if len(json.dumps(user_options, default=str)) > MAX_OPTIONS_BYTES:
            raise ValueError(f"user_options are larger than {MAX_OPTIONS_BYTES} bytes")
        catalog = self.catalog
        for key in user_options:
            if not isinstance(key, str):
                raise ValueError("user_options keys must be strings")
        app_name = user_options.get("app")
        if app_name is None or app_name == "":
            app_name = self._default_app_name()
        if not isinstance(app_name, str) or app_name not in catalog:
            raise ValueError(
                f"user_options['app']: unknown app {str(app_name)[:64]!r}; choose one of: "
                + ", ".join(sorted(catalog))
            )
        if self.app_from_server_name and self.name in catalog and app_name != self.name:
            raise ValueError(
                f"user_options['app']: server {self.name!r} runs the app {self.name!r}, not {app_name!r}"
            )
        app = catalog[app_name]
        allowed = {"app", *app.options}
        unknown = sorted(set(user_options) - allowed)
        if unknown:
            raise ValueError(
                f"user_options[{unknown[0][:64]!r}]: not an option of app {app_name!r}; allowed: "
                + ", ".join(sorted(allowed))
            )
        values = {}
        for name, option in app.options.items():
            raw = user_options.get(name, option.default)
            if raw is None:
                raise ValueError(
                    f"user_options[{name!r}]: required for app {app_name!r} ({option.help or option.type})"
                )
            try:
                values[name] = option.convert(raw)
            except ValueError as e:
                raise ValueError(f"user_options[{name!r}]: {e}") from None
        return app, values

    async def _embed_apply_user_options(self, spawner, user_options):
        """JupyterHub >= 5.3 hook: validate before anything starts; undo the saved options on error."""
        try:
            self._selected = self.validate_user_options(user_options)
        except web.HTTPError:
            self._restore_options()
            raise

    @default("apply_user_options")
    def _default_apply(self):
        return self._embed_apply_user_options

    # the options of the last start, kept in the spawner's state: JupyterHub may make a
    # new Spawner object for the next spawn, and clear_state() leaves them alone
    _good_options = None
    _GOOD_OPTIONS_KEY = "jhembed_last_good_options"

    def get_state(self):
        state = super().get_state()
        if self._good_options is not None:
            state[self._GOOD_OPTIONS_KEY] = self._good_options
        return state

    def load_state(self, state):
        super().load_state(state)
        if isinstance(state.get(self._GOOD_OPTIONS_KEY), dict):
            self._good_options = state[self._GOOD_OPTIONS_KEY]

    def _restore_options(self):
        """JupyterHub saved the refused options before asking us: put back the last good ones.

        Both copies: the database's (the next spawn's defaults) and the spawner's own
        (what the REST API reports as the server's ``user_options``).
        """
        self.user_options = dict(self._good_options or {})
        orm_spawner = getattr(self, "orm_spawner", None)
        if orm_spawner is None:
            return
        from sqlalchemy.orm import object_session

        orm_spawner.user_options = dict(self._good_options or {})
        session = object_session(orm_spawner)
        if session is not None:
            session.commit()

    # -- command and environment ---------------------------------------------------------------

    _selected = None

    def _selection(self):
        if self._selected is None:
            self._selected = self.validate_user_options(self.user_options)
        return self._selected

    def proxy_flags(self, app):
        flags = ["--app-name", app.name]
        if app.entry_point:
            # the server resolves it: its timeout, absolute_url and headers are its own
            flags += ["--server-proxy-entry-point", app.entry_point]
        else:
            flags += ["--ready-check-path", app.ready_path, "--timeout", f"{app.timeout:g}"]
            if app.absolute_url:
                flags.append("--absolute-url")
        for origin in self._setting(app, "frame_ancestors"):
            flags += ["--frame-ancestors", origin]
        for origin in self._setting(app, "cors_origins"):
            flags += ["--cors-origins", origin]
        if self._setting(app, "allow_token_login"):
            flags.append("--allow-token-login")
        samesite = self._setting(app, "cookie_samesite")
        if samesite:
            flags += ["--cookie-samesite", samesite]
        partitioned = self._setting(app, "cookie_partitioned")
        if partitioned is not None:
            flags.append("--cookie-partitioned" if partitioned else "--no-cookie-partitioned")
        if app.forward_user:
            flags.append("--forward-user")
        if app.bridge:
            flags.append("--bridge")
        if app.keep_alive:
            flags.append("--keep-alive")
        if app.public:
            flags.append("--no-authentication")
        for name, value in app.request_headers_override.items():
            flags += ["--request-headers-override", f"{name}={value}"]
        return flags + list(self.proxy_args) + list(app.proxy_args)

    def _setting(self, app, name):
        """The app's value of ``name``, or the spawner's default when the app sets none."""
        value = getattr(app, name)
        return getattr(self, name) if value is None else value

    def embed_args(self):
        """Everything after the proxy program: its flags, ``--``, the app's argv."""
        app, values = self._selection()
        return self.proxy_flags(app) + ["--"] + app.expand(values)

    def get_args(self):
        # Spawner.args are not passed on: the app's argv comes from the catalog
        return self.embed_args()

    @default("server_token_scopes")
    def _embed_server_token_scopes(self):
        # a callable, read at each start: the Hub's 'server' role as configured then
        return _server_token_scopes

    @default("cmd")
    def _embed_cmd(self):
        return list(self.proxy_command)

    def get_env(self):
        env = super().get_env()
        app, _ = self._selection()
        env.update(app.environment)
        return env

    async def start(self):
        # JupyterHub < 5.3 has no apply_user_options: validate here, before anything starts
        self._selected = self.validate_user_options(self.user_options)
        self._good_options = dict(self.user_options or {})
        if self._selected[0].public:
            self.log.warning(
                "PUBLIC app %r: %s's server answers anyone, without a Hub login "
                "(c.EmbedSpawner.apps[%r].public = True)",
                self._selected[0].name,
                self._log_name,
                self._selected[0].name,
            )
        self.cmd = list(self.proxy_command)
        return await super().start()

    async def progress(self):
        app, _ = self._selection()
        yield {"progress": 20, "message": f"Starting {app.label}..."}
        parent = getattr(super(), "progress", None)
        if parent is not None:
            async for event in parent():
                yield event


# the proxy reads this server's shares to admit members of a group it is shared
# with (JupyterHub leaves group shares out of their OAuth tokens: proxy/group_shares.py)
SHARES_SCOPE = "read:shares!server"


def _server_token_scopes(spawner):
    """``$JUPYTERHUB_API_TOKEN``'s scopes: the Hub's 'server' role plus ``read:shares!server``."""
    role = orm.Role.find(spawner.db, "server") if spawner.db is not None else None
    if role is not None:
        scopes = list(role.scopes)
    else:  # no database (it always has the role): the Hub's own default definition
        (default,) = [r for r in roles.get_default_roles() if r["name"] == "server"]
        scopes = list(default["scopes"])
    if SHARES_SCOPE not in scopes:
        scopes.append(SHARES_SCOPE)
    return scopes


class _LocalStartReport:
    """For local processes: the spawn waits for the proxy's word and fails with its reason.

    The proxy writes "ready", or "failed" with why (the app's last output), to a
    file named in ``JHEMBED_START_REPORT``; a failed or vanished proxy fails
    ``start()`` with that text, which the Hub shows as the spawn's error
    (progress events, the spawn page) instead of a bare exit status.
    """

    _report = ""

    def get_env(self):
        env = super().get_env()
        if self._report:
            env[START_REPORT_ENV] = self._report
        return env

    async def start(self):
        fd, self._report = tempfile.mkstemp(prefix="jhembed-start-", suffix=".txt")
        os.close(fd)
        try:
            if os.getuid() == 0:  # the proxy runs as the user: let it write the report
                try:
                    os.chown(self._report, pwd.getpwnam(self.user.name).pw_uid, -1)
                except (KeyError, OSError):
                    pass
            ip_port = await super().start()
            await self._wait_for_report()
            return ip_port
        finally:
            try:
                os.unlink(self._report)
            except OSError:
                pass
            self._report = ""

    async def progress(self):
        """The Hub's events, then the app's output while it starts, line by line.

        The proxy writes its last lines, secrets scrubbed, to the report; the
        Hub shows progress events to whoever may read the server (its owner,
        admins), never to the people it is shared with.
        """
        async for event in super().progress():
            yield event
        label = self._selection()[0].label
        seen = 0
        while self._report:
            status, _, rest = _read(self._report).partition("\n")
            kind, _, count = status.partition(" ")
            if kind != "starting":
                if kind in ("ready", "failed"):
                    break
            elif count.isdigit() and int(count) > seen:
                lines = rest.splitlines()
                for line in lines[max(len(lines) - (int(count) - seen), 0) :]:
                    yield {"message": f"{label}: {line}"}
                seen = int(count)
            await asyncio.sleep(0.25)

    async def _wait_for_report(self):
        label = self._selection()[0].label
        while True:
            status = self.proc.poll() if self.proc is not None else None
            # read after polling: a proxy that has exited wrote all it will
            text = _read(self._report)
            if text.startswith("ready"):
                return
            if text.startswith("failed") or status is not None:
                reason = text.partition("\n")[2].strip()
                # an HTTPError: the Hub's REST API and spawn page show its message
                raise web.HTTPError(
                    500,
                    "%s",
                    f"{label} did not start"
                    + (f": {reason}" if reason else f" (exit status {status})"),
                )
            await asyncio.sleep(0.1)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class EmbedSpawner(EmbedSpawnerMixin, _LocalStartReport, LocalProcessSpawner):
    """App catalog on LocalProcessSpawner (servers run as the users' system accounts)."""


class SimpleEmbedSpawner(EmbedSpawnerMixin, _LocalStartReport, SimpleLocalProcessSpawner):
    """App catalog on SimpleLocalProcessSpawner: no system users (demos, tests)."""


def _lazy_composition(name):
    if name == "EmbedDockerSpawner":
        try:
            from dockerspawner import DockerSpawner
        except ImportError:
            raise ImportError(
                "EmbedDockerSpawner needs DockerSpawner: pip install 'jhembed[docker]'"
            ) from None
        base, doc = DockerSpawner, "App catalog on DockerSpawner."
    else:
        try:
            from kubespawner import KubeSpawner
        except ImportError:
            raise ImportError(
                "EmbedKubeSpawner needs KubeSpawner: pip install 'jhembed[kubernetes]'"
            ) from None
        base, doc = KubeSpawner, "App catalog on KubeSpawner."
    cls = type(name, (EmbedSpawnerMixin, base), {"__doc__": doc, "__module__": __name__})
    globals()[name] = cls
    return cls


def __getattr__(name):
    if name in ("EmbedDockerSpawner", "EmbedKubeSpawner"):
        return _lazy_composition(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EmbedSpawnerMixin", "EmbedSpawner", "SimpleEmbedSpawner"]
