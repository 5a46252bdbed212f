"""Issue 15, candidate (b): a single-user proxy whose one HTTP server is aiohttp's.

    python bench/candidate_aiohttp.py [--port N] [--server-port N] [--no-authentication]
                                      [--frame-ancestors "'self' https://host"] -- COMMAND...

Bench code, not shipped in jhembed.  It does what the hot path of
``jupyter-embedproxy`` needs and nothing more, so its figures are an upper
bound for "aiohttp's server for all HTTP":

- listens on the port of ``$JUPYTERHUB_SERVICE_URL`` (or ``--port``) and
  serves ``$JUPYTERHUB_SERVICE_PREFIX`` (the prefix is stripped toward the app);
- starts COMMAND with ``{port}`` replaced by a free port (or by
  ``--server-port``, when the app is already listening there);
- checks ``Authorization: token ...`` with JupyterHub's
  ``HubAuth.user_for_token(..., sync=False)`` and the server's access scopes,
  caching the verdict per token for ``HubAuth.cache_max_age`` seconds (as
  ``jhembed/proxy/front.py``'s ``_check`` does); no browser (OAuth) login;
- forwards with one pooled ``aiohttp.ClientSession``, request and response
  bodies streamed with flow control, hop-by-hop headers dropped,
  ``X-Forwarded-*`` set, the token never sent to the app;
- pipes websockets message by message (aiohttp on both sides, 10 MiB limit);
- makes ``Content-Security-Policy`` carry the configured ``frame-ancestors``.

It uses aiohttp's low-level ``web.Server`` (no router, no middlewares), the
cheapest way to run aiohttp's HTTP server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

MAX_WS_MESSAGE = 10 * 2**20
SMALL_BODY = 64 * 2**10  # bodies up to this size are read whole and written with the headers
CACHE_SIZE = 4096
# never forwarded either way (RFC 9110 section 7.6.1), plus what the proxy sets itself
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    )
)
# the framing of a body is aiohttp's business on each side: a Connection token naming
# one of these must not make us drop it (issue 15's request smuggling)
FRAMING = frozenset(("content-length", "transfer-encoding", "host"))
FORWARDED = frozenset(
    ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-user")
)
WS_HANDSHAKE = frozenset(
    ("sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
     "sec-websocket-protocol")
)  # fmt: skip


def log(*args):
    print("candidate_aiohttp:", *args, file=sys.stderr, flush=True)


def _dropped(headers):
    """Lower-case names not to forward: hop-by-hop ones and those the Connection header names."""
    out = set(HOP_BY_HOP)
    for value in headers.getall("Connection", ()):
        out.update(t.strip().lower() for t in value.split(",") if t.strip())
    return out - FRAMING | {"transfer-encoding"}


def _normal_name(name):
    """``X_Forwarded_User`` -> ``x-forwarded-user``: a WSGI app reads both the same."""
    return name.lower().replace("_", "-")


def _frame_csp(values, directive):
    """The app's CSP values with its ``frame-ancestors`` replaced by ours."""
    out = []
    for value in values:
        for policy in value.split(","):
            kept = [
                d.strip()
                for d in policy.split(";")
                if d.strip() and d.strip().split()[0].lower() != "frame-ancestors"
            ]
            if kept:
                out.append("; ".join(kept))
    if out:
        out[0] += "; " + directive
        return out
    return [directive]


class Verdicts:
    """Hub checks of ``Authorization: token`` values, cached per token."""

    def __init__(self, owner):
        # imported here: --no-authentication runs without JupyterHub's auth module
        from jupyterhub.services.auth import HubAuth

        self.hub_auth = HubAuth()
        self.max_age = self.hub_auth.cache_max_age
        self.scopes = set(self.hub_auth.access_scopes or ())
        self.owner = owner
        self.cache = {}  # token -> (user model or None, expiry on the loop's clock)
        self.pending = {}  # token -> future of a Hub check under way
        self.loop = asyncio.get_running_loop()

    async def user(self, token):
        """The allowed user of ``token``, or None; raises when the Hub cannot answer."""
        hit = self.cache.get(token)
        if hit is not None:
            if hit[1] > self.loop.time():
                return hit[0]
            del self.cache[token]
        pending = self.pending.get(token)
        if pending is not None:  # one Hub request per token at a time
            return await asyncio.shield(pending)
        pending = self.pending[token] = self.loop.create_future()
        try:
            user = await self._ask(token)
        except BaseException as e:
            pending.set_exception(e)
            pending.exception()  # retrieved: waiters get it, nobody is warned twice
            raise
        else:
            pending.set_result(user)
        finally:
            del self.pending[token]
        if len(self.cache) >= CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[token] = (user, self.loop.time() + self.max_age)
        return user

    async def _ask(self, token):
        user = await self.hub_auth.user_for_token(token, use_cache=False, sync=False)
        if not user or not user.get("name"):
            return None
        if self.scopes:
            allowed = self.hub_auth.check_scopes(self.scopes, user)
        else:  # no scopes from the Hub (run by hand): only the owner, fail closed
            allowed = user.get("kind", "user") == "user" and user["name"] == self.owner
        return user if allowed else None


