"""Render the shipped deploy/ configurations and run real nginx / apache2 for tests.

Each server runs in the foreground (a child of the test), on random loopback
ports, with its own prefix, pid file, logs and temp dirs in a fresh directory,
and is stopped afterwards.  TLS uses a throwaway CA made with ``openssl``.

    certs = make_certs(directory)
    async with run_nginx(directory, {"PREFIX": "/", ...}) as web:
        web.url  # https://127.0.0.1:<port>
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
import yarl

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
_VARIABLE = re.compile(r"\{\{([A-Z_]+)\}\}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing(*binaries):
    """Why one of ``binaries`` cannot run here, or "" when they all can."""
    for binary in binaries:
        if not (os.access(binary, os.X_OK) or shutil.which(binary)):
            return f"{binary} is not installed (run `bash tools/system-deps.sh test`)"
    return ""


def render(template, variables):
    """The shipped file ``template`` (path under deploy/) with every ``{{VAR}}`` replaced.

    Fails when a variable is left without a value, so the tests notice new ones.
    """
    text = (DEPLOY / template).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    needed = set(_VARIABLE.findall(body))
    unset = needed - set(variables)
    assert not unset, f"{template}: no test value for {sorted(unset)}"
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), text)


def _workdir():
    # the servers' workers may run as nobody: their files must be readable by anyone
    path = Path(tempfile.mkdtemp(prefix="jhembed-web-"))
    path.chmod(0o755)
    return path


# -- TLS ---------------------------------------------------------------------------


def make_certs(directory):
    """A CA and a certificate for 127.0.0.1/localhost signed by it (openssl CLI).

    Returns dict(ca=..., cert=..., key=...) of paths.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    ca_key, ca, key, csr, cert = (
        d / n for n in ("ca.key", "ca.pem", "key.pem", "req.csr", "cert.pem")
    )
    ext = d / "ext.cnf"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=jhembed test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    run(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost",
    )  # fmt: skip
    run(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext),
    )  # fmt: skip
    for p in (key, cert, ca):
        p.chmod(0o644)
    return {"ca": str(ca), "cert": str(cert), "key": str(key)}


def client_ssl(ca):
    """An SSL context that trusts only the test CA (and checks the host name)."""
    return ssl.create_default_context(cafile=ca)


# -- processes -----------------------------------------------------------------------


class WebServer:
    def __init__(self, name, workdir, argv, ports, log_files):
        self.name = name
        self.dir = workdir
        self.argv = argv
        self.ports = ports
        self.log_files = log_files
        self.proc = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self.ports['https']}"

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.ports['http']}"

    def logs(self, n=40):
        out = []
        for f in self.log_files:
            if Path(f).exists():
                lines = Path(f).read_text(errors="replace").splitlines()[-n:]
                out.append(f"--- {f}\n" + "\n".join(lines))
        return "\n".join(out)

    async def start(self, timeout=20):
        out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.log_files.append(self.dir / "stdout.log")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}"
                )
            if all(_listening(p) for p in self.ports.values()):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen in {timeout}s:\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def access_log(self):
        path = self.dir / "logs" / "jupyterhub.access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def error_log(self):
        return "\n".join(
            Path(f).read_text(errors="replace") for f in self.log_files if Path(f).exists()
        )


