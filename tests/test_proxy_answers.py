"""The proxy's own answers (jhembed.proxy.answers): pure, one text per case."""

from jhembed.proxy import answers
from jhembed.proxy.headers import HeaderPolicy

HOST = "https://host.example"


def _headers(answer):
    return dict(answer[1])


def test_every_page_is_html_for_browsers_and_text_for_others():
    status, headers, body = answers.not_found("/user/x/", html=False)
    assert status == 404
    assert headers == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ]
    assert body == b"Not found: This server only answers under /user/x/.\n"
    status, headers, body = answers.not_found("/user/<x>/", html=True)
    assert _headers((status, headers, body))["Content-Type"] == "text/html; charset=utf-8"
    assert body.startswith(b"<!DOCTYPE html>") and b"/user/&lt;x&gt;/" in body
    assert b"<x>" not in body  # escaped


def test_add_slash_and_mount_redirects():
    assert answers.add_slash("/user/x") == (
        301,
        [("Content-Type", "text/html; charset=UTF-8"), ("Location", "/user/x/")],
        b"",
    )
    assert _headers(answers.add_slash("/user/x?a=1&b"))["Location"] == "/user/x/?a=1&b"
    assert answers.mount_redirect("/user/x/app/", "")[0] == 302
    assert _headers(answers.mount_redirect("/user/x/app/", ""))["Location"] == "/user/x/app/"
    assert _headers(answers.mount_redirect("/user/x/app/", "a=1"))["Location"] == (
        "/user/x/app/?a=1"
    )


def test_refusals_say_what_is_wrong():
    assert answers.dot_segments(html=False)[2] == (
        b"Bad request: Paths with '.' or '..' segments are refused.\n"
    )
    status, headers, body = answers.method_not_allowed("TRACE", ("GET", "HEAD"), html=False)
    assert status == 405 and ("Allow", "GET, HEAD") in headers
    assert b"TRACE" in body and b"GET, HEAD" in body
    status, _, body = answers.too_large(5000, 1000, html=False)
    assert status == 413 and b"5000" in body and b"1000" in body and b"--max-body-size" in body
    assert answers.websocket_refused(html=False)[:1] == (403,)
    assert (
        answers.websocket_refused(html=False)[2] == b"Forbidden: Cross-origin websocket refused.\n"
    )
    assert answers.cors_refused(html=False)[2] == (
        b"Forbidden: This origin may not call this server (CORS).\n"
    )
    assert answers.websocket_refused_by_app(200, "no", html=False)[0] == 502
    assert answers.websocket_refused_by_app(404, "no", html=False)[0] == 404


def test_preflight_from_the_policy():
    policy = HeaderPolicy(cors_origins=[HOST])
    status, headers, body = answers.preflight(policy, HOST, "PUT", "content-type", html=False)
    assert (status, body) == (204, b"")
    assert headers == [
        ("Access-Control-Allow-Origin", HOST),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "PUT"),
        ("Access-Control-Allow-Headers", "content-type"),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ]
    status, headers, _ = answers.preflight(policy, "https://evil.example", "PUT", None, html=False)
    assert status == 403 and "Access-Control-Allow-Origin" not in _headers((status, headers, b""))


def test_app_starting_and_down():
    status, headers, body = answers.unavailable("lab", "starting", None, html=True)
    assert status == 503 and ("Retry-After", "1") in headers
    assert b"lab is starting" in body and b'<meta http-equiv="refresh" content="1">' in body
    status, headers, body = answers.unavailable("lab", "restarting", 3, html=False)
    assert status == 502 and ("Retry-After", "2") in headers
    assert body == (
        b"lab is not running: The app lab exited with code 3; it is being restarted. "
        b"This page reloads by itself.\n"
    )
    status, _, body = answers.unavailable("lab", "stopped", 1, html=True)
    assert status == 502 and b"exited with code 1." in body and b"refresh" not in body
    assert answers.gateway_timeout("lab", 2.5, html=False)[2] == (
        b"Gateway timeout: lab did not answer within 2.5s.\n"
    )
    assert answers.bad_gateway("lab", "ConnectionError", html=False)[:1] == (502,)
    assert answers.proxy_error(html=False)[0] == 500


def test_starting_page_with_the_owners_output():
    output = "loading <model> & data\ntoken=[secret]"
    status, headers, body = answers.unavailable("lab", "starting", None, html=True, output=output)
    assert status == 503 and ("Retry-After", "1") in headers
    assert b"shown to you, the owner, only" in body
    # escaped, in a <pre>: the app's output is never markup
    assert b"<pre>loading &lt;model&gt; &amp; data\ntoken=[secret]</pre>" in body
    assert b"<model>" not in body
    _, _, text = answers.unavailable("lab", "starting", None, html=False, output=output)
    assert text == (
        b"lab is starting: This page reloads by itself when the app is ready. The app's "
        b"latest output (shown to you, the owner, only):\nloading <model> & data\n"
        b"token=[secret]\n"
    )
    # without output (everyone but the owner): the page says nothing about it
    _, _, body = answers.unavailable("lab", "starting", None, html=True)
    assert b"<pre>" not in body and b"owner" not in body
    # the output goes on the starting page only
    _, _, body = answers.unavailable("lab", "restarting", 3, html=True, output=output)
    assert b"loading" not in body


def test_no_answer_carries_framing_headers():
    framing = {"content-length", "transfer-encoding", "connection"}
    for answer in (
        answers.not_found("/", html=True),
        answers.add_slash("/x"),
        answers.too_large(2, 1, html=False),
        answers.unavailable("a", "starting", None, html=False),
        answers.proxy_error(html=False),
    ):
        assert not framing & {n.lower() for n, _ in answer[1]}
