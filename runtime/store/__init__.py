"""The data lake: records, identities, tokens and robot state behind one interface."""

from runtime.store.base import Page, Principal, Query, Record, Store, StoreSession

__all__ = ["Page", "Principal", "Query", "Record", "Store", "StoreSession"]