def _listening(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def nginx(variables, certs, edit=None):
    """A WebServer for deploy/nginx/jupyterhub.conf (variables: PREFIX, HUB_UPSTREAM, ...).

    ``edit``: a function applied to the rendered file (for negative controls).
    """
    d = _workdir()
    ports = {"https": free_port(), "http": free_port()}
    values = {
        "SERVER_NAME": "127.0.0.1 localhost",
        "PUBLIC_ORIGIN": f"https://127.0.0.1:{ports['https']}",
        "LISTEN_HTTPS": f"127.0.0.1:{ports['https']}",
        "LISTEN_HTTP": f"127.0.0.1:{ports['http']}",
        "SSL_CERT": certs["cert"],
        "SSL_KEY": certs["key"],
        "ACCESS_LOG": f"{d}/logs/jupyterhub.access.log",
        **variables,
    }
    text = render("nginx/jupyterhub.conf", values)
    (d / "jupyterhub.conf").write_text(edit(text) if edit else text)
    for sub in ("tmp", "logs"):
        (d / sub).mkdir()
        (d / sub).chmod(0o777)
    tmp = d / "tmp"
    (d / "nginx.conf").write_text(
        f"""\
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log {d}/logs/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {d}/jupyterhub.conf;
}}
"""
    )
    argv = [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "logs/error.log")]
    return WebServer("nginx", d, argv, ports, [d / "logs/error.log"])


APACHE_MODULE_NAMES = [
    "mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user",
    "env", "socache_shmcb", "http2",
    # the ones jupyterhub.conf needs (a2enmod proxy proxy_http proxy_wstunnel headers ssl rewrite)
    "proxy", "proxy_http", "proxy_wstunnel", "headers", "ssl", "rewrite",
]  # fmt: skip


def apache(variables, certs, site_login=None, edit=None):
    """A WebServer for deploy/apache/jupyterhub.conf.

    ``site_login``: dict(users={name: password}) to include
    deploy/apache/jupyterhub-site-login.conf with an htpasswd file.
    """
    d = _workdir()
    ports = {"https": free_port(), "http": free_port()}
    values = {
        "SERVER_NAME": "127.0.0.1",
        "PUBLIC_ORIGIN": f"https://127.0.0.1:{ports['https']}",
        "VHOST_HTTPS": f"127.0.0.1:{ports['https']}",
        "VHOST_HTTP": f"127.0.0.1:{ports['http']}",
        "SSL_CERT": certs["cert"],
        "SSL_KEY": certs["key"],
        "SITE_LOGIN_CONF": str(d / "no-site-login.conf"),
        "ACCESS_LOG": f"{d}/logs/jupyterhub.access.log",
        **variables,
    }
    if site_login:
        htpasswd = d / "htpasswd"
        lines = []
        for user, password in site_login["users"].items():
            hashed = subprocess.run(
                ["openssl", "passwd", "-apr1", "-stdin"],
                input=password,
                text=True,
                capture_output=True,
                check=True,
            ).stdout.strip()
            lines.append(f"{user}:{hashed}\n")
        htpasswd.write_text("".join(lines))
        htpasswd.chmod(0o644)
        (d / "site-login.conf").write_text(
            render(
                "apache/jupyterhub-site-login.conf",
                {"PREFIX": values["PREFIX"], "HTPASSWD": htpasswd},
            )
        )
        values["SITE_LOGIN_CONF"] = str(d / "site-login.conf")
    text = render("apache/jupyterhub.conf", values)
    (d / "jupyterhub.conf").write_text(edit(text) if edit else text)
    for sub in ("run", "logs"):
        (d / sub).mkdir()
        (d / sub).chmod(0o777)
    modules = "\n".join(
        f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in APACHE_MODULE_NAMES
    )
    (d / "httpd.conf").write_text(
        f"""\
ServerRoot {d}
ServerName 127.0.0.1
{_run_as()}
DefaultRuntimeDir {d}/run
PidFile {d}/run/httpd.pid
Mutex file:{d}/run default
ErrorLog {d}/logs/error.log
LogLevel warn
{modules}
Listen 127.0.0.1:{ports["https"]}
Listen 127.0.0.1:{ports["http"]}
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 50
ServerLimit 2
SSLSessionCache shmcb:{d}/run/ssl_scache(512000)
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {d}/logs/access.log common
Include {d}/jupyterhub.conf
"""
    )
    argv = [APACHE, "-f", str(d / "httpd.conf"), "-DFOREGROUND"]
    return WebServer("apache2", d, argv, ports, [d / "logs/error.log"])


