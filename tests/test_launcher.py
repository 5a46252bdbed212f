"""The launcher service (/services/apps/) on a real JupyterHub: catalog, my apps, sharing.

One Hub for the module (alice, bob, carol in group "team", dave); the apps are
tests/testapp.py, which starts in well under a second. Every page is driven
the way a browser without JavaScript would: GET pages, POST forms with the
``_xsrf`` field.
"""

import asyncio
import datetime
import html
import json
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import aiohttp
import psutil
import pytest
import pytest_asyncio
from aiohttp import web
from browser import ARTIFACTS, launch_browser, serve
from hub import free_port, get_authorized

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")
ECHO = [sys.executable, TESTAPP, "--port", "{port}"]
CHATTY = [
    "sh", "-c",
    'echo "warming up"; echo "hub token: $JUPYTERHUB_API_TOKEN"; echo "password=hun""ter2";'
    ' exec "$0" "$@"',
]  # fmt: skip
CUSTOM_ERROR = """{% extends "page.html" %}{% block main %}
<p id="custom">Our own error page</p><p id="message">{{ message }}</p>{% endblock %}"""


def templates_env(directory, host_origin="http://localhost:1"):
    """The environment that points the test Hub's launcher at an error.html of ours,
    and lets ``host_origin`` frame the app "framed"."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "error.html").write_text(CUSTOM_ERROR)
    return {"TEST_LAUNCHER_TEMPLATES": str(directory), "TEST_HOST_ORIGIN": host_origin}


CONFIG = f"""
import os
import jhembed, jhembed.launcher
jhembed.configure(
    c,
    spawner="embed-simple",
    apps={{
        "echo": {{
            "display_name": "Echo <b>app</b>",
            "description": "Answers with <script>what it got</script>",
            "command": {ECHO!r} + ["--start-delay", "{{delay}}"],
            "tags": ["test"],
            "thumbnail": "voila.svg",
            "options": {{
                "delay": {{"type": "int", "default": 0, "minimum": 0, "maximum": 2}},
                "mode": {{"type": "choice", "choices": ["fast", "slow"], "default": "fast"}},
            }},
            "frame_ancestors": ["'self'", "https://host.example"],
        }},
        "board": {{"command": {ECHO!r}, "viewers_may_start": True, "keep_alive": True}},
        "open": {{"command": {ECHO!r}, "public": True}},
        # shared with a 60 s share code as the module starts (the `early_code` fixture)
        "coded": {{"command": {ECHO!r}}},
        # prints while it starts, secrets among it
        "chatty": {{"command": {CHATTY!r} + {ECHO!r} + ["--start-delay", "2"]}},
        # revoked shares take effect after the proxy's token cache: 1 s here
        "plain": {{
            "command": {ECHO!r} + ["--start-delay", "{{delay}}"],
            "options": {{"delay": {{"type": "int", "default": 0, "minimum": 0, "maximum": 2}}}},
            "proxy_args": ["--auth-cache-max-age", "1"],
        }},
        # shared with group "team" (test_group_share_opens_the_server); 1 s cache too
        "grouped": {{"command": {ECHO!r}, "proxy_args": ["--auth-cache-max-age", "1"]}},
        # another site (a host page on http://localhost:<port>) may frame it, with token login
        "framed": {{
            "command": {ECHO!r},
            "frame_ancestors": ["'self'", os.environ["TEST_HOST_ORIGIN"]],
            "allow_token_login": True,
        }},
    }},
)
# the admin's own templates (here: error.html only) win over the shipped ones
jhembed.launcher.configure(
    c,
    template_dir=os.environ["TEST_LAUNCHER_TEMPLATES"],
    options={{"share_code_expiry": [60, 3600, 86400]}},
)
c.JupyterHub.load_groups = {{"team": {{"users": ["carol", "alice"]}}}}
"""
USERS = ["alice", "bob", "carol", "dave"]  # alice and carol are in group "team"

hub_test = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    from hub import run_hub

    base = tmp_path_factory.mktemp("launcher")
    host_port = free_port()
    host_origin = f"http://localhost:{host_port}"
    env = templates_env(base / "templates", host_origin)
    async with run_hub(base / "hub", config=CONFIG, env=env) as hub:
        hub.host_port, hub.host_origin = host_port, host_origin
        for name in USERS:
            await hub.create_user(name)
        hub.launcher = hub.url + "services/apps/"
        yield hub


class Page:
    """A logged-in user's view of the launcher: GET pages, POST its forms."""

    def __init__(self, hub, session):
        self.hub, self.s, self.xsrf = hub, session, None

    async def get(self, path=""):
        status, final, text = await get_authorized(self.s, self.hub.launcher + path)
        m = re.search(r'name="_xsrf" value="([^"]+)"', text)
        if m:
            self.xsrf = html.unescape(m.group(1))
        return status, text

    async def post(self, path, data, xsrf=True):
        if self.xsrf is None:
            await self.get()
        data = dict(data)
        if xsrf:
            data["_xsrf"] = self.xsrf
        async with self.s.post(self.hub.launcher + path, data=data) as r:
            return r.status, await r.text()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def early_code(hub):
    """A share code of alice's "coded" server with JupyterHub's shortest expiry (60 s),
    made through the launcher by the module's first test; bob accepts it before it
    expires and opens the server. The module's last test waits the expiry out."""
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        url = await start_with_launcher(hub, alice, "alice", "coded")
        status, text = await alice.get("share/coded")
        assert '<option value="60">1 minute</option>' in text, text
        status, text = await alice.post("share/coded", {"action": "code", "expires_in": "60"})
        assert status == 200, text
        accept = html.unescape(re.search(r'<pre id="new-code">([^<]+)</pre>', text).group(1))
    status, codes = await hub.api("GET", "share-codes/alice/coded")
    assert status == 200, codes
    (code,) = codes["items"]
    expires = datetime.datetime.fromisoformat(code["expires_at"].replace("Z", "+00:00"))
    assert 0 < (expires - now()).total_seconds() <= 60, code
    assert await opens(hub, "bob", url) == 403
    assert await accept_code(hub, "bob", accept) == 200
    assert await opens(hub, "bob", url) == 200
    return SimpleNamespace(url=url, accept=accept, expires=expires)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


