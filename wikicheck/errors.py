"""Typed errors. The CLI turns every WikicheckError into one line on stderr and exit code 3."""


class WikicheckError(Exception):
    """Base class of every error wikicheck reports to the user."""


class ConfigError(WikicheckError):
    """The configuration file or an option is invalid."""


class SourceNotFound(WikicheckError):
    """A source path or URL does not exist or cannot be reached."""


class StoreNotFound(WikicheckError):
    """No wikicheck store at that path."""


class StoreLocked(WikicheckError):
    """Another process holds the index lock (a crawl is running)."""


class ModelMismatch(WikicheckError):
    """The store was embedded with another model than the one requested."""


class IndexOutOfDate(WikicheckError):
    """The faiss index does not match the store."""


class StoreDamaged(WikicheckError):
    """The store file is damaged (SQLite's quick_check fails) or is not a file: never written to."""


class StoreEmpty(WikicheckError):
    """The store holds nothing yet (0 bytes, or no crawl ever completed): not a clean wiki."""


class IndexFileUnusable(WikicheckError):
    """A file wikicheck writes in the index directory is something else (a directory, a device)."""
