"""Small HTML pages the proxy answers with itself (starting, app down, not found)."""

from __future__ import annotations

from html import escape

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}}
h1{{font-size:1.4em}}pre{{background:#f4f4f4;padding:.5em;overflow:auto}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def page(title, message, *, refresh=None, detail=None, links=()):
    """An HTML page; every argument is escaped.  ``links``: (text, url) pairs."""
    body = f"<p>{escape(message)}</p>"
    if detail:
        body += f"<pre>{escape(detail)}</pre>"
    for text, url in links:
        body += f'<p><a href="{escape(url)}">{escape(text)}</a></p>'
    refresh_tag = f'\n<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    return _TEMPLATE.format(title=escape(title), body=body, refresh=refresh_tag)


def wants_html(handler):
    accept = handler.request.headers.get("Accept", "")
    return "text/html" in accept


def render(title, message, *, html, refresh=None, detail=None, links=()):
    """``(content_type, body)`` of a page: HTML for browsers, plain text for others."""
    if html:
        return "text/html; charset=utf-8", page(
            title, message, refresh=refresh, detail=detail, links=links
        )
    extra = "".join(f"{text}: {url}\n" for text, url in links)
    return "text/plain; charset=utf-8", f"{title}: {message}\n{extra}"


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
