"""The Hub login as the front answers it: redirect, OAuth callback, token login, refusals.

``SignIn.answer(req, client)`` takes a request the front parsed (``front.Request``)
and returns the allowed user's model (the front forwards the request) or an
answer ``(status, headers, body)``: headers without framing (the front adds
``Content-Length`` and the policy's own headers), every ``Set-Cookie`` through
``HeaderPolicy.rewrite_set_cookie(value, own=True)``.  The OAuth is JupyterHub's
``HubOAuth`` (state, PKCE where the Hub has it, ``token_for_code``,
``user_for_token``); the glue tornado's ``HubOAuthCallbackHandler`` did around
it is here, with the decisions of auth.py's ``HubLogin``.  Cookies are signed with
tornado's ``create_signed_value`` and the proxy's ``cookie_secret``, so they read
as tornado would read them.
"""

from __future__ import annotations

import datetime
import http.cookies
import os
import re
import secrets
import string
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from jupyterhub.utils import get_browser_protocol
from tornado.httputil import HTTPHeaders, format_timestamp, parse_cookie, responses, url_concat
from tornado.web import HTTPError, create_signed_value, decode_signed_value

from . import answers
from .rules import strip_token

# an Authorization header the proxy reads (as auth.py's _TOKEN_HEADER)
_TOKEN_HEADER = re.compile(r"^\s*(?:token|bearer)\s+(\S+)\s*$", re.IGNORECASE)
_PAGE_METHODS = ("GET", "HEAD")
_FRAME_DESTS = ("iframe", "frame")
# a framed request without the session cookie this soon after a token login from the
# same client means the browser did not keep the cookie
_COOKIE_CHECK_SECONDS = 30
_MAX_REMEMBERED_LOGINS = 1024
_SESSION_COOKIE = "jupyterhub-session-id"
# tornado's get_argument: control characters become spaces, then the value is stripped
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_NO_REFERRER = ("Referrer-Policy", "no-referrer")
_RETRY = ("Retry-After", "5")


# -- pure helpers ----------------------------------------------------------------------------


def query_arg(query, name, default=None):
    """The last value of ``name`` in a raw query, as tornado's ``get_argument`` reads it."""
    values = parse_qs(query, keep_blank_values=True).get(name)
    if not values:
        return default
    return _CONTROL_CHARS.sub(" ", values[-1]).strip()


def url_token(query):
    """The ``token`` parameter of a raw query (names compared decoded), or ""."""
    values = parse_qs(query, keep_blank_values=True).get("token")
    return values[-1] if values else ""


def cookie_header(name, value, *, path="/", expires=None, expires_days=None, **flags):
    """A ``Set-Cookie`` value exactly as tornado's ``RequestHandler.set_cookie`` writes it.

    ``flags``: ``domain``, ``max_age``, ``httponly``, ``secure``, ``samesite``.
    """
    jar = http.cookies.SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    if flags.get("domain"):
        morsel["domain"] = flags["domain"]
    if expires_days is not None and not expires:
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            days=expires_days
        )
    if expires:
        morsel["expires"] = format_timestamp(expires)
    if path:
        morsel["path"] = path
    if flags.get("max_age"):
        morsel["max-age"] = str(int(flags["max_age"]))
    for flag in ("httponly", "secure"):
        if flags.get(flag):
            morsel[flag] = True
    if flags.get("samesite"):
        morsel["samesite"] = flags["samesite"]
    return morsel.OutputString(None)


def clear_cookie_header(name, **kwargs):
    """``Set-Cookie`` that deletes ``name``, as tornado's ``clear_cookie`` writes it."""
    expires = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=365)
    return cookie_header(name, "", expires=expires, **kwargs)


