"""python -m services.listing: settings → telemetry → app (HTTP, consumers, relay and timers in one loop).

`python -m services.listing reindex` rebuilds the catalog's search index directories under CATALOG_INDEX_DIR from
the items projection (MONGO_URL, MONGO_DB), each one no running replica holds; a running replica rebuilt its own at
its start, and rebuilds it again when restarted.
"""

import asyncio
import sys

from services.listing.app import build_app
from services.listing.settings import ListingSettings
from shared.service import run_service


async def reindex(settings: ListingSettings) -> int:
    from services.listing.catalog_feed import rebuild_free_slots
    from shared.mongo import make_client

    if not settings.catalog_index_dir:
        print("CATALOG_INDEX_DIR is empty: each replica keeps its index in memory, built at its start")
        return 0
    client = make_client(settings.mongo_url)
    try:
        for line in await rebuild_free_slots(settings.catalog_index_dir, client[settings.mongo_db]):
            print(line)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["reindex"]:
        raise SystemExit(asyncio.run(reindex(ListingSettings.load())))
    if sys.argv[1:]:
        print("usage: python -m services.listing [reindex]", file=sys.stderr)
        raise SystemExit(2)
    run_service(ListingSettings, build_app)
