"""The per-server header policy on real responses: CSP, X-Frame-Options, cookies, CORS."""

import aiohttp
from proxyutil import run_proxy

HOST = "https://host.example"


async def get(url, **kwargs):
    async with aiohttp.ClientSession() as s:
        async with s.request(
            kwargs.pop("method", "GET"), url, allow_redirects=False, **kwargs
        ) as r:
            await r.read()
            return r.status, r.headers


async def test_default_policy_is_self():
    async with run_proxy() as p:
        status, headers = await get(p.url + "headers")
        assert status == 200
        csp = headers.getall("Content-Security-Policy")
        assert csp == ["default-src 'self'; frame-ancestors 'self'"]
        # same-origin framing only: the app's X-Frame-Options stays
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Set-Cookie"] == "_xsrf=abc; Path=/"
        # the proxy's own pages carry the policy too
        status, headers = await get(f"http://127.0.0.1:{p.port}/../x")
        assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]


async def test_cross_origin_framing():
    # the defaults: another site may frame, so cookies are SameSite=None, Secure, Partitioned
    async with run_proxy("--frame-ancestors", HOST, base_url="/user/x/") as p:
        status, headers = await get(p.url + "headers")
        csp = headers.getall("Content-Security-Policy")
        assert csp == [f"default-src 'self'; frame-ancestors {HOST}"]
        assert "X-Frame-Options" not in headers
        cookie = headers["Set-Cookie"]
        assert cookie == "_xsrf=abc; Path=/user/x/; SameSite=None; Secure; Partitioned"
        # apps that send no CSP get the frame-ancestors directive alone
        status, headers = await get(p.url + "echo")
        assert headers["Content-Security-Policy"] == f"frame-ancestors {HOST}"


async def test_cookie_partitioned_opt_out():
    async with run_proxy(
        "--frame-ancestors", HOST, "--no-cookie-partitioned", base_url="/user/x/"
    ) as p:  # fmt: skip
        _, headers = await get(p.url + "headers")
        assert headers["Set-Cookie"] == "_xsrf=abc; Path=/user/x/; SameSite=None; Secure"
    # not framed by another site: the app's cookies keep their own attributes
    async with run_proxy("--cookie-partitioned", base_url="/user/x/") as p:
        _, headers = await get(p.url + "headers")
        assert headers["Set-Cookie"] == "_xsrf=abc; Path=/user/x/"


async def test_several_frame_ancestors_and_keywords():
    async with run_proxy(
        "--frame-ancestors", "'self'", "--frame-ancestors", HOST, "--frame-ancestors", "https://*.corp.example"
    ) as p:  # fmt: skip
        _, headers = await get(p.url + "headers")
        assert headers["Content-Security-Policy"].endswith(
            f"frame-ancestors 'self' {HOST} https://*.corp.example"
        )


async def test_cors():
    async with run_proxy("--cors-origins", HOST) as p:
        # preflight from an allowed origin
        status, headers = await get(
            p.url + "echo",
            method="OPTIONS",
            headers={"Origin": HOST, "Access-Control-Request-Method": "PUT",
                     "Access-Control-Request-Headers": "content-type"},
        )  # fmt: skip
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == HOST
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert headers["Access-Control-Allow-Methods"] == "PUT"
        assert headers["Access-Control-Allow-Headers"] == "content-type"
        # preflight from anyone else
        status, headers = await get(
            p.url + "echo",
            method="OPTIONS",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
        )
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        # the app's own "Access-Control-Allow-Origin: *" is replaced
        _, headers = await get(p.url + "headers", headers={"Origin": HOST})
        assert headers["Access-Control-Allow-Origin"] == HOST
        _, headers = await get(p.url + "headers", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers


async def test_extra_headers_and_samesite():
    async with run_proxy(
        "--extra-headers", "X-Robots-Tag=noindex", "--cookie-samesite", "Lax"
    ) as p:
        _, headers = await get(p.url + "headers")
        assert headers["X-Robots-Tag"] == "noindex"
        assert headers["Set-Cookie"] == "_xsrf=abc; Path=/; SameSite=Lax"
