"""What the parts of the store share: its connection, and Store.transaction (defined in __init__)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlite_utils import Database


class StorePart:
    """Base of the mixins Store is assembled from; each holds the SQL of one family of tables."""

    db: Database

    if TYPE_CHECKING:
        def transaction(self) -> AbstractContextManager[None]: ...
