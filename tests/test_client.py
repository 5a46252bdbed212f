"""The host-site SDK against a real JupyterHub with EmbedSpawner."""

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from jhembed.client import HubAPIError, HubClient, SpawnFailed, SpawnTimeout

TESTAPP = str(Path(__file__).resolve().parent / "testapp.py")
CONFIG = f"""
c.JupyterHub.spawner_class = "embed-simple"
c.EmbedSpawner.apps = {{
    "echo": {{"command": [{sys.executable!r}, {TESTAPP!r}, "--port", "{{port}}"],
              "options": {{"mode": {{"type": "choice", "choices": ["a", "b"], "default": "a"}}}}}},
    "broken": {{"command": [{sys.executable!r}, {TESTAPP!r}, "--port", "{{port}}", "--fail-start"]}},
    "lab": "jupyterlab",
}}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    """One Hub for the tests of CONFIG (each test has users of its own)."""
    from hub import run_hub

    async with run_hub(tmp_path_factory.mktemp("client") / "hub", config=CONFIG) as hub:
        yield hub


shared_hub = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.slow
@shared_hub
async def test_users_tokens_servers(hub):
    async with HubClient(hub.url, hub.token) as client:
        assert await client.hub_version() >= (5,)
        user = await client.ensure_user("dana", groups=["course"])
        assert user["name"] == "dana" and user["groups"] == ["course"]
        again = await client.ensure_user("dana", groups=["course"])  # idempotent
        assert again["groups"] == ["course"]

        url = await client.start_server("dana", "one", app="echo", options={"mode": "b"})
        assert url.endswith("/user/dana/one/")
        assert await client.start_server("dana", "one", app="echo") == url  # already running
        token = await client.create_token(
            "dana", scopes=["access:servers!server=dana/one"], expires_in=300, note="iframe"
        )
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "echo", headers={"Authorization": f"token {token}"}) as r:
                assert r.status == 200
        embed = client.embed_url(url, "echo", token=token, a="1")
        assert embed == url + f"echo?a=1&token={token}"

        # a bad option: the Hub's 400 with its message
        with pytest.raises(HubAPIError) as e:
            await client.start_server("dana", "two", app="echo", options={"mode": "zzz"})
        assert e.value.status == 400 and "mode" in e.value.message
        # an app that exits at once: the spawn fails with the Hub's reason
        with pytest.raises(SpawnFailed) as e:
            await client.start_server("dana", "three", app="broken", timeout=60)
        assert e.value.message and e.value.status >= 500
        # two host requests at once start one server: both get its URL
        urls = await asyncio.gather(
            client.start_server("dana", "four", app="echo"),
            client.start_server("dana", "four", app="echo"),
        )
        assert urls[0] == urls[1] and urls[0].endswith("/user/dana/four/")
        # a start right after a stop waits for the stop, then starts it again
        await client.stop_server("dana", "four")
        assert await client.start_server("dana", "four", app="echo") == urls[0]

        await client.stop_server("dana", "one")
        model = await client.server_model("dana", "one")
        assert not model or not model.get("ready")


@pytest.mark.slow
@shared_hub
async def test_contents_round_trip(hub):
    async with HubClient(hub.url, hub.token) as client:
        await client.ensure_user("erin")
        url = await client.start_server("erin", app="lab", timeout=120)
        token = await client.create_token(
            "erin", scopes=["access:servers!server=erin/"], expires_in=300
        )
        saved = await client.contents_save(url, "notes.txt", token, "hello from the host site")
        assert saved["name"] == "notes.txt"
        model = await client.contents_get(url, "notes.txt", token)
        assert model["content"] == "hello from the host site"
        with pytest.raises(HubAPIError) as e:
            await client.contents_get(url, "missing.txt", token)
        assert e.value.status == 404


# -- against a small fake Hub: the REST body per Hub version, the progress stream --


class FakeHub:
    """Answers the few Hub API calls start_server makes, as JupyterHub ``version`` would."""

    def __init__(self, version, events, status=202):
        self.version, self.events, self.status = version, events, status
        self.bodies, self.auth = [], set()

    async def info(self, request):
        return web.json_response({"version": self.version})

    async def user(self, request):
        self.auth.add(request.headers.get("Authorization"))
        return web.json_response({"name": "u", "servers": {}})

    async def start(self, request):
        self.bodies.append(await request.json())
        return web.Response(status=self.status)

    async def progress(self, request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in self.events:
            if event == "stall":
                await asyncio.sleep(4)
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        return response

    async def __aenter__(self):
        app = web.Application()
        app.add_routes(
            [
                web.get("/hub/api/", self.info),
                web.get("/hub/api/users/{name}", self.user),
                web.post("/hub/api/users/{name}/servers/{server}", self.start),
                web.get("/hub/api/users/{name}/servers/{server}/progress", self.progress),
            ]
        )
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


READY = [
    {"progress": 50, "message": "starting"},
    {"progress": 100, "ready": True, "url": "/user/u/s/", "message": "Server ready"},
]


@pytest.mark.parametrize(
    "version, body",
    [
        ("6.1.1", {"user_options": {"mode": "b", "app": "echo"}}),
        ("5.2.1", {"mode": "b", "app": "echo"}),  # JupyterHub 5: the options are the body
    ],
)
async def test_start_body_per_hub_version_and_progress(version, body):
    async with FakeHub(version, READY) as fake, HubClient(fake.url, "secret") as client:
        url = await client.start_server("u", "s", app="echo", options={"mode": "b"})
        assert url == fake.url + "user/u/s/"
        assert fake.bodies == [body]
        assert fake.auth == {"token secret"}


async def test_progress_failure_and_timeout():
    failed = [
        {"progress": 10, "message": "pulling"},
        {"failed": True, "message": "Spawn failed: no"},
    ]
    async with FakeHub("6.1.1", failed) as fake, HubClient(fake.url, "t") as client:
        with pytest.raises(SpawnFailed) as e:
            await client.start_server("u", "s", app="echo")
        assert e.value.message == "Spawn failed: no" and e.value.status == 500
    stalled = [{"progress": 10, "message": "pulling the image"}, "stall"]
    async with FakeHub("6.1.1", stalled) as fake, HubClient(fake.url, "t") as client:
        with pytest.raises(SpawnTimeout) as e:
            await client.start_server("u", "s", app="echo", timeout=1)
        assert "pulling the image" in e.value.message  # the last progress message
    async with FakeHub("6.1.1", [], status=403) as fake, HubClient(fake.url, "t") as client:
        with pytest.raises(HubAPIError) as e:
            await client.start_server("u", "s")
        assert e.value.status == 403 and not isinstance(e.value, SpawnFailed)


async def test_unreachable_hub_is_an_api_error():
    async with HubClient("http://127.0.0.1:9/", "t", timeout=2) as client:
        with pytest.raises(HubAPIError) as e:
            await client.get_user("u")
        assert e.value.status == 503 and "cannot reach" in e.value.message


def test_embed_url():
    url = HubClient.embed_url("https://hub/user/a/lab/", "/lab/tree/x y.ipynb", token="t0k", b="1")
    assert url == "https://hub/user/a/lab/lab/tree/x%20y.ipynb?b=1&token=t0k"
    assert HubClient.embed_url("https://hub/user/a/", "") == "https://hub/user/a/"
