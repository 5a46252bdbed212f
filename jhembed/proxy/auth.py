"""Hub login for the proxy: OAuth with the Hub, access scopes, what the app receives.

The proxy is a JupyterHub OAuth client like the Hub's own single-user server:
browsers are sent through the Hub's OAuth flow (``HubOAuth``) and come back to
``{prefix}oauth_callback``; API clients send ``Authorization: token ...``.
Access is decided by the scopes JupyterHub grants for this server
(``JUPYTERHUB_OAUTH_ACCESS_SCOPES``), so the owner, admins with
``access:servers`` and users or groups the server is shared with get in.
:class:`HubLogin` holds those decisions; the front answers the login flows
with them (jhembed.proxy.login) and checks tokens through its verdict cache.

Nothing that carries a Hub token reaches the app: the proxy's session cookie,
OAuth state cookies, ``Authorization: token`` and ``?token=`` are removed from
what the app receives.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuth, check_scopes
from traitlets import Bool, Unicode

from .group_shares import GroupShares
from .login import _TOKEN_HEADER
from .rules import strip_cookies

_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# headers that carry who the user is to the app: only the proxy may set them
USER_HEADER = "X-Forwarded-User"
GROUPS_HEADER = "X-Forwarded-Groups"


class EmbedHubOAuth(HubOAuth):
    """``HubOAuth`` whose session cookie works inside a cross-site iframe.

    The cookie is ``HttpOnly``; with ``samesite = "None"`` it is also
    ``Secure; SameSite=None`` and, with ``partitioned``, ``Partitioned``
    (jhembed.proxy.login writes it).  Unlike the Hub's single-user server, it
    sets no ``_xsrf`` cookie: the app behind the proxy owns that name.
    """

    samesite = Unicode(
        "", help="SameSite attribute of the session cookie ('' for the browser default)."
    )
    partitioned = Bool(False, help="Add Partitioned to the session cookie (with SameSite=None).")


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
        if policy.cross_origin:
            # the OAuth state cookie has to survive the round trip inside a frame
            hub_auth.cookie_options = dict(hub_auth.cookie_options, samesite="None", secure=True)
        hub_prefix = hub_auth.hub_prefix
        self.logout_url = hub_prefix + "logout"
        self.home_url = hub_prefix + "home"

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

    # -- what the app receives ---------------------------------------------------------------

    def filter_request_headers(self, headers, user):
        """Remove credentials the proxy consumed; add the user when ``forward_user`` is on.

        (The forwarder applies the same three rules in its one pass over the headers.)
        """
        out = []
        for name, value in headers:
            low = name.lower()
            if low == "authorization" and self.consumes(value):
                continue
            if low == "cookie":
                value = self.strip_cookies(value)
                if not value:
                    continue
            out.append((name, value))
        out.extend(self.user_headers(user))
        return out

    @staticmethod
    def consumes(authorization):
        """Whether an ``Authorization`` value is a Hub token the proxy reads: never sent on."""
        return _TOKEN_HEADER.match(authorization) is not None

    def strip_cookies(self, header):
        """A ``Cookie`` header without the Hub's and jhembed's cookies, nor ours.

        The Hub's and jhembed's by pattern, and ours by name (JUPYTERHUB_CLIENT_ID
        may be anything when the proxy runs by hand).
        """
        return strip_cookies(header, (self.cookie_name,))

    def user_headers(self, user):
        """The headers that tell the app who the user is (``forward_user``), or ()."""
        if self.forward_user and user is not None:
            return (
                (USER_HEADER, user["name"]),
                (GROUPS_HEADER, ",".join(user.get("groups") or ())),
            )
        return ()


__all__ = ["EmbedHubOAuth", "HubLogin", "USER_HEADER", "GROUPS_HEADER"]
