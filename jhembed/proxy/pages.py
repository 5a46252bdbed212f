"""The page a cross-site frame gets instead of the Hub's login (the other answers: jhembed.proxy.answers)."""

from __future__ import annotations

import json
from html import escape

from .answers import TEMPLATE as _TEMPLATE
from .answers import render  # noqa: F401  (login.py imports it from here)

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
