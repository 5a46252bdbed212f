"""The launcher service (/services/apps/) on a real JupyterHub: catalog, my apps, sharing.

One Hub for the module (alice, bob, carol in group "team", dave); the apps are
tests/testapp.py, which starts in well under a second. Every page is driven
the way a browser without JavaScript would: GET pages, POST forms with the
``_xsrf`` field.
"""

import asyncio
import html
import re
import sys
import time
from pathlib import Path

import pytest
import pytest_asyncio
from hub import get_authorized

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")
ECHO = [sys.executable, TESTAPP, "--port", "{port}"]

CONFIG = f"""
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
        "plain": {{"command": {ECHO!r}}},
    }},
)
jhembed.launcher.configure(c)
c.JupyterHub.load_groups = {{"team": {{"users": ["carol"]}}}}
"""
USERS = ["alice", "bob", "carol", "dave"]

hub_test = pytest.mark.asyncio(loop_scope="module")
pytestmark = [hub_test]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    from hub import run_hub

    async with run_hub(tmp_path_factory.mktemp("launcher") / "hub", config=CONFIG) as hub:
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


async def test_catalog_start_progress_stop(hub):
    async with hub.login("alice") as s:
        alice = Page(hub, s)
        status, text = await alice.get()
        assert status == 200, text
        # catalog: escaped names, description, tag, thumbnail, options
        assert "Echo &lt;b&gt;app" in text and "&lt;script&gt;what" in text
        assert "<script>what" not in text
        assert '<span class="tag">test</span>' in text
        assert "/services/apps/static/thumbnails/voila.svg" in text
        assert 'name="mode"' in text and 'name="delay"' in text
        async with s.get(hub.launcher + "static/thumbnails/voila.svg") as r:
            assert r.status == 200 and "<svg" in await r.text()
        # start with an option: redirected to the progress page
        status, text = await alice.post("start/echo", {"delay": "1", "mode": "slow"})
        assert status == 200, text
        assert "Starting" in text or "Running" in text
        # the Hub's progress events, relayed for the owner
        async with s.get(hub.launcher + "progress/echo") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            events = await r.text()
        assert '"ready": true' in events, events
        url = await wait_ready(hub, "alice", "echo")
        model = (await servers(hub, "alice"))["echo"]
        assert model["user_options"] == {"app": "echo", "delay": 1, "mode": "slow"} or (
            model["user_options"] == {"app": "echo", "delay": "1", "mode": "slow"}
        )
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
