"""Pure rules of what the app may receive from a client (no processes, no sockets).

Each test names the hole of issue 15 it covers (see tests/test_security_seam.py
for the same holes on the wire).
"""

import logging
from types import SimpleNamespace

import pytest

from jhembed.proxy.forward import Forwarder, scrub_uri
from jhembed.proxy.headers import HeaderPolicy
from jhembed.proxy.rules import strip_token


def forwarder(base_url="/"):
    child = SimpleNamespace(unix_socket=None, host="127.0.0.1", port=9)
    return Forwarder(
        child=child, policy=HeaderPolicy(), base_url=base_url, log=logging.getLogger("t")
    )


def app_headers(pairs, **kwargs):
    fw = forwarder()
    out = fw.headers_for_app(pairs, remote_ip="10.0.0.9", protocol="http", **kwargs)
    return out


def names(headers):
    return [n.lower() for n, _ in headers]


# -- hole 1: a Connection header never changes framing -------------------------------


@pytest.mark.parametrize(
    "token",
    ["Content-Length", "content-length", "Transfer-Encoding", "Host", "X-Forwarded-Host",
     "X-Forwarded-Proto", "X-Forwarded-For"],
)  # fmt: skip
def test_connection_cannot_name_framing_or_identity_headers(token):  # hole 1
    pairs = [
        ("Host", "client.example"),
        ("Connection", f"keep-alive, {token}"),
        ("Content-Length", "12"),
        ("X-Forwarded-Host", "front.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Keep", "1"),
    ]
    out = dict((n.lower(), v) for n, v in app_headers(pairs))
    assert out["content-length"] == "12"
    assert out["host"] == "client.example"
    assert out["x-forwarded-host"] == "front.example"
    assert out["x-forwarded-proto"] == "https"
    assert out["x-forwarded-for"] == "10.0.0.9"
    assert "connection" not in out


def test_connection_still_drops_what_it_names():  # hole 1 (the rule keeps its purpose)
    pairs = [("Host", "h"), ("Connection", "close, X-Private, Keep-Alive"), ("X-Private", "p")]
    assert "x-private" not in names(app_headers(pairs))


# -- hole 3: no Hub or jhembed cookie of any server reaches the app ----------------------------

HUB_COOKIES = [
    "jupyterhub-user-alice=a",  # the default server's session (Path=/user/alice/)
    "jupyterhub-user-alice-srv=b",
    "jupyterhub-user-alice-oauth-state=c",
    "jupyterhub-user-alice-srv-oauth-state-x1=d",
    "jupyterhub-session-id=e",
    "jupyterhub-hub-login=f",
    "jupyterhub-services=g",
    "__Host-jupyterhub-user-alice=h",
    "__Secure-jupyterhub-session-id=i",
    "JupyterHub-User-Alice=j",
    "jhembed-oauth-retry=1",
]


def test_hub_and_jhembed_cookies_never_reach_the_app():  # hole 3
    cookie = "; ".join(["app=1", *HUB_COOKIES, "_xsrf=2", "other-jupyterhub-x=3"])
    out = [v for n, v in app_headers([("Host", "h"), ("Cookie", cookie)]) if n == "Cookie"]
    assert out == ["app=1; _xsrf=2; other-jupyterhub-x=3"]
    # only Hub cookies: no Cookie header at all
    out = app_headers([("Host", "h"), ("Cookie", "; ".join(HUB_COOKIES))])
    assert "cookie" not in names(out)


# -- hole 4: parameter names compared decoded --------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    ["/a?%74oken=SECRET", "/a?x=1&%74%6F%6B%65%6E=SECRET", "/a?t%6fken=SECRET&y=2",
     "/a?x=1;%74oken=SECRET", "/a?%61ccess_token=SECRET", "/a?TOKEN=SECRET", "/a?%5fxsrf=SECRET",
     "/a?st%61te=SECRET", "/a?%63ode=SECRET"],
)  # fmt: skip
def test_log_scrubber_compares_decoded_names(uri):  # hole 4
    scrubbed = scrub_uri(uri)
    assert "SECRET" not in scrubbed and "[secret]" in scrubbed
    assert scrubbed.startswith("/a?")


