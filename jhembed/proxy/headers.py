"""Per-server header policy: CSP ``frame-ancestors``, ``X-Frame-Options``, CORS, cookies.

The proxy applies one :class:`HeaderPolicy` to every response of the app, so
the app can be embedded in an iframe of the chosen host sites and nothing
else, whatever the app itself sends.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from jupyterhub import __version__ as _JUPYTERHUB_VERSION
from jupyterhub.utils import url_path_join
from traitlets import TraitError

_KEYWORDS = {"'self'", "'none'"}
_SCHEME_SOURCE = re.compile(r"^[a-z][a-z0-9+.-]*:$")
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# what the proxy owns for CORS; the app's values are replaced
_CORS_RESPONSE_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)

# sent on every response, as jupyterhub-singleuser does: the Hub compares it with
# its own version at each spawn and warns about real mismatches
VERSION_HEADER = ("X-JupyterHub-Version", _JUPYTERHUB_VERSION)


def _check_origin(value, trait, *, wildcard_host):
    """Return the normalised origin ``scheme://host[:port]`` or raise TraitError."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = -1
    ok = (
        parts.scheme in ("http", "https")
        and host
        and port != -1
        and not parts.username
        and not parts.password
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and (_HOST.match(host) or _is_ip(host))
        and (wildcard_host or not host.startswith("*."))
    )
    if not ok:
        example = "https://host.example.com"
        raise TraitError(
            f"{trait}: {value!r} is not a valid origin; use scheme://host[:port] such as {example!r}"
        )
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:  # IPv6
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    return f"{parts.scheme}://{netloc}"


def _is_ip(host):
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_frame_ancestors(values, trait="EmbedProxy.frame_ancestors"):
    """Normalise a ``frame_ancestors`` list; raise TraitError naming ``trait``.

    Entries may also be given space-separated in one string, as in a CSP.
    """
    items = []
    for value in values:
        items.extend(value.split())
    if not items:
        raise TraitError(f"{trait} is empty; use [\"'none'\"] to forbid all framing")
    result = []
    for item in items:
        low = item.lower()
        if low in ("self", "none"):
            # the command line eats the quotes of --frame-ancestors 'self'
            low = f"'{low}'"
        if low in _KEYWORDS:
            result.append(low)
        elif _SCHEME_SOURCE.match(low):
            result.append(low)
        else:
            result.append(_check_origin(item, trait, wildcard_host=True))
    if "'none'" in result and len(result) > 1:
        raise TraitError(f"{trait}: \"'none'\" cannot be combined with other sources")
    return list(dict.fromkeys(result))


def validate_cors_origins(values, trait="EmbedProxy.cors_origins"):
    """Normalise a ``cors_origins`` list; raise TraitError naming ``trait``."""
    result = []
    for value in values:
        for item in value.split():
            result.append(_check_origin(item, trait, wildcard_host=False))
    return list(dict.fromkeys(result))


def validate_extra_headers(headers, trait="EmbedProxy.extra_headers"):
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise TraitError(f"{trait}: {name!r} is not a valid header name")
        if _BAD_VALUE.search(value):
            raise TraitError(f"{trait}[{name!r}]: control characters are not allowed in values")
    return headers


def allows_cross_origin(frame_ancestors):
    """True when ``frame_ancestors`` lets a page of another origin frame us."""
    return any(item not in _KEYWORDS for item in frame_ancestors)


def _strip_directive(policy, name):
    kept = []
    for directive in policy.split(";"):
        directive = directive.strip()
        if not directive:
            continue
        if directive.split(None, 1)[0].lower() == name:
            continue
        kept.append(directive)
    return "; ".join(kept)


_SAMESITE = {"": "", "none": "None", "lax": "Lax", "strict": "Strict"}


def validate_samesite(value, where):
    """``value`` spelled as browsers expect (``None``, ``Lax``, ``Strict`` or ``""``)."""
    if not isinstance(value, str) or value.lower() not in _SAMESITE:
        raise TraitError(f"{where} must be one of '', 'None', 'Lax', 'Strict', not {value!r}")
    return _SAMESITE[value.lower()]


