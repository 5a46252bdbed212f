"""The login flows the front answers itself (jhembed/proxy/login.py), without a Hub.

``SignIn.answer`` gets requests as the front parses them; the Hub's side is a
``HubOAuth`` whose two network calls (``user_for_token``, ``token_for_code``)
answer from a dict.  Cookies are checked against what tornado itself writes
and reads, on a real tornado app.
"""

import logging
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import HTTPError, decode_signed_value

from jhembed.proxy.auth import EmbedHubOAuth, HubLogin
from jhembed.proxy.connection import Request
from jhembed.proxy.headers import HeaderPolicy
from jhembed.proxy.login import (
    SignIn,
    clear_cookie_header,
    cookie_header,
    query_arg,
    state_matches,
    url_token,
)

SECRET = b"s" * 32
PREFIX = "/user/alice/"
ALICE = {"kind": "user", "name": "alice", "scopes": ["access:servers!server=alice/"]}
BOB = {"kind": "user", "name": "bob", "scopes": []}
HOST = "https://host.example"


class FakeHubOAuth(EmbedHubOAuth):
    """HubOAuth whose Hub is a dict: token -> user; codes -> tokens; ``down`` fails all."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.users = {"alice-token": ALICE, "bob-token": BOB}
        self.codes = {"good-code": "alice-token"}
        self.down = False
        self.verifiers = []

    async def user_for_token(self, token, use_cache=True, session_id="", *, sync=True):
        if self.down:
            raise HTTPError(500, "Failed to connect to Hub API at 'http://127.0.0.1:1/'.")
        return self.users.get(token)

    async def token_for_code(self, code, *, code_verifier=None, sync=True):
        if self.down:
            raise HTTPError(500, "Failed to connect to Hub API at 'http://127.0.0.1:1/'.")
        self.verifiers.append(code_verifier)
        if code not in self.codes:
            raise HTTPError(500, "Failed to check authorization: invalid_grant")
        return self.codes[code]


def make_sign_in(*, frame_ancestors=("'self'",), allow_token_login=False):
    policy = HeaderPolicy(frame_ancestors=frame_ancestors, base_url=PREFIX)
    hub_auth = FakeHubOAuth(
        api_token="service-token",
        oauth_client_id="jupyterhub-user-alice",
        api_url="http://127.0.0.1:1/hub/api/",
        hub_host="",
        hub_prefix="/hub/",
        base_url=PREFIX,
        oauth_redirect_uri=PREFIX + "oauth_callback",
        access_scopes={"access:servers!server=alice/"},
        samesite="None" if policy.cross_origin else "",
        partitioned=policy.cookie_partitioned,
    )
    log = logging.getLogger("test-login")
    login = HubLogin(
        hub_auth=hub_auth,
        policy=policy,
        owner="alice",
        allow_token_login=allow_token_login,
        log=log,
    )
    return SignIn(login, cookie_secret=SECRET, log=log)


def request(url, method="GET", headers=(), upgrade=False):
    req = Request()
    req.method, req.url, req.headers = method, url, list(headers)
    req.upgrade, req.complete = upgrade, True
    return req


CLIENT = SimpleNamespace(remote_ip="127.0.0.1", protocol="http")


async def answer(sign_in, url, **kwargs):
    return await sign_in.answer(request(url, **kwargs), CLIENT)


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) == 1, (name, headers)
    return values[0]


def cookies(headers):
    """Set-Cookie values by cookie name."""
    return {v.split("=", 1)[0]: v for n, v in headers if n.lower() == "set-cookie"}


def attrs(cookie):
    return [a.strip() for a in cookie.split(";")]


def cookie_value(cookie):
    value = attrs(cookie)[0].split("=", 1)[1]
    return value[1:-1] if value.startswith('"') else value


# -- pure helpers -----------------------------------------------------------------------------


def test_query_arg_reads_as_tornado_get_argument():
    assert query_arg("state=a&state=b", "state") == "b"
    assert query_arg("code=%20x%01y%20", "code") == "x y"
    assert query_arg("error=", "error", False) == ""
    assert query_arg("x=1", "state") is None
    assert query_arg("x=1", "error", False) is False


def test_url_token_compares_decoded_names():
    assert url_token("a=1&%74oken=abc") == "abc"
    assert url_token("token=") == ""
    assert url_token("tokens=abc") == ""


def test_state_check():
    assert state_matches("abc", "abc")
    assert not state_matches("abc", "abd")
    assert not state_matches("abc", None)
    assert not state_matches("", "")


@pytest.fixture
async def tornado_cookies():
    """A tornado app that sets cookies as tornado does, and reads signed ones back."""

    class Handler(tornado.web.RequestHandler):
        def get(self, what):
            if what == "set":
                self.set_cookie("n", "1", path=PREFIX, max_age=60)
            elif what == "clear":
                self.clear_cookie("n", path=PREFIX)
            elif what == "state":
                kwargs = dict(path=PREFIX, httponly=True, max_age=600, samesite="None", secure=True)
                self.set_secure_cookie("s", "state-id", **kwargs)
            elif what == "read":
                self.write(self.get_secure_cookie("jupyterhub-user-alice") or b"-")

    app = tornado.web.Application([(r"/(\w+)", Handler)], cookie_secret=SECRET)
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/"
    server.stop()


_EXPIRES = re.compile(r"expires=[^;]+")


async def test_cookie_headers_are_tornados(tornado_cookies):
    import aiohttp

    async with aiohttp.ClientSession() as s:
        got = {}
        for what in ("set", "clear", "state"):
            async with s.get(tornado_cookies + what) as r:
                got[what] = r.headers["Set-Cookie"]
    assert got["set"] == cookie_header("n", "1", path=PREFIX, max_age=60)
    assert _EXPIRES.sub("", got["clear"]) == _EXPIRES.sub("", clear_cookie_header("n", path=PREFIX))
    mine = cookie_header(
        "s", "v", path=PREFIX, expires_days=30, max_age=600, httponly=True, secure=True,
        samesite="None",
    )  # fmt: skip
    # the same attributes in the same order; the value is the signed one
    assert _EXPIRES.sub("", got["state"]).split(";")[1:] == _EXPIRES.sub("", mine).split(";")[1:]
    assert decode_signed_value(SECRET, "s", cookie_value(got["state"])) == b"state-id"


async def test_session_cookie_reads_in_tornado(tornado_cookies):
    """A session cookie of the front's token login is one tornado's get_secure_cookie accepts."""
    import aiohttp

    sign_in = make_sign_in(allow_token_login=True)
    status, headers, _ = await answer(sign_in, PREFIX + "?token=alice-token")
    assert status == 302
    cookie = cookies(headers)["jupyterhub-user-alice"]
    async with aiohttp.ClientSession() as s:
        sent = {"Cookie": attrs(cookie)[0]}
        async with s.get(tornado_cookies + "read", headers=sent) as r:
            assert await r.text() == "alice-token"


# -- no login -----------------------------------------------------------------------------------


async def test_anonymous_page_goes_to_the_hub_with_a_state_cookie():
    sign_in = make_sign_in()
    status, headers, body = await answer(sign_in, PREFIX + "tree?x=1")
    assert (status, body) == (302, b"")
    location = header(headers, "Location")
    url = urlsplit(location)
    assert url.path == "/hub/api/oauth2/authorize"
    params = {k: v[-1] for k, v in parse_qs(url.query).items()}
    assert params["client_id"] == "jupyterhub-user-alice"
    assert params["redirect_uri"] == PREFIX + "oauth_callback"
    state_cookie = cookies(headers)["jupyterhub-user-alice-oauth-state"]
    assert {"HttpOnly", "Max-Age=600", f"Path={PREFIX}"} <= set(attrs(state_cookie))
    signed = cookie_value(state_cookie)
    state = decode_signed_value(SECRET, "jupyterhub-user-alice-oauth-state", signed).decode()
    assert state == params["state"]
    # next= is the page the browser asked for
    assert sign_in.hub_auth.get_next_url(state) == PREFIX + "tree?x=1"
    if hasattr(sign_in.hub_auth, "get_code_verifier"):  # JupyterHub 6: PKCE
        assert params["code_challenge_method"] == "S256" and params["code_challenge"]
        assert sign_in.hub_auth.get_code_verifier(state)


@pytest.mark.parametrize(
    "method, upgrade", [("POST", False), ("GET", True), ("PUT", False)], ids=["post", "ws", "put"]
)
async def test_anonymous_api_and_websocket_refused(method, upgrade):
    status, headers, body = await answer(make_sign_in(), PREFIX + "api", method=method,
                                         upgrade=upgrade)  # fmt: skip
    assert status == 403
    assert body == b"Not logged in: Log in with the Hub to use this server.\n"
    assert not cookies(headers)


async def test_framed_cross_site_gets_the_frame_login_page():
    sign_in = make_sign_in(frame_ancestors=(HOST,))
    framed = [("Sec-Fetch-Dest", "iframe"), ("Accept", "text/html")]
    status, headers, body = await answer(sign_in, PREFIX + "x", headers=framed)
    assert status == 401
    assert header(headers, "Content-Type") == "text/html; charset=utf-8"
    assert b'"code": "login-required"' in body
    state = cookies(headers)["jupyterhub-user-alice-oauth-state"]
    assert {"Secure", "SameSite=None", "Partitioned"} <= set(attrs(state))


# -- the OAuth callback ----------------------------------------------------------------------------


async def _login_started(sign_in, page=PREFIX + "notebooks/a.ipynb"):
    _, headers, _ = await answer(sign_in, page)
    state = parse_qs(urlsplit(header(headers, "Location")).query)["state"][-1]
    cookie = attrs(cookies(headers)["jupyterhub-user-alice-oauth-state"])[0]
    return state, cookie


async def test_callback_logs_in_and_goes_to_next():
    sign_in = make_sign_in()
    state, cookie = await _login_started(sign_in)
    status, headers, _ = await answer(
        sign_in,
        PREFIX + f"oauth_callback?code=good-code&state={state}",
        headers=[("Cookie", cookie)],
    )
    assert status == 302
    assert header(headers, "Location") == PREFIX + "notebooks/a.ipynb"
    set_cookies = cookies(headers)
    session = set_cookies["jupyterhub-user-alice"]
    assert attrs(session)[1:] == [f"Path={PREFIX}", "HttpOnly"]
    assert decode_signed_value(SECRET, "jupyterhub-user-alice", cookie_value(session)) == (
        b"alice-token"
    )
    # the state cookie is cleared, the state used once
    assert cookie_value(set_cookies["jupyterhub-user-alice-oauth-state"]) == ""
    if hasattr(sign_in.hub_auth, "get_code_verifier"):  # JupyterHub 6: PKCE
        assert sign_in.hub_auth.verifiers == [sign_in.hub_auth.verifiers[0]] != [None]


async def test_callback_with_a_foreign_state_retries_once_then_refuses():
    sign_in = make_sign_in()
    state, _ = await _login_started(sign_in)
    # the callback URL in another browser: no state cookie
    url = PREFIX + f"oauth_callback?code=good-code&state={state}"
    status, headers, _ = await answer(sign_in, url)
    assert (status, header(headers, "Location")) == (302, PREFIX)
    retry = cookies(headers)["jupyterhub-user-alice-oauth-retry"]
    assert attrs(retry) == ["jupyterhub-user-alice-oauth-retry=1", "Max-Age=60", f"Path={PREFIX}"]
    assert "jupyterhub-user-alice" not in cookies(headers)
    status, headers, body = await answer(sign_in, url, headers=[("Cookie", attrs(retry)[0])])
    assert status == 403 and b"Login failed" in body and b"state did not match" in body
    assert cookie_value(cookies(headers)["jupyterhub-user-alice-oauth-retry"]) == ""


@pytest.mark.parametrize(
    "query, status, text",
    [
        ("error=access_denied", 400, "Error in oauth: access_denied"),
        ("state=x", 400, "OAuth callback made without a token"),
        ("code=good-code", 400, "OAuth state is missing"),
    ],
)
async def test_callback_bad_arguments(query, status, text):
    got, _, body = await answer(make_sign_in(), PREFIX + "oauth_callback?" + query)
    assert got == status and text in body.decode()


async def test_callback_with_the_hub_down_says_so():
    sign_in = make_sign_in()
    state, cookie = await _login_started(sign_in)
    sign_in.hub_auth.down = True
    status, headers, body = await answer(
        sign_in,
        PREFIX + f"oauth_callback?code=good-code&state={state}",
        headers=[("Cookie", cookie)],
    )
    assert status == 503 and header(headers, "Retry-After") == "5"
    assert body == b"Hub unavailable: The Hub did not answer. Try again.\n"


# -- credentials ---------------------------------------------------------------------------------


async def test_allowed_token_is_the_user_and_others_are_refused():
    sign_in = make_sign_in()
    assert await answer(sign_in, PREFIX, headers=[("Authorization", "token alice-token")]) == ALICE
    status, _, body = await answer(sign_in, PREFIX, headers=[("Authorization", "token nope")])
    assert status == 403 and body.startswith(b"Invalid token")
    status, _, body = await answer(
        sign_in, PREFIX, headers=[("Authorization", "token bob-token"), ("Accept", "text/html")]
    )
    assert status == 403 and b"logged in as user bob" in body and b"/hub/logout" in body
    sign_in.hub_auth.down = True
    status, headers, body = await answer(sign_in, PREFIX, headers=[("Authorization", "token x")])
    assert status == 503 and header(headers, "Retry-After") == "5"


async def test_stale_session_cookie_is_cleared_and_login_starts():
    sign_in = make_sign_in(allow_token_login=True)
    _, headers, _ = await answer(sign_in, PREFIX + "?token=alice-token")
    session = attrs(cookies(headers)["jupyterhub-user-alice"])[0]
    sign_in.hub_auth.users.pop("alice-token")  # revoked at the Hub
    status, headers, _ = await answer(sign_in, PREFIX + "x", headers=[("Cookie", session)])
    assert status == 302
    set_cookies = cookies(headers)
    assert cookie_value(set_cookies["jupyterhub-user-alice"]) == ""
    assert "jupyterhub-user-alice-oauth-state" in set_cookies


async def test_cross_site_post_with_the_session_cookie_refused():
    sign_in = make_sign_in(allow_token_login=True)
    _, headers, _ = await answer(sign_in, PREFIX + "?token=alice-token")
    session = attrs(cookies(headers)["jupyterhub-user-alice"])[0]
    sent = [("Cookie", session), ("Origin", "https://evil.example"), ("Host", "hub.example")]
    status, _, body = await answer(sign_in, PREFIX + "api", method="POST", headers=sent)
    assert status == 403 and body.startswith(b"Cross-site request refused")
    sent[1] = ("Origin", "http://hub.example")
    assert await answer(sign_in, PREFIX + "api", method="POST", headers=sent) == ALICE


# -- token login ----------------------------------------------------------------------------------


async def test_token_login_off_refused():
    status, headers, body = await answer(make_sign_in(), PREFIX + "?token=alice-token")
    assert status == 403 and b"token login is off" in body
    assert header(headers, "Referrer-Policy") == "no-referrer"


async def test_token_login_sets_the_cookie_and_drops_the_token():
    sign_in = make_sign_in(allow_token_login=True, frame_ancestors=(HOST,))
    ua = [("User-Agent", "ua-1")]
    status, headers, _ = await answer(sign_in, PREFIX + "echo?a=1&%74oken=alice-token&b=2",
                                      headers=ua)  # fmt: skip
    assert status == 302
    assert header(headers, "Location") == PREFIX + "echo?a=1&b=2"
    assert header(headers, "Referrer-Policy") == "no-referrer"
    assert header(headers, "Cache-Control") == "no-store"
    session = cookies(headers)["jupyterhub-user-alice"]
    # as tornado sent it: EmbedHubOAuth's cookie through the policy's rewrite
    assert attrs(session)[1:] == [
        f"Path={PREFIX}", "HttpOnly", "SameSite=None", "Secure", "Partitioned"
    ]  # fmt: skip
    # the same browser, framed, right after, without the cookie: blocked cookies
    framed = [*ua, ("Sec-Fetch-Dest", "iframe"), ("Accept", "text/html")]
    status, _, body = await answer(sign_in, PREFIX + "echo", headers=framed)
    assert status == 401 and b'"code": "cookies-blocked"' in body
    # a POST, a bad token, a user it is not shared with: refused, no cookie
    for url, method, text in (
        (PREFIX + "?token=alice-token", "POST", b"page loads only"),
        (PREFIX + "?token=nope", "GET", b"invalid or has expired"),
        (PREFIX + "?token=bob-token", "GET", b"not shared with you"),
    ):
        status, headers, body = await answer(sign_in, url, method=method)
        assert status == 403 and text in body, body
        assert not cookies(headers)
        assert header(headers, "Referrer-Policy") == "no-referrer"
