"""The README's demo: `python -m jhembed.demo` brings up the Hub and the host site."""

import asyncio
import contextlib
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def readme_demo_urls():
    """The URLs the README's demo paragraph tells a newcomer to open, cut out the way
    a reader (or a script) cuts them: from ``http`` to the next whitespace."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("`make demo` starts") : text.index("Ctrl-C stops everything")]
    return re.findall(r"https?://\S+", section)


def test_readme_demo_urls_stand_alone():
    """Each demo URL in the README is whole when cut at whitespace: no trailing comma,
    bracket or backtick that a copied link or a link checker would keep."""
    urls = readme_demo_urls()
    assert len(urls) >= 2
    for url in urls:
        assert re.fullmatch(r"http://(127\.0\.0\.1|localhost):\d+/[\w/.-]*", url), url


@pytest.mark.hub  # python -m jhembed.demo with this interpreter: runs on JupyterHub 5 too
async def test_demo_host_site_embeds_apps(tmp_path):
    hub_port, host_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jhembed.demo", "--hub-port", str(hub_port), "--host-port", str(host_port),
         "--hub-api-port", str(free_port()), "--proxy-api-port", str(free_port()),
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
        # the launcher, linked from the Hub's home page
        async with hub_login(hub_port, "zoe") as s:
            async with s.get(f"http://127.0.0.1:{hub_port}/hub/home") as r:
                home = await r.text()
            assert 'id="jhembed-launcher-link"' in home and 'href="/services/apps/"' in home
            async with s.get(f"http://127.0.0.1:{hub_port}/services/apps/") as r:
                launcher = await r.text()
                assert r.status == 200, launcher[:500]
            assert "Voila dashboard" in launcher and 'id="app-dashboard"' in launcher
            assert 'data-state="ready"' in launcher  # zoe's dashboard, started by the host site
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


@contextlib.asynccontextmanager
async def hub_login(hub_port, name):
    """An aiohttp session logged in to the demo's Hub (any name, any password)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        login = f"http://127.0.0.1:{hub_port}/hub/login"
        async with s.get(login) as r:
            xsrf = re.search(r'name="_xsrf" value="([^"]+)"', await r.text())
        form = {"username": name, "password": "demo"}
        if xsrf:
            form["_xsrf"] = html.unescape(xsrf.group(1))
        async with s.post(login, data=form, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
        yield s


def _stop(proc):
    """Ctrl-C, as a user stops the demo; returns its output."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out.decode(errors="replace")


async def test_make_demo_with_its_default_ports(tmp_path):
    """`make demo` exactly as the README says: the Hub on JupyterHub's and
    configurable-http-proxy's own default ports, the host site on a port that is none
    of them; both sites answer on their documented URLs."""
    from jupyterhub.app import JupyterHub

    from jhembed.demo.__main__ import PORTS

    defaults = {flag: port for flag, port, _, _ in PORTS}
    hub_defaults = {
        "--hub-port": JupyterHub.port.default_value,
        "--hub-api-port": JupyterHub.hub_port.default_value,
        "--proxy-api-port": 8001,  # ConfigurableHTTPProxy.api_url's default, 127.0.0.1:8001
    }
    assert hub_defaults == {"--hub-port": 8000, "--hub-api-port": 8081, "--proxy-api-port": 8001}
    assert {flag: defaults[flag] for flag in hub_defaults} == hub_defaults
    assert defaults["--host-port"] not in hub_defaults.values()
    # only the state directory moves (the ports are the defaults)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"DEMO_ARGS=--demo-dir {tmp_path / 'demo'}"],
        cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out = ""
    try:
        await wait_for(f"http://127.0.0.1:{defaults['--hub-port']}/hub/login", proc)
        # what a JupyterHub admin tries first: the Hub's API on its default port
        await wait_for("http://127.0.0.1:8000/hub/api/", proc)
        await wait_for(f"http://localhost:{defaults['--host-port']}/", proc)
        # every URL the README's demo paragraph names, as written there
        urls = readme_demo_urls()
        assert f"http://localhost:{defaults['--host-port']}/" in urls
        assert f"http://127.0.0.1:{defaults['--hub-port']}/" in urls
        for url in urls:
            await wait_for(url, proc, timeout=10)
        from jhembed.demo.__main__ import _host_site_addresses

        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://localhost:{defaults['--host-port']}/") as r:
                assert "Log in to the portal" in await r.text()
            # whichever loopback address a browser picks for "localhost"
            for address in _host_site_addresses():
                host = f"[{address}]" if ":" in address else address
                async with s.get(f"http://{host}:{defaults['--host-port']}/") as r:
                    assert "Log in to the portal" in await r.text(), address
    finally:
        out = _stop(proc)
        print(out[-3000:])
    assert "jhembed demo is running" in out
    assert f"http://localhost:{defaults['--host-port']}/" in out
    assert f"http://127.0.0.1:{defaults['--hub-port']}/" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    "flag", ["--hub-port", "--host-port", "--hub-api-port", "--proxy-api-port"]
)
def test_demo_port_in_use_is_one_clear_line(tmp_path, flag):
    ports = {
        f: free_port() for f in ("--hub-port", "--host-port", "--hub-api-port", "--proxy-api-port")
    }
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[flag]))
        busy.listen()
        args = [a for f, p in ports.items() for a in (f, str(p))]
        done = subprocess.run(
            [sys.executable, "-m", "jhembed.demo", *args, "--demo-dir", str(tmp_path / "d")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {ports[flag]}" in lines[0] and flag in lines[0] and "in use" in lines[0]
    assert not (tmp_path / "d" / "jupyterhub.sqlite").exists()  # nothing started


def test_demo_login_pattern_is_a_valid_browser_regexp():
    """Browsers compile <input pattern> with the "v" flag, where "-" inside a class must
    be escaped; an invalid pattern is ignored silently (the input accepts anything)."""
    from jhembed.demo import host

    source = Path(host.__file__).read_text()
    pattern = html.unescape(re.search(r'pattern="([^"]+)"', source).group(1)).replace("\\\\", "\\")
    script = (
        "const re = new RegExp('^(?:' + process.argv[1] + ')$', 'v');"
        "process.stdout.write(JSON.stringify(['zoe', 'a-1', 'Zoe', '1a', 'a b'].map(s => re.test(s))))"
    )
    done = subprocess.run(["node", "-e", script, pattern], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, True, False, False, False]
