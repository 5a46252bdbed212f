"""EmbedSpawner on a real JupyterHub: catalog, form, validation, named servers, presets."""

import asyncio
import html
import re
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import pytest_asyncio
from fakedist import server_proxy_package
from hub import Hub, get_authorized
from traitlets import TraitError
from traitlets.config import Config

from jhembed.apps import PRESETS, CatalogError, load_catalog, make_app
from jhembed.spawner import EmbedSpawner, SimpleEmbedSpawner

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")

CATALOG = f"""
c.JupyterHub.spawner_class = "embed-simple"
c.EmbedSpawner.apps = {{
    "echo": {{
        "display_name": "Echo <b>app</b>",
        "description": "Answers with <script>what it got</script>",
        "command": [{sys.executable!r}, {TESTAPP!r}, "--port", "{{port}}", "--start-delay", "{{delay}}"],
        "environment": {{"ECHO_MODE": "test"}},
        "options": {{
            "delay": {{"type": "int", "default": 0, "minimum": 0, "maximum": 2}},
            "mode": {{"type": "choice", "choices": ["fast", "slow"], "default": "fast"}},
            "label": {{"type": "string", "default": "", "regex": "[a-z]+", "max_length": 12}},
            "verbose": {{"type": "bool", "default": False}},
        }},
    }},
    "files": {{"preset": "http-server", "display_name": "Files"}},
}}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    """One Hub with CATALOG for the tests that need nothing else (users of their own)."""
    from hub import run_hub

    async with run_hub(tmp_path_factory.mktemp("catalog") / "hub", config=CATALOG) as hub:
        yield hub


shared_hub = pytest.mark.asyncio(loop_scope="module")


def embedproxy_processes(user, hub=None):
    """jupyter-embedproxy processes serving ``user``'s servers (of ``hub``, when given)."""
    found = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
        except psutil.Error:
            continue
        if hub is not None and f":{hub.hub_port}/" not in env.get("JUPYTERHUB_API_URL", ""):
            continue  # another Hub's server (tests running side by side)
        if "jupyter-embedproxy" in cmd and env.get("JUPYTERHUB_USER") == user:
            found.append(p)
    return found


# -- the catalog, without a Hub ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, entry, where",
    [
        ("Bad Name", {"command": ["x"]}, "c.EmbedSpawner.apps['Bad Name']"),
        ("x", {"command": []}, "c.EmbedSpawner.apps['x'].command"),
        ("x", {"command": ["a", "{nope}"]}, "c.EmbedSpawner.apps['x'].command"),
        ("x", {"command": ["a", "{port"]}, "c.EmbedSpawner.apps['x'].command"),
        ("x", {"command": ["a"], "options": {"o": {"regex": "("}}}, "c.EmbedSpawner.apps['x'].options['o'].regex"),
        ("x", {"command": ["a"], "options": {"o": {"type": "float"}}}, "c.EmbedSpawner.apps['x'].options['o'].type"),
        ("x", {"command": ["a"], "options": {"o": {"type": "choice"}}}, "c.EmbedSpawner.apps['x'].options['o'].choices"),
        ("x", {"command": ["a"], "options": {"port": {}}}, "c.EmbedSpawner.apps['x'].options['port']"),
        ("x", {"command": ["a"], "frame_ancestors": ["nope"]}, "c.EmbedSpawner.apps['x'].frame_ancestors"),
        ("x", {"command": ["a"], "colour": "red"}, "c.EmbedSpawner.apps['x'].colour"),
        ("x", {"preset": "emacs"}, "c.EmbedSpawner.apps['x'].preset"),
        ("x", {"command": ["a"], "ready_path": "health"}, "c.EmbedSpawner.apps['x'].ready_path"),
        ("x", {"command": ["a"], "cookie_samesite": "sometimes"}, "c.EmbedSpawner.apps['x'].cookie_samesite"),
    ],
)  # fmt: skip
def test_bad_catalog_entries_name_the_field(name, entry, where):
    with pytest.raises(CatalogError) as e:
        make_app(name, entry)
    assert str(e.value).startswith(where), str(e.value)


def test_presets_and_server_proxy_entries():
    catalog = load_catalog({name: name for name in PRESETS}, include_entry_points=False)
    assert set(catalog) == set(PRESETS)
    # a jupyter-server-proxy `servers` entry pasted unchanged, with a callable command
    app = make_app(
        "code",
        {
            "command": lambda port, base_url: ["code-server", f"--bind-addr=127.0.0.1:{port}"],
            "environment": {"A": "1"},
            "timeout": 20,
            "absolute_url": False,
            "launcher_entry": {"title": "VS Code", "icon_path": "/x.svg"},
            "new_browser_tab": True,
        },
    )
    assert app.command == ["code-server", "--bind-addr=127.0.0.1:{port}"]
    assert app.label == "VS Code" and app.timeout == 20 and app.environment == {"A": "1"}


