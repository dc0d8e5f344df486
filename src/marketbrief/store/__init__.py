"""The source of truth: the async `Store` everything awaits, over a blocking SQL backend."""

from marketbrief.store.gateway import Store, StoreHealth
from marketbrief.store.sql import SQLStore, open_store

__all__ = ["SQLStore", "Store", "StoreHealth", "open_store"]