@pytest.mark.parametrize(
    "uri, clean",
    [
        ("/a?%74oken=SECRET", "/a"),
        ("/a?x=1&t%6Fken=SECRET&y=%2F", "/a?x=1&y=%2F"),  # the rest kept as it came
        ("/a?x=1;token=SECRET", "/a?x=1"),
        ("/a?tokens=1&mytoken=2", "/a?tokens=1&mytoken=2"),
        ("/a?x=a+b&token=S", "/a?x=a+b"),
        ("/a", "/a"),
    ],
)
def test_token_stripping_compares_decoded_names(uri, clean):  # hole 4
    assert strip_token(uri) == clean


def test_referer_with_an_encoded_token_is_scrubbed():  # hole 4
    out = dict(app_headers([("Host", "h"), ("Referer", "http://h/p?%74oken=SECRET&a=1")]))
    assert out["Referer"] == "http://h/p?a=1"


# -- hole 5: underscore twins of headers the proxy sets or strips ------------------------------


@pytest.mark.parametrize(
    "name",
    ["X_Forwarded_User", "x_forwarded_user", "X-Forwarded_User", "X_FORWARDED_GROUPS",
     "X_Forwarded_For", "X_Forwarded_Proto", "X_Forwarded_Host", "X_Forwarded_Prefix",
     "X_Jhembed_Client", "Proxy_Authorization", "Keep_Alive", "Transfer_Encoding"],
)  # fmt: skip
def test_underscore_twins_of_proxy_headers_are_dropped(name):  # hole 5
    out = app_headers([("Host", "h"), (name, "mallory"), ("X_Custom_Thing", "ok")])
    assert name.lower() not in names(out)
    assert "mallory" not in [v for _, v in out]
    assert ("X_Custom_Thing", "ok") in out  # other names with underscores are the app's business


# -- hole 6: every client header reaches the app, however the headers are given ----------------

CLIENT = [
    ("Host", "client.example"),
    ("Cookie", "app=1"),
    ("Authorization", "Basic dTpw"),
    ("Accept", "application/json"),
    ("Content-Type", "text/plain"),
    ("User-Agent", "ua"),
    ("X-Custom", "c"),
]


def test_headers_for_app_from_a_generator():  # hole 6: the pairs are read twice
    from_generator = app_headers(pair for pair in CLIENT)
    from_list = app_headers(list(CLIENT))
    assert from_generator == from_list
    for pair in CLIENT:
        assert pair in from_generator


# -- the helpers themselves (jhembed.proxy.rules) ----------------------------------------------


def test_connection_drops_ignores_framing_and_identity_tokens():  # hole 1
    from jhembed.proxy.rules import connection_drops

    values = ["keep-alive, Content-Length", " HOST ,X-Forwarded-User, x-private", "te,"]
    assert connection_drops(values) == {"keep-alive", "x-private", "te"}


def test_underscore_twin_rule():  # hole 5
    from jhembed.proxy.rules import is_underscore_twin

    assert is_underscore_twin("x_forwarded_user") and is_underscore_twin("x-forwarded_groups")
    assert is_underscore_twin("x_jhembed_client") and is_underscore_twin("proxy_connection")
    assert not is_underscore_twin("x-forwarded-user")  # the real one: dropped by name elsewhere
    assert not is_underscore_twin("x_app_thing") and not is_underscore_twin("accept")


def test_strip_cookies_by_pattern_and_by_name():  # hole 3
    from jhembed.proxy.rules import strip_cookies

    assert strip_cookies("a=1; b=2") == "a=1; b=2"
    assert strip_cookies("a=1;jupyterhub-user-x=t;  b=2") == "a=1; b=2"
    assert strip_cookies("jhembed-oauth-retry=1") == ""
    # a proxy run by hand with JUPYTERHUB_CLIENT_ID=my-client: its cookie by name
    own = ("my-client",)
    assert strip_cookies(
        "my-client=t; my-client-oauth-state-1=s; my-client-oauth-retry=1; my-clientele=k", own
    ) == ("my-clientele=k")


