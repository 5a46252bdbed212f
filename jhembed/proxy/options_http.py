"""EmbedProxy's options for Hub login, internal TLS and the header policy.

:class:`HttpOptions` is a group of :class:`~jhembed.proxy.app.EmbedProxy`'s
traits (set as ``c.EmbedProxy.<name>``); the TLS files default to the ones
JupyterHub gives a single-user server in its environment.
"""

from __future__ import annotations

import os

from traitlets import Bool, Dict, HasTraits, Int, List, Unicode, default, validate

from . import headers as _headers


class HttpOptions(HasTraits):
    """Hub login, internal TLS and the header policy (options of EmbedProxy)."""

    # ---- Hub login -------------------------------------------------------------------

    allow_token_login = Bool(
        False,
        help="""Let a host site log a user in with ``?token=<Hub token>`` in the URL (iframe login).

        The proxy checks the token with the Hub and its scopes, sets its own
        session cookie (``HttpOnly``; ``Secure; SameSite=None`` when another
        origin may frame the server) and redirects to the same URL without the
        token, with ``Referrer-Policy: no-referrer``. The token never reaches the
        app. When off (default), a token in a page URL is refused with 403.
        Use short-lived tokens. CLI: ``--allow-token-login``.
        """,
    ).tag(config=True)

    bridge = Bool(
        False,
        help="""Add jhembed's postMessage bridge to the app's pages (for host sites that embed it).

        The proxy serves ``jhembed-frame.js`` at ``{prefix}_jhembed/`` and adds a
        script tag for it to the app's HTML documents (200, ``text/html``, not
        compressed, at most 2 MiB). The script talks only to the origins in
        ``frame_ancestors``: it answers a host page's ``save`` with ``saved``
        (JupyterLab 4, Notebook 7) and says ``ready`` (Voila: once widgets are
        shown). Default: off. CLI: ``--bridge``.
        """,
    ).tag(config=True)

    forward_user = Bool(
        False,
        help="""Tell the app who is logged in, with ``X-Forwarded-User`` and ``X-Forwarded-Groups``.

        Set after authentication; copies of these headers sent by a client are
        always removed, whether this is on or not. Default: off.
        CLI: ``--forward-user``.
        """,
    ).tag(config=True)

    auth_cache_max_age = Int(
        300,
        help="""Seconds a token check with the Hub is cached (HubAuth's cache).

        A page load does not call the Hub for each request; a revoked token or
        share stops working after at most this long. Default 300.
        CLI: ``--auth-cache-max-age``.
        """,
    ).tag(config=True)

    # ---- the Hub's environment (what JupyterHub tells the server it spawns; not options) --

    hub_api_token = Unicode(help="The server's Hub API token: ``$JUPYTERHUB_API_TOKEN``.")

    @default("hub_api_token")
    def _default_hub_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    hub_client_id = Unicode(help="The server's OAuth client id: ``$JUPYTERHUB_CLIENT_ID``.")

    @default("hub_client_id")
    def _default_hub_client_id(self):
        return os.environ.get("JUPYTERHUB_CLIENT_ID", "")

    hub_user = Unicode(help="The server's owner: ``$JUPYTERHUB_USER``.")

    @default("hub_user")
    def _default_hub_user(self):
        return os.environ.get("JUPYTERHUB_USER", "")

    hub_server_name = Unicode(
        help="The server's name (empty: default): ``$JUPYTERHUB_SERVER_NAME``."
    )

    @default("hub_server_name")
    def _default_hub_server_name(self):
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    hub_activity_url = Unicode(help="Where activity is posted: ``$JUPYTERHUB_ACTIVITY_URL``.")

    @default("hub_activity_url")
    def _default_hub_activity_url(self):
        return os.environ.get("JUPYTERHUB_ACTIVITY_URL", "")

    # ---- internal TLS ------------------------------------------------------------------

    ssl_keyfile = Unicode(
        help="""Private key for HTTPS (JupyterHub internal TLS).

        Default: ``$JUPYTERHUB_SSL_KEYFILE``. With a key and certificate the
        proxy serves HTTPS, requires client certificates signed by
        ``ssl_client_ca`` and uses the same files to call the Hub.
        CLI: ``--keyfile``.
        """,
    ).tag(config=True)

    @default("ssl_keyfile")
    def _default_keyfile(self):
        return os.environ.get("JUPYTERHUB_SSL_KEYFILE", "")

    ssl_certfile = Unicode(
        help="""Certificate for HTTPS (JupyterHub internal TLS).

        Default: ``$JUPYTERHUB_SSL_CERTFILE``. CLI: ``--certfile``.
        """,
    ).tag(config=True)

    @default("ssl_certfile")
    def _default_certfile(self):
        return os.environ.get("JUPYTERHUB_SSL_CERTFILE", "")

    ssl_client_ca = Unicode(
        help="""CA bundle that client certificates (and the Hub's) must be signed by.

        Default: ``$JUPYTERHUB_SSL_CLIENT_CA``. CLI: ``--client-ca``.
        """,
    ).tag(config=True)

    @default("ssl_client_ca")
    def _default_client_ca(self):
        return os.environ.get("JUPYTERHUB_SSL_CLIENT_CA", "")

    # ---- header policy -----------------------------------------------------------

    frame_ancestors = List(
        Unicode(),
        default_value=["'self'"],
        help="""Origins allowed to show this server in an iframe (CSP ``frame-ancestors``).

        Each item is ``'self'``, ``'none'``, a scheme such as ``https:``, or an
        origin such as ``https://app.example.com`` or ``https://*.example.com``.
        The app's own ``frame-ancestors`` is replaced by exactly this value;
        its other CSP directives are kept. When another origin is allowed,
        ``X-Frame-Options`` is dropped and the app's cookies get
        ``SameSite=None; Secure`` so they work inside the cross-site iframe.
        Example: ``c.EmbedProxy.frame_ancestors = ["'self'", "https://host.example.com"]``
        (CLI: ``--frame-ancestors ORIGIN``, repeatable).
        """,
    ).tag(config=True)

    @validate("frame_ancestors")
    def _validate_frame_ancestors(self, proposal):
        return _headers.validate_frame_ancestors(proposal["value"], "EmbedProxy.frame_ancestors")

    cors_origins = List(
        Unicode(),
        help="""Origins allowed to call this server with CORS (credentials included).

        The proxy owns CORS: it answers preflights itself (204 for these
        origins, 403 for others) and replaces any ``Access-Control-*`` headers
        of the app. Each item is an origin like ``https://host.example.com``.
        Example: ``c.EmbedProxy.cors_origins = ["https://host.example.com"]``
        (CLI: ``--cors-origins ORIGIN``, repeatable).
        """,
    ).tag(config=True)

    @validate("cors_origins")
    def _validate_cors_origins(self, proposal):
        return _headers.validate_cors_origins(proposal["value"], "EmbedProxy.cors_origins")

    extra_headers = Dict(
        Unicode(),
        help="""Headers added to every response (replacing the app's value).

        Example: ``c.EmbedProxy.extra_headers = {"Permissions-Policy": "camera=()"}``
        (CLI: ``--extra-headers NAME=VALUE``, repeatable).
        """,
    ).tag(config=True)

    @validate("extra_headers")
    def _validate_extra_headers(self, proposal):
        return _headers.validate_extra_headers(proposal["value"], "EmbedProxy.extra_headers")

    cookie_samesite = Unicode(
        "",
        help="""``SameSite`` attribute forced on cookies the app sets.

        ``""`` (default): ``None`` when ``frame_ancestors`` allows another
        origin, else leave the app's cookies alone. ``"None"`` also adds
        ``Secure``. One of ``""``, ``"None"``, ``"Lax"``, ``"Strict"``.
        CLI: ``--cookie-samesite``.
        """,
    ).tag(config=True)

    @validate("cookie_samesite")
    def _validate_samesite(self, proposal):
        return _headers.validate_samesite(proposal["value"], "EmbedProxy.cookie_samesite")

    cookie_partitioned = Bool(
        None,
        allow_none=True,
        help="""Add ``Partitioned`` (CHIPS) to every ``SameSite=None`` cookie: the app's and the proxy's.

        ``None`` (default): on when ``frame_ancestors`` allows another origin.
        A partitioned cookie is kept per host site, and it is the only kind that
        a browser blocking third-party cookies (Chromium's default in incognito
        windows and for many users, Safari, Firefox's strict mode) sends back to
        a cross-site frame: without it the frame loses its login after the first
        page. ``False`` opts out (the cookies are then shared by every site that
        frames the server, where the browser allows that).
        CLI: ``--cookie-partitioned`` / ``--no-cookie-partitioned``.
        """,
    ).tag(config=True)
