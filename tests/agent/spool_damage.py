"""Real damage to real spool files: pages overwritten with garbage, files truncated, a
write-ahead log deleted after a crash. Shared by the spool and end-to-end tests."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from fleetpulse.agent.spool import Spool
from fleetpulse.contract.records import Kind

PAGE = 4096  # SQLite's default page size, which the spool keeps


def fill(path: Path, payloads: list[tuple[Kind, bytes]]) -> dict[int, bytes]:
    """Commits ``payloads`` to the spool at ``path`` and closes it; returns seq -> payload."""
    spool = Spool(str(path))
    try:
        seqs = spool.put(payloads)
    finally:
        spool.close()
    return dict(zip(seqs, (p for _, p in payloads), strict=True))


def leaf_pages(path: Path) -> list[tuple[int, int]]:
    """(page number, rows on it) of every leaf page of the ``spool`` table (the dbstat
    virtual table, sqlite.org/dbstat.html), read from a closed, checkpointed file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = 'spool' AND pagetype = 'leaf'"
            " ORDER BY pageno"
        ).fetchall()
    return [(int(p), int(n)) for p, n in rows]


def garble(path: Path, pages: list[int], seed: int = 1) -> None:
    """Overwrites whole pages of the file with random bytes, as a bad disk block would."""
    rng = random.Random(seed)
    with path.open("r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * PAGE)
            fh.write(rng.randbytes(PAGE))


def crash_after_commit(path: Path, count: int) -> None:
    """A separate process commits ``count`` records and dies without closing the spool
    (``os._exit``), so they stay in the write-ahead log, as after kill -9 or a power cut."""
    code = (
        "import os, sys\n"
        "from fleetpulse.contract.records import Kind\n"
        "from fleetpulse.agent.spool import Spool\n"
        "s = Spool(sys.argv[1])\n"
        "s.put([(Kind.APP_USAGE, b'x%d' % i) for i in range(int(sys.argv[2]))])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(count)], check=True, timeout=60)