class HeaderPolicy:
    """Rewrites the app's response headers; computed once, applied per response."""

    def __init__(
        self,
        *,
        frame_ancestors=("'self'",),
        cors_origins=(),
        extra_headers=None,
        cookie_samesite="",
        cookie_partitioned=None,
        base_url="/",
        rewrite_cookie_path=True,
    ):
        self.frame_ancestors = list(frame_ancestors)
        self.cross_origin = allows_cross_origin(self.frame_ancestors)
        self.frame_ancestors_directive = "frame-ancestors " + " ".join(self.frame_ancestors)
        self.cors_origins = frozenset(cors_origins)
        self.extra_headers = dict(extra_headers or {})
        if not cookie_samesite and self.cross_origin:
            cookie_samesite = "None"
        self.cookie_samesite = cookie_samesite
        # None (the default): Partitioned whenever another site may frame the server,
        # the only way its cookies come back in browsers that block third-party cookies
        if cookie_partitioned is None:
            cookie_partitioned = self.cross_origin
        self.cookie_partitioned = bool(cookie_partitioned) and cookie_samesite == "None"
        self.base_url = base_url
        self.rewrite_cookie_path = rewrite_cookie_path and base_url != "/"
        self.rewrites_cookies = bool(self.cookie_samesite) or self.rewrite_cookie_path
        # the app's values of these are replaced by the proxy's extra_headers
        self.replaced_names = frozenset(n.lower() for n in self.extra_headers)
        # allowed origins for websocket Origin checks: cors origins + framing origins
        # the framing origins a message or a websocket can be checked against (no wildcards)
        self.frame_origins = tuple(o for o in self.frame_ancestors if "://" in o and "*" not in o)
        self.ws_origins = frozenset(self.cors_origins) | frozenset(self.frame_origins)
        # what ``rewrite`` adds to a response without a CSP of the app's nor a CORS origin
        self._plain_tail = (
            ("Content-Security-Policy", self.frame_ancestors_directive),
            *((("Vary", "Origin"),) if self.cors_origins else ()),
            *self.extra_headers.items(),
            VERSION_HEADER,
        )

    # -- CSP / XFO -------------------------------------------------------------

    def content_security_policy(self, app_values):
        """The CSP header values to send, given the app's (possibly several)."""
        out = []
        for value in app_values:
            # a header may carry several policies separated by commas
            for policy in value.split(","):
                policy = _strip_directive(policy, "frame-ancestors")
                if policy:
                    out.append(policy)
        if out:
            out[0] = out[0] + "; " + self.frame_ancestors_directive
        else:
            out.append(self.frame_ancestors_directive)
        return out

    def keep_x_frame_options(self):
        return not self.cross_origin

    # -- cookies -----------------------------------------------------------------

    def rewrite_set_cookie(self, value, *, own=False):
        """Rewrite one ``Set-Cookie`` value from the app, or one of the proxy's (``own``).

        Both get the policy's ``SameSite``, ``Secure`` and ``Partitioned``; only
        the app's cookie paths are moved under the server's prefix.  Idempotent.
        """
        rewrite_path = self.rewrite_cookie_path and not own
        parts = [p.strip() for p in value.split(";")]
        head, attrs = parts[0], [p for p in parts[1:] if p]
        out = []
        has_path = False
        for attr in attrs:
            name = attr.split("=", 1)[0].strip().lower()
            if name == "path":
                has_path = True
                if rewrite_path:
                    path = attr.split("=", 1)[1].strip() if "=" in attr else "/"
                    attr = "Path=" + url_path_join(self.base_url, path)
            elif self.cookie_samesite and name in ("samesite", "secure", "partitioned"):
                continue
            out.append(attr)
        if not has_path and rewrite_path:
            out.append("Path=" + self.base_url)
        if self.cookie_samesite:
            out.append("SameSite=" + self.cookie_samesite)
            if self.cookie_samesite == "None":
                out.append("Secure")
                if self.cookie_partitioned:
                    out.append("Partitioned")
        return "; ".join([head] + out)

    # -- CORS ----------------------------------------------------------------------

    def cors_headers(self, origin):
        """Headers for a response to a request from ``origin`` (empty if not allowed)."""
        if origin and origin in self.cors_origins:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
            }
        return {}

    def preflight(self, origin, method, request_headers):
        """Status and headers for a CORS preflight request."""
        if not origin or origin not in self.cors_origins:
            return 403, {}
        headers = self.cors_headers(origin)
        headers["Access-Control-Allow-Methods"] = method or "GET"
        if request_headers:
            headers["Access-Control-Allow-Headers"] = request_headers
        headers["Access-Control-Max-Age"] = "600"
        headers["Vary"] = "Origin"
        return 204, headers

    def websocket_origin_allowed(self, origin, host):
        """Same-origin websockets, plus the configured CORS and framing origins."""
        if not origin:
            # non-browser clients send no Origin
            return True
        parsed = urlsplit(origin)
        if parsed.netloc.lower() == (host or "").lower():
            return True
        return origin.lower() in self.ws_origins

    # -- all together ------------------------------------------------------------------

    def rewrite(self, upstream_headers, origin):
        """The response headers to send, as (name, value) pairs, from the app's pairs."""
        out = []
        csp = []
        replaced = self.replaced_names
        for name, value in upstream_headers:
            low = name.lower()
            if low == "content-security-policy":
                csp.append(value)
                continue
            if low == "x-frame-options":
                if self.keep_x_frame_options():
                    out.append((name, value))
                continue
            if low == "set-cookie" and self.rewrites_cookies:
                out.append((name, self.rewrite_set_cookie(value)))
                continue
            if low.startswith("access-control-") and name.title() in _CORS_RESPONSE_HEADERS:
                continue
            if (replaced and low in replaced) or low == "x-jupyterhub-version":
                continue
            out.append((name, value))
        if not csp and not (origin and origin in self.cors_origins):
            out.extend(self._plain_tail)  # the same as below, computed once
            return out
        for value in self.content_security_policy(csp):
            out.append(("Content-Security-Policy", value))
        out.extend(self.cors_headers(origin).items())
        if self.cors_origins:
            out.append(("Vary", "Origin"))
        out.extend(self.extra_headers.items())
        out.append(VERSION_HEADER)
        return out

    def own_headers(self, origin=None):
        """Headers for responses the proxy makes itself (status pages, redirects)."""
        out = [("Content-Security-Policy", self.frame_ancestors_directive)]
        out.extend(self.cors_headers(origin).items())
        out.extend(self.extra_headers.items())
        out.append(VERSION_HEADER)
        return out
