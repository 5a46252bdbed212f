"""The launcher's pages: one tornado handler per page or form, all logged in with HubOAuth.

Every handler calls the Hub with the logged-in user's own token (``_Page.hub``);
the user's name in every Hub path is the token's, the server name an app of
the catalog. Refusals are 4xx pages with the reason (the Hub's own message
where the Hub refused).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from urllib.parse import quote, urlsplit

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from markupsafe import Markup
from tornado import web

from ..client import HubAPIError, HubClient

# a user or group name as the sharing form takes it: no whitespace, slashes or controls
_NAME = re.compile(r"^[^\s/\\?#,\x00-\x1f\x7f]{1,255}$")
_SHARE_CODE_ID = re.compile(r"^sc_[0-9]{1,18}$")


def _first_line(text, limit=300):
    text = str(text or "").strip()
    return text.splitlines()[0][:limit] if text else ""


class _Page(HubOAuthenticated, web.RequestHandler):
    """Base of every page: the service's HubOAuth, the user's token, templates, errors."""

    def initialize(self):
        self.hub_auth = self.settings["hub_auth"]

    @property
    def launcher(self):
        return self.settings["launcher"]

    @property
    def me(self):
        return self.current_user["name"]

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", "frame-ancestors 'self'")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "same-origin")

    def app_or_404(self, name):
        app = self.launcher.catalog.get(name)
        if app is None:
            raise web.HTTPError(
                404,
                "%s",
                f"No app named {name[:64]!r} in the catalog; apps: "
                + ", ".join(sorted(self.launcher.catalog)),
            )
        return app

    async def hub(self, method, path, body=None, ok=(200, 201, 202, 204)):
        """Call the Hub API with the user's own token; HubAPIError on refusal."""
        token = self.hub_auth.get_token(self)
        return await self.launcher.client.api(method, path, body=body, ok=ok, token=token)

    def _namespace(self, user, **ns):
        """What every template gets (see page.html), plus ``ns``."""
        return dict(
            prefix=self.launcher.prefix,
            static=lambda p: url_path_join(self.launcher.prefix, "static", p),
            thumbnail=self.launcher.thumbnail_url,
            user=user,
            hub_prefix=self.hub_auth.hub_prefix,
            **ns,
        )

    def render_page(self, template, **ns):
        ns.setdefault("xsrf", Markup(self.xsrf_form_html()))
        ns.setdefault("xsrf_token", self.xsrf_token.decode("ascii"))
        self.finish(self.launcher.render(template, **self._namespace(self.me, **ns)))

    def refuse(self, status, message):
        """A 4xx page that says why; nothing was done."""
        self.set_status(status)
        self.launcher.log.info("%s: refused %s %s: %s", self.me, self.request.method,
                               urlsplit(self.request.uri).path, message)  # fmt: skip
        self.render_page("error.html", message=message, status=status)

    def write_error(self, status_code, **kwargs):
        """Our error page: the refusal's own message for HTTPErrors, none of a bug's details."""
        exc = kwargs.get("exc_info", (None, None))[1]
        message = ""
        if isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.args else (exc.log_message or "")
            message = message or exc.reason or ""
        elif status_code >= 500:
            message = "The launcher failed; the service's log says why."
        try:  # the error may be the login itself
            user = self.current_user["name"] if isinstance(self.current_user, dict) else ""
        except Exception:
            user = ""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        page = self._namespace(
            user, xsrf="", xsrf_token="", message=message or f"Error {status_code}",
            status=status_code,
        )  # fmt: skip
        self.finish(self.launcher.render("error.html", **page))

    def hub_error(self, e):
        """Raise the Hub's refusal as ours: its status for 4xx, 502 otherwise."""
        status = e.status if 400 <= e.status < 500 else 502
        raise web.HTTPError(status, "%s", _first_line(e.message) or f"the Hub answered {e.status}")

    async def my_servers(self):
        try:
            _, model = await self.hub(
                "GET", f"users/{quote(self.me, safe='')}?include_stopped_servers=1"
            )
        except HubAPIError as e:
            self.hub_error(e)
        return (model or {}).get("servers", {})

    async def hub_items(self, path, limit=1000):
        """Every item of a paginated Hub list (shares, share codes), at most ``limit``."""
        items, offset = [], 0
        while len(items) < limit:
            sep = "&" if "?" in path else "?"
            try:
                _, page = await self.hub("GET", f"{path}{sep}offset={offset}&limit=200")
            except HubAPIError as e:
                self.hub_error(e)
            page = page if isinstance(page, dict) else {}
            items += page.get("items", [])
            following = (page.get("_pagination") or {}).get("next")
            if not following or not page.get("items"):
                break
            offset = following.get("offset", offset + len(page["items"]))
        return items[:limit]

    async def show_index(self, status=200, message="", app_name=""):
        """The launcher's home page (with ``message`` when a start was refused)."""
        servers = await self.my_servers()
        shared_items = await self.hub_items(f"users/{quote(self.me, safe='')}/shared")
        seen = set()
        shared_with_me = []
        for item in shared_items:
            server = item.get("server") or {}
            owner = (server.get("user") or {}).get("name", "")
            key = (owner, server.get("name", ""))
            if key in seen or owner == self.me:
                continue
            seen.add(key)
            app = self.launcher.catalog.get(server.get("name", ""))
            shared_with_me.append(
                {
                    "owner": owner,
                    "server": server.get("name", ""),
                    "url": server.get("url", ""),
                    "ready": bool(server.get("ready")),
                    "app": app,
                    "via": item.get("kind", "user"),
                    "group": (item.get("group") or {}).get("name", ""),
                }
            )
        self.set_status(status)
        self.render_page(
            "index.html",
            apps=self.launcher.catalog,
            servers=servers,
            shared_with_me=shared_with_me,
            message=message,
            message_app=app_name,
        )

    def public_url(self, path):
        base = self.launcher.public_url or f"{self.request.protocol}://{self.request.host}"
        return base.rstrip("/") + path