async def accept_code(hub, user, accept):
    """``user`` accepts a share code on the Hub's page: the status of the acceptance
    (the page's own when it refuses the code)."""
    async with hub.login(user) as s:
        async with s.get(accept) as r:
            page = await r.text()
            if r.status != 200:
                return r.status
        form = {
            "_xsrf": html.unescape(re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)),
            "code": html.unescape(re.search(r'name="code" value="([^"]+)"', page).group(1)),
        }
        async with s.post(accept, data=form) as r:
            return r.status


def message(text):
    m = re.search(r'id="message"[^>]*>([^<]*)<', text)
    return html.unescape(m.group(1)) if m else ""


async def servers(hub, user):
    status, model = await hub.api("GET", f"users/{user}")
    assert status == 200, model
    return model["servers"]


async def wait_ready(hub, user, name, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        server = (await servers(hub, user)).get(name)
        if server and server.get("ready"):
            return f"http://127.0.0.1:{hub.port}{server['url']}"
        assert time.monotonic() < deadline, f"{user}/{name} not ready: {server}"
        await asyncio.sleep(0.2)


@hub_test
async def test_catalog_start_progress_stop(hub, early_code):
    # (early_code: first of all, so that the module's last test waits out less of its expiry)
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        status, text = await alice.get()
        assert status == 200, text
        # catalog: escaped names, description, tag, thumbnail, options
        assert 'id="custom"' not in text  # the shipped index.html: only error.html is ours
        assert "Echo &lt;b&gt;app" in text and "&lt;script&gt;what" in text
        assert "<script>what" not in text
        assert '<span class="tag">test</span>' in text
        assert "/services/apps/static/thumbnails/voila.svg" in text
        assert 'name="mode"' in text and 'name="delay"' in text
        async with s.get(hub.launcher + "static/thumbnails/voila.svg") as r:
            assert r.status == 200 and "<svg" in await r.text()
        # start with an option: redirected to the progress page
        status, text = await alice.post("start/echo", {"delay": "2", "mode": "slow"})
        assert status == 200, text
        assert "Starting" in text  # the progress page, while the app takes 2 s
        # the Hub's progress events, relayed for the owner as they come
        events = []
        async with s.get(hub.launcher + "progress/echo") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for line in r.content:
                if line.startswith(b"data:"):
                    events.append((time.monotonic(), json.loads(line[5:])))
        assert events[-1][1]["ready"], events
        assert events[-1][0] - events[0][0] > 0.5, "events came all at once, not live"
        url = await wait_ready(hub, "alice", "echo")
        model = (await servers(hub, "alice"))["echo"]
        assert model["user_options"] == {"app": "echo", "delay": "2", "mode": "slow"}
        status, text = await alice.get()
        assert 'data-state="ready"' in text and f'href="{model["url"]}"' in text
        # (echo may be framed by another site: its cookies are Secure, which this
        # plain-http client does not send back; opening is tested with "plain")
        # embed: the iframe snippet with the server's URL, the allowed frame-ancestors
        status, text = await alice.get("embed/echo")
        assert status == 200
        assert f"&lt;iframe src=&#34;{url}" in text or f'&lt;iframe src="{url}' in text, text
        assert "https://host.example" in text and "start_server" in text
        # stop
        status, text = await alice.post("stop/echo", {})
        assert status == 200
        deadline = time.monotonic() + 20
        while (await servers(hub, "alice")).get("echo", {}).get("ready"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)


async def start_with_launcher(hub, page, user, name, options=None):
    status, text = await page.post(f"start/{name}", options or {})
    assert status == 200, text
    return await wait_ready(hub, user, name)


async def opens(hub, user, url):
    """The status ``user`` gets for the server at ``url`` (a fresh browser session)."""
    async with hub.login(user) as s:
        status, _, text = await get_authorized(s, url + "echo")
        return status


async def revoke(hub, owner, app, kind, name):
    """``owner`` revokes the share of ``app`` with user or group ``name`` on the launcher's
    share page; the page's (status, text)."""
    async with hub.login(owner) as s:
        page = Page(hub, s)
        await page.get(f"share/{app}")
        return await page.post(f"share/{app}", {"action": "revoke", "kind": kind, "name": name})


def share_rows(text):
    return set(re.findall(r'<tr data-kind="(user|group)" data-name="([^"]+)"', text))


def shared_with_me(text):
    return set(re.findall(r'<tr data-owner="([^"]+)" data-server="([^"]+)"', text))


@hub_test
async def test_sharing_with_users_groups_and_codes(hub):
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        url = await start_with_launcher(hub, alice, "alice", "plain")
        # before sharing: only alice
        status, text = await alice.get("share/plain")
        assert status == 200 and share_rows(text) == set()
        status, text = await alice.post(
            "share/plain", {"action": "share", "users": "bob", "groups": "team"}
        )
        assert status == 200, text
        assert message(text) == "Shared with bob, group team"
        assert share_rows(text) == {("user", "bob"), ("group", "team")}
        # alice is in "team" too: her own server is not "shared with" her
        status, text = await alice.get()
        assert ("alice", "plain") not in shared_with_me(text)
    # bob sees it under "shared with me" and opens it
    async with hub.login("bob") as s:
        bob = Page(hub, s)
        status, text = await bob.get()
        assert ("alice", "plain") in shared_with_me(text)
        assert 'href="/user/alice/plain/"' in text
    assert await opens(hub, "bob", url) == 200
    # carol (group team) sees it too
    async with hub.login("carol") as s:
        status, text = await Page(hub, s).get()
        assert ("alice", "plain") in shared_with_me(text) and "(group team)" in text
    # dave sees nothing of alice's and may not open it
    async with hub.login("dave") as s:
        dave = Page(hub, s)
        status, text = await dave.get()
        assert status == 200 and "alice" not in text
        status, text = await dave.get("share/plain")
        assert status == 404  # dave has no server "plain"; alice's is not his to see
    assert await opens(hub, "dave", url) == 403
    # revoke bob: refused once the proxy's cache (1 s here) has expired
    status, text = await revoke(hub, "alice", "plain", "user", "bob")
    assert status == 200 and share_rows(text) == {("group", "team")}, text
    async with hub.login("bob") as s:
        status, text = await Page(hub, s).get()
        assert ("alice", "plain") not in shared_with_me(text)
    await asyncio.sleep(1.5)
    assert await opens(hub, "bob", url) == 403
    # a share code: dave accepts it on the Hub's page, then may open the server
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        await alice.get("share/plain")
        status, text = await alice.post("share/plain", {"action": "code", "expires_in": "3600"})
        assert status == 200, text
        accept = html.unescape(re.search(r'<pre id="new-code">([^<]+)</pre>', text).group(1))
        assert "/hub/accept-share?code=" in accept
        assert len(re.findall(r'<tr data-id="sc_', text)) == 1
    # the code carries the chosen expiry to the Hub (waiting one out: the module's last test)
    status, codes = await hub.api("GET", "share-codes/alice/plain")
    assert status == 200, codes
    (code,) = codes["items"]
    left = datetime.datetime.fromisoformat(code["expires_at"].replace("Z", "+00:00")) - now()
    assert 3500 < left.total_seconds() <= 3600, code
    assert await accept_code(hub, "dave", accept) == 200
    async with hub.login("dave") as s:
        status, text = await Page(hub, s).get()
        assert ("alice", "plain") in shared_with_me(text)
    assert await opens(hub, "dave", url) == 200


@hub_test
async def test_group_share_opens_the_server(hub):
    """alice shares "grouped" with group "team" (carol and alice): carol opens it, dave
    (not in the group) does not; revoked, carol is refused within the proxy's cache time.

    JupyterHub leaves group shares out of the OAuth token's scopes, so the proxy asks
    the Hub for the server's shares (proxy/group_shares.py)."""
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        url = await start_with_launcher(hub, alice, "alice", "grouped")
        status, text = await alice.post("share/grouped", {"action": "share", "groups": "team"})
        assert status == 200 and share_rows(text) == {("group", "team")}, text
    # the server's token (EmbedSpawner.server_token_scopes) reads this server's shares only
    status, body = await hub.api("GET", "users/alice/tokens")
    assert status == 200, body
    (token,) = [t for t in body["api_tokens"] if t["note"] == "Server at /user/alice/grouped/"]
    assert "read:shares!server=alice/grouped" in token["scopes"], token
    assert "access:servers!server=alice/grouped" in token["scopes"], token  # the Hub's role
    assert not [s for s in token["scopes"] if s.startswith("read:shares") and "grouped" not in s]
    assert await opens(hub, "carol", url) == 200
    # an API token of carol's has no access scope for it: a group share does not add one
    status, body = await hub.api("POST", "users/carol/tokens", json_body={"note": "t"})
    assert status == 201, body
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"token {body['token']}"}
        async with s.get(url + "echo", headers=headers, allow_redirects=False) as r:
            assert r.status == 403, await r.text()
    assert await opens(hub, "dave", url) == 403
    assert await opens(hub, "bob", url) == 403
    # revoke: carol refused once the proxy's cache (1 s here) has expired
    status, text = await revoke(hub, "alice", "grouped", "group", "team")
    assert status == 200 and share_rows(text) == set(), text
    await asyncio.sleep(1.5)
    assert await opens(hub, "carol", url) == 403