def test_option_values_cannot_inject():
    app = make_app("v", "voila")
    notebook = app.options["notebook"]
    for bad in [
        "{port}",
        "../x.ipynb",
        "/etc/x.ipynb",
        "--Voila.x=1.ipynb",
        "a\nb.ipynb",
        "x.py",
        "a;rm -rf.ipynb",
    ]:
        with pytest.raises(ValueError):
            notebook.convert(bad)
    assert app.expand({"notebook": "dir/my nb.ipynb"})[-1] == "dir/my nb.ipynb"


@pytest.mark.parametrize(
    "spawner_config, entry, flags",
    [
        # the defaults: nothing on the command line, the proxy decides from frame_ancestors
        ({}, {}, []),
        ({"cookie_partitioned": False}, {}, ["--no-cookie-partitioned"]),
        ({"cookie_partitioned": False}, {"cookie_partitioned": True}, ["--cookie-partitioned"]),
        ({}, {"cookie_partitioned": False}, ["--no-cookie-partitioned"]),
        ({"cookie_samesite": "lax"}, {}, ["--cookie-samesite", "lax"]),
        ({"cookie_samesite": "Lax"}, {"cookie_samesite": "strict"}, ["--cookie-samesite", "Strict"]),
    ],
)  # fmt: skip
def test_cookie_settings_reach_the_proxy(spawner_config, entry, flags):
    spawner = EmbedSpawner(config=Config({"EmbedSpawner": spawner_config}))
    app = make_app("x", {"command": ["a"], **entry}).check()
    got = spawner.proxy_flags(app)
    cookie_flags = [
        f for i, f in enumerate(got) if "cookie" in f or (i and got[i - 1] == "--cookie-samesite")
    ]
    assert cookie_flags == flags


def test_bad_spawner_cookie_samesite_names_the_setting():
    with pytest.raises(TraitError) as e:
        EmbedSpawner(config=Config({"EmbedSpawner": {"cookie_samesite": "sometimes"}}))
    assert "c.EmbedSpawner.cookie_samesite" in str(e.value)


def test_compositions_share_the_config_section():
    assert "EmbedSpawner" in SimpleEmbedSpawner.section_names()
    assert SimpleEmbedSpawner.section_names()[-1] == "SimpleEmbedSpawner"
    assert EmbedSpawner.section_names()[-1] == "EmbedSpawner"


# -- on a real Hub --------------------------------------------------------------------------------