class IndexHandler(_Page):
    """The catalog, "my apps" and "shared with me"."""

    @web.authenticated
    async def get(self):
        await self.show_index()


def _form_options(app, arguments):
    """user_options from the start form: ``app`` and every field as sent (strings).

    Nothing is checked here: the Hub's EmbedSpawner validates and converts them
    with the same code and messages as its options form and REST API (an
    unknown field is refused there, naming it). A declared bool option whose
    checkbox is not ticked is false.
    """
    options = {"app": app["name"]}
    for key, values in arguments.items():
        if key != "_xsrf" and values:
            options[key] = values[0].decode("utf-8", "replace")
    for option in app["options"]:
        if option["type"] == "bool":
            options[option["name"]] = options.get(option["name"], "") not in ("", "false", "off")
    return options


def _already_started(e):
    """The Hub's 400 for a server that runs or is starting (not a refused option)."""
    message = e.message or ""
    return (
        e.status == 400
        and not message.startswith("user_options")
        and ("is already running" in message or "is pending" in message)
    )


class StartHandler(_Page):
    """start/<app>: POST starts the user's server for the app with the form's options;
    GET shows its progress."""

    @web.authenticated
    async def post(self, name):
        app = self.app_or_404(name)
        options = _form_options(app, self.request.body_arguments)
        body = {"user_options": options} if await self.launcher.hub_major() >= 6 else options
        path = f"users/{quote(self.me, safe='')}/servers/{quote(name, safe='')}"
        # the Hub answers a refused option at once, but holds a start for up to its
        # slow_spawn_timeout (10 s): after start_wait, show the progress page while
        # the request goes on
        request = asyncio.ensure_future(self.hub("POST", path, body=body))
        done, _ = await asyncio.wait({request}, timeout=self.launcher.start_wait)
        if not done:
            request.add_done_callback(functools.partial(self._log_late_start, name))
            self.launcher.log.info("%s is starting %s", self.me, name)
            return self.redirect(url_path_join(self.launcher.prefix, "start", name))
        try:
            request.result()
        except HubAPIError as e:
            if _already_started(e):
                pass  # running or starting: show its progress
            elif 400 <= e.status < 500:
                # the spawner's own validation message (the same as the form's)
                return await self.show_index(e.status, _first_line(e.message), name)
            else:
                self.hub_error(e)
        self.launcher.log.info("%s started %s", self.me, name)
        self.redirect(url_path_join(self.launcher.prefix, "start", name))

    def _log_late_start(self, name, request):
        e = request.exception()
        if e is not None:
            self.launcher.log.warning("%s: start of %s failed: %s", self.me, name, e)

    @web.authenticated
    async def get(self, name):
        """The progress of the start (live with JavaScript, refreshed without)."""
        app = self.app_or_404(name)
        server = (await self.my_servers()).get(name)
        if server is None or server.get("stopped"):
            return self.refuse(
                404, f"Your server for {app['label']} is not running; start it first"
            )
        self.render_page("start.html", app=app, server=server)