def _run_as():
    """Apache started by root hands its workers to an unprivileged user."""
    if os.geteuid() != 0:
        return ""
    import grp

    group = "nogroup"
    with contextlib.suppress(KeyError):
        grp.getgrnam("nogroup")
        return f"User nobody\nGroup {group}"
    return "User nobody\nGroup nobody"


@contextlib.asynccontextmanager
async def running(server):
    try:
        await server.start()
        yield server
    except BaseException:
        print(server.logs(80))
        raise
    finally:
        await server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


# -- client flows shared by the nginx and Apache tests ---------------------------------


def browser(ca, headers=None):
    """An aiohttp session that trusts the test CA and keeps cookies (like a browser)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=client_ssl(ca)),
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers=headers,
    )


async def follow(session, url, origin, max_hops=15, **kwargs):
    """GET ``url`` following redirects by hand; every absolute Location must stay on ``origin``.

    Returns (status, final URL, text, [locations]).
    """
    locations = []
    for _ in range(max_hops):
        async with session.get(url, allow_redirects=False, **kwargs) as r:
            if r.status not in (301, 302, 303, 307, 308):
                return r.status, str(r.url), await r.text(), locations
            location = r.headers["Location"]
        locations.append(location)
        if "://" in location.split("?")[0] or location.startswith("//"):
            assert location.startswith(origin + "/"), (
                f"redirect left {origin}: {location} (after {locations})"
            )
        url = str(yarl.URL(url).join(yarl.URL(location, encoded=True)))
    raise AssertionError(f"more than {max_hops} redirects: {locations}")


async def hub_login(session, base, name, password="any"):
    """Log in to the Hub's login form at ``base`` (the public Hub URL, ending in '/')."""
    async with session.get(f"{base}hub/login") as r:
        assert r.status == 200, (r.status, await r.text())
        page = await r.text()
    form = {"username": name, "password": password}
    m = re.search(r'name="_xsrf" value="([^"]+)"', page)
    if m:
        form["_xsrf"] = m.group(1)
    async with session.post(f"{base}hub/login", data=form, allow_redirects=False) as r:
        assert r.status == 302, (r.status, await r.text())


async def download(session, url, size):
    """Stream ``size`` bytes from testapp's /download; returns (sha256 hex, MB/s)."""
    h = hashlib.sha256()
    got = 0
    start = time.monotonic()
    async with session.get(f"{url}download?size={size}") as r:
        assert r.status == 200, (r.status, await r.text())
        async for chunk in r.content.iter_chunked(1 << 20):
            h.update(chunk)
            got += len(chunk)
    elapsed = time.monotonic() - start
    assert got == size, (got, size)
    return h.hexdigest(), size / elapsed / 1e6


async def upload(session, url, size, pattern, chunked=False):
    """Stream ``size`` bytes to testapp's /upload; returns (reply, MB/s).

    With a Content-Length (as browsers send files), or ``chunked``.
    """

    async def body():
        sent = 0
        while sent < size:
            n = min(len(pattern), size - sent)
            yield pattern[:n]
            sent += n

    start = time.monotonic()
    headers = {"Content-Type": "application/octet-stream"}
    if not chunked:
        headers["Content-Length"] = str(size)
    async with session.post(f"{url}upload", data=body(), headers=headers) as r:
        text = await r.text()
        assert r.status == 200, (r.status, text[:500])
    elapsed = time.monotonic() - start
    return json.loads(text), size / elapsed / 1e6


async def idle_websocket(session, url, idle):
    """Open a websocket, leave it idle for ``idle`` seconds, then use it; returns the echo
    (or the type of the message that came instead, e.g. ``WSMsgType.CLOSE``)."""
    async with session.ws_connect(url, autoping=True, heartbeat=None) as ws:
        await ws.send_str("hello")
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == "hello", msg
        await asyncio.sleep(idle)
        try:
            await ws.send_str("still there")
        except aiohttp.ClientConnectionResetError:
            return "closed while idle"
        msg = await ws.receive(timeout=10)
        return msg.data if msg.type == aiohttp.WSMsgType.TEXT else msg.type


