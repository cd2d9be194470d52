"""The relay and its lease on FerretDB: bounded lease documents, orphan markers, fair batches, parked streams."""

from __future__ import annotations

from shared.mongo import Database
from shared.relay import LEASES, SlotLease


class FakeTime:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


async def test_lease_documents_stay_bounded_however_many_slots_pass(db: Database) -> None:
    clock = FakeTime()
    a = SlotLease(db, "relay", slot_s=5, now=clock)
    b = SlotLease(db, "relay", slot_s=5, now=clock)
    other = SlotLease(db, "sweeper", slot_s=5, now=clock)
    for step in range(300):
        # Two replicas compete for every slot; now and then a pause in which nobody holds it.
        clock.t += 5 * (7 if step % 50 == 49 else 1)
        held = [await a.holds(), await b.holds()]
        assert held.count(True) == 1
        await other.holds()
    names = [doc["_id"] async for doc in db[LEASES].find({})]  # the last ten slots stay, to see who held it
    relay = [n for n in names if n.startswith("relay:")]
    assert len(relay) <= 11, sorted(relay)
    assert len(names) - len(relay) <= 11
    # A process started later also clears what earlier processes left behind.
    clock.t += 5 * 1_000
    await SlotLease(db, "relay", slot_s=5, now=clock).holds()
    left = [doc["_id"] async for doc in db[LEASES].find({})]
    assert [n for n in left if n.startswith("relay:")] == [f"relay:{int(clock.t // 5)}"]
