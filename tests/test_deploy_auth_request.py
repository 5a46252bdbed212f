"""jhembed-auth's decisions that need no Hub: paths, scopes per path, options.
(The service against a real Hub and nginx: test_deploy_nginx.py.)"""

import pytest
from traitlets import TraitError

from jhembed.auth_request import AuthRequest, _clean_path, next_from_query

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "uri, path",
    [
        ("/reports/a.html?x=1", "/reports/a.html"),
        ("/reports/a%20b/", "/reports/a b/"),
        ("/", "/"),
        ("/reports/../user/alice/", None),
        ("/reports/%2e%2e/user/alice/", None),
        ("/reports/./a", None),
        ("/reports//a", None),
        ("/user/alice%2Fbob/", None),
        ("/a%5Cb", None),
        ("relative", None),
        ("http://evil.example/user/alice/", None),
        ("/a%00b", None),
    ],
)
def test_only_normal_paths_are_judged(uri, path):
    assert _clean_path(uri) == path


def test_scopes_per_path():
    app = AuthRequest(
        hub_base_url="/jupyter/", rules={"/reports/": ["custom:r"], "/reports/open/": []}
    )
    assert app.required_scopes("/jupyter/user/alice/") == {"access:servers!server=alice/"}
    assert app.required_scopes("/jupyter/user/alice") == {"access:servers!server=alice/"}
    assert app.required_scopes("/jupyter/user/alice/lab/tree") == {
        "access:servers!server=alice/",
        "access:servers!server=alice/lab",
    }
    assert app.required_scopes("/jupyter/user//") is None
    assert app.required_scopes("/reports/x") == {"custom:r"}
    assert app.required_scopes("/reports/open/x") == set()  # any Hub user
    assert app.required_scopes("/elsewhere") is None  # no rule: refused
    assert app.required_scopes("/user/alice/") is None  # not under the Hub's base URL
    app.server_rules = False
    assert app.required_scopes("/jupyter/user/alice/") is None


def test_next_stays_on_the_site():
    app = AuthRequest()
    app.hub_auth = type("H", (), {"hub_prefix": "/hub/"})()
    assert app.safe_next("/reports/a?b=1&c=2") == "/reports/a?b=1&c=2"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example", ""):
        assert app.safe_next(bad) == "/hub/home"


# next= values a browser could turn into another site: a tab, CR or LF is dropped
# by browsers, so "/\t/evil.example" becomes "//evil.example" (hole 7 of the seam)
NASTY_NEXT = [
    "/\t/evil.example", "/%09/evil.example", "%2F%09%2Fevil.example", "/\r/evil.example",
    "/%0d/evil.example", "/\n/evil.example", "/%0A/evil.example", "/\x00/evil.example",
    "/%00/evil.example", "/\x7f/evil.example", "/%C2%85/evil.example", "/\\evil.example",
    "/%5Cevil.example", "%2F%5Cevil.example", "\\\\evil.example", "%2F%2Fevil.example",
    "/%2F/evil.example", "/%2f%2fevil.example", "/%252F/evil.example", "//evil.example",
    "/\u3000/evil.example", "/%E3%80%80/evil.example", "/\u00a0/evil.example",
    "/%C2%A0/evil.example", "/\u2028/evil.example", "/%E2%80%AE/evil.example",
    "/%E2%80%8B/evil.example", " /evil.example", "/ /evil.example", "/\t", "%09/evil.example",
    "https://evil.example/", "javascript:alert(1)",
]  # fmt: skip


@pytest.mark.parametrize("bad", NASTY_NEXT)
def test_next_with_control_characters_or_whitespace_refused(bad):  # hole 7
    app = AuthRequest()
    app.hub_auth = type("H", (), {"hub_prefix": "/hub/"})()
    assert app.safe_next(bad) == "/hub/home"
    assert app.safe_next(next_from_query("next=" + bad)) == "/hub/home"


def test_next_from_the_query_decoded_once_when_encoded():  # hole 7
    app = AuthRequest()
    app.hub_auth = type("H", (), {"hub_prefix": "/hub/"})()
    for query, target in (
        ("next=/reports/a%20b.html?x=1&y=2", "/reports/a%20b.html?x=1&y=2"),
        ("next=%2Freports%2Fa.html", "/reports/a.html"),
        ("next=/user/alice/lab/tree/%C3%A9.ipynb", "/user/alice/lab/tree/%C3%A9.ipynb"),
        ("x=1", "/hub/home"),
    ):
        assert app.safe_next(next_from_query(query)) == target


def test_options_are_checked_and_named():
    with pytest.raises(TraitError, match="AuthRequest.rules"):
        AuthRequest(rules={"reports/": []})
    with pytest.raises(TraitError, match="AuthRequest.cache_max_age"):
        AuthRequest(cache_max_age=-1)
    with pytest.raises(TraitError, match="AuthRequest.prefix"):
        AuthRequest(prefix="services/x/")
    assert AuthRequest(prefix="/services/x").prefix == "/services/x/"
    assert AuthRequest(hub_base_url="/jupyter").hub_base_url == "/jupyter/"


def test_defaults_come_from_the_hub_environment(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:12345")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/jupyter/services/jhembed-auth/")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/jupyter/")
    app = AuthRequest()
    assert app.service_url == "http://127.0.0.1:12345"
    assert app.prefix == "/jupyter/services/jhembed-auth/"
    assert app.hub_base_url == "/jupyter/"


def test_every_option_has_help():
    for name, trait in AuthRequest.class_own_traits(config=True).items():
        assert (trait.help or "").strip(), f"AuthRequest.{name} has no help"