class ProgressHandler(_Page):
    """GET progress/<app>: the Hub's progress events for the user's server, relayed (SSE)."""

    @web.authenticated
    async def get(self, name):
        self.app_or_404(name)
        url = (
            self.launcher.client.api_url
            + f"users/{quote(self.me, safe='')}/servers/{quote(name, safe='')}/progress"
        )
        headers = {
            "Authorization": f"token {self.hub_auth.get_token(self)}",
            "Accept": "text/event-stream",
        }
        session = self.launcher.client.session
        async with session.get(url, headers=headers, ssl=self.launcher.client.ssl) as r:
            if r.status != 200:
                text = await r.text()
                try:
                    text = json.loads(text).get("message", text)
                except (ValueError, AttributeError):
                    pass
                raise web.HTTPError(
                    r.status if 400 <= r.status < 500 else 502, "%s", _first_line(text)
                )
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("X-Accel-Buffering", "no")
            async for line in r.content:
                self.write(line)
                if line.strip() == b"":
                    await self.flush()
        await self.flush()


class StopHandler(_Page):
    """POST stop/<app>: stop the user's server for the app."""

    @web.authenticated
    async def post(self, name):
        self.app_or_404(name)
        path = f"users/{quote(self.me, safe='')}/servers/{quote(name, safe='')}"
        try:
            await self.hub("DELETE", path, ok=(202, 204))
        except HubAPIError as e:
            self.hub_error(e)
        self.launcher.log.info("%s stopped %s", self.me, name)
        self.redirect(self.launcher.prefix)


def embed_refusal(app):
    """Why a ``?token=`` snippet for ``app`` would not work in another site's frame, or ''."""
    if not app["allow_token_login"]:
        return (
            f"{app['label']} does not allow token login (allow_token_login): "
            "a frame on another site cannot log in; ask the admin to turn it on"
        )
    if not any(o not in ("'self'", "'none'") for o in app["frame_ancestors"]):
        return (
            f"No other site may frame {app['label']} (its frame_ancestors allow only this "
            "site); ask the admin to add your site"
        )
    return ""


