"""Activity notifications to the Hub, like JupyterHub's single-user server sends.

Every HTTP request and every websocket message through the proxy calls
:meth:`ActivityReporter.touch` (one float store).  A background task posts the
time of the last activity to ``JUPYTERHUB_ACTIVITY_URL`` every ``interval``
seconds (with jitter), only when there was activity since the last post.  When
the Hub does not answer it retries with exponential backoff; it never raises
into the server and never blocks a request.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import datetime, timezone

import aiohttp
from jupyterhub.utils import isoformat


class ActivityReporter:
    def __init__(
        self,
        *,
        url,
        api_token,
        server_name="",
        interval=300,
        exclude_paths=(),
        keep_alive=False,
        ssl_context=None,
        log,
    ):
        self.url = url
        self.api_token = api_token
        self.server_name = server_name
        self.interval = interval
        self.exclude = [re.compile(p) for p in exclude_paths]
        self.keep_alive = keep_alive
        self.ssl_context = ssl_context
        self.log = log
        self.last_activity = 0.0
        self.last_sent = 0.0
        self.failures = 0
        self._task = None

    def touch(self):
        self.last_activity = time.time()

    def excluded(self, path):
        """Whether requests to ``path`` should not count as activity."""
        return bool(self.exclude) and any(p.search(path) for p in self.exclude)

    def start(self):
        if self.url and self.interval > 0:
            self.log.info("Reporting activity to the Hub every %ss", self.interval)
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _loop(self):
        timeout = aiohttp.ClientTimeout(total=min(30, max(self.interval, 5)))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                ok = await self.notify(session)
                if ok:
                    delay = self.interval * (1 + 0.2 * (random.random() - 0.5))
                else:
                    # 1, 2, 4, ... seconds, never more than the interval
                    delay = min(2 ** min(self.failures - 1, 10), self.interval)
                    delay *= 1 + 0.2 * (random.random() - 0.5)
                await asyncio.sleep(delay)

    async def notify(self, session):
        """Post the last activity if there was any since the last post; False on failure."""
        ts = time.time() if self.keep_alive else self.last_activity
        if not ts or ts <= self.last_sent:
            self.log.debug("No activity to report to the Hub")
            return True
        stamp = isoformat(datetime.fromtimestamp(ts, timezone.utc))
        body = {"servers": {self.server_name: {"last_activity": stamp}}, "last_activity": stamp}
        try:
            async with session.post(
                self.url,
                json=body,
                headers={"Authorization": f"token {self.api_token}"},
                ssl=self.ssl_context if self.ssl_context is not None else True,
            ) as r:
                if r.status >= 400:
                    raise aiohttp.ClientResponseError(
                        r.request_info, r.history, status=r.status, message=r.reason or ""
                    )
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.failures += 1
            log = (
                self.log.warning
                if self.failures in (1, 5) or self.failures % 20 == 0
                else self.log.debug
            )
            log("Could not report activity to the Hub (attempt %d): %s", self.failures, e)
            return False
        if self.failures:
            self.log.info(
                "Reported activity to the Hub again after %d failed attempts", self.failures
            )
        self.failures = 0
        self.last_sent = ts
        self.log.debug("Reported activity %s to the Hub", stamp)
        return True


__all__ = ["ActivityReporter"]