class Proxy:
    def __init__(self, *, app_port, prefix, verdicts, frame_ancestors):
        self.app = f"http://127.0.0.1:{app_port}"
        self.app_address = f"127.0.0.1:{app_port}"
        self.prefix = prefix
        self.verdicts = verdicts
        self.csp = "frame-ancestors " + frame_ancestors
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            cookie_jar=aiohttp.DummyCookieJar(),  # the app's cookies go to the browser
            auto_decompress=False,  # bytes through as the app wrote them
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self):
        await self.session.close()

    # -- one request ---------------------------------------------------------------

    async def handle(self, request):
        target = request.raw_path
        if not target.startswith(self.prefix):
            path = target.split("?", 1)[0]
            if path + "/" == self.prefix:  # the add-slash redirect
                location = self.prefix + target[len(path) :]
                return web.Response(status=301, headers={"Location": location})
            return _text(404, f"Not found: this server serves {self.prefix} only.")
        user = None
        if self.verdicts is not None:
            auth = request.headers.get("Authorization", "")
            kind, _, token = auth.strip().partition(" ")
            token = token.strip()
            if kind.lower() not in ("token", "bearer") or not token:
                return _text(401, "Send 'Authorization: token <Hub API token>' (this bench "
                             "candidate has no browser login).")  # fmt: skip
            try:
                user = await self.verdicts.user(token)
            except Exception as e:
                log(f"cannot check the token with the Hub: {type(e).__name__}")
                return _text(503, "The Hub that checks logins does not answer; try again.")
            if user is None:
                return _text(403, "This Hub token may not use this server.")
        url = URL(self.app + "/" + target[len(self.prefix) :], encoded=True)
        headers = self.request_headers(request, user)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request, url, headers)
        return await self.forward(request, url, headers)

    def request_headers(self, request, user):
        dropped = _dropped(request.headers)
        out = []
        for name, value in request.headers.items():
            low = _normal_name(name)
            if low in dropped or low in FORWARDED:
                continue
            if low == "authorization" and self.verdicts is not None:
                continue  # the Hub token stays here
            out.append((name, value))
        host = request.headers.get("Host", "")
        out += [
            ("X-Forwarded-For", request.remote or ""),
            ("X-Forwarded-Proto", request.scheme),
            ("X-Forwarded-Host", host),
        ]
        if user is not None:
            out.append(("X-Forwarded-User", user["name"]))
        return out

    async def forward(self, request, url, headers):
        body = request.content if request.body_exists else None
        try:
            up = await self.session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            )
        except aiohttp.ClientConnectionError as e:
            log(f"app at {self.app_address} unreachable: {type(e).__name__}")
            return _text(502, f"The app does not answer on {self.app_address}; it may be "
                         "starting or have stopped.")  # fmt: skip
        try:
            headers = self.response_headers(up.headers)
            length = up.content_length
            if (
                length is not None
                and length <= SMALL_BODY
                and request.method != "HEAD"
                and up.status not in (204, 304)
            ):
                # a small body goes out with the headers in one write, as front.py does
                headers.popall("Content-Length", None)
                return web.Response(
                    status=up.status, reason=up.reason, headers=headers, body=await up.read()
                )
            resp = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
            if length is not None:
                resp.content_length = length
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away: nobody to answer
        finally:
            up.release()
        return resp

    def response_headers(self, app_headers):
        dropped = _dropped(app_headers)
        out = CIMultiDict()
        csp = []
        for name, value in app_headers.items():
            low = name.lower()
            if low in dropped:
                continue
            if low == "content-security-policy":
                csp.append(value)
                continue
            out.add(name, value)
        for value in _frame_csp(csp, self.csp):
            out.add("Content-Security-Policy", value)
        return out

    async def websocket(self, request, url, headers):
        headers = [(n, v) for n, v in headers if n.lower() not in WS_HANDSHAKE]
        protocols = [
            p.strip()
            for v in request.headers.getall("Sec-WebSocket-Protocol", ())
            for p in v.split(",")
            if p.strip()
        ]
        try:
            up = await self.session.ws_connect(
                url, headers=headers, protocols=protocols, max_msg_size=MAX_WS_MESSAGE,
                compress=0, autoping=True,
            )  # fmt: skip
        except aiohttp.WSServerHandshakeError as e:
            return _text(e.status if e.status >= 400 else 502, "The app refused the websocket.")
        except aiohttp.ClientConnectionError:
            return _text(502, f"The app does not answer on {self.app_address}.")
        ws = web.WebSocketResponse(
            protocols=(up.protocol,) if up.protocol else (),
            max_msg_size=MAX_WS_MESSAGE,
            compress=False,
            autoping=True,
        )
        try:
            await ws.prepare(request)
            await asyncio.gather(_pipe(ws, up), _pipe(up, ws))
        finally:
            await up.close()
            await ws.close()
        return ws


