"""JupyterLab 4 in a cross-site frame: it stays put, saves through the bridge, ignores strangers.

Playwright's browser contexts block third-party cookies and, with them, Web
Storage in a cross-site frame (like Chromium's incognito windows); without
jhembed-storage.js JupyterLab would redirect to a new /lab/workspaces/auto-*
URL forever there.
"""

import asyncio
import json
import sqlite3
import time

import pytest
from aiohttp import web
from browser import (
    ARTIFACTS,
    NOTEBOOK,
    embed_config,
    html_page,
    launch_browser,
    serve,
    serve_bridge_host,
    start_for_frame,
)
from hub import free_port

from jhembed.client import HubClient

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LAB = {"lab": {"preset": "jupyterlab", "bridge": True}}
LAB_READY = (
    "window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget.context"
    " && jupyterapp.shell.currentWidget.context.isReady"
)
EDIT = "jupyterapp.shell.currentWidget.content.model.cells.get(0).sharedModel.setSource('x = 42')"

# a page on a third origin, framed next to the app by the host page, that tries
# to drive the app's frame and to fool the host page
EVIL = """<!DOCTYPE html><title>evil</title><script>
setInterval(() => {
  for (let i = 0; i < parent.frames.length; i++) {
    if (parent.frames[i] !== window) {
      parent.frames[i].postMessage({jhembed: 1, type: "save", id: "evil-save"}, "*");
      parent.frames[i].postMessage({jhembed: 1, type: "ping", id: "evil-ping"}, "*");
    }
  }
  parent.postMessage({jhembed: 1, type: "ready", app: "evil"}, "*");
  parent.postMessage({jhembed: 1, type: "saved", id: "evil", path: "evil.ipynb"}, "*");
  parent.postMessage({jhembed: 1, type: "dirty", path: "evil.ipynb", dirty: true}, "*");
}, 100);
</script>"""


@pytest.fixture
async def browser():
    async with launch_browser() as b:
        yield b


def source(model):
    text = model["content"]["cells"][0]["source"]
    return "".join(text) if isinstance(text, list) else text


async def test_jupyterlab_saves_through_the_bridge_and_ignores_other_origins(
    hub_factory, browser, tmp_path
):
    host_port, evil_port = free_port(), free_port()
    host_origin = f"http://localhost:{host_port}"
    # the user's JupyterLab settings (the theme changed below) stay in this test
    (tmp_path / "home").mkdir()
    home = f"c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp_path / 'home')!r}\n"
    hub = await hub_factory(embed_config(host_origin, LAB, home))
    runners = [await serve(evil_port, [web.get("/", html_page(EVIL))])]
    started = time.monotonic()
    try:
        async with HubClient(hub.url, hub.token) as client:
            url, token = await start_for_frame(client, "ivy", "lab")
            await client.contents_save(
                url, "bridge.ipynb", token, NOTEBOOK, format="json", type="notebook"
            )
            src = client.embed_url(url, "lab/tree/bridge.ipynb", token=token)
            evil = f'<iframe id="evil" src="http://localhost:{evil_port}/"></iframe>'
            runners.append(await serve_bridge_host(host_port, src, extra_html=evil))

            context = await browser.new_context()
            page = await context.new_page()
            navigations = []
            page.on("framenavigated", lambda f: navigations.append(f.url))
            await page.goto(host_origin + "/")
            await page.wait_for_function(
                "window.events.some((e) => e.type === 'ready' && e.app === 'JupyterLab')",
                timeout=90000,
                polling=200,
            )
            lab = next(f for f in page.frames if f.url.startswith(url))
            await lab.wait_for_function(LAB_READY, timeout=60000)
            # JupyterLab stays on its URL: no redirects to new auto-* workspaces
            await asyncio.sleep(2)
            assert lab.url == url + "lab/tree/bridge.ipynb", lab.url
            assert not [u for u in navigations if "/lab/workspaces/" in u], navigations
            print(
                "storage fallback in the frame:",
                await lab.evaluate("window.__jhembedMemoryStorage"),
            )

            # the user clicks in the frame: the host hears of it
            await lab.locator(".jp-Notebook").click()
            await page.wait_for_function(
                "window.events.some((e) => e.type === 'activity')", timeout=10000
            )

            # the user edits; the third-origin frame keeps asking the app to save
            await lab.evaluate(EDIT)
            await asyncio.sleep(2)
            model = await client.contents_get(url, "bridge.ipynb", token)
            assert source(model) == "x = 1", "the app saved for a stranger"

            # the host page says save: resolved once the file is written
            saved = await page.evaluate("window.app.save()")
            assert saved == {"path": "bridge.ipynb"}
            print(
                f"jupyterlab: {time.monotonic() - started:.1f} s from the spawn request to a save"
            )
            model = await client.contents_get(url, "bridge.ipynb", token)
            assert source(model) == "x = 42"

            events = await page.evaluate("window.events")
            strangers = [
                e
                for e in events
                if e.get("app") == "evil"
                or e.get("path") == "evil.ipynb"
                or str(e.get("id", "")).startswith("evil")
            ]
            assert not strangers, strangers  # neither side listened to the third origin
            assert any(e["type"] == "dirty" and e["dirty"] for e in events), events
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "embedded-jupyterlab.png"))

            # the host page runs one of JupyterLab's own commands
            await page.evaluate(
                "window.app.run('apputils:change-theme', {theme: 'JupyterLab Dark'})"
            )
            await lab.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
            refused = await page.evaluate(
                "window.app.run('no:such-command').then(() => 'ran', (e) => e.message)"
            )
            assert refused == "unknown command: no:such-command"
            await context.close()
    finally:
        for r in runners:
            await r.cleanup()


