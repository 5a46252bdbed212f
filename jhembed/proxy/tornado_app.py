"""The proxy's tornado side: its web application and the servers it runs on.

``make_web_app`` builds the tornado application (login, status pages, the
bridge, forwarding); it listens either behind the lean front on an internal
socket (``listen_behind_front``, the default) or on the listening sockets
itself (``listen``, ``--no-fast-path``). Only this module and its call sites
in ``runtime.py`` know about tornado's servers.
"""

from __future__ import annotations

import os
import re

from tornado import http1connection as httputil_http1
from tornado import httpserver, netutil, web

from .forward import NotFoundHandler, make_handlers
from .forward_util import CLIENT_HEADER


def make_web_app(proxy, forwarder):
    """The tornado application of ``proxy`` (an EmbedProxy) around ``forwarder``."""
    settings = dict(
        log_function=forwarder.log_request,
        compress_response=False,
        xsrf_cookies=False,
        websocket_max_message_size=proxy.websocket_max_message_size or 10 * 1024 * 1024,
        websocket_ping_interval=None,
        forwarder=forwarder,
        embedproxy=proxy,
        default_handler_class=NotFoundHandler,
        # signs the session cookie; a restarted proxy logs browsers in again (OAuth)
        cookie_secret=os.urandom(32),
    )
    extra = list(forwarder.auth.rules()) if forwarder.auth is not None else []
    if forwarder.bridge is not None:
        from tornado.routing import PathMatches, Rule

        from .bridge import static_path

        extra.append(
            Rule(
                PathMatches(re.escape(proxy.base_url) + "_jhembed/(.*)"),
                web.StaticFileHandler,
                {"path": static_path()},
            )
        )
    return web.Application(
        make_handlers(forwarder, proxy.base_url, extra, mounted_from=proxy._server_prefix),
        **settings,
    )


async def listen_behind_front(proxy, app):
    """The lean front on the listening sockets, tornado behind it on an internal socket."""
    from .front import Front, internal_address, internal_socket

    server = _http_server(proxy, _BehindFrontHTTPServer, app, xheaders=True)
    address = internal_address()
    server.add_socket(internal_socket(address))
    front = Front(
        proxy.forwarder,
        cookie_secret=app.settings["cookie_secret"],
        internal_address=address,
        max_body_size=proxy._body_limit,
        log=proxy.log,
        mounted_from=proxy._server_prefix,
    )
    await front.start(proxy._bind(), ssl_context=proxy.ssl_server_context)
    return server, front


def listen(proxy, app):
    """Tornado alone on the listening sockets (``--no-fast-path``)."""
    server = _http_server(
        proxy, _ProxyHTTPServer, app, xheaders=False, ssl_options=proxy.ssl_server_context
    )
    server.add_sockets(proxy._bind())
    return server


def _http_server(proxy, cls, app, **kwargs):
    """The tornado server for ``app``: on the listening sockets, or behind the front."""
    return cls(
        app,
        max_body_size=proxy._body_limit,
        chunk_size=256 * 1024,
        idle_connection_timeout=3600,
        decompress_request=False,
        **kwargs,
    )


def _no_nodelay_toggle(value):
    pass


class _ProxyHTTPServer(httpserver.HTTPServer):
    """Sets TCP_NODELAY once per connection.

    Tornado turns it on and off around every response (two system calls per
    request); the proxy writes whole chunks, so it can stay on.
    """

    def handle_stream(self, stream, address):
        stream.set_nodelay(True)
        stream.set_nodelay = _no_nodelay_toggle
        super().handle_stream(stream, address)


class _FrontContext(httpserver._HTTPRequestContext):
    """A request's client address and scheme, as the front saw them.

    The front sends them in ``X-Jhembed-Client: <scheme> <ip>`` (its own copy;
    a client's is dropped); the header is removed before any handler sees it.
    Client headers such as X-Forwarded-Proto stay as they are, for JupyterHub's
    ``get_browser_protocol`` and the app.
    """

    relayed = True  # the request log says so (forward.Forwarder.log_request)

    def _apply_xheaders(self, headers):
        value = headers.get(CLIENT_HEADER)
        if value is None:
            return
        del headers[CLIENT_HEADER]
        scheme, _, ip = value.partition(" ")
        if netutil.is_valid_ip(ip):
            self.remote_ip = ip
        if scheme in ("http", "https"):
            self.protocol = scheme


class _BehindFrontHTTPServer(_ProxyHTTPServer):
    """The tornado server on the front's internal socket (xheaders from the front only)."""

    def handle_stream(self, stream, address):
        context = _FrontContext(stream, address, self.protocol, self.trusted_downstream)
        conn = httputil_http1.HTTP1ServerConnection(stream, self.conn_params, context)
        self._connections.add(conn)
        conn.start_serving(self)
