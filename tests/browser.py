"""Helpers for the browser tests: Debian's Chromium under Playwright, Hub configs, host pages.

Headless Chromium from Debian (``/usr/bin/chromium``), driven by Playwright;
no browser is downloaded.  Host pages are served from http://localhost:<port>,
the Hub from http://127.0.0.1:<port>: different sites, as in a real embedding.
"""

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from aiohttp import web

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TESTAPP = str(Path(__file__).resolve().parent / "testapp.py")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@contextlib.asynccontextmanager
async def launch_browser():
    """Debian's Chromium (skips the test when it is not installed)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "Debian's chromium is not installed (make test installs it: apt-get install chromium)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def embed_config(host_origin, apps, extra=""):
    """A Hub whose EmbedSpawner apps may be framed by ``host_origin``, with token login.

    Only what docs/embedding.md tells an admin to set: the cookie policy is the default.
    """
    return f"""
c.JupyterHub.spawner_class = "embed-simple"
c.EmbedSpawner.apps = {apps!r}
c.EmbedSpawner.frame_ancestors = ["'self'", {host_origin!r}]
c.EmbedSpawner.allow_token_login = True
{extra}"""


async def start_for_frame(client, user, app):
    """Start ``app`` for ``user``; its URL and a token that opens only that server."""
    await client.ensure_user(user)
    url = await client.start_server(user, app=app, timeout=120)
    token = await client.create_token(
        user, scopes=[f"access:servers!server={user}/"], expires_in=600
    )
    return url, token


async def serve(port, routes):
    """An aiohttp site on http://localhost:<port>; returns its runner (``await runner.cleanup()``)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "localhost", port).start()
    return runner


def html_page(text):
    async def handler(request):
        return web.Response(text=text, content_type="text/html")

    return handler


async def serve_host_page(port):
    """A host site: /frame?src=... shows ``src`` in an iframe."""

    async def frame(request):
        src = request.query["src"]
        return web.Response(
            text=f'<!DOCTYPE html><title>host</title><h1>host site</h1><iframe id="app" src="{src}" width="800" height="400"></iframe>',
            content_type="text/html",
        )

    return await serve(port, [web.get("/frame", frame)])


async def serve_bridge_host(port, src, extra_html=""):
    """A host page that mounts ``src`` with jhembed-host.js and records the bridge's events
    in ``window.events``; ``extra_html`` goes after the app's slot."""
    from jhembed.proxy.bridge import static_path

    page = f"""<!DOCTYPE html><title>host</title><div id="slot"></div>{extra_html}
<script type="module">
import {{ mount }} from "/static/jhembed-host.js";
window.events = [];
window.app = mount(document.getElementById("slot"), {json.dumps(src)}, {{ timeout: 60000 }});
for (const t of ["ready", "saved", "dirty", "activity", "error"]) {{
  window.app.addEventListener(t, (e) => window.events.push(e.detail));
}}
</script>"""
    return await serve(port, [web.get("/", html_page(page)), web.static("/static", static_path())])


NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "source": "x = 1",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
        }
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