async def test_demo_host_site_keeps_a_jupyterlab_version_in_sqlite(hub_factory, browser, tmp_path):
    """The demo host site with JupyterLab in its frame: Save stores the edited notebook."""
    from jhembed.demo.host import HostSite

    home = tmp_path / "home"
    home.mkdir()
    (home / "dashboard.ipynb").write_text(json.dumps(NOTEBOOK))
    host_port = free_port()
    host = f"http://localhost:{host_port}"
    extra = (
        "c.JupyterHub.allow_named_servers = True\n"
        "c.EmbedSpawner.app_from_server_name = True\n"
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(home)!r}\n"
    )
    hub = await hub_factory(embed_config(host, LAB, extra))
    db = tmp_path / "host.sqlite"
    site = HostSite(
        hub.url, hub.token, db, apps={"lab": ("JupyterLab", "lab/tree/dashboard.ipynb", "dashboard.ipynb", "frame")}
    )  # fmt: skip
    runner = web.AppRunner(site.app())
    await runner.setup()
    await web.TCPSite(runner, "localhost", host_port).start()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        console = []  # printed when the save does not complete: where it stopped
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.on("framenavigated", lambda f: console.append(f"navigated: {f.url[:120]}"))
        await page.goto(host + "/")
        await page.fill("input[name=name]", "jo")
        await page.click("button:has-text('Log in')")
        await page.click("a:has-text('JupyterLab')", timeout=10000)  # starts the server: slow
        await page.wait_for_selector("#save", timeout=150000)
        lab = None
        for _ in range(300):
            lab = next((f for f in page.frames if "/user/jo/lab/" in f.url), None)
            if lab:
                break
            await asyncio.sleep(0.2)
        await lab.wait_for_function(LAB_READY, timeout=90000)
        await lab.evaluate(EDIT)
        # a DOM click: a mouse click at the button's position can land elsewhere
        # while the framed JupyterLab is still laying out (seen once under load)
        await page.locator("#save").dispatch_event("click")
        status = page.locator("#status")
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            await status.get_by_text("saved dashboard.ipynb as version 1").wait_for(timeout=150000)
        except Exception:
            await page.screenshot(path=str(ARTIFACTS / "demo-jupyterlab-failed.png"))
            print("status:", await status.inner_text())
            print("\n".join(console[-60:]))
            raise
        await page.screenshot(path=str(ARTIFACTS / "demo-jupyterlab-saved.png"))
        await context.close()
    finally:
        await runner.cleanup()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user, app, path, content FROM versions").fetchall()
    assert [r[:3] for r in rows] == [("jo", "lab", "dashboard.ipynb")]
    assert source({"content": json.loads(rows[0][3])}) == "x = 42"
