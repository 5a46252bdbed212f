"""The demo host site: another web site that embeds users' Jupyter apps.

A user logs in to the host site (demo: a name, no password), picks an app;
the site uses :class:`jhembed.client.HubClient` to make sure the Hub user
exists, start the app as a named server, mint a short-lived token that opens
only that server, and shows the app in an iframe (token login). "Save a
version" fetches the notebook through the server's contents API and stores it
in the site's own SQLite database.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import sqlite3
import time

import aiohttp
from aiohttp import web

from ..client import HubAPIError, HubClient
from ..proxy.bridge import static_path

USER_COOKIE = "demo_host_user"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# name: (label, path in the server, file to keep versions of, how it is shown)
APPS = {
    "dashboard": ("Voila dashboard", "", None, "frame"),
    "notebook": ("Notebook", "notebooks/dashboard.ipynb", "dashboard.ipynb", "frame"),
    "lab": ("JupyterLab", "lab/tree/dashboard.ipynb", "dashboard.ipynb", "tab"),
    "files": ("Files", "", None, "frame"),
}
TOKEN_LIFETIME = 600
_SAFE_PATH = re.compile(r"^[\w][\w .@+/-]{0,250}\.ipynb$")

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;color:#222}}
header{{background:#1a4d7a;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}}
header a,header button{{color:#fff}} main{{padding:1em}}
iframe{{width:100%;height:70vh;border:1px solid #bbb;border-radius:4px}}
.apps a{{display:inline-block;margin:.3em;padding:.5em 1em;border:1px solid #1a4d7a;border-radius:4px;text-decoration:none}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.2em .5em}}
</style></head><body>
<header><strong>Example Corp. learning portal</strong><span>{who}</span></header>
<main>{body}</main></body></html>
"""


def _page(title, body, who=""):
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body, who=who), content_type="text/html"
    )


