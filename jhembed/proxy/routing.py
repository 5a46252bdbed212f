"""One routing decision per request: forward it to the app, or answer it ourselves.

``Routing.sort(req)`` decides from what the front parsed (``connection.Request``):
FORWARD (to the app; a websocket's bytes are piped once the app switches
protocols), ANSWER (jhembed.proxy.answers, ``req.answer`` set), LOGIN (a login
flow of jhembed.proxy.login), or a credential to check with the Hub first
(``check``, through one verdict cache).  It is a mixin of ``front.Front``.
"""

from __future__ import annotations

import asyncio

from tornado.httputil import parse_cookie
from tornado.web import decode_signed_value

from . import answers
from . import child as _child
from .forward import METHODS, _has_dot_segments
from .login import url_token
from .rules import has_param

_METHODS = frozenset(METHODS)
_CACHE_SIZE = 4096
_SESSION_COOKIE = "jupyterhub-session-id"

FORWARD, ANSWER = "forward", "answer"
LOGIN = "login"  # answered by login.py: a login flow, or a user it allows
_GET_HEAD = ("GET", "HEAD")


class Routing:
    """The routing decision of ``front.Front`` (its fields: see there)."""

    def sort(self, req):
        """FORWARD, ANSWER (``req.answer`` set), or a credential to check with the Hub."""
        method = req.method
        html = "text/html" in (req.header("Accept") or "")
        if method not in _METHODS:
            return self._answer(req, answers.method_not_allowed(method, METHODS, html=html))
        if req.length is not None and req.length > self.max_body_size:
            return self._answer(req, answers.too_large(req.length, self.max_body_size, html=html))
        url = req.url
        path, _, query = url.partition("?")
        if path in self.mount_paths:
            return self._mount_redirect(req, query, html)
        if path == self.bare_prefix:
            if method not in _GET_HEAD:
                return self._answer(req, answers.method_not_allowed(method, _GET_HEAD, html=html))
            return self._answer(req, answers.add_slash(url))
        if path == self.callback_path:
            return LOGIN  # the OAuth callback
        if not path.startswith(self.base_url):
            return self._answer(req, answers.not_found(self.base_url, html=html))
        if ("." in path or "%" in path) and _has_dot_segments(path):
            return self._answer(req, answers.dot_segments(html=html))
        if self.static_prefix is not None and path.startswith(self.static_prefix):
            return self._static(req, path, html)
        if req.upgrade and (req.header("Upgrade") or "").lower() != "websocket":
            # not a websocket: forwarded as a plain request (Upgrade and Connection
            # dropped, as hop-by-hop headers); the connection closes after it
            req.upgrade = False
        if req.upgrade:
            if method != "GET":
                return self._answer(req, answers.method_not_allowed(method, ("GET",), html=html))
            origin = req.header("Origin")
            if origin and not self.policy.websocket_origin_allowed(origin, req.header("Host")):
                return self._answer(req, answers.websocket_refused(html=html))
        elif method == "OPTIONS" and req.header("Access-Control-Request-Method"):
            origin = req.header("Origin")
            if origin:  # a CORS preflight: before the login, as browsers send it without one
                return self._answer(
                    req,
                    answers.preflight(
                        self.policy,
                        origin,
                        req.header("Access-Control-Request-Method"),
                        req.header("Access-Control-Request-Headers"),
                        html=html,
                    ),
                )
        state = self.child.state
        if state == _child.STARTING:
            # before the login: the Hub's readiness probe must see 503 until the app answers
            return self._starting(req)
        if query and self.login is not None and has_param(query, "token") and url_token(query):
            # token login, or a websocket logging in with ?token= (names decoded); an
            # empty token (or one after a separator tornado does not read) logs nobody
            # in: the other credentials count, and the app's URI goes without it
            return LOGIN
        login = self.login
        if login is None:
            return self.admitted(req)
        credential = self._credential(req)
        if credential is None:
            return LOGIN  # the login redirect
        cached = self.cache.get(credential)
        if cached is not None:
            user, expires = cached
            if expires > self.loop.time():
                if credential[0] == "c" and login.cross_site(req.method, req.header, req.upgrade):
                    return LOGIN
                req.user = user
                return self.admitted(req)
            del self.cache[credential]
        return credential

    def admitted(self, req):
        """A logged-in, allowed user's request: FORWARD, or ANSWER when the app is down."""
        return FORWARD if self.child.state == _child.READY else self._unavailable(req)

    def _answer(self, req, answer):
        req.answer = answer
        return ANSWER

    def _starting(self, req):
        """503 while the app starts, with its latest output for the owner only.

        Without credentials (the Hub's readiness probe) the answer comes at once; a
        request with credentials is checked, through the verdict cache, to know whether
        it is the owner's (``check`` answers the 503 when the verdict is not cached).
        """
        login = self.login
        credential = self._credential(req) if login is not None and login.owner else None
        if credential is None:
            return self._unavailable(req)
        cached = self.cache.get(credential)
        if cached is None or cached[1] <= self.loop.time():
            return credential
        if not (credential[0] == "c" and login.cross_site(req.method, req.header, req.upgrade)):
            req.user = cached[0]
        return self._unavailable(req)

    def _is_owner(self, user):
        login = self.login
        return (
            login is not None
            and bool(login.owner)
            and isinstance(user, dict)
            and user.get("kind", "user") == "user"
            and user.get("name") == login.owner
        )

    def _unavailable(self, req):
        child = self.child
        html = "text/html" in (req.header("Accept") or "")
        # the app's output (scrubbed of secrets by child.py) is for the owner only
        starting = child.state == _child.STARTING
        output = child.last_output() if starting and self._is_owner(req.user) else None
        return self._answer(
            req,
            answers.unavailable(
                child.app_name, child.state, child.exit_code, html=html, output=output
            ),
        )

    def _mount_redirect(self, req, query, html):
        if req.method not in _GET_HEAD:
            return self._answer(req, answers.method_not_allowed(req.method, _GET_HEAD, html=html))
        if self.child.state != _child.READY:
            return self._unavailable(req)
        return self._answer(req, answers.mount_redirect(self.base_url, query))

    def _static(self, req, path, html):
        """The bridge's scripts, served by the proxy itself (no login: they hold no secret)."""
        if req.method not in _GET_HEAD:
            return self._answer(req, answers.method_not_allowed(req.method, _GET_HEAD, html=html))
        from urllib.parse import unquote

        from .bridge import static_file

        name = unquote(path[len(self.static_prefix) :])
        answer = static_file(self.static_root, name, req.header("If-None-Match"))
        return self._answer(req, answer or answers.not_found_file(name, html=html))

    def _credential(self, req):
        login = self.login
        auth = req.header("Authorization")
        if auth:
            kind, _, token = auth.strip().partition(" ")
            if kind.lower() in ("token", "bearer") and token.strip():
                return ("t", token.strip())
        cookie = req.header("Cookie")
        if cookie and login.cookie_name in cookie:
            value = self._cookie(cookie, login.cookie_name)
            if value:
                return ("c", value)
        return None

    @staticmethod
    def _cookie(header, name):
        # parsed as tornado parses them (lenient: other apps' odd cookies do not hide ours)
        return parse_cookie(header).get(name)

    async def check(self, req, credential):
        """Ask the Hub about a credential; FORWARD when allowed, else LOGIN."""
        pending = self.checking.get(credential)
        if pending is not None:
            user = await asyncio.shield(pending)
        else:
            pending = self.checking[credential] = self.loop.create_future()
            try:
                user = await self._check(req, credential)
            except BaseException:
                user = None
                raise
            finally:
                del self.checking[credential]
                pending.set_result(user)
        # only a user model the Hub gave opens the hot path
        refused = not isinstance(user, dict) or not user.get("name")
        if not refused and credential[0] == "c":
            refused = self.login.cross_site(req.method, req.header, req.upgrade)
        if refused:
            # while the app starts everyone gets the 503 (see _starting), as before the check
            return self._unavailable(req) if self.child.state == _child.STARTING else LOGIN
        req.user = user
        return self.admitted(req)

    async def _check(self, req, credential):
        """The allowed user of ``credential`` (cached), or None."""
        login = self.login
        kind, value = credential
        if kind == "c":
            token = decode_signed_value(self.cookie_secret, login.cookie_name, value)
            if not token:
                return None  # forged or from another proxy: login.py answers it
            token = token.decode("ascii", "replace")
        else:
            token = value
        session = req.header("Cookie")
        session_id = (self._cookie(session, _SESSION_COOKIE) if session else None) or ""
        try:
            # this cache is the only one on the hot path: a revoked token stops
            # working here within cache_max_age
            user = await login.hub_auth.user_for_token(
                token, use_cache=False, session_id=session_id, sync=False
            )
        except Exception:
            return None  # Hub unavailable: login.py says so
        if user is None or not await login.admits(user, session=kind == "c", use_cache=False):
            return None
        if len(self.cache) >= _CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[credential] = (user, self.loop.time() + self.cache_max_age)
        return user
