"""What a browser does with an embedded server: cross-site iframe, token login, framing policy.

Helpers in browser.py: Debian's Chromium under Playwright (no browser is
downloaded); host pages on http://localhost:<port> (origin A), the Hub on
http://127.0.0.1:<port> (origin B): different sites.
"""

import html
import json
import sys
import time
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from browser import (
    ARTIFACTS,
    NOTEBOOK,
    TESTAPP,
    embed_config,
    html_page,
    launch_browser,
    serve,
    serve_bridge_host,
    serve_host_page,
    start_for_frame,
)
from hub import free_port

from jhembed.client import HubClient

pytestmark = [pytest.mark.slow, pytest.mark.browser]


ECHO = {"command": [sys.executable, TESTAPP, "--port", "{port}"]}
DASHBOARD = {
    "cells": [
        {
            "cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "import ipywidgets as w\nslider = w.IntSlider(value=3, description='n')\n"
            "result = w.Label(value='n squared is 9')\n"
            "slider.observe(lambda c: setattr(result, 'value', f'n squared is {c.new ** 2}'), names='value')\n"
            "w.VBox([slider, result])",
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    """One Hub for the file (a Hub start saved per test): every test's app in the
    catalog, framable by one host origin (http://localhost:<hub.host_port>), each
    test with users of its own."""
    from hub import run_hub

    base = tmp_path_factory.mktemp("browser")
    home = base / "home"
    home.mkdir()
    (home / "dash.ipynb").write_text(json.dumps(DASHBOARD))
    host_port = free_port()
    host_origin = f"http://localhost:{host_port}"
    apps = {
        "echo": ECHO,
        "other": ECHO,
        "lab": {"preset": "notebook", "bridge": True},
        "dash": {
            "preset": "voila",
            "bridge": True,
            "options": {"notebook": {"default": "dash.ipynb"}},
        },
    }
    extra = f"c.SimpleLocalProcessSpawner.home_dir_template = {str(home)!r}\n"
    async with run_hub(base / "hub", config=embed_config(host_origin, apps, extra)) as hub:
        hub.host_port, hub.host_origin = host_port, host_origin
        yield hub


shared_hub = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def browser():
    async with launch_browser() as b:
        yield b


@shared_hub
@pytest.mark.jh5
async def test_cross_site_iframe_with_token_login(hub, browser):
    host_port, other_port = hub.host_port, free_port()
    host_origin = hub.host_origin
    runners = [await serve_host_page(host_port), await serve_host_page(other_port)]
    try:
        async with HubClient(hub.url, hub.token) as client:
            url, token = await start_for_frame(client, "fay", "echo")
        src = HubClient.embed_url(url, "echo", token=token)

        context = await browser.new_context()
        page = await context.new_page()
        requests = []
        page.on("request", lambda r: requests.append((r.url, r.headers.get("referer", ""))))
        await page.goto(f"{host_origin}/frame?src={quote(src, safe='')}")
        frame = page.frame_locator("#app")
        body = await frame.locator("body").inner_text(timeout=20000)
        echo = json.loads(body)
        # the app got the request, without the token, the session cookie or a Referer carrying it
        assert echo["path"] == "/echo"
        assert token not in body and "jupyterhub-user-fay" not in body
        app_frame = next(f for f in page.frames if f.url.startswith(url))
        assert "token" not in app_frame.url  # token login left a clean URL
        # the token went over the wire once, in the first request only
        hub_origin = url.split("/user/")[0]
        with_token = [
            u for u, ref in requests if u.startswith(hub_origin) and (token in u or token in ref)
        ]
        assert len(with_token) == 1, with_token
        # the session cookie works inside the cross-site frame: reload without the token
        await app_frame.goto(url + "echo?again=1")
        assert json.loads(await app_frame.locator("body").inner_text())["query"] == "again=1"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "embedded-app.png"))

        # a site that is not in frame_ancestors cannot frame the server
        other = await context.new_page()
        blocked = []
        other.on("console", lambda m: blocked.append(m.text))
        await other.goto(f"http://localhost:{other_port}/frame?src={quote(url + 'echo', safe='')}")
        await other.wait_for_timeout(1500)
        framed = [f for f in other.frames if f != other.main_frame]
        texts = []
        for f in framed:
            try:
                texts.append(await f.locator("body").inner_text(timeout=2000))
            except Exception:  # noqa: BLE001 - a blocked frame has no document to read
                texts.append("")
        assert not any('"path": "/echo"' in t for t in texts), texts
        await context.close()
    finally:
        for r in runners:
            await r.cleanup()


@shared_hub
async def test_two_servers_of_one_user_framed_on_one_page(hub, browser):
    """The default and a named server of one user, side by side on one host page:
    both keep their logins, neither app receives any Hub or jhembed cookie."""
    host_port, host_origin = hub.host_port, hub.host_origin
    srcs = {}
    async with HubClient(hub.url, hub.token) as client:
        await client.ensure_user("gus")
        for server in ("", "two"):
            url = await client.start_server("gus", server, app="echo", timeout=120)
            token = await client.create_token(
                "gus", scopes=[f"access:servers!server=gus/{server}"], expires_in=600
            )
            srcs[server] = (url, HubClient.embed_url(url, "echo", token=token))
    frames = "".join(
        f'<iframe id="f{i}" src="{html.escape(src)}" width="600" height="300"></iframe>'
        for i, (_, src) in enumerate(srcs.values())
    )
    runner = await serve(host_port, [web.get("/", html_page(f"<!DOCTYPE html>{frames}"))])
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(host_origin + "/")
        for i in range(2):
            json.loads(await page.frame_locator(f"#f{i}").locator("body").inner_text(timeout=30000))
        for _ in range(2):  # twice over: each login survives the other's requests
            for server, (url, _) in srcs.items():
                frame = next(f for f in page.frames if f.url.startswith(url))
                await frame.goto(url + f"echo?server={server}")
                body = await frame.locator("body").inner_text()
                seen = json.loads(body)  # a login page would not be JSON
                assert seen["path"] == "/echo", body
                cookies = "; ".join(v for k, v in seen["headers"] if k.lower() == "cookie")
                assert "jupyterhub" not in cookies and "jhembed" not in cookies, cookies
        # the browser holds both servers' session cookies, each for its own path
        held = {c["name"]: c["path"] for c in await context.cookies()}
        assert held.get("jupyterhub-user-gus") == "/user/gus/", held
        assert held.get("jupyterhub-user-gus-two") == "/user/gus/two/", held
        await context.close()
    finally:
        await runner.cleanup()


@shared_hub
async def test_a_browser_that_refuses_the_cookie_gets_our_page(hub, browser):
    """The defaults only; the browser keeps no cookie of the Hub's site (as when it
    blocks every embedded site's cookies): the frame shows our page, not a blank
    frame, and the host page hears an ``error`` event with a stable code."""
    host_port, host_origin = hub.host_port, hub.host_origin
    async with HubClient(hub.url, hub.token) as client:
        url, token = await start_for_frame(client, "hal", "echo")
    hub_origin = url.split("/user/")[0]
    runner = await serve_bridge_host(host_port, HubClient.embed_url(url, "echo", token=token))
    try:
        context = await browser.new_context()
        seen = []

        async def refuse_cookies(route):
            response = await route.fetch(max_redirects=0)
            seen.append((route.request.url, response.status))
            headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
            await route.fulfill(response=response, headers=headers)

        await context.route(f"{hub_origin}/**", refuse_cookies)
        page = await context.new_page()
        await page.goto(host_origin + "/")
        await page.wait_for_function(
            "window.events.some((e) => e.type === 'error')", timeout=30000, polling=200
        )
        events = await page.evaluate("window.events")
        errors = [e for e in events if e["type"] == "error"]
        assert [e["code"] for e in errors] == ["cookies-blocked"], (events, seen)
        frame = next(f for f in page.frames if f.url.startswith(url))
        assert "token" not in frame.url
        text = await frame.locator("body").inner_text()
        assert "blocked this app's login" in text and "Open in a new tab" in text, text
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "frame-login-refused.png"))
        await context.close()
    finally:
        await runner.cleanup()


