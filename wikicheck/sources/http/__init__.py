"""An internal wiki site over HTTP: Confluence, MediaWiki, MkDocs, Docusaurus or any HTML site (issue 6).

The scan is the crawl. From the start URL it follows links and sitemap.xml within the allowed hosts
and path prefixes (the start URL's host and folder unless more are allowed), and revalidates every
page the last crawl found with a conditional GET (If-None-Match / If-Modified-Since, from the
store's http_cache table, which crawl() hands to scan()). A 304 becomes a candidate with the
stored fingerprint, so the crawler sees the page unchanged and never loads it. A 200 is extracted
at once (sources/engines/: main content and page metadata) and kept, compressed, for load(); its
fingerprint is the hash of what was extracted, so chrome that changes on every page (a new nav
entry) is not a change. A markdown page (text/markdown, or a .md URL served as text/plain or with no type, as
raw.githubusercontent.com and static servers do) is a page too, kept as served, and revalidated the same way
(#12). Files a site serves beside its pages (CODEOWNERS, wikicheck.toml, robots.txt, sitemap.xml, JSON,
images) are never pages: links and sitemap entries to them are not followed (not_a_page()).

One page is one document: redirects are followed (within the allowed hosts only) and
<link rel=canonical> names the document; its path is the URL path (without the leading slash),
its url the canonical URL. A known page that answers 404 or 410 is left out of the candidates, so
the crawler marks it removed (its history stays). A page that fails for any other reason (timeout,
5xx, too large) gets a warning, counts as failed, and keeps its last crawled version.

A page that changes address keeps its history (issue 9): when a URL the last crawl knew as document
path P now redirects to, or declares a canonical URL of, a page whose path is Q, or when P's URL is
gone (404, 410) and the very same page (same extracted content, but for its canonical link) appeared
at a new path Q in this crawl (through the sitemap or a link), the scan reports (P, Q) in
ScanResult.renames, and the crawler records the rename instead of an unrelated removal. P is not
renamed while any of its URLs still answers with it, nor to a page the last crawl knew already (a
merge, or a deleted page sent to the home page), nor when several pages lead to one (a login page).

Credentials come from the environment (WIKICHECK_HTTP_TOKEN, or WIKICHECK_HTTP_USER and
WIKICHECK_HTTP_PASSWORD) or a netrc file, are sent to allowed hosts only, and are never stored or
logged. A URL that carries credentials is refused.

The package is split by job (#13): scope.py (URLs and the hosts and path prefixes a crawl may fetch),
client.py (credentials and the HTTP client), pages.py (what one answer is: a page, markdown or HTML),
crawler.py (one scan: the frontier, sitemaps, renames) and source.py (HttpSource: one URL, documents).
"""

from __future__ import annotations

from .client import Client
from .scope import Scope, document_path, normalise_url, not_a_page
from .source import HttpSource

__all__ = ["Client", "HttpSource", "Scope", "document_path", "normalise_url", "not_a_page"]
