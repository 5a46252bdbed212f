"""Every answer the proxy makes itself: one function per case, one text per case.

Each function returns ``(status, headers, body)``: ``headers`` a list of
``(name, value)`` pairs without framing headers, ``body`` bytes.  ``encode``
puts one on the wire, with ``Date``, ``Content-Length``, the header policy's
own headers (CSP ``frame-ancestors``, CORS, ``X-JupyterHub-Version``) and
``Connection``.  Pages are HTML for browsers (``html=True``: the request
accepts ``text/html``), plain text for others.  Pure: no I/O, no state.
"""

from __future__ import annotations

import json
from html import escape

from .child import RESTARTING, STARTING
from .wire import NO_LENGTH, encode_head, http_date, reason_phrase

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}}
h1{{font-size:1.4em}}pre{{background:#f4f4f4;padding:.5em;overflow:auto}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""

# what tornado sent with a redirect; kept so that clients see the same answer
_REDIRECT_TYPE = ("Content-Type", "text/html; charset=UTF-8")


def encode(answer, own, method, close, http10):
    """The bytes of ``answer``: the header policy's headers ``own`` (a list, extended) with
    the answer's replacing those of the same name (as tornado's ``set_header``), ``Date``,
    ``Content-Length`` (not for 204 and 304), no body for HEAD, ``Connection: close`` when
    ``close``, else ``keep-alive`` for an HTTP/1.0 client."""
    status, headers, body = answer
    out = own
    out.append(("Date", http_date()))
    if headers and headers[0][0] == "Content-Type":
        out.insert(0, headers[0])
        headers = headers[1:]
    index = {name.lower(): i for i, (name, _) in enumerate(out)}
    for name, value in headers:
        i = index.get(name.lower())
        if i is None:
            out.append((name, value))
        else:
            out[i] = (name, value)
    if status not in NO_LENGTH:
        out.append(("Content-Length", str(len(body))))
    if method == "HEAD" or status in NO_LENGTH:
        body = b""
    if close:
        out.append(("Connection", "close"))
    elif http10:
        out.append(("Connection", "keep-alive"))
    return encode_head(f"HTTP/1.1 {status} {reason_phrase(status)}\r\n", out) + body


def render(title, message, *, html, refresh=None, detail=None, links=()):
    """``(content_type, text)`` of a page: HTML for browsers (every argument escaped),
    plain text for others.  ``links``: (text, url) pairs."""
    if not html:
        extra = "".join(f"{text}: {url}\n" for text, url in links)
        if detail:
            extra = f"{detail}\n{extra}"
        return "text/plain; charset=utf-8", f"{title}: {message}\n{extra}"
    body = f"<p>{escape(message)}</p>"
    if detail:
        body += f"<pre>{escape(detail)}</pre>"
    for text, url in links:
        body += f'<p><a href="{escape(url)}">{escape(text)}</a></p>'
    refresh_tag = f'\n<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    return "text/html; charset=utf-8", TEMPLATE.format(
        title=escape(title), body=body, refresh=refresh_tag
    )


def page(status, title, message, *, html, refresh=None, headers=(), detail=None, links=()):
    """A page answer: ``Content-Type`` first, then ``headers``, then ``Cache-Control: no-store``."""
    content_type, text = render(
        title, message, html=html, refresh=refresh, detail=detail, links=links
    )
    out = [("Content-Type", content_type), *headers, ("Cache-Control", "no-store")]
    return status, out, text.encode("utf-8")


# -- the request itself ------------------------------------------------------------------------


def not_found(base_url, *, html):
    """A path outside the server's prefix."""
    return page(404, "Not found", f"This server only answers under {base_url}.", html=html)


def not_found_file(name, *, html):
    """A name under ``<prefix>_jhembed/`` that is none of the bridge's files."""
    return page(404, "Not found", f"The proxy has no file {name!r} for the bridge.", html=html)


def redirect(url, status=302, headers=()):
    """A redirect to ``url``: ``Content-Type`` as tornado's, then ``headers``, then ``Location``."""
    return status, [_REDIRECT_TYPE, *headers, ("Location", url)], b""


def add_slash(uri):
    """The prefix without its slash: 301 to the prefix, as ``jupyter standaloneproxy``."""
    path, sep, query = uri.partition("?")
    return redirect(path + "/" + sep + query, 301)


def mount_redirect(mount, query):
    """The server's prefix when the app is mounted below it (jupyter-server-proxy entry points)."""
    return redirect(mount + ("?" + query if query else ""))


def dot_segments(*, html):
    return page(400, "Bad request", "Paths with '.' or '..' segments are refused.", html=html)


def method_not_allowed(method, allowed, *, html):
    """A method this path does not take; ``allowed``: the methods it takes."""
    return page(
        405,
        "405 Method Not Allowed",
        f"This path does not take {method} requests; it takes {', '.join(allowed)}.",
        html=html,
        headers=[("Allow", ", ".join(allowed))],
    )


def too_large(length, limit, *, html):
    """A request body over ``--max-body-size``."""
    return page(
        413,
        "Request body too large",
        f"The request body is {length} bytes; this server takes at most {limit} bytes "
        "(the proxy's --max-body-size).",
        html=html,
    )


def proxy_error(*, html):
    """A bug of the proxy's on this request."""
    return page(500, "Proxy error", "The proxy failed on this request.", html=html)


# -- CORS and websockets -------------------------------------------------------------------------


def cors_refused(*, html):
    return page(403, "Forbidden", "This origin may not call this server (CORS).", html=html)


def preflight(policy, origin, method, request_headers, *, html):
    """A CORS preflight, answered from the header policy (204, or 403 for other origins).

    Its headers include the policy's own CORS pair: the sender must not add them again.
    """
    status, headers = policy.preflight(origin, method, request_headers)
    if status == 403:
        return cors_refused(html=html)
    return status, list(headers.items()), b""


def websocket_refused(*, html):
    """A websocket handshake from an origin that may not open one."""
    return page(403, "Forbidden", "Cross-origin websocket refused.", html=html)


def websocket_refused_by_app(status, message, *, html):
    return page(status if status >= 400 else 502, "Websocket refused", message, html=html)


# -- the app ---------------------------------------------------------------------------------------


def unavailable(app_name, state, exit_code, *, html, output=None):
    """The app is not serving: starting (503, reloads each second) or down (502).

    ``output``: the app's last output lines (already scrubbed of secrets), shown on the
    starting page; the caller passes them only to the server's owner.
    """
    if state == STARTING:
        message = "This page reloads by itself when the app is ready."
        if output is not None:
            message += " The app's latest output (shown to you, the owner, only):"
        return page(
            503,
            f"{app_name} is starting",
            message,
            html=html,
            refresh=1,
            headers=[("Retry-After", "1")],
            detail=output,
        )
    restarting = state == RESTARTING
    return page(
        502,
        f"{app_name} is not running",
        f"The app {app_name} exited with code {exit_code}"
        + ("; it is being restarted. This page reloads by itself." if restarting else "."),
        html=html,
        refresh=2 if restarting else None,
        headers=[("Retry-After", "2")],
    )


def gateway_timeout(app_name, timeout, *, html):
    return page(
        504, "Gateway timeout", f"{app_name} did not answer within {timeout:g}s.", html=html
    )


def bad_gateway(app_name, error_name, *, html):
    """The app could not be reached although it runs."""
    return page(502, "Bad gateway", f"Could not reach {app_name}: {error_name}.", html=html)


# -- the page a cross-site frame gets instead of the Hub's login ---------------------------

FRAME_ERRORS = {
    # stable codes, sent to the host page in the bridge's `error` event
    "login-required": (
        "Log in to use this app",
        "This app needs a JupyterHub login, and the Hub's login page cannot be shown "
        "inside another site's frame.",
    ),
    "cookies-blocked": (
        "Your browser blocked this app's login",
        "The browser did not keep this app's login cookie inside the frame (it blocks "
        "cookies of embedded sites).",
    ),
}

_FRAME_SCRIPT = """<script>
(() => {
  const data = JSON.parse(document.getElementById("jhembed-frame-error").textContent);
  // post only to the parent's origin, and only when it is one the server allows
  const ancestors = window.location.ancestorOrigins;
  const targets = ancestors && ancestors.length
    ? data.origins.filter((o) => o === ancestors[0])
    : data.origins;
  if (window.parent !== window) {
    for (const origin of targets) {
      window.parent.postMessage(
        {jhembed: 1, type: "error", code: data.code, message: data.message}, origin);
    }
  }
  const retry = document.getElementById("jhembed-retry");
  const note = document.getElementById("jhembed-note");
  retry.addEventListener("click", async () => {
    try {
      if (document.requestStorageAccess && !(await document.hasStorageAccess())) {
        await document.requestStorageAccess();
      }
    } catch (e) {
      note.textContent = "The browser refused access to the login. Open the app in a new tab.";
      return;
    }
    window.location.href = data.login;
  });
})();
</script>"""


def frame_login(code, *, login_url, page_url, origins):
    """The page (401) a framed browser gets instead of a redirect to the Hub's login.

    It says what happened, offers the Storage Access API (then the Hub's OAuth,
    which completes inside the frame when the browser now sends the Hub's
    cookie) and a new tab, and posts ``{type: "error", code}`` to the parent
    when its origin is one of ``origins``.
    """
    title, message = FRAME_ERRORS[code]
    data = {"code": code, "message": message, "login": login_url, "origins": sorted(origins)}
    # JSON inside <script type="application/json">: "<" escaped so no tag can close it
    payload = json.dumps(data).replace("<", "\\u003c")
    body = (
        f"<p>{escape(message)}</p>"
        '<p><button id="jhembed-retry" type="button">Allow and retry</button> '
        f'<a href="{escape(page_url)}" target="_blank" rel="noopener noreferrer">'
        "Open in a new tab</a></p>"
        '<p id="jhembed-note" role="status"></p>'
        f'<script type="application/json" id="jhembed-frame-error">{payload}</script>'
        + _FRAME_SCRIPT
    )
    headers = [("Cache-Control", "no-store"), ("Content-Type", "text/html; charset=utf-8")]
    return 401, headers, TEMPLATE.format(title=escape(title), body=body, refresh="").encode()


__all__ = [
    "add_slash",
    "bad_gateway",
    "cors_refused",
    "dot_segments",
    "frame_login",
    "gateway_timeout",
    "method_not_allowed",
    "mount_redirect",
    "not_found",
    "not_found_file",
    "page",
    "preflight",
    "proxy_error",
    "redirect",
    "render",
    "too_large",
    "unavailable",
    "websocket_refused",
    "websocket_refused_by_app",
]
