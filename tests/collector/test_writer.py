"""Group commit: one report the database cannot take does not fail the others."""

from __future__ import annotations

import asyncio

from fleetpulse.collector.auth import digest
from fleetpulse.collector.errors import StoreUnavailable
from fleetpulse.collector.model import Incoming, Report
from fleetpulse.collector.store.base import open_store
from fleetpulse.collector.writer import Writer
from fleetpulse.contract.records import DeviceFacts, SigninRecord, SigninState

NOW = 1_800_000_000.0


def test_a_poison_report_fails_alone(db_url: str) -> None:
    # PostgreSQL: the group's statements run in one pipeline; the out-of-range seq must
    # still come out as the server's data error (not PipelineAborted, which is transient)
    store = open_store(db_url)
    store.migrate()
    store.create_token("t", digest("fpt_x"), "north", NOW, None, None)
    store.enroll(digest("fpt_x"), "d1", digest("s"), "h", "linux", "", "", "", "", NOW)
    writer = Writer(store, linger=0.05)  # long enough for all three to share a group

    def report(seq: int, session: str) -> Report:
        rec = SigninRecord(session, "b", "h", NOW - 60, SigninState.COMPLETE, 30.0)
        return Report("d1", DeviceFacts("h", "linux", "", ""), [Incoming(seq, NOW, rec)], NOW)

    async def main() -> list[object]:
        futures = [
            writer.submit(report(1, "a")),
            writer.submit(report(2**63, "poison")),
            writer.submit(report(3, "c")),
        ]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        good, poison, other = asyncio.run(main())
    finally:
        writer.close()
    assert isinstance(poison, StoreUnavailable)
    assert [len(o.accepted) for o in (good, other)] == [1, 1]  # type: ignore[union-attr]
    assert len(store.signins_between(0, NOW + 1)) == 2
    store.close()