@shared_hub
async def test_notebook_save_through_the_bridge(hub, browser):
    host_port, host_origin = hub.host_port, hub.host_origin
    started = time.monotonic()
    async with HubClient(hub.url, hub.token) as client:
        url, token = await start_for_frame(client, "ivy", "lab")
        await client.contents_save(
            url, "bridge.ipynb", token, NOTEBOOK, format="json", type="notebook"
        )
        runner = await serve_bridge_host(
            host_port, client.embed_url(url, "notebooks/bridge.ipynb", token=token)
        )
        try:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(host_origin + "/")
            await page.wait_for_function(
                "window.events.some((e) => e.type === 'ready')", timeout=90000, polling=200
            )
            nb = next(f for f in page.frames if f.url.startswith(url))
            await nb.wait_for_function(
                "window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget.context"
                " && jupyterapp.shell.currentWidget.context.isReady",
                timeout=60000,
            )
            # a message from the wrong window is ignored by the frame ...
            await nb.evaluate("window.postMessage({jhembed: 1, type: 'save', id: 'evil'}, '*')")
            # ... and a fake answer on the host page is ignored by the host
            await page.evaluate("window.postMessage({jhembed: 1, type: 'ready', app: 'fake'}, '*')")
            # edit the notebook as a user would, then the host says save
            await nb.evaluate(
                "jupyterapp.shell.currentWidget.content.model.cells.get(0).sharedModel.setSource('x = 42')"
            )
            saved = await page.evaluate("window.app.save()")
            assert saved == {"path": "bridge.ipynb"}
            print(
                f"notebook 7: {time.monotonic() - started:.1f} s from the spawn request to a save"
            )
            events = await page.evaluate("window.events")
            assert not any(e.get("id") == "evil" or e.get("app") == "fake" for e in events), events
            assert any(e["type"] == "dirty" for e in events), events
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "embedded-notebook.png"))
            await context.close()
        finally:
            await runner.cleanup()
        # the save really happened: the file on the server has the edit
        model = await client.contents_get(url, "bridge.ipynb", token)
        assert model["content"]["cells"][0]["source"] == "x = 42"