class EmbedHandler(_Page):
    """embed/<app>: the iframe snippet and the SDK call for the user's server (GET);
    POST "Create an embed token": a token that opens only that server, and the
    snippet with it (``?token=``, the proxy's token login)."""

    async def show(self, name, status=200, message="", token_src=""):
        app = self.app_or_404(name)
        server = (await self.my_servers()).get(name)
        url = self.public_url(server["url"]) if server else ""
        self.set_status(status)
        self.render_page(
            "embed.html", app=app, server=server, server_url=url,
            hub_url=self.public_url(self.launcher.hub_base_url),
            refusal=embed_refusal(app), message=message, token_src=token_src, status=status,
            expiry_days=round(self.launcher.embed_token_expiry / 86400, 1),
        )  # fmt: skip

    @web.authenticated
    async def get(self, name):
        await self.show(name)

    @web.authenticated
    async def post(self, name):
        app = self.app_or_404(name)
        owner = self.get_body_argument("owner", self.me)
        if owner != self.me:
            return self.refuse(
                403, f"You can create embed tokens only for your own servers, not {owner[:64]!r}'s"
            )
        refusal = embed_refusal(app)
        if refusal:
            return await self.show(name, 400, refusal)
        server = (await self.my_servers()).get(name)
        if server is None:
            return self.refuse(
                404, f"You have no server for {app['label']} yet; start it once, then embed it"
            )
        expires = self.launcher.embed_token_expiry
        body = {
            "scopes": [f"access:servers!server={self.me}/{name}"],
            "expires_in": expires,
            "note": f"jhembed launcher: embed {name}",
        }
        try:
            _, reply = await self.hub("POST", f"users/{quote(self.me, safe='')}/tokens", body=body)
        except HubAPIError as e:
            self.hub_error(e)
        # the token itself is never logged: only that one was made, and its id
        self.launcher.log.info(
            "%s created embed token %s for %s (expires in %d s)",
            self.me, (reply or {}).get("id", "?"), name, expires,
        )  # fmt: skip
        src = HubClient.embed_url(self.public_url(server["url"]), token=reply["token"])
        await self.show(name, message="New embed token", token_src=src)


class ShareHandler(_Page):
    """GET/POST share/<app>: who has access, share with users/groups, revoke, share codes."""

    def _paths(self, name):
        owner = quote(self.me, safe="")
        server = quote(name, safe="")
        return f"shares/{owner}/{server}", f"share-codes/{owner}/{server}"

    @web.authenticated
    async def get(self, name):
        await self.show(name)

    async def show(self, name, status=200, message="", new_code=None):
        app = self.app_or_404(name)
        shares_path, codes_path = self._paths(name)
        servers = await self.my_servers()
        if name not in servers:
            return self.refuse(
                404, f"You have no server for {app['label']} yet; start it once, then share it"
            )
        shares = await self.hub_items(shares_path)
        codes = await self.hub_items(codes_path)
        self.set_status(status)
        self.render_page(
            "share.html",
            app=app,
            server=servers[name],
            server_url=self.public_url(servers[name]["url"]),
            shares=shares,
            codes=codes,
            message=message,
            new_code=new_code,
            accept_base=self.public_url(""),
            expiry_choices=self.launcher.share_code_expiry,
        )

    def _names(self, field):
        raw = self.get_body_argument(field, "")
        names = [n for n in re.split(r"[\s,]+", raw.strip()) if n]
        for n in names:
            if not _NAME.match(n):
                raise ValueError(f"{field}: {n[:64]!r} is not a valid name")
        return names

    @web.authenticated
    async def post(self, name):
        self.app_or_404(name)
        action = self.get_body_argument("action", "")
        shares_path, codes_path = self._paths(name)
        try:
            if action == "share":
                message = await self._share(shares_path)
                return await self.show(name, message=message)
            if action == "revoke":
                kind = self.get_body_argument("kind", "")
                target = self.get_body_argument("name", "")
                if kind not in ("user", "group") or not _NAME.match(target):
                    raise ValueError("revoke: give kind (user or group) and a valid name")
                await self.hub("PATCH", shares_path, body={kind: target})
                self.launcher.log.info("%s revoked %s %s from %s", self.me, kind, target, name)
                return await self.show(name, message=f"{kind} {target} no longer has access")
            if action == "code":
                expires = self.get_body_argument("expires_in", "")
                if expires not in {str(s) for s in self.launcher.share_code_expiry}:
                    raise ValueError(
                        "expires_in: one of "
                        + ", ".join(str(s) for s in self.launcher.share_code_expiry)
                        + " seconds"
                    )
                _, code = await self.hub("POST", codes_path, body={"expires_in": int(expires)})
                self.launcher.log.info("%s made a share code for %s", self.me, name)
                return await self.show(name, message="New share code", new_code=code)
            if action == "revoke-code":
                code_id = self.get_body_argument("id", "")
                if not _SHARE_CODE_ID.match(code_id):
                    raise ValueError(f"id: {code_id[:32]!r} is not a share code id (sc_N)")
                await self.hub("DELETE", f"{codes_path}?id={code_id}", ok=(200, 204))
                return await self.show(name, message="Share code revoked")
            raise ValueError(
                f"action: {action[:32]!r} is not one of share, revoke, code, revoke-code"
            )
        except ValueError as e:
            return await self.show(name, 400, str(e))
        except HubAPIError as e:
            if 400 <= e.status < 500:
                return await self.show(name, e.status, _first_line(e.message))
            self.hub_error(e)

    async def _share(self, shares_path):
        users = self._names("users")
        groups = self._names("groups")
        if not users and not groups:
            raise ValueError("users, groups: name at least one user or group to share with")
        if self.me in users:
            raise ValueError(f"users: {self.me!r} is you; you already have access")
        # all names are checked before anything is shared: one bad name shares nothing
        for user in users:
            await self._exists("users", user)
        for group in groups:
            await self._exists("groups", group)
        for user in users:
            await self.hub("POST", shares_path, body={"user": user})
        for group in groups:
            await self.hub("POST", shares_path, body={"group": group})
        self.launcher.log.info(
            "%s shared %s with users %s groups %s", self.me, shares_path, users, groups
        )
        return "Shared with " + ", ".join([*users, *(f"group {g}" for g in groups)])

    async def _exists(self, kind, name):
        try:
            await self.hub("GET", f"{kind}/{quote(name, safe='')}")
        except HubAPIError as e:
            if e.status in (403, 404):
                raise ValueError(f"{kind}: no {kind[:-1]} named {name[:64]!r}") from None
            raise