def nothing_shared(text):
    return share_rows(text) == set()


@hub_test
async def test_hostile_input_is_refused(hub):
    async with hub.login("bob") as s:
        bob = Page(hub, s)
        await bob.get()
        # unknown apps, wherever an app is named
        for path in ["start/nope", "stop/nope", "share/nope", "viewer-start/alice/nope"]:
            status, text = await bob.post(path, {})
            assert status == 404 and "No app named 'nope'" in html.unescape(text), (path, status)
        for path in [
            "start/nope",
            "embed/nope",
            "progress/nope",
            "share/nope",
            "start/..%2f..%2fhub",
        ]:
            status, text = await bob.get(path)
            assert status == 404, (path, status)
            assert 'id="custom"' in text  # the admin's error.html, in the shipped page.html
        # bad options: the spawner's own messages, nothing started
        for options, expected in [
            ({"delay": "7"}, "user_options['delay']: must be at most 2"),
            ({"delay": "soon"}, "user_options['delay']: must be an integer"),
            ({"mode": "medium"}, "user_options['mode']: must be one of 'fast', 'slow'"),
            ({"extra": "1"}, "user_options['extra']: not an option of app 'echo'"),
            (
                {"app": "plain"},
                "user_options['app']: server 'echo' runs the app 'echo', not 'plain'",
            ),
        ]:
            status, text = await bob.post("start/echo", options)
            assert status == 400 and message(text).startswith(expected), (options, text)
        # CSRF: a form without the _xsrf field is refused before anything happens
        for path in ["start/echo", "stop/echo", "share/echo", "viewer-start/alice/board",
                     "leave/alice/plain"]:  # fmt: skip
            status, text = await bob.post(path, {"action": "share", "users": "dave"}, xsrf=False)
            assert status == 403, (path, text)
        assert "echo" not in await servers(hub, "bob")
        # bob has no server "plain": nothing to share, and alice's is not his
        status, text = await bob.post("share/plain", {"action": "share", "users": "dave"})
        assert status == 404, text
        # his own server, hostile share targets: 400, nothing shared
        await start_with_launcher(hub, bob, "bob", "plain")
        for form, expected in [
            ({"action": "share", "users": "nobody"}, "users: no user named 'nobody'"),
            ({"action": "share", "users": "dave nobody"}, "users: no user named 'nobody'"),
            ({"action": "share", "groups": "nogroup"}, "groups: no group named 'nogroup'"),
            ({"action": "share", "users": "../alice"}, "users: '../alice' is not a valid name"),
            ({"action": "share", "users": "", "groups": ""}, "users, groups: name at least one"),
            ({"action": "share", "users": "bob"}, "users: 'bob' is you"),
            ({"action": "revoke", "kind": "owner", "name": "dave"}, "revoke: give kind"),
            ({"action": "code", "expires_in": "5"}, "expires_in: one of"),
            ({"action": "revoke-code", "id": "1 OR 1"}, "id: '1 OR 1' is not a share code id"),
            ({"action": "steal"}, "action: 'steal' is not one of"),
        ]:
            status, text = await bob.post("share/plain", form)
            assert status == 400 and message(text).startswith(expected), (
                form,
                status,
                message(text),
            )
            assert nothing_shared(text), form
        status, text = await bob.post(
            "share/plain", {"action": "share", "users": "dave"}, xsrf=False
        )
        assert status == 403
        status, text = await bob.get("share/plain")
        assert nothing_shared(text) and "sc_" not in text
        # viewers_may_start: only for apps that allow it, only for servers shared with you
        status, text = await bob.post("viewer-start/alice/plain", {})
        assert status == 403 and "does not let viewers start" in html.unescape(text)
        status, text = await bob.post("viewer-start/alice/board", {})
        assert status == 403 and "alice/board is not shared with you" in html.unescape(text)
        assert "board" not in await servers(hub, "alice")


