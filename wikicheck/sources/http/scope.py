"""URLs and scope: normalised URLs, document paths, and the hosts and path prefixes a crawl may fetch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from ...errors import WikicheckError
from ..engines.page import ASSET_EXT

# files a docs site serves beside its pages, never pages themselves, whatever their Content-Type (#12):
# ownership and config (read from the folder or repository they come from, not from the site), site files
NOT_PAGE_NAMES = frozenset({"codeowners", "wikicheck.toml", "pyproject.toml", "robots.txt", "sitemap.xml",
                            "sitemap.xml.gz", "security.txt", "humans.txt", ".mailmap", ".gitignore",
                            ".gitattributes", "mkdocs.yml", "hugo.toml", "_config.yml", "docusaurus.config.js"})
_NOT_PAGE_EXT = re.compile(r"\.(toml|ini|cfg|conf|lock|env|properties)$", re.I)
CREDENTIAL_HINT = ("set WIKICHECK_HTTP_TOKEN, or WIKICHECK_HTTP_USER and WIKICHECK_HTTP_PASSWORD, "
                   "or add the host to ~/.netrc")


def normalise_url(url: str) -> str | None:
    """Lower-case scheme and host, no default port, no credentials, no fragment; None unless http(s)."""
    try:
        p = urlsplit(url.strip())
        port = p.port
    except ValueError:
        return None
    scheme = p.scheme.lower()
    if scheme not in ("http", "https") or not p.hostname:
        return None
    host = p.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    path = _remove_dot_segments(_UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), p.path or "/"))
    return urlunsplit((scheme, host, path or "/", p.query, ""))


# RFC 3986 2.3: percent-encoded unreserved characters ("%2e" for ".") mean the character itself
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: "/docs/../private/x" is "/private/x" (what a server will serve for it)."""
    out: list[str] = []
    segs = path.split("/")
    for i, seg in enumerate(segs):
        if seg == ".":
            if i == len(segs) - 1:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segs) - 1:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def not_a_page(url: str) -> bool:
    """A URL of a file a site serves beside its pages (CODEOWNERS, wikicheck.toml, robots.txt, JSON, images):
    never fetched as a page, linked or listed in the sitemap (#12)."""
    path = urlsplit(url).path
    name = unquote(path.rsplit("/", 1)[-1]).lower()
    return name in NOT_PAGE_NAMES or bool(ASSET_EXT.search(path) or _NOT_PAGE_EXT.search(path))


def document_path(url: str) -> str:
    """The document path of a page: its URL path without the leading slash (and its query); "/" for the root."""
    p = urlsplit(url)
    path = unquote(p.path).lstrip("/")
    if p.query:
        path += "?" + p.query
    return path or "/"


def _host_port(url: str) -> tuple[str, int]:
    p = urlsplit(url)
    return (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


@dataclass(frozen=True)
class _Allowed:
    host: str
    port: int | None  # None: any port
    prefix: str


class Scope:
    """The hosts and path prefixes a crawl may fetch."""

    def __init__(self, start: str, allow_hosts: list[str] | tuple[str, ...] = ()):
        host, port = _host_port(start)
        path = urlsplit(start).path or "/"
        prefix = path[: path.rfind("/") + 1] or "/"
        self.rules = [_Allowed(host, port, prefix)]
        if urlsplit(start).scheme == "http" and port == 80:  # a site that moves itself to https stays allowed
            self.rules.append(_Allowed(host, 443, prefix))
        for spec in allow_hosts:
            self.rules.append(self._parse(spec))

    @staticmethod
    def _parse(spec: str) -> _Allowed:
        s = spec.strip()
        if "://" in s:
            s = s.split("://", 1)[1]
        if "@" in s.split("/", 1)[0]:
            raise WikicheckError(f"--allow-host {spec}: credentials are not accepted here; {CREDENTIAL_HINT}")
        hostport, _, prefix = s.partition("/")
        try:
            p = urlsplit("//" + hostport)
            port = p.port
        except ValueError:
            raise WikicheckError(f"--allow-host {spec}: not a host name; give HOST, HOST:PORT or HOST/PATH/") from None
        if not p.hostname:
            raise WikicheckError(f"--allow-host {spec}: not a host name; give HOST, HOST:PORT or HOST/PATH/")
        return _Allowed(p.hostname.lower(), port, "/" + prefix)

    def allows(self, url: str) -> bool:
        return self.why_not(url) is None

    def why_not(self, url: str) -> str | None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https"):
            return f"a {p.scheme or 'relative'} URL (only http and https are crawled)"
        host, port = _host_port(url)
        rules = [r for r in self.rules if r.host == host and (r.port is None or r.port == port)]
        if not rules:
            return f"host {p.netloc} is not allowed (add --allow-host {p.netloc})"
        # the path as a server may read it: every escape decoded ("%2F" too) and dot segments removed
        path = _remove_dot_segments(unquote(p.path or "/"))
        if not any(path.startswith(unquote(r.prefix)) for r in rules):
            return f"{p.path} is outside the allowed path prefix {rules[0].prefix}"
        return None

    def allowed_hosts(self) -> set[str]:
        return {r.host for r in self.rules}
