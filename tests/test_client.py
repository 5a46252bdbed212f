"""The host-site SDK against a real JupyterHub with EmbedSpawner."""

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from jhembed.client import HubAPIError, HubClient, SpawnFailed

pytestmark = pytest.mark.slow

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


async def test_users_tokens_servers(hub_factory):
    hub = await hub_factory(CONFIG)
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


async def test_contents_round_trip(hub_factory):
    hub = await hub_factory(CONFIG)
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