@hub_test
async def test_viewers_may_start(hub):
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        await start_with_launcher(hub, alice, "alice", "board")
        status, text = await alice.post("share/board", {"action": "share", "users": "bob"})
        assert status == 200, text
        status, text = await alice.post("stop/board", {})
        assert status == 200
    deadline = time.monotonic() + 20
    while "board" in await servers(hub, "alice"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    async with hub.login("dave") as s:  # not shared with dave
        status, text = await Page(hub, s).post("viewer-start/alice/board", {})
        assert status == 403
    assert "board" not in await servers(hub, "alice")
    async with hub.login("bob") as s:
        bob = Page(hub, s)
        status, text = await bob.get()
        assert 'action="/services/apps/viewer-start/alice/board"' in text
        status, text = await bob.post("viewer-start/alice/board", {})
        assert status == 200, text
    await wait_ready(hub, "alice", "board")
    assert "viewers_may_start: bob started alice/board" in hub.log_text()
    # bob gives the share up; the second time there is nothing to leave
    async with hub.login("bob") as s:
        bob = Page(hub, s)
        await bob.get()
        status, text = await bob.post("leave/alice/board", {})
        assert status == 200 and ("alice", "board") not in shared_with_me(text)
        status, text = await bob.post("leave/alice/board", {})
        assert status == 404 and message(text).startswith("alice/board is not shared with you")
    async with hub.login("alice") as s:  # (as in the sharing test: this one stands alone)
        alice = Page(hub, s)
        await start_with_launcher(hub, alice, "alice", "plain")
        status, text = await alice.post("share/plain", {"action": "share", "groups": "team"})
        assert status == 200, text
    async with hub.login("carol") as s:  # carol has "plain" through her group only
        carol = Page(hub, s)
        await carol.get()
        status, text = await carol.post("leave/alice/plain", {})
        assert status == 404 and "can only be revoked by its owner" in message(text)
        assert ("alice", "plain") in shared_with_me(text)


@hub_test
async def test_public_app_needs_no_login_others_do(hub):
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        status, text = await alice.get()
        assert '<span class="tag public"' in text  # users are told before they start it
        public = await start_with_launcher(hub, alice, "alice", "open")
        private = await start_with_launcher(hub, alice, "alice", "plain")  # or already running
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(public + "echo", allow_redirects=False) as r:
            assert r.status == 200
        async with anonymous.get(private + "echo", allow_redirects=False) as r:
            assert r.status == 302 and "/hub/api/oauth2/authorize" in r.headers["Location"]
    assert "PUBLIC app 'open': alice:open's server answers anyone" in hub.log_text()


@hub_test
async def test_start_shows_the_apps_output_to_its_owner(hub):
    """While "chatty" starts (2 s), its output lines come as progress events, the Hub's
    token and anything like a password scrubbed."""
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        status, text = await alice.post("start/chatty", {})
        assert status == 200 and "Starting" in text, text
        messages = []
        async with s.get(hub.launcher + "progress/chatty") as r:
            async for line in r.content:
                if line.startswith(b"data:"):
                    messages.append(json.loads(line[5:]).get("message", ""))
    assert "chatty: warming up" in messages, messages
    assert "chatty: password=[secret]" in messages, messages
    assert "chatty: hub token: [secret]" in messages, messages
    assert messages.index("chatty: warming up") < len(messages) - 1  # before "ready"
    assert not any("hunter2" in m for m in messages)
    # nor in the proxy's log of the app's output (the command line has hun""ter2)
    assert "hunter2" not in hub.log_text()


@hub_test
async def test_hub_home_page_links_to_the_launcher(hub):
    async with hub.login("alice") as s:
        async with s.get(hub.url + "hub/home") as r:
            text = await r.text()
        assert r.status == 200
        assert 'id="jhembed-launcher-link"' in text and 'href="/services/apps/"' in text
        assert 'id="start"' in text  # the Hub's own home page is still there


def token_snippet(text):
    """The iframe snippet with ``?token=`` on the embed page, as a user copies it."""
    m = re.search(r'<pre id="token-snippet">([^<]*)</pre>', text)
    return html.unescape(m.group(1)) if m else ""


async def token_notes(hub, user):
    status, body = await hub.api("GET", f"users/{user}/tokens")
    assert status == 200, body
    return [t for t in body["api_tokens"] if "embed" in (t.get("note") or "")]


def only_access_to(scopes, user, server):
    """True when ``scopes`` open ``user/server`` and nothing else (besides the reads of
    the owner's own name and groups that the Hub adds to every token)."""
    access = f"access:servers!server={user}/{server}"
    extra = [sc for sc in scopes if sc != access]
    return access in scopes and all(
        sc.startswith("read:users:") and sc.endswith(f"!user={user}") for sc in extra
    )


@hub_test
async def test_embed_token_has_only_the_servers_scope(hub):
    """The "Create an embed token" button: a token that opens alice's "framed" server and nothing
    else, for Launcher.embed_token_expiry (7 days); refusals create no token."""
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        url = await start_with_launcher(hub, alice, "alice", "framed")
        status, text = await alice.get("embed/framed")
        assert status == 200 and 'id="embed-token-form"' in text, text
        assert not token_snippet(text)
        before = await token_notes(hub, "alice")
        status, text = await alice.post("embed/framed", {"owner": "alice"})
        assert status == 200, text
        snippet = token_snippet(text)
        m = re.fullmatch(r'<iframe src="([^"]+)\?token=([^"&]+)" [^>]*></iframe>', snippet)
        assert m and m.group(1) == url, snippet
        token = m.group(2)
        # the Hub's view of that token: one scope, about 7 days
        status, who = await hub.api("GET", "user", token=token)
        assert status == 200, who
        assert who["name"] == "alice", who
        assert only_access_to(who["scopes"], "alice", "framed"), who
        after = await token_notes(hub, "alice")
        assert len(after) == len(before) + 1
        made = [t for t in after if t["id"] not in {b["id"] for b in before}][0]
        assert only_access_to(made["scopes"], "alice", "framed"), made
        expires = datetime.datetime.fromisoformat(made["expires_at"].replace("Z", "+00:00"))
        left = expires - datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(days=6.9) < left <= datetime.timedelta(days=7), left
        # it cannot read alice's servers or start one
        status, model = await hub.api("GET", "users/alice", token=token)
        assert status in (200, 403, 404) and "servers" not in (model or {}), model
        status, _ = await hub.api("POST", "users/alice/servers/plain", token=token)
        assert status in (403, 404)
        # the launcher logged that a token was made, never the token
        log = hub.log_text()
        assert f"alice created embed token {made['id']} for framed" in log
        assert token not in log

        # refusals, with a reason, and no token made
        bob_before = await token_notes(hub, "bob")
        status, text = await alice.post("embed/framed", {"owner": "bob"})
        assert status == 403, text
        assert message(text) == "You can create embed tokens only for your own servers, not 'bob''s"
        status, text = await alice.post("embed/nope", {})
        assert status == 404 and "No app named 'nope'" in html.unescape(text)
        status, text = await alice.post("embed/echo", {})  # no allow_token_login
        assert status == 400 and "does not allow token login" in message(text), text
        assert 'id="embed-refusal"' in text and 'id="embed-token-form"' not in text
        status, text = await alice.post("embed/framed", {"owner": "alice"}, xsrf=False)
        assert status == 403
        assert len(await token_notes(hub, "alice")) == len(after)
        assert await token_notes(hub, "bob") == bob_before
    async with hub.login("carol") as s:
        carol = Page(hub, s)  # carol has no "framed" server
        status, text = await carol.post("embed/framed", {})
        assert status == 404 and "start it once, then embed it" in message(text), text
        assert await token_notes(hub, "carol") == []


@hub_test
@pytest.mark.slow
@pytest.mark.browser
async def test_browser_embed_token_snippet_on_another_site(hub):
    """In Chromium (third-party cookies as shipped): alice copies the plain snippet and
    the embed-token snippet into a host page on http://localhost:<port>; the plain one
    gets the frame login page (her Hub login is not sent to the frame), the token one
    shows the app."""
    pages = {}

    async def host(request):
        return web.Response(text=pages["now"], content_type="text/html")

    runner = await serve(hub.host_port, [web.get("/", host)])
    try:
        async with launch_browser() as browser:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(hub.url + "hub/login?next=" + quote("/services/apps/"))
            await page.fill("#username_input", "alice")
            await page.fill("#password_input", "any")
            await page.click("#login_submit")
            await page.wait_for_url(hub.launcher)
            if await page.locator("#app-framed").get_attribute("data-state") != "ready":
                await page.locator('#app-framed button:has-text("Start")').click()
                await page.locator("#open").wait_for(state="visible", timeout=30000)
            await page.goto(hub.launcher + "embed/framed")
            plain = await page.locator("#snippet").inner_text()
            await page.click('#embed-token-form button[type="submit"]')
            snippet = await page.locator("#token-snippet").inner_text()
            assert "?token=" in snippet and "?token=" not in plain
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "launcher-embed-token.png"), full_page=True)

            host_page = "<!DOCTYPE html><title>host</title><h1>host site</h1>\n{}\n"
            pages["now"] = host_page.format(plain)
            await page.goto(hub.host_origin + "/")
            body = await page.frame_locator("iframe").locator("body").inner_text(timeout=20000)
            assert "Allow and retry" in body and "testapp" not in body, body
            # "Allow and retry" does not log the frame in either: the Hub's login cookie
            # (no SameSite, so Lax) is not sent to a cross-site frame, and the Hub's
            # login page may not be framed (frame-ancestors 'none')
            await page.frame_locator("iframe").locator("#jhembed-retry").click()
            await page.wait_for_timeout(3000)
            texts = []
            for f in page.frames[1:]:
                try:
                    texts.append(await f.locator("body").inner_text(timeout=2000))
                except Exception:  # noqa: BLE001 - a blocked frame has no document to read
                    texts.append("")
            assert not any("testapp" in t for t in texts), texts
            assert any("refused access to the login" in t for t in texts), texts
            hub_login = [c for c in await context.cookies() if c["name"] == "jupyterhub-hub-login"]
            assert [c["sameSite"] for c in hub_login] == ["Lax"], hub_login

            pages["now"] = host_page.format(snippet)
            await page.goto(hub.host_origin + "/")
            body = await page.frame_locator("iframe").locator("body").inner_text(timeout=20000)
            assert body.strip() == "testapp", body
            await page.screenshot(path=str(ARTIFACTS / "launcher-embed-token-host.png"))
            await context.close()
    finally:
        await runner.cleanup()


