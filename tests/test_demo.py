"""The README's demo: `python -m jhembed.demo` brings up the Hub and the host site."""

import asyncio
import html
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
from hub import ROOT, free_port

pytestmark = pytest.mark.slow


async def wait_for(url, proc, timeout=120):
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the demo exited"
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


async def test_demo_host_site_embeds_apps(tmp_path):
    hub_port, host_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jhembed.demo", "--hub-port", str(hub_port), "--host-port", str(host_port),
         "--demo-dir", str(tmp_path / "demo")],
        cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    host = f"http://localhost:{host_port}/"
    try:
        await wait_for(host, proc)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.post(host + "login", data={"name": "zoe"}) as r:
                assert r.status == 200
                assert "Voila dashboard" in await r.text()
            # the dashboard: a token-login iframe on the Hub's origin
            async with s.get(host + "open/dashboard") as r:
                page = await r.text()
                assert r.status == 200, page
            src = html.unescape(re.search(r'<iframe id="app" src="([^"]+)"', page).group(1))
            assert src.startswith(f"http://127.0.0.1:{hub_port}/user/zoe/dashboard/?token=")
            async with s.get(src, allow_redirects=False) as r:
                assert r.status == 302
                clean = r.headers["Location"]
                assert "token" not in clean  # token login leaves a clean URL
                # Secure; SameSite=None: a browser keeps it for 127.0.0.1, aiohttp only on https
                session_cookie = r.headers["Set-Cookie"].split(";", 1)[0]
            async with s.get(
                f"http://127.0.0.1:{hub_port}{clean}", headers={"Cookie": session_cookie}
            ) as r:
                frame = await r.text()
                assert r.status == 200, frame[:500]
                assert (
                    "n squared is 9" in frame or "IntSlider" in frame or "jupyter-widgets" in frame
                )
                csp = r.headers["Content-Security-Policy"]
                assert f"http://localhost:{host_port}" in csp
            # Notebook 7 with the bridge, then save a version into the host's database
            async with s.get(host + "open/notebook") as r:
                page = await r.text()
                assert r.status == 200 and "jhembed-host.js" in page, page
            async with s.post(host + "save/notebook") as r:
                saved = await r.json()
                assert r.status == 200, saved
                assert saved["path"] == "dashboard.ipynb" and saved["size"] > 100
            # JupyterLab opens in its own tab, with a token link
            async with s.get(host + "open/lab") as r:
                assert 'target="_blank"' in await r.text()
            async with s.get(host + "versions") as r:
                versions = await r.json()
            assert [v["app"] for v in versions] == ["notebook"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        print(out.decode(errors="replace")[-3000:])
    # the Hub and everything it started is gone
    await asyncio.sleep(1)
    leftover = subprocess.run(
        ["pgrep", "-f", f"JHEMBED_DEMO_HUB_PORT={hub_port}"], capture_output=True
    )
    assert leftover.returncode != 0 or not leftover.stdout
