"""The proxy's decision for members of a group a server is shared with (group_shares.py)."""

import logging

from tornado.web import HTTPError

from jhembed.proxy.group_shares import GroupShares, group_share_admits

log = logging.getLogger("test-group-shares")


def share(group, owner="alice", server="plain", scopes=None, kind="group"):
    return {
        "server": {"user": {"name": owner}, "name": server, "url": f"/user/{owner}/{server}/"},
        "scopes": [f"access:servers!server={owner}/{server}"] if scopes is None else scopes,
        "user": None if kind == "group" else {"name": group},
        "group": {"name": group} if kind == "group" else None,
        "kind": kind,
    }


def test_a_member_of_a_shared_group_is_admitted():
    shares = [share("other"), share("team")]
    assert group_share_admits(["x", "team"], shares, "alice", "plain") == "team"
    # the unfiltered scope grants it too
    assert group_share_admits(
        ["team"], [share("team", scopes=["access:servers"])], "alice", "plain"
    )
    assert group_share_admits(
        ["team"], [share("team", scopes=["access:servers!user=alice"])], "alice", "plain"
    )


def test_refusals():
    # not in the group
    assert group_share_admits(["x"], [share("team")], "alice", "plain") is None
    assert group_share_admits([], [share("team")], "alice", "plain") is None
    assert group_share_admits(None, [share("team")], "alice", "plain") is None
    # a share of another server, or another owner's server of the same name
    assert group_share_admits(["team"], [share("team", server="lab")], "alice", "plain") is None
    assert group_share_admits(["team"], [share("team", owner="bob")], "alice", "plain") is None
    # the share names another server in its scopes
    other = share("team", scopes=["access:servers!server=alice/lab"])
    assert group_share_admits(["team"], [other], "alice", "plain") is None
    # a share without the access scope
    for scopes in [[], ["read:users:name!user=alice"], ["access:services"]]:
        assert (
            group_share_admits(["team"], [share("team", scopes=scopes)], "alice", "plain") is None
        )
    # a user share named like the group is not a group share
    assert group_share_admits(["team"], [share("team", kind="user")], "alice", "plain") is None
    # a prefix of the server's name is not the server
    assert group_share_admits(
        ["team"], [share("team", server="pla", scopes=["access:servers!server=alice/pla"])],
        "alice", "plain",
    ) is None  # fmt: skip


class FakeHub:
    """HubAuth's API client: answers ``pages`` in turn, or raises ``error``."""

    api_url = "http://hub.test/hub/api/"

    def __init__(self, pages=(), error=None):
        self.pages, self.error, self.urls = list(pages), error, []

    async def _api_request(self, method, url, **kwargs):
        assert method == "GET"
        self.urls.append(url)
        if self.error:
            raise self.error
        return self.pages.pop(0)


def page(items, more=False):
    return {"items": items, "_pagination": {"next": {"offset": 1} if more else None}}


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


CAROL = {"kind": "user", "name": "carol", "groups": ["team"]}


def shares_of(hub, clock=None, owner="alice", server="plain"):
    return GroupShares(hub, owner, server, max_age=5, log=log, clock=clock or Clock())


async def test_fetches_all_pages_and_logs_who_was_admitted(caplog):
    hub = FakeHub([page([share("x")], more=True), page([share("team")])])
    caplog.set_level(logging.INFO, logger=log.name)
    assert await shares_of(hub).admits(CAROL)
    assert hub.urls == [
        "http://hub.test/hub/api/shares/alice/plain?offset=0&limit=200",
        "http://hub.test/hub/api/shares/alice/plain?offset=1&limit=200",
    ]
    assert "User carol admitted to alice/plain through the share with group team" in caplog.text


async def test_names_are_quoted_in_the_url():
    hub = FakeHub([page([])])
    assert not await shares_of(hub, owner="a/b", server="x?y").admits(CAROL)
    assert hub.urls == ["http://hub.test/hub/api/shares/a%2Fb/x%3Fy?offset=0&limit=200"]


async def test_no_request_without_groups_or_for_services():
    hub = FakeHub(error=AssertionError("no request expected"))
    g = shares_of(hub)
    assert not await g.admits({"kind": "user", "name": "dave", "groups": []})
    assert not await g.admits({"kind": "user", "name": "dave"})
    assert not await g.admits({"kind": "service", "name": "svc", "groups": ["team"]})
    assert not await shares_of(hub, owner="").admits(CAROL)
    assert hub.urls == []


async def test_a_hub_error_refuses_and_is_not_cached(caplog):
    for error in [HTTPError(403, "no permission"), OSError("connection refused")]:
        hub = FakeHub(error=error)
        g = shares_of(hub)
        assert not await g.admits(CAROL)
        assert "Cannot read the shares of alice/plain" in caplog.text
        hub.error, hub.pages = None, [page([share("team")])]
        assert await g.admits(CAROL)  # asked again, not a cached refusal
    # an answer of the wrong shape refuses too
    for answer in [[share("team")], {"items": None}, None]:
        assert not await shares_of(FakeHub([answer])).admits(CAROL)


async def test_the_answer_is_cached_for_max_age():
    clock = Clock()
    hub = FakeHub([page([share("team")]), page([])])
    g = shares_of(hub, clock)
    assert await g.admits(CAROL)
    clock.now += 4.9
    assert await g.admits(CAROL) and len(hub.urls) == 1  # cached
    clock.now += 0.2
    assert not await g.admits(CAROL) and len(hub.urls) == 2  # revoked: seen after max_age


async def test_use_cache_false_asks_the_hub():
    hub = FakeHub([page([share("team")]), page([])])
    g = shares_of(hub)
    assert await g.admits(CAROL)
    assert not await g.admits(CAROL, use_cache=False) and len(hub.urls) == 2