@hub_test
@pytest.mark.slow
@pytest.mark.browser
async def test_browser_start_progress_open(hub):
    """In Chromium: erin logs in, goes to the launcher, starts "plain" with a 2 s start
    delay, watches the Hub's progress events, opens the app, shares it, stops it."""
    await hub.create_user("erin")
    async with launch_browser() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(hub.url + "hub/login?next=" + quote("/services/apps/"))
        await page.fill("#username_input", "erin")
        await page.fill("#password_input", "any")
        await page.click("#login_submit")
        await page.wait_for_url(hub.launcher)
        card = page.locator("#app-plain")
        await card.locator('input[name="delay"]').fill("2")
        await card.locator('button:has-text("Start")').click()
        await page.wait_for_url(hub.launcher + "start/plain")
        await page.locator("#open").wait_for(state="visible", timeout=30000)
        events = await page.locator("#events li").all_inner_texts()
        assert events and any("Starting" in e or "Server ready" in e for e in events), events
        assert await page.locator("#status").inner_text() == "Running."
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "launcher-start.png"))
        await page.click("#open")
        await page.wait_for_url(re.compile(".*/user/erin/plain/$"))
        assert (await page.locator("body").inner_text()).strip() == "testapp"
        await page.goto(hub.launcher)
        assert await page.locator("#app-plain").get_attribute("data-state") == "ready"
        await page.screenshot(path=str(ARTIFACTS / "launcher.png"), full_page=True)
        # share it with bob through the plain form, and make a share code
        await page.locator("#app-plain a:has-text('Share')").click()
        await page.fill('#share-form input[name="users"]', "bob")
        await page.click('#share-form button[type="submit"]')
        assert await page.locator("#message").inner_text() == "Shared with bob"
        await page.click('#code-form button[type="submit"]')
        assert "/hub/accept-share?code=" in await page.locator("#new-code").inner_text()
        await page.screenshot(path=str(ARTIFACTS / "launcher-share.png"), full_page=True)
        # stop it from the launcher
        await page.goto(hub.launcher)
        await page.locator("#app-plain button.stop").click()
        await page.wait_for_url(hub.launcher)
        deadline = time.monotonic() + 20
        while (await servers(hub, "erin")).get("plain"):
            assert time.monotonic() < deadline, "erin/plain still running"
            await asyncio.sleep(0.2)
        await page.reload()
        assert await page.locator("#app-plain").get_attribute("data-state") == "stopped"
        await context.close()


