"""Records the filters of the queries a Mongo client sends, to prove which lookups a code path makes."""

from __future__ import annotations

from typing import Any

from pymongo import monitoring

# The commands that carry a query filter, and where it sits in them.
_FILTERS = {"find": "filter", "count": "query", "aggregate": "pipeline"}


class QueryLog(monitoring.CommandListener):
    """Every filter sent to the watched database, as (collection, command, filter)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.seen: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        name = event.command_name
        if name in _FILTERS:
            self.seen.append((str(event.command[name]), name, event.command.get(_FILTERS[name])))
        elif name in ("delete", "update"):
            for statement in event.command.get("deletes" if name == "delete" else "updates", []):
                self.seen.append((str(event.command[name]), name, statement.get("q")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def unindexed(self, leading: dict[str, set[str]]) -> list[tuple[str, str, Any]]:
        """The queries on the collections of `leading` whose filter has no plain top-level equality on one of the
        collection's index-leading fields: those an index cannot serve on FerretDB over PostgreSQL (docs/queries.md)."""
        return [
            (coll, name, flt)
            for coll, name, flt in self.seen
            if coll in leading
            and not (isinstance(flt, dict) and any(f in flt and _plain(flt[f]) for f in leading[coll]))
        ]


async def leading_fields(db: Any, *collections: str) -> dict[str, set[str]]:
    """The first field of every index of each collection, as the server reports them."""
    found: dict[str, set[str]] = {}
    for coll in collections:
        info = await db[coll].index_information()
        found[coll] = {spec["key"][0][0] for spec in info.values()}
    return found


def _plain(value: Any) -> bool:
    return not isinstance(value, dict)