class HostSite:
    """The host site; ``apps`` (default ``APPS``) maps the Hub's app names to
    ``(label, path in the server, file to keep versions of, "frame" or "tab")``."""

    def __init__(self, hub_url, token, db_path, apps=None):
        self.apps = dict(APPS if apps is None else apps)
        self.client = HubClient(hub_url, token)
        self.db = sqlite3.connect(db_path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS versions (id INTEGER PRIMARY KEY, user TEXT, app TEXT,"
            " path TEXT, saved REAL, size INTEGER, content TEXT)"
        )
        self.db.commit()

    def app(self):
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self.index),
                web.post("/login", self.login),
                web.post("/logout", self.logout),
                web.get("/open/{app}", self.open_app),
                web.post("/save/{app}", self.save),
                web.get("/versions", self.versions_json),
                web.static("/static", static_path()),
            ]
        )
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app):
        await self.client.close()
        self.db.close()

    # -- pages -------------------------------------------------------------------------------------

    @staticmethod
    def user(request):
        name = request.cookies.get(USER_COOKIE, "")
        return name if NAME.match(name) else None

    def _who(self, user):
        return (
            f'{html.escape(user)} <form method="post" action="/logout" style="display:inline">'
            "<button>log out</button></form>"
        )

    async def index(self, request):
        user = self.user(request)
        if user is None:
            return _page(
                "Log in",
                '<h1>Log in to the portal</h1><form method="post" action="/login">'
                '<label>Your name <input name="name" pattern="[a-z][a-z0-9\\-]{0,31}" required></label> '
                "<button>Log in</button></form><p>(Demo: no password.)</p>",
            )
        links = "".join(
            f'<a href="/open/{name}">{html.escape(label)}</a>'
            for name, (label, *_) in self.apps.items()
        )
        return _page(
            "Portal",
            f"<h1>Your apps</h1><div class='apps'>{links}</div>{self._versions_table(user)}",
            self._who(user),
        )

    async def login(self, request):
        form = await request.post()
        name = str(form.get("name", "")).strip().lower()
        if not NAME.match(name):
            return _page("Log in", "<p>Names are lower-case letters, digits and '-'.</p>")
        response = web.HTTPFound("/")
        response.set_cookie(USER_COOKIE, name, httponly=True, samesite="Lax")
        raise response

    async def logout(self, request):
        response = web.HTTPFound("/")
        response.del_cookie(USER_COOKIE)
        raise response

    async def open_app(self, request):
        user = self.user(request)
        if user is None:
            raise web.HTTPFound("/")
        app = request.match_info["app"]
        if app not in self.apps:
            raise web.HTTPNotFound(text="no such app")
        label, path, keep, shown = self.apps[app]
        try:
            await self.client.ensure_user(user, groups=["portal"])
            server_url = await self.client.start_server(user, app, app=app, timeout=120)
            token = await self.client.create_token(
                user,
                scopes=[f"access:servers!server={user}/{app}"],
                expires_in=TOKEN_LIFETIME,
                note="portal iframe",
            )
        except HubAPIError as e:
            return _page(
                "Error",
                f"<h1>Could not open {html.escape(label)}</h1><pre>{html.escape(str(e))}</pre>",
                self._who(user),
            )
        src = self.client.embed_url(server_url, path, token=token)
        if shown == "tab":
            # JupyterLab's workspace URLs do not settle inside a cross-site frame: own tab
            body = (
                f'<h1>{html.escape(label)}</h1><p><a href="{html.escape(src)}" target="_blank" '
                f'rel="noopener noreferrer">Open {html.escape(label)} in a new tab</a> (the link logs you '
                f"in once and expires in {TOKEN_LIFETIME // 60} minutes).</p>"
            )
            return _page(label, body, self._who(user))
        save = ""
        if keep:
            # the bridge: the host says save, the app saves and answers saved,
            # then this site fetches the file through the contents API
            save = (
                '<p><button id="save">Save a version</button> <span id="status"></span>'
                ' <em id="dirty"></em></p>'
                '<script type="module">'
                'import { mount } from "/static/jhembed-host.js";'
                f"const app = mount(document.getElementById('slot'), {json.dumps(src)}, {{timeout: 120000}});"
                "const status = document.getElementById('status');"
                # the app's dirty flag has its own place: JupyterLab may mark the document
                # dirty again right after a save (kernel metadata), which must not hide the
                # save's outcome
                # the frame has no login (e.g. the browser blocked its cookie): say so here
                "app.addEventListener('error', (e) => {"
                "  if (!e.detail.id) status.textContent = 'error: ' + e.detail.message;"
                "});"
                "app.addEventListener('dirty', (e) => {"
                "  document.getElementById('dirty').textContent = e.detail.dirty ? '(unsaved changes in the app)' : '';"
                "});"
                "document.getElementById('save').onclick = async () => {"
                "  let saved;"
                "  status.textContent = 'saving in the app...';"
                "  try { saved = await app.save(); } catch (e) { status.textContent = 'error: the app did not save: ' + e.message; return; }"
                "  status.textContent = 'saved in the app; keeping a version...';"
                "  try {"
                f"    const r = await fetch('/save/{app}', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},"
                "      body: JSON.stringify({path: saved.path}), signal: AbortSignal.timeout(90000)});"
                "    const j = await r.json().catch(() => ({error: 'HTTP ' + r.status}));"
                "    status.textContent = r.ok ? ('saved ' + saved.path + ' as version ' + j.id + ' (' + j.size + ' bytes)') : ('error: ' + j.error);"
                "  } catch (e) { status.textContent = 'error: could not keep the version: ' + e.message; }"
                '};</script><div id="slot"></div>'
            )
            body = f"<h1>{html.escape(label)}</h1>{save}"
        else:
            body = (
                f"<h1>{html.escape(label)}</h1>"
                f'<iframe id="app" src="{html.escape(src)}" title="{html.escape(label)}"'
                ' allow="clipboard-read; clipboard-write"></iframe>'
            )
        return _page(label, body, self._who(user))

    async def save(self, request):
        user = self.user(request)
        app = request.match_info["app"]
        if user is None or app not in self.apps or not self.apps[app][2]:
            return web.json_response({"error": "not allowed"}, status=403)
        path = self.apps[app][2]
        if request.can_read_body:
            # the path the app said it saved (the user may have opened another notebook)
            try:
                body = await request.json()
            except ValueError:
                body = None
            said = body.get("path") if isinstance(body, dict) else None
            if isinstance(said, str) and _SAFE_PATH.match(said) and ".." not in said.split("/"):
                path = said
        try:
            server = await self.client.server_model(user, app)
            if not server or not server.get("ready"):
                return web.json_response({"error": "the app is not running"}, status=409)
            token = await self.client.create_token(
                user,
                scopes=[f"access:servers!server={user}/{app}"],
                expires_in=60,
                note="portal save",
            )
            server_url = self.client._public_url(server["url"])
            model = await self.client.contents_get(server_url, path, token)
            content = json.dumps(model["content"])
        except HubAPIError as e:
            return web.json_response({"error": str(e)}, status=502)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            # the Hub or the app did not answer: say so (the page shows it)
            return web.json_response(
                {"error": f"could not fetch {path} from the app: {type(e).__name__} {e}"},
                status=502,
            )
        cur = self.db.execute(
            "INSERT INTO versions (user, app, path, saved, size, content) VALUES (?, ?, ?, ?, ?, ?)",
            (user, app, path, time.time(), len(content), content),
        )
        self.db.commit()
        return web.json_response({"id": cur.lastrowid, "size": len(content), "path": path})

    def _versions(self, user):
        rows = self.db.execute(
            "SELECT id, app, path, saved, size FROM versions WHERE user = ? ORDER BY id DESC",
            (user,),
        )
        return [dict(zip(("id", "app", "path", "saved", "size"), row, strict=True)) for row in rows]

    def _versions_table(self, user):
        rows = self._versions(user)
        if not rows:
            return "<p>No saved versions yet.</p>"
        body = "".join(
            f"<tr><td>{r['id']}</td><td>{html.escape(r['app'])}</td><td>{html.escape(r['path'])}</td>"
            f"<td>{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['saved']))}</td><td>{r['size']}</td></tr>"
            for r in rows
        )
        return f"<h2>Saved versions</h2><table><tr><th>#</th><th>app</th><th>file</th><th>saved</th><th>bytes</th></tr>{body}</table>"

    async def versions_json(self, request):
        user = self.user(request)
        if user is None:
            return web.json_response({"error": "log in first"}, status=403)
        return web.json_response(self._versions(user))