@pytest.mark.slow
async def test_launcher_with_internal_ssl_and_a_base_url(hub_factory, tmp_path):
    """With the Hub's internal TLS the service reaches the Hub API over https, with the
    certificates the Hub gives it; under a base URL every link has it."""
    hub = await hub_factory(
        CONFIG + "c.JupyterHub.internal_ssl = True\n"
        f"c.JupyterHub.internal_certs_location = {str(tmp_path / 'certs')!r}\n",
        env=templates_env(tmp_path / "templates"),
        base_url="/jh/",
    )
    hub.launcher = hub.url + "services/apps/"
    await hub.create_user("alice")
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        status, text = await alice.get()
        assert status == 200 and 'id="app-plain"' in text, text
        assert 'action="/jh/services/apps/start/plain"' in text
        url = await start_with_launcher(hub, alice, "alice", "plain")
        assert url.endswith("/jh/user/alice/plain/")
        status, text = await alice.get()
        assert 'href="/jh/user/alice/plain/"' in text
        async with s.get(hub.url + "hub/home") as r:
            assert 'href="/jh/services/apps/"' in await r.text()
    # the page above came from Hub API calls made on this URL
    assert launcher_env(hub)["JUPYTERHUB_API_URL"].startswith("https://127.0.0.1:")


def launcher_env(hub):
    """The environment of ``hub``'s launcher service process."""
    for p in psutil.process_iter(["cmdline", "environ"]):
        cmd, env = p.info["cmdline"] or [], p.info["environ"] or {}
        if "jhembed.launcher" in cmd and f":{hub.hub_port}/" in env.get("JUPYTERHUB_API_URL", ""):
            return env
    raise AssertionError("no launcher process for this Hub")


