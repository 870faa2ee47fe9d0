"""python -m grafana.dashgen [--check]: write (or check) grafana/dashboards/*.json."""

from __future__ import annotations

import sys

from . import DASHBOARD_DIR, stale_files, write_all


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = stale_files()
        for name in stale:
            print(
                f"{DASHBOARD_DIR / name} is out of date: run python -m grafana.dashgen",
                file=sys.stderr,
            )
        return 1 if stale else 0
    if argv:
        print("usage: python -m grafana.dashgen [--check]", file=sys.stderr)
        return 2
    for name in write_all():
        print(DASHBOARD_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
