"""wikicheck: keep AI agents and people from acting on outdated internal runbooks."""

from .config import Config, load_config
from .crawl import CrawlSummary, crawl
from .errors import ConfigError, ModelMismatch, SourceNotFound, StoreLocked, StoreNotFound, WikicheckError
from .model import Document, Provenance, Section
from .store import Store

__version__ = "0.1.0"

__all__ = [
    "Config", "ConfigError", "CrawlSummary", "Document", "ModelMismatch", "Provenance", "Section",
    "SourceNotFound", "Store", "StoreLocked", "StoreNotFound", "WikicheckError", "crawl", "load_config",
]