# -- configure(c), without a Hub ----------------------------------------------------------------


def test_configure_adds_service_roles_and_home_link():
    from traitlets import TraitError
    from traitlets.config import Config

    import jhembed
    import jhembed.launcher

    c = Config()
    with pytest.raises(TraitError, match="set the catalog first"):
        jhembed.launcher.configure(c)
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "custom:x"]}]
    c.JupyterHub.services = [{"name": "other", "api_token": "x" * 32}]
    jhembed.configure(
        c, apps={"lab": "jupyterlab", "board": {"preset": "voila", "viewers_may_start": True}}
    )
    with pytest.raises(TraitError, match=r"options\['colour'\] is not a Launcher option"):
        jhembed.launcher.configure(c, options={"colour": "red"})
    service = jhembed.launcher.configure(c, port=10555, options={"start_wait": 2.5})
    assert [s["name"] for s in c.JupyterHub.services] == ["other", "apps"]
    assert service["url"] == "http://127.0.0.1:10555"
    assert service["command"] == [
        sys.executable, "-m", "jhembed.launcher", "--Launcher.start_wait=2.5",
    ]  # fmt: skip
    assert service["oauth_client_allowed_scopes"] == [
        "read:servers!user", "servers!user", "shares!user", "read:users:name", "read:groups:name",
        "tokens!user",
    ]  # fmt: skip
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"] == [
        "self", "custom:x", "shares!user", "read:users:name", "read:groups:name",
        "access:services!service=apps",
    ]  # fmt: skip
    assert roles["jhembed-launcher-apps"] == {
        "name": "jhembed-launcher-apps",
        "description": "jhembed launcher: start servers shared with their viewer",
        "scopes": ["servers", "read:shares"],
        "services": ["apps"],
    }
    assert c.JupyterHub.allow_named_servers and c.EmbedSpawner.app_from_server_name
    assert c.JupyterHub.template_vars["jhembed_launcher"] == "apps"
    assert any(p.endswith("hub-templates") for p in c.JupyterHub.template_paths)
    catalog = json.loads(service["environment"]["JHEMBED_LAUNCHER_CATALOG"])
    assert catalog["board"]["thumbnail"] == "voila.svg" and catalog["board"]["viewers_may_start"]
    assert "command" not in catalog["lab"]  # the launcher shows apps, it never runs them
    # without viewers_may_start anywhere, the service gets no role at all
    c2 = Config()
    jhembed.configure(c2, apps={"lab": "jupyterlab"})
    jhembed.launcher.configure(c2, home_link=False)
    assert [r["name"] for r in c2.JupyterHub.load_roles] == ["user"]
    assert "template_paths" not in c2.JupyterHub
    # the compositions: the launcher only talks to the Hub API, any EmbedSpawner will do
    for spawner in ("embed-docker", "embed-kubernetes"):
        c3 = Config()
        jhembed.configure(c3, apps={"board": {"preset": "voila", "tags": ["x"]}}, spawner=spawner)
        service = jhembed.launcher.configure(c3)
        catalog = json.loads(service["environment"]["JHEMBED_LAUNCHER_CATALOG"])
        assert catalog["board"]["tags"] == ["x"], spawner


