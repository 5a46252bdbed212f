"""The bridge's script tag on the app's pages, and its static files."""

import aiohttp
import pytest
from proxyutil import run_proxy

from jhembed.proxy.bridge import BridgeInjector

HOST = "https://host.example"


def test_inject_places_the_tag():
    injector = BridgeInjector(
        script_url="/p/_jhembed/jhembed-frame.js", allowed_origins=["'self'", HOST]
    )
    out = injector.inject(b"<html><head><title>t</title></head><body>x</body></html>")
    # the storage fallback runs first, before any of the app's scripts ...
    assert out.startswith(
        b'<html><head><script src="/p/_jhembed/jhembed-storage.js"></script><title>t</title>'
        b'<script type="module"'
    )
    # ... the bridge's module (deferred anyway) closes the head
    assert b'data-jhembed-origins="https://host.example"' in out and out.endswith(
        b"</script></head><body>x</body></html>"
    )
    out = injector.inject(b"<html><HEAD lang=en><header></header></HEAD>")
    assert out.startswith(b"<html><HEAD lang=en><script src=")
    assert b"<header></header><script type=" in out
    assert injector.inject(b"<body class='a'>x").startswith(
        b"<body class='a'><script src=\"/p/_jhembed/jhembed-storage.js\"></script><script type"
    )
    assert injector.inject(b"plain").endswith(b"</script>plain")
    # only the start of a document is searched
    late = b"x" * (300 * 1024) + b"<head></head>"
    assert injector.inject(late).startswith(b"<script")


@pytest.mark.parametrize(
    "status, headers, wanted",
    [
        (200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": "100"}, True),
        (200, {"Content-Type": "text/html"}, True),
        (200, {"Content-Type": "application/json"}, False),
        (404, {"Content-Type": "text/html"}, False),
        (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, False),
        (200, {"Content-Type": "text/html", "Content-Length": str(10 * 2**20)}, False),
    ],
)
def test_which_responses(status, headers, wanted):
    injector = BridgeInjector(script_url="/x.js", allowed_origins=[HOST])
    assert injector.wants(status, headers) is wanted


async def test_proxy_adds_the_bridge_to_pages_only():
    async with run_proxy("--bridge", "--frame-ancestors", HOST, base_url="/user/b/") as p:
        async with aiohttp.ClientSession() as s:
            for query in ("", "?chunked=1"):
                async with s.get(
                    p.url + "page" + query,
                    headers={"Accept": "text/html", "Accept-Encoding": "gzip"},
                ) as r:
                    body = await r.read()
                    assert r.status == 200
                    assert b'src="/user/b/_jhembed/jhembed-frame.js"' in body
                    assert b'src="/user/b/_jhembed/jhembed-storage.js"' in body
                    assert body.index(b"<script") < body.index(b"</head>")
                    assert int(r.headers["Content-Length"]) == len(body)
                    assert b"hello page" in body
            # too big to buffer: passed through untouched, streamed
            async with s.get(
                p.url + "page?chunked=1&big=3000000", headers={"Accept": "text/html"}
            ) as r:
                body = await r.read()
                assert b"jhembed-frame.js" not in body and len(body) > 3_000_000
            # not HTML: untouched
            async with s.get(p.url + "echo") as r:
                assert b"jhembed" not in await r.read()
            # the proxy serves the scripts itself
            async with s.get(p.url + "_jhembed/jhembed-frame.js") as r:
                assert r.status == 200 and "postMessage" in await r.text()
            async with s.get(p.url + "_jhembed/jhembed-storage.js") as r:
                assert r.status == 200 and "localStorage" in await r.text()
    async with run_proxy() as p:  # off by default
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "page", headers={"Accept": "text/html"}) as r:
                assert b"jhembed" not in await r.read()
