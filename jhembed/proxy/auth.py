"""Hub login for the proxy: OAuth with the Hub, access scopes, iframe token login.

The proxy is a JupyterHub OAuth client like the Hub's own single-user server:
browsers are sent through the Hub's OAuth flow (``HubOAuth``) and come back to
``{prefix}oauth_callback`` (``HubOAuthCallbackHandler``); API clients send
``Authorization: token ...``.  Access is decided by the scopes JupyterHub
grants for this server (``JUPYTERHUB_OAUTH_ACCESS_SCOPES``), so the owner,
admins with ``access:servers`` and users or groups the server is shared with
get in.  Token checks are cached by ``HubAuth`` (``cache_max_age``).

Nothing that carries a Hub token reaches the app: the proxy's session cookie,
OAuth state cookies, ``Authorization: token`` and ``?token=`` are removed from
what the app receives.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, check_scopes
from jupyterhub.utils import get_browser_protocol
from tornado.httputil import url_concat
from tornado.routing import PathMatches, Rule
from tornado.web import HTTPError
from tornado.websocket import WebSocketHandler
from traitlets import Bool, Unicode

from .forward_util import strip_token
from .group_shares import GroupShares
from .headers import PolicyCookies
from .login import session_cookie
from .pages import frame_login_page, send_page
from .rules import strip_cookies

_TOKEN_HEADER = re.compile(r"^\s*(?:token|bearer)\s+(\S+)\s*$", re.IGNORECASE)
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# headers that carry who the user is to the app: only the proxy may set them
USER_HEADER = "X-Forwarded-User"
GROUPS_HEADER = "X-Forwarded-Groups"
IDENTITY_HEADERS = frozenset((USER_HEADER.lower(), GROUPS_HEADER.lower()))


# Sec-Fetch-Dest of a page shown in a frame
_FRAME_DESTS = ("iframe", "frame")
# a framed request without the session cookie this soon after a token login from the
# same client means the browser did not keep the cookie
_COOKIE_CHECK_SECONDS = 30
_MAX_REMEMBERED_LOGINS = 1024


def _client_key(request):
    """The browser, as well as the proxy can tell (only picks an error page's wording)."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    return (forwarded or request.remote_ip, request.headers.get("User-Agent", ""))


def _url_token(request):
    values = request.query_arguments.get("token")
    if not values:
        return ""
    return values[-1].decode("utf-8", "replace")


class EmbedHubOAuth(HubOAuth):
    """``HubOAuth`` whose session cookie works inside a cross-site iframe.

    The cookie is ``HttpOnly``; with ``samesite = "None"`` it is also
    ``Secure; SameSite=None`` and, with ``partitioned``, ``Partitioned``.
    Unlike the Hub's single-user server, it sets no ``_xsrf`` cookie: the app
    behind the proxy owns that name.
    """

    samesite = Unicode(
        "", help="SameSite attribute of the session cookie ('' for the browser default)."
    )
    partitioned = Bool(False, help="Add Partitioned to the session cookie (with SameSite=None).")

    def set_cookie(self, handler, access_token):
        secure = self.samesite == "None" or get_browser_protocol(handler.request) == "https"
        value = handler.create_signed_value(self.cookie_name, access_token).decode("ascii")
        cookie = session_cookie(
            self.cookie_name,
            value,
            path=self.cookie_path,
            secure=secure,
            samesite=self.samesite,
            partitioned=self.partitioned,
        )
        handler.add_header("Set-Cookie", cookie)
        self.log.debug("Set session cookie %s for %s", self.cookie_name, handler.request.remote_ip)


class HubLogin:
    """The proxy's authenticator: the ``Forwarder.auth`` hook."""

    def __init__(
        self,
        *,
        hub_auth,
        policy,
        owner="",
        server_name="",
        allow_token_login=False,
        forward_user=False,
        log,
    ):
        self.hub_auth = hub_auth
        self.policy = policy
        self.owner = owner
        self.allow_token_login = allow_token_login
        self.forward_user = forward_user
        self.log = log
        self.access_scopes = set(hub_auth.access_scopes or ())
        self.group_shares = GroupShares(
            hub_auth, owner, server_name, max_age=hub_auth.cache_max_age, log=log
        )
        self.cookie_name = hub_auth.cookie_name
        # recent token logins by client (address, User-Agent) -> time.monotonic()
        self._token_logins = {}
        if policy.cross_origin:
            # the OAuth state cookie has to survive the round trip inside a frame
            hub_auth.cookie_options = dict(hub_auth.cookie_options, samesite="None", secure=True)
        hub_prefix = hub_auth.hub_prefix
        self.logout_url = hub_prefix + "logout"
        self.home_url = hub_prefix + "home"

    # -- rules ----------------------------------------------------------------------

    def rules(self):
        """Tornado rules the proxy answers itself: the OAuth callback."""
        path = urlsplit(self.hub_auth.oauth_redirect_uri).path
        return [Rule(PathMatches(re.escape(path)), OAuthCallbackHandler, {"login": self})]

    # -- identify --------------------------------------------------------------------

    async def user_for_token(self, token, handler):
        return await self.hub_auth.user_for_token(
            token, session_id=self.hub_auth.get_session_id(handler), sync=False
        )

    async def cookie_user(self, handler):
        """The user of the session cookie, or None (clears a stale cookie)."""
        token = handler.get_secure_cookie(self.cookie_name)
        if not token:
            return None
        user = await self.user_for_token(token.decode("ascii", "replace"), handler)
        if user is None:
            self.log.info("Session cookie of %s no longer valid", handler.request.remote_ip)
            handler.clear_cookie(self.cookie_name, path=self.hub_auth.cookie_path)
        return user

    def allowed(self, user):
        if self.access_scopes:
            return bool(check_scopes(self.access_scopes, set(user.get("scopes", ()))))
        # no scopes from the Hub (run by hand): only the owner, fail closed
        return (
            bool(self.owner) and user.get("kind", "user") == "user" and user["name"] == self.owner
        )

    async def admits(self, user, *, session=False, use_cache=True):
        """``allowed``, or (``session``: the token of this server's own OAuth login, which
        asked for the access scope) a member of a group this server is shared with
        (group_shares.py).  Other tokens keep their scopes: a token made without the
        server's access scope does not open it through a group share."""
        if self.allowed(user):
            return True
        if not (session and self.access_scopes):
            return False
        return await self.group_shares.admits(user, use_cache)

    async def authenticate(self, handler):
        """The allowed user for this request, or None after answering it."""
        try:
            return await self._authenticate(handler)
        except HTTPError as e:
            # HubAuth raises 500/502 when it cannot reach the Hub or the Hub fails
            self.log.warning("Cannot check login with the Hub: %s", e.log_message or e)
            send_page(
                handler,
                503,
                "Hub unavailable",
                "The JupyterHub that checks logins for this server does not answer. "
                "Try again in a few seconds.",
                refresh=5 if handler.request.method == "GET" else None,
                headers={"Retry-After": "5"},
            )
            return None

    async def _authenticate(self, handler):
        request = handler.request
        websocket = isinstance(handler, WebSocketHandler)
        url_token = _url_token(request)
        if url_token and not websocket:
            await self._token_login(handler, url_token)
            return None
        header = _TOKEN_HEADER.match(request.headers.get("Authorization", ""))
        token = url_token or (header.group(1) if header else "")
        if token:
            user = await self.user_for_token(token, handler)
            if user is None:
                send_page(handler, 403, "Invalid token", "The token is invalid or has expired.")
                return None
        else:
            user = await self.cookie_user(handler)
            if user is not None and self._cross_site(handler):
                self.log.warning(
                    "Refused cross-site %s %s with a session cookie (Origin %s)",
                    request.method,
                    request.path,
                    request.headers.get("Origin", "-"),
                )
                send_page(
                    handler,
                    403,
                    "Cross-site request refused",
                    "This request came from another site. Allow that site with cors_origins.",
                )
                return None
        if user is None:
            self._login(handler, websocket)
            return None
        if not await self.admits(user, session=not token):
            self._forbidden(handler, user)
            return None
        return user

    def _cross_site(self, handler):
        request = handler.request
        return self.cross_site(
            request.method, request.headers.get, isinstance(handler, WebSocketHandler)
        )

    def cross_site(self, method, header, websocket=False):
        """A state-changing request from another site riding on the session cookie.

        ``header(name)`` returns a request header or None.
        """
        if method in _SAFE_METHODS and not websocket:
            return False
        origin = header("Origin")
        if not origin or origin == "null":
            return header("Sec-Fetch-Site") == "cross-site" or origin == "null"
        netloc = urlsplit(origin).netloc.lower()
        hosts = {(header("Host") or "").lower()}
        hosts.update(h.strip().lower() for h in (header("X-Forwarded-Host") or "").split(","))
        if netloc in hosts:
            return False
        return origin.lower() not in self.policy.ws_origins

    # -- answers ---------------------------------------------------------------------

    def _login(self, handler, websocket):
        request = handler.request
        if websocket or request.method not in ("GET", "HEAD"):
            send_page(handler, 403, "Not logged in", "Log in with the Hub to use this server.")
            return
        hub_auth = self.hub_auth
        params = {}
        state_extra = {}
        # PKCE and set_state_cookie(code_verifier=) exist from JupyterHub 6 on; on 5
        # the state cookie alone guards the callback (as jupyterhub-singleuser 5 does)
        if getattr(hub_auth, "pkce_enabled", False):
            verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
            params["code_challenge"] = challenge
            params["code_challenge_method"] = method
            state_extra["code_verifier"] = verifier
        params["state"] = hub_auth.set_state_cookie(handler, next_url=request.uri, **state_extra)
        login_url = url_concat(hub_auth.login_url, params)
        if self.policy.cross_origin and request.headers.get("Sec-Fetch-Dest") in _FRAME_DESTS:
            # the Hub's login pages refuse to be framed: a redirect would leave a blank frame
            self._frame_login(handler, login_url)
            return
        handler.redirect(login_url)

    def _frame_login(self, handler, login_url):
        request = handler.request
        since = time.monotonic() - self._token_logins.get(_client_key(request), -1e9)
        code = "cookies-blocked" if since < _COOKIE_CHECK_SECONDS else "login-required"
        self.log.info(
            "No login in a frame for %s (%s): answered with the frame login page",
            request.path,
            code,
        )
        handler.clear()
        handler.set_status(401)
        handler.set_header("Cache-Control", "no-store")
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.finish(
            frame_login_page(
                code, login_url=login_url, page_url=request.uri, origins=self.policy.frame_origins
            )
        )

    def _forbidden(self, handler, user, headers=None):
        kind = user.get("kind", "user")
        self.log.warning("%s %s may not use this server (missing scopes)", kind, user["name"])
        owner = f" of {self.owner}" if self.owner else ""
        send_page(
            handler,
            403,
            "Access denied",
            f"You are logged in as {kind} {user['name']}, but this server{owner} "
            "is not shared with you. Log out to log in as someone else.",
            links=[("Log out", self.logout_url), ("Your JupyterHub home", self.home_url)],
            headers=headers,
        )

    async def _token_login(self, handler, token):
        """``?token=`` in a page URL: trade it for a session cookie, then drop it from the URL."""
        request = handler.request
        clean = strip_token(request.uri)
        no_referrer = {"Referrer-Policy": "no-referrer"}
        if not self.allow_token_login:
            self.log.warning("Refused a token in the URL of %s: token login is off", request.path)
            send_page(
                handler,
                403,
                "Token in URL refused",
                "This server does not accept tokens in the URL (token login is off). "
                "Send the token in an Authorization header, or ask the admin to enable "
                "allow_token_login for this app.",
                headers=no_referrer,
            )
            return
        if request.method not in ("GET", "HEAD"):
            send_page(
                handler,
                403,
                "Token in URL refused",
                "Token login works for page loads only.",
                headers=no_referrer,
            )
            return
        user = await self.user_for_token(token, handler)
        if user is None:
            send_page(
                handler,
                403,
                "Invalid token",
                "The token in the link is invalid or has expired.",
                headers=no_referrer,
            )
            return
        if not await self.admits(user):
            self._forbidden(handler, user, headers=no_referrer)
            return
        self.log.info("Token login for %s %s", user.get("kind", "user"), user["name"])
        self.hub_auth.set_cookie(handler, token)
        # a framed request from this browser without the cookie soon after: it was blocked
        logins, key = self._token_logins, _client_key(request)
        logins.pop(key, None)  # re-inserted last: the oldest are dropped first
        logins[key] = time.monotonic()
        while len(logins) > _MAX_REMEMBERED_LOGINS:
            logins.pop(next(iter(logins)))
        handler.set_header("Referrer-Policy", "no-referrer")
        handler.set_header("Cache-Control", "no-store")
        handler.redirect(clean)

    # -- what the app receives ---------------------------------------------------------------

    def filter_request_headers(self, headers, user):
        """Remove credentials the proxy consumed; add the user when ``forward_user`` is on."""
        out = []
        for name, value in headers:
            low = name.lower()
            if low == "authorization" and _TOKEN_HEADER.match(value):
                continue
            if low == "cookie":
                value = self._strip_cookies(value)
                if not value:
                    continue
            out.append((name, value))
        if self.forward_user and user is not None:
            out.append((USER_HEADER, user["name"]))
            out.append((GROUPS_HEADER, ",".join(user.get("groups") or ())))
        return out

    def _strip_cookies(self, header):
        # the Hub's and jhembed's by pattern, and ours by name (JUPYTERHUB_CLIENT_ID
        # may be anything when the proxy runs by hand)
        return strip_cookies(header, (self.cookie_name,))


class OAuthCallbackHandler(PolicyCookies, HubOAuthCallbackHandler):
    """``{prefix}oauth_callback``: finishes the Hub's OAuth flow (JupyterHub's handler)."""

    def initialize(self, login):
        self.login = login
        self.hub_auth = login.hub_auth

    def set_default_headers(self):  # runs before initialize()
        self.clear_header("Server")
        self.settings["forwarder"].policy.apply_own(self)

    async def prepare(self):
        try:
            self.current_user = await self.login.cookie_user(self)
        except HTTPError:
            self.current_user = None

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or ""
        if status_code == 403 and "state" in message:
            # an old or foreign state cookie: start the login once more, then give up
            # one per server: a sibling server's (on a parent path) is not this one's
            retry = self.login.cookie_name + "-oauth-retry"
            if not self.get_cookie(retry):
                self.set_cookie(retry, "1", path=self.hub_auth.cookie_path, max_age=60)
                self.redirect(self.hub_auth.base_url)
                return
            self.clear_cookie(retry, path=self.hub_auth.cookie_path)
            send_page(
                self,
                403,
                "Login failed",
                "The login with the Hub could not be completed twice in a row: the login "
                "state did not match. If this page is inside a frame of another site, the "
                "browser may block its cookies; open the server in its own tab, or use "
                "token login.",
            )
            return
        if status_code in (500, 502) and "Hub" in message:
            send_page(
                self,
                503,
                "Hub unavailable",
                "The Hub did not answer. Try again.",
                headers={"Retry-After": "5"},
            )
            return
        send_page(self, status_code, "Login failed", message or self._reason)


__all__ = ["EmbedHubOAuth", "HubLogin", "strip_token", "USER_HEADER", "GROUPS_HEADER"]
