"""Peak RSS of ``fleetpulse-collector inventory import`` and of ``report`` over a large
generated inventory (hostname,site rows), each command a separate process on a SQLite store.

    python -m bench.inventory_memory [--rows 300000] [--db URL]

Peak RSS is the child's ``ru_maxrss`` (getrusage(2): kilobytes on Linux), taken with
``os.wait4`` so each command is measured on its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.collector import BIN


def write_inventory(path: Path, rows: int, sites: int = 40) -> int:
    """Writes ``rows`` hostnames spread over ``sites`` sites; returns the file size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("hostname,site\n")
        for i in range(rows):
            fh.write(f"inv-host-{i:08d}.corp.example.com,site-{i % sites:03d}\n")
    return path.stat().st_size


def peak_rss(args: list[str]) -> tuple[int, int, str]:
    """Runs one command; returns (exit status, peak RSS in KiB, stderr)."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, int(usage.ru_maxrss), err.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--db", help="store URL (default: a fresh SQLite file)")
    a = ap.parse_args()
    collector = str(BIN / "fleetpulse-collector")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "inventory.csv"
        size = write_inventory(csv_path, a.rows)
        db = a.db or f"sqlite:///{tmp}/c.db"
        code, _, err = peak_rss([collector, "migrate", "--db", db])
        if code:
            sys.exit(f"migrate failed: {err}")
        code, imp, err = peak_rss([collector, "inventory", "import", str(csv_path), "--db", db])
        if code:
            sys.exit(f"import failed: {err}")
        code, rep, err = peak_rss([collector, "report", "--db", db, "--format", "json"])
        if code:
            sys.exit(f"report failed: {err}")
    print(f"inventory: {a.rows} rows, {size / 1e6:.1f} MB")
    print(f"import peak RSS: {imp / 1024:.1f} MiB")
    print(f"report peak RSS: {rep / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