def session_cookie(name, signed_value, *, path, secure, samesite="", partitioned=False):
    """The proxy's session cookie, with the attributes of ``EmbedHubOAuth``'s settings."""
    attrs = [f"{name}={signed_value}", f"Path={path}", "HttpOnly"]
    if secure:
        attrs.append("Secure")
    if samesite:
        attrs.append(f"SameSite={samesite}")
        if samesite == "None" and partitioned:
            attrs.append("Partitioned")
    return "; ".join(attrs)


def state_matches(arg_state, cookie_state):
    """The OAuth callback's check: the ``state`` argument is the browser's state cookie."""
    return bool(cookie_state) and arg_state == cookie_state


def _client_key(req, remote_ip):
    """The browser, as well as the proxy can tell (only picks an error page's wording)."""
    forwarded = (req.header("X-Forwarded-For") or "").split(",")[0].strip()
    return (forwarded or remote_ip, req.header("User-Agent") or "")


class _Call:
    """One request's cookies in and out."""

    __slots__ = ("req", "client", "cookies", "set_cookies", "_protocol")

    def __init__(self, req, client):
        self.req = req
        self.client = client
        header = req.header("Cookie")
        self.cookies = parse_cookie(header) if header else {}
        self.set_cookies = {}  # name -> Set-Cookie value (a later one replaces, as in tornado)
        self._protocol = None

    @property
    def protocol(self):
        """The scheme the browser sees (JupyterHub's rule: Forwarded, X-Scheme, ...)."""
        if self._protocol is None:
            request = SimpleNamespace(
                headers=HTTPHeaders(self.req.headers), protocol=self.client.protocol
            )
            self._protocol = get_browser_protocol(request)
        return self._protocol