async def _pipe(src, dst):
    """Messages from ``src`` to ``dst`` until ``src`` closes; then closes ``dst`` alike."""
    async for msg in src:
        if dst.closed:
            break
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.ERROR:
            break
    code = src.close_code or aiohttp.WSCloseCode.OK
    if code in (1005, 1006):  # not codes one may send
        code = aiohttp.WSCloseCode.OK
    await dst.close(code=code)


def _text(status, message):
    return web.Response(status=status, text=message + "\n")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=None,
                        help="port to listen on (default: that of $JUPYTERHUB_SERVICE_URL, else 8888)")  # fmt: skip
    parser.add_argument("--server-port", type=int, default=0,
                        help="the app's port (default: a free one, given to COMMAND as {port})")  # fmt: skip
    parser.add_argument("--no-authentication", action="store_true",
                        help="no Hub check (as jupyter-embedproxy --no-authentication)")  # fmt: skip
    parser.add_argument("--frame-ancestors", default="'self'",
                        help="the CSP frame-ancestors sources (default: 'self')")  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ... (the app)")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the app's command after --, e.g. -- python -m http.server {port}")
    if not 0 <= args.server_port < 65536:
        parser.error(f"--server-port must be between 0 and 65535, not {args.server_port}")
    return args


async def main(argv=None):
    args = _parse(argv)
    service = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
    host = service.hostname or "127.0.0.1"
    port = args.port or service.port or 8888
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    app_port = args.server_port or _free_port()
    command = [a.replace("{port}", str(app_port)) for a in args.command]
    child = await asyncio.create_subprocess_exec(*command)
    verdicts = None
    if not args.no_authentication:
        if not os.environ.get("JUPYTERHUB_API_TOKEN"):
            child.terminate()
            await child.wait()
            raise SystemExit("candidate_aiohttp: $JUPYTERHUB_API_TOKEN is not set; run it "
                             "under JupyterHub or pass --no-authentication")  # fmt: skip
        verdicts = Verdicts(owner=os.environ.get("JUPYTERHUB_USER", ""))
    proxy = Proxy(app_port=app_port, prefix=prefix, verdicts=verdicts,
                  frame_ancestors=args.frame_ancestors)  # fmt: skip
    server = web.Server(proxy.handle, access_log=None)
    listener = await asyncio.get_running_loop().create_server(server, host, port)
    log(f"listening on {host}:{port}{prefix}, app on 127.0.0.1:{app_port}")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    waiter = asyncio.ensure_future(child.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    listener.close()
    await server.shutdown(timeout=2)
    await proxy.close()
    if child.returncode is None:
        child.terminate()
    await waiter
    stopper.cancel()
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    try:
        import uvloop  # as jupyter-embedproxy does
    except ImportError:
        sys.exit(asyncio.run(main()))
    sys.exit(uvloop.run(main()))