async def wait_stopped(hub, user, server_name="", timeout=30):
    """Wait until the Hub no longer lists the server (a DELETE may answer before it stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        status, model = await hub.api("GET", f"users/{user}")
        assert status == 200, model
        if server_name not in model["servers"]:
            return
        assert time.monotonic() < deadline, f"{user}/{server_name} still running: {model}"
        await asyncio.sleep(0.1)


async def stored_server(hub, user, server_name=""):
    """What the Hub keeps of a stopped server: its user_options and spawner state."""
    status, model = await hub.api("GET", f"users/{user}?include_stopped_servers=1")
    assert status == 200, model
    server = model["servers"][server_name]
    return {"user_options": server["user_options"], "state": server.get("state")}


BAD_OPTIONS = [
    {"app": "nope"},
    {"app": 5},
    {"app": ["echo"]},
    {"app": "echo", "extra": 1},
    {"app": "echo", "cmd": ["sh"]},
    {"app": "echo", "args": ["--no-authentication"]},
    {"app": "echo", "environment": {"LD_PRELOAD": "x"}},
    {"app": "echo", "delay": "soon"},
    {"app": "echo", "delay": 3},
    {"app": "echo", "delay": -1},
    {"app": "echo", "delay": True},
    {"app": "echo", "delay": 1.5},
    {"app": "echo", "delay": "{port}"},
    {"app": "echo", "mode": "medium"},
    {"app": "echo", "mode": 1},
    {"app": "echo", "label": "UPPER"},
    {"app": "echo", "label": "waytoolongforthis"},
    {"app": "echo", "label": "{base_url}"},
    {"app": "echo", "label": "a b"},
    {"app": "echo", "label": ["a"]},
    {"app": "echo", "verbose": "perhaps"},
    {"app": "echo", "verbose": 2},
    {"app": "echo", "label": "x" * 100000},
    {"app": "files", "delay": 1},
    {"app": "echo", "label": "--rm"},
    {"app": "échø"},
]


@pytest.mark.slow
@shared_hub
async def test_rest_api_validation_and_spawn(hub):
    await hub.create_user("alice")
    await hub.spawn("alice", user_options={"app": "files"})
    await hub.api("DELETE", "users/alice/server")
    await wait_stopped(hub, "alice")
    good = await stored_server(hub, "alice")
    assert good["user_options"] == {"app": "files"}, good
    for bad in BAD_OPTIONS:
        status, body = await hub.api("POST", "users/alice/server", json_body=hub.spawn_body(bad))
        assert status == 400, (bad, status, body)
        key = next((k for k in bad if k != "app"), "app")
        assert isinstance(body, dict) and body["message"], body
        if isinstance(bad.get("app"), str) and bad["app"] in ("echo", "files"):
            assert key[:20] in body["message"] or "larger than" in body["message"], (bad, body)
        status, user = await hub.api("GET", "users/alice")
        assert user["servers"] == {}, (bad, user["servers"])
        # the last good options are kept, not the refused ones
        assert await stored_server(hub, "alice") == good, bad
    assert not embedproxy_processes("alice", hub)
    # JupyterHub 5 style body (user_options at the top level) goes through the same check
    status, body = await hub.api(
        "POST", "users/alice/server", json_body={"app": "echo", "mode": "x"}
    )
    assert status == 400 and "mode" in body["message"]

    url = await hub.spawn("alice", user_options={"app": "echo", "mode": "slow", "delay": 1})
    async with hub.login("alice") as s:
        status, _, text = await get_authorized(s, url + "echo")
        assert status == 200, text
    procs = embedproxy_processes("alice", hub)
    assert len(procs) == 1
    argv = procs[0].cmdline()
    sep = argv.index("--")
    assert argv[sep + 1 :] == [sys.executable, TESTAPP, "--port", "{port}", "--start-delay", "1"]
    assert "--app-name" in argv and argv[argv.index("--app-name") + 1] == "echo"
    assert procs[0].environ()["ECHO_MODE"] == "test"


@pytest.mark.slow
@shared_hub
async def test_options_form_and_query(hub):
    await hub.create_user("abe")
    async with hub.login("abe") as s:
        async with s.get(hub.url + "hub/spawn") as r:
            page = await r.text()
        # escaped, both apps offered, defaults preselected
        assert (
            "Echo &lt;b&gt;app" in page and "&lt;script&gt;" in page and "<script>what" not in page
        )
        assert page.count('name="app"') == 2
        assert 'name="echo.mode"' in page and 'value="fast" selected' in page
        # the Hub puts its _xsrf token in the form's action URL
        action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))
        action = f"http://127.0.0.1:{hub.port}{action}" if action.startswith("/") else action
        # a bad value: the form shows the error, nothing starts
        async with s.post(action, data={"app": "echo", "echo.delay": "7"}) as r:
            text = await r.text()
            assert "must be at most 2" in text
        status, user = await hub.api("GET", "users/abe")
        assert user["servers"] == {}
        assert not embedproxy_processes("abe", hub)
        # fields of the other app are ignored; the chosen app starts
        async with s.post(
            action,
            data={
                "app": "echo",
                "echo.delay": "0",
                "echo.label": "abc",
                "files.x": "1",
            },
        ) as r:
            assert r.status == 200
        url = await hub.wait_ready("abe")
        status, _, text = await get_authorized(s, url + "echo")
        assert status == 200
        await hub.api("DELETE", "users/abe/server")
        await wait_stopped(hub, "abe")
        # query options (JupyterHub 6 opt- prefix); a bad one is not started
        async with s.get(hub.url + "hub/spawn?opt-app=echo&opt-mode=slow") as r:
            await r.text()
        url = await hub.wait_ready("abe")
        status, user = await hub.api("GET", "users/abe")
        assert user["servers"][""]["user_options"] == {"app": "echo", "mode": "slow"}


@pytest.mark.slow
async def test_named_server_per_app_and_entry_points(hub_factory, tmp_path):
    # a tiny package registering a jupyter-server-proxy app, installed for the Hub
    site = server_proxy_package(
        tmp_path / "site",
        "hello_ep",
        textwrap.dedent(
            """
            import sys
            import os
            def setup_hello():
                return {"command": [sys.executable, "-m", "http.server", "{port}"],
                        "launcher_entry": {"title": "Hello from an entry point"}}
            def setup_picky():
                if "JUPYTERHUB_SERVICE_PREFIX" in os.environ:  # in the user's server
                    raise RuntimeError("no picky.yml in the home directory")
                return {"command": ["true"], "launcher_entry": {"title": "Picky"}}
            """
        ),
        {"hello": "hello_ep:setup_hello", "picky": "hello_ep:setup_picky"},
    )
    config = CATALOG + "c.EmbedSpawner.app_from_server_name = True\n"
    hub = await hub_factory(config, env={"PYTHONPATH": str(site)})
    await hub.create_user("bob")
    async with hub.login("bob") as s:
        # /hub/spawn/bob/files starts the files app, no form
        async with s.get(hub.url + "hub/spawn/bob/files") as r:
            await r.text()
        url = await hub.wait_ready("bob", "files")
        status, _, text = await get_authorized(s, url)
        assert status == 200 and "Directory listing" in text
        # the entry point app is in the catalog and starts
        async with s.get(hub.url + "hub/spawn/bob/hello") as r:
            await r.text()
        url = await hub.wait_ready("bob", "hello")
        # served where jupyter-server-proxy would: under <server prefix>hello/
        status, final, text = await get_authorized(s, url)
        assert status == 200 and "Directory listing" in text
        assert str(final).endswith("/user/bob/hello/hello/"), final
    # an entry point whose setup fails in the server: the spawn fails saying so
    with pytest.raises(AssertionError):
        await hub.spawn("bob", "picky", user_options={"app": "picky"}, timeout=30)
    # the Hub's own error line (what the spawn page and the REST API show), not only the
    # proxy's stderr, names the reason
    failures = [line for line in hub.log_text().splitlines() if "Picky did not start" in line]
    assert failures and all("no picky.yml in the home directory" in f for f in failures), (
        failures or hub.log_tail(40)
    )
    # a server named after an app cannot run another app
    status, body = await hub.api(
        "POST", "users/bob/servers/echo", json_body=hub.spawn_body({"app": "files"})
    )
    assert status == 400 and "runs the app 'echo'" in body["message"]


BAD_CONFIGURE = """
import jhembed