class SignIn:
    """The login flows of :class:`~jhembed.proxy.auth.HubLogin`, over the front's requests."""

    def __init__(self, login, *, cookie_secret, log):
        self.login = login
        self.hub_auth = login.hub_auth
        self.policy = login.policy
        self.secret = cookie_secret
        self.log = log
        self.cookie_name = login.cookie_name
        self.callback_path = urlsplit(self.hub_auth.oauth_redirect_uri).path
        # recent token logins by client (address, User-Agent) -> time.monotonic()
        self._token_logins = {}

    # -- entry -------------------------------------------------------------------------------

    async def answer(self, req, client):
        """The allowed user of ``req``, or the answer ``(status, headers, body)``."""
        call = _Call(req, client)
        path, _, query = req.url.partition("?")
        if path == self.callback_path:
            return await self.callback(call, query)
        try:
            return await self._authenticate(call, query)
        except HTTPError as e:
            # HubAuth raises 500/502 when it cannot reach the Hub or the Hub fails
            self.log.warning("Cannot check login with the Hub: %s", e.log_message or e)
            return self.page(
                call,
                503,
                "Hub unavailable",
                "The JupyterHub that checks logins for this server does not answer. "
                "Try again in a few seconds.",
                refresh=5 if req.method == "GET" else None,
                headers=[_RETRY],
            )

    # -- answers -------------------------------------------------------------------------------

    def _with_cookies(self, call, headers):
        rewrite = self.policy.rewrite_set_cookie
        return headers + [("Set-Cookie", rewrite(v, own=True)) for v in call.set_cookies.values()]

    def page(self, call, status, title, message, *, refresh=None, headers=(), links=()):
        """A status page (HTML for browsers, text for others)."""
        html = "text/html" in (call.req.header("Accept") or "")
        content_type, body = answers.render(title, message, html=html, refresh=refresh, links=links)
        out = [*headers, ("Cache-Control", "no-store"), ("Content-Type", content_type)]
        return status, self._with_cookies(call, out), body.encode("utf-8")

    def redirect(self, call, url, headers=()):
        status, out, body = answers.redirect(url, headers=headers)
        return status, self._with_cookies(call, out), body

    # -- identify ------------------------------------------------------------------------------

    def _signed_cookie(self, call, name):
        """The text of our signed cookie ``name``, or None (absent, or not signed by us)."""
        value = call.cookies.get(name)
        signed = decode_signed_value(self.secret, name, value) if value else None
        return signed.decode("ascii", "replace") if signed else None

    async def user_for_token(self, call, token):
        session_id = call.cookies.get(_SESSION_COOKIE, "")
        return await self.hub_auth.user_for_token(token, session_id=session_id, sync=False)

    async def cookie_user(self, call):
        """The user of the session cookie, or None (clears a stale cookie)."""
        token = self._signed_cookie(call, self.cookie_name)
        if not token:
            return None
        user = await self.user_for_token(call, token)
        if user is None:
            self.log.info("Session cookie of %s no longer valid", call.client.remote_ip)
            call.set_cookies[self.cookie_name] = clear_cookie_header(
                self.cookie_name, path=self.hub_auth.cookie_path
            )
        return user

    async def _authenticate(self, call, query):
        req = call.req
        websocket = bool(req.upgrade)
        token = url_token(query) if query else ""
        if token and not websocket:
            return await self._token_login(call, token)
        header = _TOKEN_HEADER.match(req.header("Authorization") or "")
        token = token or (header.group(1) if header else "")
        if token:
            user = await self.user_for_token(call, token)
            if user is None:
                return self.page(call, 403, "Invalid token", "The token is invalid or has expired.")
        else:
            user = await self.cookie_user(call)
            if user is not None and self.login.cross_site(req.method, req.header, websocket):
                self.log.warning(
                    "Refused cross-site %s %s with a session cookie (Origin %s)",
                    req.method,
                    req.url.partition("?")[0],
                    req.header("Origin") or "-",
                )
                return self.page(
                    call,
                    403,
                    "Cross-site request refused",
                    "This request came from another site. Allow that site with cors_origins.",
                )
        if user is None:
            return self._login(call, websocket)
        if not await self.login.admits(user, session=not token):
            return self._forbidden(call, user)
        return user

    # -- no login: to the Hub's OAuth ----------------------------------------------------------

    def _login(self, call, websocket):
        req = call.req
        if websocket or req.method not in _PAGE_METHODS:
            return self.page(call, 403, "Not logged in", "Log in with the Hub to use this server.")
        hub_auth = self.hub_auth
        params = {}
        extra = {}
        # PKCE exists from JupyterHub 6 on; on 5 the state cookie alone guards the
        # callback (as jupyterhub-singleuser 5 does)
        if getattr(hub_auth, "pkce_enabled", False):
            verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
            params["code_challenge"] = challenge
            params["code_challenge_method"] = method
            extra["code_verifier"] = verifier
        params["state"] = self._state_cookie(call, req.url, extra)
        login_url = url_concat(hub_auth.login_url, params)
        if self.policy.cross_origin and req.header("Sec-Fetch-Dest") in _FRAME_DESTS:
            # the Hub's login pages refuse to be framed: a redirect would leave a blank frame
            return self._frame_login(call, login_url)
        return self.redirect(call, login_url)

    def _state_cookie(self, call, next_url, extra):
        """``HubOAuth.set_state_cookie`` without a tornado handler: the state id."""
        hub_auth = self.hub_auth
        name = hub_auth.state_cookie_name
        if call.cookies.get(name):
            # a login under way in this browser: a cookie of its own (as HubOAuth does)
            self.log.warning("Detected unused OAuth state cookies")
            name = name + "-" + "".join(secrets.choice(string.ascii_letters) for _ in range(8))
            extra["cookie_name"] = name
        state_id = hub_auth.generate_state(next_url, **extra)
        kwargs = {"path": hub_auth.cookie_path, "httponly": True, "max_age": 600}
        public_url = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
        if (urlsplit(public_url).scheme if public_url else call.protocol) == "https":
            kwargs["secure"] = True
        fixed = set(kwargs) | {"expires_days", "expires"}
        for key, value in hub_auth.cookie_options.items():
            if key.lower() not in fixed:
                kwargs[key] = value
        signed = create_signed_value(self.secret, name, state_id).decode("ascii")
        call.set_cookies[name] = cookie_header(name, signed, expires_days=30, **kwargs)
        return state_id

    def _frame_login(self, call, login_url):
        req = call.req
        key = _client_key(req, call.client.remote_ip)
        since = time.monotonic() - self._token_logins.get(key, -1e9)
        code = "cookies-blocked" if since < _COOKIE_CHECK_SECONDS else "login-required"
        self.log.info(
            "No login in a frame for %s (%s): answered with the frame login page",
            req.url.partition("?")[0],
            code,
        )
        status, headers, body = answers.frame_login(
            code, login_url=login_url, page_url=req.url, origins=self.policy.frame_origins
        )
        return status, self._with_cookies(call, headers), body

    def _forbidden(self, call, user, headers=()):
        kind = user.get("kind", "user")
        self.log.warning("%s %s may not use this server (missing scopes)", kind, user["name"])
        owner = f" of {self.login.owner}" if self.login.owner else ""
        return self.page(
            call,
            403,
            "Access denied",
            f"You are logged in as {kind} {user['name']}, but this server{owner} "
            "is not shared with you. Log out to log in as someone else.",
            links=[
                ("Log out", self.login.logout_url),
                ("Your JupyterHub home", self.login.home_url),
            ],
            headers=headers,
        )

    # -- ?token= in a page URL -----------------------------------------------------------------

    async def _token_login(self, call, token):
        """Trade the token for a session cookie, then send the browser to the URL without it."""
        req = call.req
        refused = None
        if not self.login.allow_token_login:
            path = req.url.partition("?")[0]
            self.log.warning("Refused a token in the URL of %s: token login is off", path)
            refused = (
                "This server does not accept tokens in the URL (token login is off). "
                "Send the token in an Authorization header, or ask the admin to enable "
                "allow_token_login for this app."
            )
        elif req.method not in _PAGE_METHODS:
            refused = "Token login works for page loads only."
        if refused:
            return self.page(call, 403, "Token in URL refused", refused, headers=[_NO_REFERRER])
        user = await self.user_for_token(call, token)
        if user is None:
            message = "The token in the link is invalid or has expired."
            return self.page(call, 403, "Invalid token", message, headers=[_NO_REFERRER])
        if not await self.login.admits(user):
            return self._forbidden(call, user, headers=[_NO_REFERRER])
        self.log.info("Token login for %s %s", user.get("kind", "user"), user["name"])
        self._set_session(call, token)
        self.remember_token_login(_client_key(req, call.client.remote_ip))
        headers = [_NO_REFERRER, ("Cache-Control", "no-store")]
        return self.redirect(call, strip_token(req.url), headers)

    def remember_token_login(self, key):
        """A framed request from this browser without the cookie soon after: it was blocked."""
        logins = self._token_logins
        logins.pop(key, None)  # re-inserted last: the oldest are dropped first
        logins[key] = time.monotonic()
        while len(logins) > _MAX_REMEMBERED_LOGINS:
            logins.pop(next(iter(logins)))

    def _set_session(self, call, token):
        hub_auth = self.hub_auth
        name = self.cookie_name
        signed = create_signed_value(self.secret, name, token).decode("ascii")
        secure = hub_auth.samesite == "None" or call.protocol == "https"
        call.set_cookies[name] = session_cookie(
            name,
            signed,
            path=hub_auth.cookie_path,
            secure=secure,
            samesite=hub_auth.samesite,
            partitioned=hub_auth.partitioned,
        )
        self.log.debug("Set session cookie %s for %s", name, call.client.remote_ip)

    # -- {prefix}oauth_callback ----------------------------------------------------------------

    async def callback(self, call, query):
        """Finish the Hub's OAuth flow (what ``HubOAuthCallbackHandler.get`` does)."""
        try:
            current_user = await self.cookie_user(call)
        except HTTPError:
            current_user = None
        try:
            if call.req.method != "GET":
                raise HTTPError(405)
            return await self._callback(call, query, current_user)
        except HTTPError as e:
            return self._callback_failed(call, e.status_code, e.log_message or "")
        except Exception:
            self.log.exception("OAuth callback failed")
            return self._callback_failed(call, 500, "")

    async def _callback(self, call, query, current_user):
        hub_auth = self.hub_auth
        error = query_arg(query, "error", False)
        if error:
            message = query_arg(query, "error_description", error)
            raise HTTPError(400, f"Error in oauth: {message}")
        code = query_arg(query, "code", False)
        if not code:
            raise HTTPError(400, "OAuth callback made without a token")
        arg_state = query_arg(query, "state")
        if arg_state is None:
            raise HTTPError(400, "OAuth state is missing. Try logging in again.")
        cookie_name = hub_auth.get_state_cookie_name(arg_state)
        cookie_state = self._signed_cookie(call, cookie_name)
        if cookie_state:
            self._clear_state_cookies(call)
        elif current_user:
            # a stale state, but logged in already: no new token, on to the page
            self.log.warning("Attempting oauth completion after already logging in.")
            self._clear_state_cookies(call)
            return self.redirect(call, hub_auth.get_next_url(arg_state))
        if not state_matches(arg_state, cookie_state):
            self.log.warning("oauth state argument != cookie %s", cookie_name)
            raise HTTPError(403, "oauth state does not match. Try logging in again.")
        next_url = hub_auth.get_next_url(cookie_state)
        kwargs = {}
        if hasattr(hub_auth, "get_code_verifier"):  # JupyterHub 6: PKCE
            kwargs["code_verifier"] = hub_auth.get_code_verifier(cookie_state)
        hub_auth.clear_oauth_state(cookie_state)
        self._clear_state_cookies(call)
        token = await hub_auth.token_for_code(code, sync=False, **kwargs)
        user = await self.user_for_token(call, token)
        if user is None:
            raise HTTPError(500, "oauth callback failed to identify a user")
        self.log.info("Logged-in user %s", user["name"])
        self._set_session(call, token)
        return self.redirect(call, next_url or hub_auth.base_url)

    def _clear_state_cookies(self, call):
        """``HubOAuth.clear_oauth_state_cookies``: every state cookie the browser sent."""
        hub_auth = self.hub_auth
        prefix = hub_auth.state_cookie_name
        for name in call.cookies:
            if name.startswith(prefix):
                kwargs = {"path": hub_auth.cookie_path}
                if name.startswith("__Host-"):
                    kwargs = {"path": "/", "secure": True}
                call.set_cookies[name] = clear_cookie_header(name, **kwargs)

    def _callback_failed(self, call, status, message):
        """What ``OAuthCallbackHandler.write_error`` answers."""
        hub_auth = self.hub_auth
        if status == 403 and "state" in message:
            # an old or foreign state cookie: start the login once more, then give up
            # one per server: a sibling server's (on a parent path) is not this one's
            retry = self.cookie_name + "-oauth-retry"
            if not call.cookies.get(retry):
                call.set_cookies[retry] = cookie_header(
                    retry, "1", path=hub_auth.cookie_path, max_age=60
                )
                return self.redirect(call, hub_auth.base_url)
            call.set_cookies[retry] = clear_cookie_header(retry, path=hub_auth.cookie_path)
            message = (
                "The login with the Hub could not be completed twice in a row: the login "
                "state did not match. If this page is inside a frame of another site, the "
                "browser may block its cookies; open the server in its own tab, or use "
                "token login."
            )
            return self.page(call, 403, "Login failed", message)
        if status in (500, 502) and "Hub" in message:
            message = "The Hub did not answer. Try again."
            return self.page(call, 503, "Hub unavailable", message, headers=[_RETRY])
        return self.page(call, status, "Login failed", message or responses.get(status, "Unknown"))


__all__ = ["SignIn", "cookie_header", "clear_cookie_header", "session_cookie", "query_arg"]
