"""Real third-party apps framed by another site, with the defaults an admin gets.

Only ``frame_ancestors`` and ``allow_token_login`` are set (tests/browser.py
``embed_config``); the browser is Debian's Chromium with third-party cookies
as Playwright's contexts have them (blocked). Each test measures the time from
the spawn request to the app being interactive in the frame and prints it.
"""

import asyncio
import sys
import time
from pathlib import Path

import pytest
from browser import ARTIFACTS, embed_config, launch_browser, serve_bridge_host
from hub import free_port

from jhembed.client import HubClient

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# jupyter-server-proxy packages (tests/entry-points.txt), installed by `make test`
ENTRY_POINTS = Path(sys.prefix) / "entry-points"


@pytest.fixture
async def browser():
    async with launch_browser() as b:
        yield b


def needs(*modules):
    for m in modules:
        pytest.importorskip(m, reason=f"make test installs {m} in .venv (the `apps` extra)")


def entry_points_env():
    if not ENTRY_POINTS.is_dir():
        pytest.skip(f"{ENTRY_POINTS} missing: make test installs tests/entry-points.txt there")
    return {"PYTHONPATH": str(ENTRY_POINTS)}


MARIMO_NOTEBOOK = '''import marimo

app = marimo.App()


@app.cell
def _():
    answer = 6 * 7
    answer
    return (answer,)


if __name__ == "__main__":
    app.run()
'''


async def frame_app(hub, browser, host_port, user, app, path, **query):
    """Start ``app`` for ``user``, frame it on a host page; (page, frame, seconds to the frame)."""
    started = time.monotonic()
    async with HubClient(hub.url, hub.token) as client:
        await client.ensure_user(user)
        url = await client.start_server(user, app=app, timeout=180)
        token = await client.create_token(
            user, scopes=[f"access:servers!server={user}/"], expires_in=600
        )
    runner = await serve_bridge_host(host_port, HubClient.embed_url(url, path, token=token, **query))
    context = await browser.new_context()
    page = await context.new_page()
    log = []
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.on("framenavigated", lambda f: log.append(f"navigated: {f.url[:140]}"))
    page.on("requestfailed", lambda r: log.append(f"failed: {r.method} {r.url[:140]} {r.failure}"))
    await page.goto(f"http://localhost:{host_port}/")
    return url, page, runner, log, started


async def test_marimo_entry_point_runs_a_cell_in_a_cross_site_frame(hub_factory, browser, tmp_path):
    needs("marimo")
    env = entry_points_env()
    home = tmp_path / "home"
    home.mkdir()
    (home / "answer.py").write_text(MARIMO_NOTEBOOK)
    host_port = free_port()
    host = f"http://localhost:{host_port}"
    extra = f"c.SimpleLocalProcessSpawner.home_dir_template = {str(home)!r}\n"
    # the catalog is the entry points' alone: marimo comes from jupyter-marimo-proxy
    hub = await hub_factory(embed_config(host, {}, extra), env=env)
    url, page, runner, log, started = await frame_app(
        hub, browser, host_port, "mia", "marimo", "marimo/", file="answer.py"
    )
    try:
        frame = None
        for _ in range(300):
            frame = next((f for f in page.frames if "/user/mia/marimo/" in f.url), None)
            if frame:
                break
            await asyncio.sleep(0.2)
        assert frame is not None, log
        # the editor is up; "run all" (bottom right) runs the cell in the kernel
        await frame.locator(".cm-content").first.wait_for(timeout=90000)
        await frame.locator("[data-testid=run-button]").last.click()
        try:
            await frame.get_by_text("42", exact=True).first.wait_for(timeout=60000)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "marimo-failed.png"))
            print("\n".join(log[-80:]))
            print(hub.log_tail(80))
            raise
        print(f"marimo: {time.monotonic() - started:.1f} s from the spawn request to its output")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "embedded-marimo.png"))
    finally:
        await runner.cleanup()