@pytest.mark.parametrize(
    "query, found",
    [("token=1", True), ("%74oken=1", True), ("a=1&%74%6f%6b%65%6e=", True), ("a=1;token", True),
     ("tokens=1", False), ("mytoken=1", False), ("to+ken=1", False), ("%2574oken=1", False),
     ("TOKEN=1", False), ("", False)],
)  # fmt: skip
def test_has_param_compares_decoded_names(query, found):  # hole 4
    from jhembed.proxy.rules import has_param

    # decoded once, case kept: as tornado's query_arguments (which the login reads)
    assert has_param(query, "token") is found


def test_responses_without_a_body():  # hole 2
    from jhembed.proxy.rules import response_has_body

    assert not response_has_body("HEAD", 200) and not response_has_body("HEAD", 403)
    assert not response_has_body("GET", 204) and not response_has_body("GET", 304)
    assert not response_has_body("GET", 100) and response_has_body("GET", 200)


def test_app_output_and_command_lines_lose_their_secrets():
    from jhembed.proxy.rules import scrub_argv, scrub_text

    line = "  URL: http://localhost:1/user/x/marimo?access_token=v-87hYPa&x=1"
    assert scrub_text(line) == "  URL: http://localhost:1/user/x/marimo?access_token=[secret]&x=1"
    assert scrub_text('{"token": "abc123", "n": 1}') == '{"token": "[secret]", "n": 1}'
    assert scrub_text("password=hunter2 ok") == "password=[secret] ok"
    assert scrub_text("Token login for user alice") == "Token login for user alice"
    argv = ["marimo", "edit", "--token", "--token-password", "s3cret", "--headless",
            "--api-key=k", "--ServerApp.password=", "--port", "8"]  # fmt: skip
    assert scrub_argv(argv) == [
        "marimo", "edit", "--token", "--token-password", "[secret]", "--headless",
        "--api-key=[secret]", "--ServerApp.password=[secret]", "--port", "8",
    ]  # fmt: skip


def test_entry_point_resolved_as_jupyter_server_proxy_calls_it(tmp_path, monkeypatch):
    """The setup function runs with this process's environment; {base_url} is the server's prefix."""
    from fakedist import server_proxy_package

    from jhembed.proxy import entrypoints

    site = server_proxy_package(
        tmp_path / "site",
        "ep_demo",
        "import os\n"
        "def setup():\n"
        "    prefix = os.environ['JUPYTERHUB_SERVICE_PREFIX']\n"
        "    return {'command': lambda port, base_url: ['app', f'--port={port}', '--root', base_url,\n"
        "                                                '--prefix', '{base_url}demo', prefix + 'x'],\n"
        "            'environment': {'HOME_URL': '{base_url}demo'}, 'absolute_url': True,\n"
        "            'timeout': 7, 'launcher_entry': {'title': 'Demo'}, 'mappath': {'/': '/x'}}\n"
        "def broken():\n"
        "    raise RuntimeError('no config file')\n",
        {"demo": "ep_demo:setup", "broken": "ep_demo:broken"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    spec = entrypoints.resolve("demo", server_prefix="/user/ann/")
    assert spec == {
        "command": ["app", "--port={port}", "--root", "/user/ann/", "--prefix", "/user/ann/demo",
                    "/user/ann/x"],
        "environment": {"HOME_URL": "/user/ann/demo"},
        "absolute_url": True,
        "timeout": 7,
    }  # fmt: skip
    with pytest.raises(entrypoints.EntryPointError) as e:
        entrypoints.resolve("broken", server_prefix="/user/ann/")
    assert "entry point 'broken' (ep_demo:broken) failed in this server" in str(e.value)
    assert "RuntimeError: no config file" in str(e.value)
