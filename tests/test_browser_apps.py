"""Real third-party apps framed by another site, with the defaults an admin gets.

Only ``frame_ancestors`` and ``allow_token_login`` are set (tests/browser.py
``embed_config``); the browser is Debian's Chromium with third-party cookies
as Playwright's contexts have them (blocked). Each test measures the time from
the spawn request to the app being interactive in the frame and prints it.
"""

import asyncio
import contextlib
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


MARIMO_NOTEBOOK = """import marimo

app = marimo.App()


@app.cell
def _():
    answer = 6 * 7
    answer
    return (answer,)


if __name__ == "__main__":
    app.run()
"""


class Framed:
    """An app in a cross-site frame: ``frame``, and the seconds since its spawn request."""

    def __init__(self, frame, started):
        self.frame, self.started = frame, started

    def seconds(self):
        return time.monotonic() - self.started


@contextlib.asynccontextmanager
async def framed_app(hub_factory, browser, tmp_path, user, app, path, *, files, apps=None, env=None, **query):  # fmt: skip
    """A Hub whose ``user`` has ``files`` at home, ``app`` started and ``path`` of it framed
    by a host page on another origin (token login, the defaults otherwise).

    ``apps``: the catalog (none: the installed entry points alone). On a failure
    in the block, a screenshot, the page's log and the Hub's are kept; on success,
    a screenshot ``embedded-<app>.png``.
    """
    home = tmp_path / "home"
    home.mkdir()
    for name, text in files.items():
        (home / name).write_text(text)
    host_port = free_port()
    extra = f"c.SimpleLocalProcessSpawner.home_dir_template = {str(home)!r}\n"
    hub = await hub_factory(embed_config(f"http://localhost:{host_port}", apps or {}, extra), env=env)  # fmt: skip
    started = time.monotonic()
    async with HubClient(hub.url, hub.token) as client:
        await client.ensure_user(user)
        url = await client.start_server(user, app=app, timeout=180)
        token = await client.create_token(
            user, scopes=[f"access:servers!server={user}/"], expires_in=600
        )
    runner = await serve_bridge_host(
        host_port, HubClient.embed_url(url, path, token=token, **query)
    )
    try:
        context = await browser.new_context()
        page = await context.new_page()
        log = []  # printed when something fails: where it stopped
        page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
        page.on("framenavigated", lambda f: log.append(f"navigated: {f.url[:140]}"))
        page.on("requestfailed", lambda r: log.append(f"failed: {r.method} {r.url[:140]} {r.failure}"))  # fmt: skip
        await page.goto(f"http://localhost:{host_port}/")
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            yield Framed(await app_frame(page, url, log), started)
        except Exception:
            await page.screenshot(path=str(ARTIFACTS / f"{app}-failed.png"))
            print("\n".join(log[-80:]))
            print(hub.log_tail(80))
            raise
        await page.screenshot(path=str(ARTIFACTS / f"embedded-{app}.png"))
    finally:
        await runner.cleanup()


async def app_frame(page, url, log):
    """The frame showing the server at ``url`` (once the host page has made it)."""
    for _ in range(300):
        frame = next((f for f in page.frames if f.url.startswith(url)), None)
        if frame:
            return frame
        await asyncio.sleep(0.2)
    raise AssertionError(f"no frame of {url}: {log}")


async def test_marimo_entry_point_runs_a_cell_in_a_cross_site_frame(hub_factory, browser, tmp_path):
    needs("marimo")
    # the catalog is the entry points' alone: marimo comes from jupyter-marimo-proxy
    async with framed_app(
        hub_factory, browser, tmp_path, "mia", "marimo", "marimo/", file="answer.py",
        files={"answer.py": MARIMO_NOTEBOOK}, env=entry_points_env(),
    ) as app:  # fmt: skip
        # the editor is up; "run all" (bottom right) runs the cell in the kernel
        await app.frame.locator(".cm-content").first.wait_for(timeout=90000)
        await app.frame.locator("[data-testid=run-button]").last.click()
        await app.frame.get_by_text("42", exact=True).first.wait_for(timeout=60000)
        print(f"marimo: {app.seconds():.1f} s from the spawn request to a cell's output")


STREAMLIT_SCRIPT = """import streamlit as st

name = st.text_input("Your name")
if name:
    st.write(f"Hello, {name}!")
upload = st.file_uploader("A file")
if upload is not None:
    st.write(f"received {upload.name}: {len(upload.getvalue())} bytes")
"""


async def test_streamlit_widget_and_file_upload_in_a_cross_site_frame(
    hub_factory, browser, tmp_path
):
    needs("streamlit")
    upload = tmp_path / "data.csv"
    upload.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    apps = {"st": {"preset": "streamlit", "options": {"script": {"default": "hello.py"}}}}
    async with framed_app(
        hub_factory, browser, tmp_path, "sam", "st", "", files={"hello.py": STREAMLIT_SCRIPT},
        apps=apps,
    ) as app:  # fmt: skip
        name = app.frame.get_by_label("Your name")
        await name.wait_for(timeout=90000)
        await name.fill("Ada")
        await name.press("Enter")
        await app.frame.get_by_text("Hello, Ada!").wait_for(timeout=30000)
        print(f"streamlit: {app.seconds():.1f} s from the spawn request to a widget round trip")
        # the upload is a PUT guarded by Streamlit's XSRF cookie: it must come back in the frame
        await app.frame.locator("input[type=file]").set_input_files(str(upload))
        await app.frame.get_by_text("received data.csv: 4004 bytes").wait_for(timeout=30000)


PANEL_APP = """import panel as pn

clicks = pn.widgets.IntInput(name="clicks", value=0, disabled=True)
button = pn.widgets.Button(name="Add one")
text = pn.pane.Markdown("clicked 0 times")


def add(event):
    clicks.value += 1
    text.object = f"clicked {clicks.value} times"


button.on_click(add)
pn.Column(button, text).servable()
"""


async def test_panel_entry_point_callback_in_a_cross_site_frame(hub_factory, browser, tmp_path):
    needs("panel")
    # panel comes from jupyter-panel-proxy, which finds the apps in the user's home
    async with framed_app(
        hub_factory, browser, tmp_path, "pat", "panel", "panel/counter",
        files={"counter.py": PANEL_APP}, env=entry_points_env(),
    ) as app:  # fmt: skip
        button = app.frame.get_by_role("button", name="Add one")
        await button.wait_for(timeout=120000)
        await button.click()
        await app.frame.get_by_text("clicked 1 times").wait_for(timeout=30000)
        print(f"panel: {app.seconds():.1f} s from the spawn request to a callback")