def test_keep_alive_is_the_proxy_flag():
    from jhembed.apps import make_app
    from jhembed.spawner import SimpleEmbedSpawner

    spawner = SimpleEmbedSpawner()
    on = make_app("board", {"command": ["x"], "keep_alive": True})
    assert "--keep-alive" in spawner.proxy_flags(on)
    assert "--keep-alive" not in spawner.proxy_flags(make_app("board", {"command": ["x"]}))
    public = make_app("open", {"command": ["x"], "public": True})
    assert "--no-authentication" in spawner.proxy_flags(public)
    assert "--no-authentication" not in spawner.proxy_flags(on)


def test_embed_refusal_says_why_a_token_snippet_would_not_work():
    from jhembed.launcher.pages import embed_refusal

    def app(frame_ancestors, allow_token_login=True):
        return {"label": "Board", "frame_ancestors": frame_ancestors,
                "allow_token_login": allow_token_login}  # fmt: skip

    assert embed_refusal(app(["'self'", "https://host.example"])) == ""
    assert embed_refusal(app(["*"])) == ""
    for only_here in (["'self'"], ["'none'"], []):
        assert "No other site may frame Board" in embed_refusal(app(only_here))
    assert "does not allow token login" in embed_refusal(app(["https://host.example"], False))


# -- keep this test last: it waits out the share code the module's first test made


@hub_test
async def test_share_code_stops_after_its_expiry(hub, early_code):
    """The 60 s code bob accepted in time (early_code) no longer lets anyone in: dave's
    acceptance is refused and he gets 403 on the server; bob's share stays."""
    left = (early_code.expires - now()).total_seconds()
    if left > 0:
        await asyncio.sleep(left + 0.5)  # only what the module's other tests left over
    assert await accept_code(hub, "dave", early_code.accept) == 404
    assert await opens(hub, "dave", early_code.url) == 403
    assert await opens(hub, "bob", early_code.url) == 200


def test_share_code_expiry_choices_as_the_docs_show():
    from traitlets import TraitError
    from traitlets.config import Config

    import jhembed
    import jhembed.launcher
    from jhembed.launcher.app import Launcher

    doc = (HERE.parent / "docs" / "launcher.md").read_text()
    (snippet,) = re.findall(
        r"^ *(jhembed\.launcher\.configure\(c, options=.*share_code.*)$", doc, re.M
    )
    c = Config()
    jhembed.configure(c, apps={"lab": "jupyterlab"})
    exec(snippet, {"jhembed": jhembed, "c": c})
    (service,) = c.JupyterHub.services
    # a list: the flag once per item (traitlets deprecates --X.y=[...])
    args = service["command"][3:]
    assert args == [f"--Launcher.share_code_expiry={s}" for s in (600, 3600, 86400)]
    launcher = Launcher()
    launcher.parse_command_line(args)
    assert launcher.share_code_expiry == [600, 3600, 86400]
    assert Launcher().share_code_expiry == [3600, 86400, 604800]
    for wrong in ([], [59], [3600, 365 * 86400 + 1]):
        with pytest.raises(TraitError, match=r"Launcher.share_code_expiry: seconds from 60 to"):
            Launcher(share_code_expiry=wrong)