jhembed.configure(
    c,
    spawner="embed-simple",
    apps={"files": "http-server", "broken": {"command": ["x", "{what}"]}},
)
"""


@pytest.mark.slow
@pytest.mark.hub
async def test_bad_catalog_stops_the_hub(tmp_path):
    """The documented way (jhembed.configure): the Hub exits while it loads its config."""
    hub = Hub(tmp_path / "hub", config=BAD_CONFIGURE)
    with pytest.raises(RuntimeError) as e:
        await hub.start(timeout=60)
    await hub.stop()
    assert hub.proc.returncode == 1, str(e.value)
    log = hub.log_text()
    assert (
        "Bad config encountered during initialization: "
        "c.EmbedSpawner.apps['broken'].command: unknown placeholder {what}"
    ) in log, log
    assert "JupyterHub is now running" not in log and "Starting proxy" not in log, log


@pytest.mark.slow
async def test_jupyterlab_preset_runs_a_cell(hub_factory):
    hub = await hub_factory(
        'import jhembed\njhembed.configure(c, spawner="embed-simple", apps={"lab": "jupyterlab"})\n'
    )
    await hub.create_user("carol")
    url = await hub.spawn("carol", user_options={"app": "lab"}, timeout=120)
    async with hub.login("carol") as s:
        status, _, page = await get_authorized(s, url + "lab")
        assert status == 200 and "JupyterLab" in page
        xsrf = next(
            (
                c.value
                for c in s.cookie_jar
                if c.key == "_xsrf" and c["path"].startswith("/user/carol")
            ),
            None,
        )
        assert xsrf, list(s.cookie_jar)
        headers = {"X-XSRFToken": xsrf}
        async with s.post(url + "api/kernels", json={"name": "python3"}, headers=headers) as r:
            assert r.status == 201, await r.text()
            kernel = await r.json()
        ws_url = "ws" + url[4:] + f"api/kernels/{kernel['id']}/channels?session_id=t"
        from test_hub_auth import _KernelChannel

        async with s.ws_connect(ws_url, origin=url.split("/user/")[0]) as ws:
            channel = _KernelChannel(ws)
            msg_id = await channel.send(
                "execute_request",
                {"code": "1+1", "silent": False, "store_history": False, "user_expressions": {},
                 "allow_stdin": False, "stop_on_error": True},
            )  # fmt: skip
            result = await channel.next("execute_result", parent=msg_id, timeout=60)
            assert result["content"]["data"]["text/plain"] == "2"
        # the page is framable only as configured (default 'self'), whatever Lab sends itself
        async with s.get(url + "lab") as r:
            csp = r.headers.getall("Content-Security-Policy")
            assert any("frame-ancestors 'self'" in v for v in csp)
            assert all("frame-ancestors 'none'" not in v for v in csp)
    assert kernel["name"] == "python3", kernel


def test_server_token_scopes_add_reading_the_servers_shares():
    """The Hub's 'server' role (from the database when there is one) plus read:shares!server,
    which the proxy needs to admit members of a group the server is shared with."""
    from jhembed.spawner import _server_token_scopes

    spawner = EmbedSpawner()
    assert spawner.server_token_scopes is _server_token_scopes
    assert _server_token_scopes(spawner) == [
        "users:activity!user",
        "access:servers!server",
        "read:shares!server",
    ]