class ViewerStartHandler(_Page):
    """POST viewer-start/<owner>/<app>: start a stopped server shared with the viewer.

    Only for apps with ``viewers_may_start``; the share is checked with the
    viewer's own token, the start uses the service's role.
    """

    @web.authenticated
    async def post(self, owner, name):
        app = self.app_or_404(name)
        if not app["viewers_may_start"]:
            raise web.HTTPError(403, "%s", f"App {name!r} does not let viewers start servers")
        items = await self.hub_items(f"users/{quote(self.me, safe='')}/shared")
        if not any(
            (i.get("server") or {}).get("name") == name
            and ((i.get("server") or {}).get("user") or {}).get("name") == owner
            for i in items
        ):
            raise web.HTTPError(403, "%s", f"{owner}/{name} is not shared with you")
        client = self.launcher.client
        path = f"users/{quote(owner, safe='')}/servers/{quote(name, safe='')}"
        try:
            _, model = await client.api(
                "GET", f"users/{quote(owner, safe='')}?include_stopped_servers=1"
            )
            options = ((model or {}).get("servers", {}).get(name) or {}).get("user_options") or {}
            options = {"app": name, **{k: v for k, v in options.items() if k != "app"}}
            body = {"user_options": options} if await self.launcher.hub_major() >= 6 else options
            await client.api("POST", path, body=body)
        except HubAPIError as e:
            if not _already_started(e):
                self.hub_error(e)
        self.launcher.log.warning(
            "viewers_may_start: %s started %s/%s (shared with them)", self.me, owner, name
        )
        self.redirect(self.launcher.prefix)


class LeaveHandler(_Page):
    """POST leave/<owner>/<server>: give up a share made to the user (not a group's)."""

    @web.authenticated
    async def post(self, owner, server):
        path = (
            f"users/{quote(self.me, safe='')}/shared/"
            f"{quote(owner, safe='')}/{quote(server, safe='')}"
        )
        try:
            await self.hub("DELETE", path, ok=(200, 204))
        except HubAPIError as e:
            if e.status == 404:
                return await self.show_index(
                    404,
                    f"{owner[:64]}/{server[:64]} is not shared with you by name "
                    "(a share with one of your groups can only be revoked by its owner)",
                )
            self.hub_error(e)
        self.launcher.log.info("%s left the share of %s/%s", self.me, owner, server)
        self.redirect(self.launcher.prefix)


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    def initialize(self):
        self.hub_auth = self.settings["hub_auth"]
