"""Admit members of a group this server is shared with.

JupyterHub (5.x and 6.x) grants a server's ``access:servers!server=...`` scope to
a token of a member of a group the server is shared with only when the token is
resolved without its OAuth client: ``scopes.get_scopes_for(APIToken)`` adds the
owner's ``shared_with_me`` (direct shares) but not the shares of the owner's
groups (``orm.User.all_shared_with_me`` has both).  The Hub authorizes the group
member and issues the OAuth token, but the token lacks the access scope.

So when a logged-in user lacks the scope and is in groups, the proxy asks the
Hub, with the server's own token (``read:shares!server=<owner>/<name>``, see
``EmbedSpawner.server_token_scopes``), for this server's shares, and admits the
user iff one of their groups holds a share with the access scope.  The answer is
cached for ``cache_max_age`` (a revoked share stops working within it; the
front's verdict cache asks without this cache, so the two never add up); a Hub
error refuses.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from jupyterhub.services.auth import check_scopes

_PAGE = 200  # the Hub's largest page


def group_share_admits(user_groups, shares, owner, server_name):
    """The group of ``user_groups`` whose share of ``owner/server_name`` grants access, or None.

    ``shares`` are the Hub's share models (``GET /shares/<owner>/<server>``).
    """
    groups = set(user_groups or ())
    needed = {f"access:servers!server={owner}/{server_name}"}
    for share in shares:
        group = (share.get("group") or {}).get("name")
        server = share.get("server") or {}
        if share.get("kind") != "group" or group not in groups:
            continue
        if (server.get("user") or {}).get("name") != owner or server.get("name") != server_name:
            continue  # never happens with the Hub's answer, refused all the same
        if check_scopes(needed, set(share.get("scopes") or ())):
            return group
    return None


class GroupShares:
    """This server's shares, from the Hub, cached for ``max_age`` seconds."""

    def __init__(self, hub_auth, owner, server_name, max_age, log, clock=time.monotonic):
        self.hub_auth = hub_auth
        self.owner = owner
        self.server_name = server_name
        self.max_age = max_age
        self.log = log
        self.clock = clock
        self._shares = None
        self._expires = 0.0

    async def _fetch(self):
        base = self.hub_auth.api_url.rstrip("/")
        url = f"{base}/shares/{quote(self.owner, safe='')}/{quote(self.server_name, safe='')}"
        shares, offset = [], 0
        while True:
            page = await self.hub_auth._api_request("GET", f"{url}?offset={offset}&limit={_PAGE}")
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ValueError(f"unexpected answer from {url}: {type(page).__name__}")
            shares.extend(page["items"])
            if not (page.get("_pagination") or {}).get("next") or not page["items"]:
                return shares
            offset += len(page["items"])

    async def shares(self, use_cache=True):
        """The shares (cached), or None when the Hub does not answer them.

        ``use_cache=False`` asks the Hub (for a caller with its own cache, front.py).
        """
        now = self.clock()
        if use_cache and self._shares is not None and now < self._expires:
            return self._shares
        try:
            shares = await self._fetch()
        except Exception as e:
            self.log.warning(
                "Cannot read the shares of %s/%s from the Hub (group members refused): %s",
                self.owner,
                self.server_name,
                getattr(e, "log_message", None) or e,
            )
            return None
        self._shares, self._expires = shares, now + self.max_age
        return shares

    async def admits(self, user, use_cache=True):
        """Whether ``user`` (a Hub user model) is in a group this server is shared with."""
        if not self.owner or user.get("kind", "user") != "user" or not user.get("groups"):
            return False
        shares = await self.shares(use_cache)
        if shares is None:
            return False
        group = group_share_admits(user["groups"], shares, self.owner, self.server_name)
        if group is None:
            return False
        self.log.info(
            "User %s admitted to %s/%s through the share with group %s",
            user["name"],
            self.owner,
            self.server_name,
            group,
        )
        return True
