"""Async client for the JupyterHub REST API, for host web sites that embed servers.

    async with HubClient("https://hub.example.com/", token) as hub:
        await hub.ensure_user("alice", groups=["course-a"])
        url = await hub.start_server("alice", "dashboard", app="dashboard")
        token = await hub.create_token("alice", scopes=["access:servers!server=alice/dashboard"],
                                       expires_in=300, note="iframe")
        iframe_src = hub.embed_url(url, path="", token=token)

``token`` is the host site's Hub service token; see ``jupyterhub_config.example.py``
for the least-privilege role it needs.  Errors from the Hub raise
:class:`HubAPIError` (with the Hub's status and message);
:class:`SpawnFailed` and :class:`SpawnTimeout` are its subclasses.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote, urlencode, urljoin

import aiohttp


class HubAPIError(Exception):
    """The Hub (or a server) answered with an error."""

    def __init__(self, status, message, *, url=""):
        super().__init__(f"{status}: {message}" + (f" ({url})" if url else ""))
        self.status = status
        self.message = message
        self.url = url


class SpawnFailed(HubAPIError):
    """The server did not start; ``message`` is the Hub's reason."""


class SpawnTimeout(HubAPIError):
    """The server was not ready in time."""


def _server_path(user, server_name):
    user = quote(user, safe="")
    if server_name:
        return f"users/{user}/servers/{quote(server_name, safe='')}"
    return f"users/{user}/server"


