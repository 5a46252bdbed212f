"""The REST spawn calls of docs/spawner.md, run against the Hub under test (5 or 6)."""

import asyncio
import json
import shlex
from pathlib import Path

import pytest
from docutil import blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _curl_bodies(doc, path_part):
    """(label comment, JSON body) of each documented ``curl -d`` call whose URL has ``path_part``."""
    out = []
    for lang, block in blocks(doc):
        if lang != "bash" or path_part not in block:
            continue
        label = next(line for line in block.splitlines() if line.startswith("#"))
        argv = shlex.split(block.replace("\\\n", " "), comments=True)
        out.append((label, json.loads(argv[argv.index("-d") + 1])))
    return out


@pytest.mark.slow
async def test_rest_spawn_bodies_work_on_the_versions_the_docs_name(hub_factory):
    """docs/spawner.md: its catalog as the Hub's config, each documented body sent to
    the Hub under test: accepted where the docs say it works, 400 as documented elsewhere."""
    doc = (DOCS / "spawner.md").read_text()
    catalog = next(b for lang, b in blocks(doc) if lang == "python")
    hub = await hub_factory(catalog + '\nc.JupyterHub.spawner_class = "embed-simple"\n')
    major = hub.version.split(".")[0]
    bodies = _curl_bodies(doc, "servers/report")
    assert [label for label, _ in bodies] == ["# JupyterHub 6", "# JupyterHub 5 and 6"]
    await hub.create_user("alice")
    for label, body in bodies:
        status, reply = await hub.api("POST", "users/alice/servers/report", json_body=body)
        if major not in label:
            assert status == 400, (label, status, reply)
            assert "user_options['user_options']" in reply["message"], reply
            continue
        assert status in (201, 202), (label, status, reply)
        _, user = await hub.api("GET", "users/alice")
        assert user["servers"]["report"]["user_options"] == {"app": "report", "week": "2026-W47"}
        await hub.api("DELETE", "users/alice/servers/report")
        for _ in range(200):
            _, user = await hub.api("GET", "users/alice")
            if "report" not in user["servers"]:
                break
            await asyncio.sleep(0.1)
        assert "report" not in user["servers"], user