@shared_hub
async def test_voila_widgets_in_a_cross_site_frame(hub, browser):
    """A Voila dashboard renders in the host's iframe and a widget round-trips through the kernel."""
    host_port, host_origin = hub.host_port, hub.host_origin
    started = time.monotonic()
    async with HubClient(hub.url, hub.token) as client:
        url, token = await start_for_frame(client, "jan", "dash")
        runner = await serve_bridge_host(host_port, client.embed_url(url, "", token=token))
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(host_origin + "/")
        # the bridge says ready once the widgets are on the page
        await page.wait_for_function(
            "window.events.some((e) => e.type === 'ready' && e.app === 'voila')",
            timeout=90000,
            polling=200,
        )
        frame = page.frame_locator("iframe")
        # "ready" came once the widgets were rendered: the label is there already
        assert await frame.get_by_text("n squared is 9").count() == 1
        # move the slider with the keyboard: the kernel computes, the label changes
        handle = frame.locator(
            ".noUi-handle, .widget-slider .ui-slider-handle, [role=slider]"
        ).first
        await handle.focus()
        await handle.press("ArrowRight")
        await frame.get_by_text("n squared is 16").wait_for(timeout=30000)
        print(
            f"voila: {time.monotonic() - started:.1f} s from the spawn request to a widget round trip"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "embedded-voila.png"))
        await context.close()
    finally:
        await runner.cleanup()