class HubClient:
    """One async API for the Hub's users, tokens, servers and the servers' contents."""

    def __init__(self, hub_url, token, *, timeout=30, ssl=None):
        self.hub_url = hub_url if hub_url.endswith("/") else hub_url + "/"
        self.api_url = urljoin(self.hub_url, "hub/api/")
        self.token = token
        self.timeout = timeout
        self.ssl = ssl
        self._session = None
        self._version = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    @property
    def session(self):
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_read=self.timeout)
            )
        return self._session

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing -------------------------------------------------------------------------------

    async def _request(
        self, method, url, *, body=None, token=None, ok=(200, 201, 202, 204), data=None
    ):
        headers = {"Authorization": f"token {token or self.token}"}
        kwargs = {"headers": headers, "ssl": self.ssl}
        if body is not None:
            kwargs["json"] = body
        if data is not None:
            kwargs["data"] = data
        try:
            async with self.session.request(method, url, allow_redirects=False, **kwargs) as r:
                text = await r.text()
                status = r.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise HubAPIError(
                503, f"cannot reach {url.split('?')[0]}: {type(e).__name__}: {e}", url=url
            ) from e
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text
        if status not in ok:
            message = (
                payload.get("message") if isinstance(payload, dict) else (text[:500] or r.reason)
            )
            raise HubAPIError(status, message or "", url=url)
        return status, payload

    async def api(self, method, path, body=None, ok=(200, 201, 202, 204), token=None):
        """Call ``/hub/api/<path>``; returns (status, decoded body).

        ``token``: call with this token instead of the client's (e.g. a logged-in
        user's own OAuth token, as the launcher does).
        """
        return await self._request(method, self.api_url + path, body=body, ok=ok, token=token)

    async def hub_version(self):
        """The Hub's version as a tuple of ints, e.g. (6, 1, 1)."""
        if self._version is None:
            _, info = await self.api("GET", "")
            parts = []
            for piece in str(info.get("version", "0")).split("."):
                digits = "".join(ch for ch in piece if ch.isdigit())
                parts.append(int(digits or 0))
                if not piece.isdigit():
                    break
            self._version = tuple(parts)
        return self._version

    # -- users and tokens -------------------------------------------------------------------------

    async def get_user(self, name):
        """The user model, or None when there is no such user."""
        try:
            _, user = await self.api("GET", f"users/{quote(name, safe='')}")
        except HubAPIError as e:
            if e.status == 404:
                return None
            raise
        return user

    async def ensure_user(self, name, groups=()):
        """The user ``name``, created if missing and added to ``groups`` (created if missing)."""
        user = await self.get_user(name)
        if user is None:
            _, user = await self.api("POST", f"users/{quote(name, safe='')}", ok=(201, 409))
            if not isinstance(user, dict):
                user = await self.get_user(name)
        for group in groups:
            await self.api("POST", f"groups/{quote(group, safe='')}", ok=(201, 409))
            if group not in (user.get("groups") or []):
                await self.api(
                    "POST", f"groups/{quote(group, safe='')}/users", body={"users": [name]}
                )
        if groups:
            user = await self.get_user(name)
        return user

    async def create_token(self, user, scopes=None, expires_in=None, note="jhembed"):
        """A new API token for ``user`` (give it only the scopes the frame needs)."""
        body = {"note": note}
        if scopes is not None:
            body["scopes"] = list(scopes)
        if expires_in is not None:
            body["expires_in"] = int(expires_in)
        _, reply = await self.api("POST", f"users/{quote(user, safe='')}/tokens", body=body)
        return reply["token"]

    # -- servers ----------------------------------------------------------------------------------

    async def server_model(self, user, server_name=""):
        model = await self.get_user(user)
        if model is None:
            raise HubAPIError(404, f"no user {user!r}")
        return (model.get("servers") or {}).get(server_name)

    def _public_url(self, path):
        return urljoin(self.hub_url, path)

    async def start_server(self, user, server_name="", app=None, options=None, timeout=120):
        """Start a server and wait until it is ready; returns its URL.

        ``app`` and ``options`` become the server's ``user_options`` (an
        EmbedSpawner validates them: a bad one raises HubAPIError 400). A
        server that is already running is returned as is.
        """
        user_options = dict(options or {})
        if app is not None:
            user_options["app"] = app
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        existing = await self.server_model(user, server_name)
        while existing and existing.get("pending") == "stop":
            # a server on its way down: let it stop, then start it again
            if loop.time() > deadline:
                raise SpawnTimeout(504, f"server still stopping after {timeout:g}s")
            await asyncio.sleep(0.5)
            existing = await self.server_model(user, server_name)
        if existing and existing.get("ready"):
            return self._public_url(existing["url"])
        if not existing or not existing.get("pending"):
            # JupyterHub 6 takes {"user_options": ...}; 5 takes the options as the body
            body = (
                {"user_options": user_options} if await self.hub_version() >= (6,) else user_options
            )
            try:
                status, _ = await self.api("POST", _server_path(user, server_name), body=body)
            except HubAPIError as e:
                if e.status == 400 and "is already running" in e.message:
                    status = 201  # started by someone else meanwhile
                elif e.status == 400 and "is pending spawn" in e.message:
                    status = 202
                elif e.status < 500:
                    raise
                else:
                    # the server died while the Hub waited for it (JupyterHub 6.1
                    # answers 500 without the reason unless the spawner gives one)
                    raise SpawnFailed(
                        e.status, f"the Hub could not start the server: {e.message}", url=e.url
                    ) from None
            if status == 201:
                model = await self.server_model(user, server_name)
                return self._public_url(model["url"])
        return await self._follow_progress(user, server_name, max(deadline - loop.time(), 1))

    async def _follow_progress(self, user, server_name, timeout):
        url = self.api_url + _server_path(user, server_name) + "/progress"
        state = {"last": ""}
        try:
            ready_url = await asyncio.wait_for(self._read_progress(url, state), timeout)
        except asyncio.TimeoutError:
            raise SpawnTimeout(
                504, f"server not ready after {timeout:g}s (last: {state['last']})", url=url
            ) from None
        if ready_url:
            return ready_url
        # the stream ended without a verdict: ask once more
        model = await self.server_model(user, server_name)
        if model and model.get("ready"):
            return self._public_url(model["url"])
        raise SpawnFailed(500, state["last"] or "the server stopped while starting", url=url)

    async def _read_progress(self, url, state):
        """Follow the Hub's progress event stream; the server URL when ready."""
        headers = {"Authorization": f"token {self.token}", "Accept": "text/event-stream"}
        async with self.session.get(url, headers=headers, ssl=self.ssl) as r:
            if r.status != 200:
                raise HubAPIError(r.status, (await r.text())[:500], url=url)
            async for line in r.content:
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                event = json.loads(line[5:])
                state["last"] = event.get("message") or state["last"]
                if event.get("failed"):
                    raise SpawnFailed(500, event.get("message") or "spawn failed", url=url)
                if event.get("ready"):
                    return self._public_url(event["url"])
        return None

    async def stop_server(self, user, server_name="", remove=False):
        body = {"remove": True} if remove and server_name else None
        await self.api("DELETE", _server_path(user, server_name), body=body, ok=(202, 204, 404))

    @staticmethod
    def embed_url(server_url, path="", token=None, **query):
        """URL for an iframe: the server's ``path`` (quoted here, like the contents
        methods' paths), with a token for iframe login and other ``query`` parameters."""
        url = server_url.rstrip("/") + "/" + quote(path.lstrip("/"))
        params = dict(query)
        if token:
            params["token"] = token
        return url + ("?" + urlencode(params) if params else "")

    # -- a server's contents API (JupyterLab, Notebook, jupyter server) --------------------------

    async def contents_get(self, server_url, path, token, content=True):
        """The contents model of ``path`` on the server (needs the user's token)."""
        url = server_url.rstrip("/") + "/api/contents/" + quote(path.lstrip("/"))
        url += "?content=1" if content else "?content=0"
        _, model = await self._request("GET", url, token=token, ok=(200,))
        return model

    async def contents_save(self, server_url, path, token, content, format="text", type="file"):
        """Write ``content`` to ``path`` on the server; returns the new model."""
        url = server_url.rstrip("/") + "/api/contents/" + quote(path.lstrip("/"))
        body = {"type": type, "format": format, "content": content}
        _, model = await self._request("PUT", url, body=body, token=token, ok=(200, 201))
        return model


__all__ = ["HubClient", "HubAPIError", "SpawnFailed", "SpawnTimeout"]
