"""Tornado glue for the proxy's own answers (texts: jhembed.proxy.answers), and the frame login page."""

from __future__ import annotations

import json
from html import escape

from .answers import TEMPLATE as _TEMPLATE
from .answers import render


def wants_html(handler):
    accept = handler.request.headers.get("Accept", "")
    return "text/html" in accept


def send_page(
    handler, status, title, message, *, refresh=None, detail=None, headers=None, links=()
):
    """Finish ``handler`` with ``status`` and a page (HTML for browsers, text for others)."""
    handler.clear()
    handler.set_status(status)
    for name, value in (headers or {}).items():
        handler.set_header(name, value)
    handler.set_header("Cache-Control", "no-store")
    if getattr(handler, "body_pending", False):
        # answered before the request body was read: the connection cannot be
        # reused, and saying so keeps a keep-alive client (or CHP) from reusing it
        handler.set_header("Connection", "close")
    content_type, body = render(
        title, message, html=wants_html(handler), refresh=refresh, detail=detail, links=links
    )
    handler.set_header("Content-Type", content_type)
    handler.finish(body)


def send_answer(handler, answer):
    """Finish tornado ``handler`` with an ``(status, headers, body)`` of jhembed.proxy.answers."""
    status, headers, body = answer
    handler.clear()
    handler.set_status(status)
    for name, value in headers:
        handler.set_header(name, value)
    if getattr(handler, "body_pending", False):
        handler.set_header("Connection", "close")  # as send_page
    handler.finish(body)


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


def frame_login_page(code, *, login_url, page_url, origins):
    """The page a framed browser gets instead of a redirect to the Hub's login.

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
    return _TEMPLATE.format(title=escape(title), body=body, refresh="")
