"""What the app may receive of a client's request: pure rules, no I/O.

The front (jhembed.proxy.front) and the forwarder's header rules apply them:

- the headers the proxy sets or strips, and their underscore twins (which
  WSGI/CGI servers read as the same header);
- which names a ``Connection`` header may remove (never one that frames the
  body or says who the client is);
- the Hub's and jhembed's cookies, which no server's app receives;
- query parameter names, compared percent- and ``+``-decoded, for the token
  and for scrubbing secrets from logs.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# headers that belong to one connection (RFC 9110 7.6.1), never forwarded
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
     "te", "trailer", "trailers", "transfer-encoding", "upgrade")
)  # fmt: skip
# set by the proxy only; copies sent by a client are dropped.  X-Jhembed-Client
# carried the client's scheme and address to the proxy's former tornado server:
# still dropped, so that the app never sees one a client made up.
PROXY_OWNED = frozenset(
    ("x-forwarded-prefix", "x-forwarded-context", "x-proxycontextpath", "x-forwarded-user",
     "x-forwarded-groups")
)  # fmt: skip
NEVER_FORWARDED = PROXY_OWNED | {"x-forwarded-for", "expect", "x-jhembed-client"}
# the client's are kept; the proxy adds its own when absent
FORWARDED = frozenset(("x-forwarded-proto", "x-forwarded-host"))
# what frames a request or routes it: a Connection header never removes these
_FRAMING = frozenset(("content-length", "transfer-encoding", "host"))
_CONNECTION_KEEPS = _FRAMING | NEVER_FORWARDED | FORWARDED
# every header the proxy sets or strips: their underscore twins are dropped
_SET_OR_STRIPPED = HOP_BY_HOP | NEVER_FORWARDED | FORWARDED

# cookies of the Hub (jupyterhub-session-id, jupyterhub-hub-login,
# jupyterhub-user-<name>[-<server>][-oauth-state[-<id>]], ...) and of jhembed,
# with or without the __Host- / __Secure- prefix
_HUB_COOKIE = re.compile(r"^(?:__host-|__secure-)?(?:jupyterhub-|jhembed-)", re.IGNORECASE)

# query parameters whose values never go to a log
SECRET_PARAMS = frozenset(("token", "access_token", "_xsrf", "code", "state"))
# a query split at "&" and ";", separators kept at odd indexes
_QUERY_SEP = re.compile(r"([&;])")


# -- headers --------------------------------------------------------------------------


def connection_drops(values):
    """The header names (lower case) that ``Connection`` header ``values`` remove.

    A token naming a framing header (Content-Length, Transfer-Encoding, Host)
    or a header the proxy sets is ignored: dropping it would change how the
    body is framed toward the app, or who the app thinks the client is.
    """
    tokens = set()
    for value in values:
        for token in value.split(","):
            token = token.strip().lower()
            if token and token not in _CONNECTION_KEEPS:
                tokens.add(token)
    return tokens


def is_underscore_twin(low):
    """``x_forwarded_user`` and the like: a header the proxy sets or strips, spelled with ``_``.

    ``low`` is a lower-case header name.
    """
    return "_" in low and low.replace("_", "-") in _SET_OR_STRIPPED


# -- cookies ------------------------------------------------------------------------------


def strip_cookies(header, names=()):
    """A ``Cookie`` header without the Hub's and jhembed's cookies, nor ``names``.

    ``names`` are extra cookie names, matched exactly or as the start of an
    OAuth state or retry cookie (``<name>-oauth-...``).  Returns "" when nothing
    is left.
    """
    if "jupyterhub-" not in header.lower() and "jhembed-" not in header.lower():
        if not names or not any(n in header for n in names):
            return header
    oauth_cookies = tuple(n + "-oauth-" for n in names)
    kept = []
    for part in header.split(";"):
        part = part.strip()
        if not part:
            continue
        name = part.split("=", 1)[0].strip()
        if _HUB_COOKIE.match(name) or name in names or name.startswith(oauth_cookies):
            continue
        kept.append(part)
    return "; ".join(kept)


# -- query parameters -------------------------------------------------------------------------


def param_name(raw):
    """The name of a raw ``name=value`` query part, decoded as servers decode it."""
    return unquote_plus(raw.partition("=")[0])


def has_param(query, name):
    """Whether raw ``query`` has a parameter called ``name`` once decoded."""
    if name not in query and "%" not in query:
        return False
    return any(param_name(part) == name for part in _QUERY_SEP.split(query)[::2])


def strip_token(uri):
    """``uri`` without any ``token`` query parameter (names compared decoded); the rest as it came."""
    path, sep, query = uri.partition("?")
    if not sep or not has_param(query, "token"):
        return uri
    parts = _QUERY_SEP.split(query)
    kept = []
    for i in range(0, len(parts), 2):
        if param_name(parts[i]) == "token":
            continue
        if kept:
            kept.append(parts[i - 1])
        kept.append(parts[i])
    query = "".join(kept)
    return path + ("?" + query if query else "")


def scrub_uri(uri):
    """``uri`` with the values of secret query parameters (names decoded) replaced."""
    path, sep, query = uri.partition("?")
    if not sep:
        return uri
    parts = _QUERY_SEP.split(query)
    for i in range(0, len(parts), 2):
        raw, eq, _ = parts[i].partition("=")
        if eq and param_name(raw).lower() in SECRET_PARAMS:
            parts[i] = raw + "=[secret]"
    return path + "?" + "".join(parts)


# -- responses ---------------------------------------------------------------------------------


def response_has_body(method, status):
    """Whether a response to ``method`` with ``status`` carries a body (RFC 9112 6.3)."""
    return not (method == "HEAD" or status in (204, 304) or 100 <= status < 200)


# -- the start report ----------------------------------------------------------------------

# a file the spawner names for the proxy: "ready", or "failed" and the reason
# with the app's last output, so a spawn that fails says why in the Hub
START_REPORT_ENV = "JHEMBED_START_REPORT"


# -- log lines -----------------------------------------------------------------------------

# name=value or name: value where the name says secret (URLs an app prints, its own logs)
_SECRET_TEXT = re.compile(
    r"((?:access_token|token|password|secret|api_key)[\"']?\s*[=:]\s*[\"']?)([^\s&\"',;]+)",
    re.IGNORECASE,
)
# flags whose next argument is a secret: --token-password X, --password X, --token X
_SECRET_FLAG = re.compile(r"^--?[\w.-]*(token|password|secret|api[_-]?key)[\w.-]*$", re.IGNORECASE)


def scrub_text(text):
    """A line of an app's output with secret-looking values replaced by ``[secret]``."""
    return _SECRET_TEXT.sub(r"\1[secret]", text)


def scrub_argv(argv):
    """A command line fit for the log: values of secret flags replaced by ``[secret]``."""
    out = []
    secret_next = False
    for arg in argv:
        if secret_next and not arg.startswith("-"):
            out.append("[secret]")
        elif "=" in arg and _SECRET_FLAG.match(arg.split("=", 1)[0]):
            out.append(arg.split("=", 1)[0] + "=[secret]")
        else:
            out.append(arg)
        secret_next = bool(_SECRET_FLAG.match(arg))
    return out