def framing_headers(headers):
    """The headers a reverse proxy must neither add nor duplicate."""
    names = ("content-security-policy", "x-frame-options", "access-control-allow-origin")
    return {n: sorted(headers.getall(n, [])) for n in names}


async def curl_http2(url, ca, headers=()):
    """GET ``url`` with curl over HTTP/2 (curl's nghttp2), hashing the body as it streams.

    Returns (HTTP version, status, sha256 of the body, size).
    """
    argv = [
        "curl",
        "--http2",
        "-sS",
        "--cacert",
        ca,
        "-o",
        "-",
        "-w",
        "\n%{http_version} %{http_code}",
    ]
    for h in headers:
        argv += ["-H", h]
    proc = await asyncio.create_subprocess_exec(
        *argv, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    h = hashlib.sha256()
    tail = b""
    size = 0
    while chunk := await proc.stdout.read(1 << 20):
        data = tail + chunk
        # keep the last bytes back: they may be curl's "-w" trailer
        h.update(data[:-64])
        size += len(data[:-64])
        tail = data[-64:]
    await proc.wait()
    assert proc.returncode == 0, (await proc.stderr.read()).decode()
    body, _, trailer = tail.rpartition(b"\n")
    h.update(body)
    size += len(body)
    version, status = trailer.decode().split()
    return version, int(status), h.hexdigest(), size


# -- checks both reverse proxies must pass ----------------------------------------------------


async def check_token_not_logged(server, session, url):
    """A token in a URL (iframe login link) stays out of the server's access log."""
    secret = "tok" + "e" * 8 + "nsecret"
    async with session.get(f"{url}echo?x=1&token={secret}", allow_redirects=False):
        pass
    log = server.access_log()
    assert "x=1&token=" in log or "/echo" in log, log[-500:]
    assert secret not in log


async def check_big_transfer(session, url, size, label):
    """``size`` bytes down and up through the server, streamed, sha256 equal; prints the rates."""
    from testapp import PATTERN, expected_sha

    sha, down_rate = await download(session, url, size)
    assert sha == expected_sha(size)
    reply, up_rate = await upload(session, url, size, PATTERN)
    assert reply == {"length": size, "sha256": expected_sha(size)}
    print(f"{label}: download {down_rate:.0f} MB/s, upload {up_rate:.0f} MB/s")


async def check_http_redirects_to_https(server):
    """Plain HTTP on the server's http port is sent to https."""
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(server.http_url + "/hub/", allow_redirects=False) as r,
    ):
        assert r.status == 301
        assert r.headers["Location"] == server.url + "/hub/"


async def check_framing_unchanged(session, url, server, hub, token, frame_origin):
    """The app's and the Hub's framing headers are the same through the server as
    straight from the Hub's proxy: nothing added or doubled (``url``: alice's server)."""

    async def compare(proxied_url, direct_url):
        async with session.get(proxied_url) as r:
            proxied = framing_headers(r.headers)
        async with (
            aiohttp.ClientSession() as direct,
            direct.get(direct_url, headers={"Authorization": f"token {token}"}) as r,
        ):
            assert r.status == 200
            assert framing_headers(r.headers) == proxied
        return proxied

    direct = f"http://127.0.0.1:{hub.port}"
    proxied = await compare(url + "headers", f"{direct}/user/alice/headers")
    assert proxied["x-frame-options"] == [], proxied
    # the Hub's own pages too
    hub_proxied = await compare(f"{server.base}hub/home", f"{direct}/hub/home")
    assert hub_proxied["content-security-policy"], hub_proxied
    [csp] = proxied["content-security-policy"]
    assert f"frame-ancestors {frame_origin}" in csp, csp
