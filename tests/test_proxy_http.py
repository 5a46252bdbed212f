"""HTTP forwarding: methods, prefix, redirects, headers, bad paths."""

import json
import socket
import sys

import aiohttp
import pytest
from proxyutil import run_proxy

PREFIX = "/user/x/"


async def fetch(method, url, **kwargs):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url, allow_redirects=False, **kwargs) as r:
            return r.status, r.headers, await r.read()


def headers_of(echo):
    return {k.lower(): v for k, v in echo["headers"]}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])
async def test_methods_and_bodies(method):
    async with run_proxy() as p:
        status, _, body = await fetch(method, p.url + "echo?a=1", data=b"payload" * 1000)
        assert status == 200
        echo = json.loads(body)
        assert echo["method"] == method and echo["query"] == "a=1"
        assert echo["length"] == 7000


async def test_prefix_stripped_kept_and_outside():
    async with run_proxy(base_url=PREFIX) as p:
        status, _, body = await fetch("GET", p.url + "echo")
        assert status == 200 and json.loads(body)["path"] == "/echo"
        headers = headers_of(json.loads(body))
        assert headers["x-forwarded-prefix"] == "/user/x"
        # as jupyter-server-proxy 4.x sends them (its standalone tests check both)
        assert headers["x-forwarded-context"] == PREFIX
        assert headers["x-proxycontextpath"] == PREFIX
        assert headers["x-forwarded-proto"] == "http"
        assert headers["x-forwarded-host"] == f"127.0.0.1:{p.port}"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        # outside the prefix: 404; the prefix without slash: redirect
        status, _, _ = await fetch("GET", f"http://127.0.0.1:{p.port}/other/echo")
        assert status == 404
        status, headers, _ = await fetch("GET", f"http://127.0.0.1:{p.port}/user/x")
        assert status == 301 and headers["Location"] == PREFIX  # as jupyter standaloneproxy
        # redirects from the app stay under the prefix
        status, headers, _ = await fetch("GET", p.url + "redirect")
        assert status == 302 and headers["Location"] == PREFIX + "echo"
    cmd = [sys.executable, "tests/testapp.py", "--port", "{port}", "--prefix", "{base_url}"]
    async with run_proxy("--absolute-url", base_url=PREFIX, cmd=cmd) as p:
        status, _, body = await fetch("GET", p.url + "echo")
        assert status == 200 and json.loads(body)["path"] == PREFIX + "echo"


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", "%2e%2e/x", "a/%2E%2E/b", "./echo"])
async def test_dot_segments_refused(path):
    async with run_proxy(base_url=PREFIX) as p:
        # send the path raw, as a client bent on escaping the prefix would
        reader_writer = socket.create_connection(("127.0.0.1", p.port))
        with reader_writer as sock:
            sock.sendall(f"GET {PREFIX}{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = sock.recv(1000).decode()
        assert head.startswith("HTTP/1.1 400"), head


async def test_hop_by_hop_headers_dropped():
    async with run_proxy() as p:
        status, _, body = await fetch(
            "GET",
            p.url + "echo",
            headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "TE": "trailers",
                     "X-Forwarded-User": "mallory"},
        )  # fmt: skip
        headers = headers_of(json.loads(body))
        assert "x-secret-hop" not in headers and "te" not in headers
        assert "x-forwarded-user" not in headers


async def test_request_headers_override():
    async with run_proxy("--request-headers-override", "X-Api-Key=abc") as p:
        _, _, body = await fetch("GET", p.url + "echo", headers={"X-Api-Key": "client"})
        assert headers_of(json.loads(body))["x-api-key"] == "abc"


async def test_python_http_server_directory_listing(tmp_path):
    (tmp_path / "hello-file.txt").write_text("hi")
    cmd = [sys.executable, "-m", "http.server", "--directory", str(tmp_path), "{port}"]
    async with run_proxy(cmd=cmd) as p:
        status, _, body = await fetch("GET", p.url)
        assert status == 200
        assert b"Directory listing" in body and b"hello-file.txt" in body


async def test_bad_requests_get_4xx_not_tracebacks():
    async with run_proxy() as p:
        for raw in (
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", p.port)) as sock:
                sock.settimeout(5)
                sock.sendall(raw)
                try:
                    head = sock.recv(1000).decode(errors="replace")
                except ConnectionResetError:
                    head = ""
            # the front answers 4xx or closes; never a 5xx or a traceback
            assert head == "" or head.startswith("HTTP/1.1 4"), head
            assert "Traceback" not in head
        assert "Traceback" not in p.output()


async def test_max_body_size():
    async with run_proxy("--max-body-size", "1000") as p:
        status, _, _ = await fetch("POST", p.url + "echo", data=b"x" * 500)
        assert status == 200
        with pytest.raises(aiohttp.ClientError):
            status, _, _ = await fetch("POST", p.url + "echo", data=b"x" * 5000)
            assert status >= 400
            raise aiohttp.ClientError("refused with a status")
