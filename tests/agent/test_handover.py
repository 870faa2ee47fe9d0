"""The service's side of the foreground hand-over: the helper's files (recorded under
tests/fixtures/windows/foreground) read as untrusted input, and the app usage source that
fills ``foreground_seconds`` from them or leaves it unknown."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform.env import Env, Problems
from fleetpulse.agent.sources import handover
from fleetpulse.agent.sources.apps import AppSource
from fleetpulse.agent.sources.handover import ForegroundSlice, Inbox, parse

RECORDED = Path(__file__).parent.parent / "fixtures" / "windows" / "foreground"
T0 = 1772438400.0  # 2026-03-02 08:00:00 UTC, the first recorded slice's start
VALID = {"2-1772438400000.json", "2-1772438460000.json", "2-1772438520000.json",
         "3-1772438400000.json"}  # fmt: skip
DAMAGED = {"2-1772438580000.json", "3-1772438580000.json", "3-1772438460000.json",
           "3-1772438640000.json"}  # fmt: skip
TEMP = ".2-1772438640000.json.tmp"


def recorded(tmp_path: Path) -> Path:
    folder = tmp_path / "foreground"
    shutil.copytree(RECORDED, folder)
    (folder / "README.md").unlink()
    return folder


def doc(start: float = T0, end: float = T0 + 60, **seconds: Any) -> bytes:
    return json.dumps({"session_id": "2", "start": start, "end": end, "seconds": seconds}).encode()


# --- the files -------------------------------------------------------------------------


def test_recorded_files_are_taken_once_and_damaged_ones_counted_and_deleted(
    tmp_path: Path,
) -> None:
    folder = recorded(tmp_path)
    problems = Problems()
    inbox = Inbox(folder)
    got = inbox.take(T0 + 3600, problems)
    assert [p.file_name for p in got] == sorted(VALID, key=lambda n: (n[2:], n))  # by start
    assert got[:2] == [
        ForegroundSlice(
            "2", T0, T0 + 60, {"explorer.exe": 2.0, "outlook.exe": 31.0, "teams.exe": 24.5}
        ),
        ForegroundSlice("3", T0, T0 + 90, {"code.exe": 90.0}),
    ]
    assert got[3].seconds == {}  # the helper ran and nothing was in the foreground
    assert problems.counts == {handover.SOURCE: len(DAMAGED)}
    # taken and damaged files are gone; the helper's unfinished temporary file stays
    assert sorted(os.listdir(folder)) == [TEMP]
    assert inbox.take(T0 + 3600, problems) == []
    assert problems.counts == {handover.SOURCE: len(DAMAGED)}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe{", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not JSON"),
        (doc().replace(b'"2"', b'"../2"'), "session_id"),
        (doc(end=T0), "span"),
        (doc(end=T0 + 7200), "span"),
        (doc(end=float("nan")), "start/end"),
        (doc(end=True), "start/end"),
        (doc(**{"firefox.exe": -1}), "non-negative"),
        (doc(**{"firefox.exe": "12"}), "non-negative"),
        (doc(**{"Firefox.exe": 1}), "bare executable"),
        (doc(**{"/usr/bin/firefox": 1}), "bare executable"),
        (doc(**{"a\nb.exe": 1}), "bare executable"),
        (doc(**{"x" * 129: 1}), "bare executable"),
        (doc(**{f"a{i}.exe": 0 for i in range(handover.MAX_APPS + 1)}), "apps"),
        (doc(**{"a.exe": 40, "b.exe": 40}), "of foreground in a 60.0s span"),
        # integers no float holds: OverflowError out of the service loop before
        (doc(end=10**400), "start/end"),
        (doc(**{"a.exe": 10**400}), "non-negative"),
    ],
)
def test_damaged_contents_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse(data)


def test_values_are_clamped_to_their_span() -> None:
    got = parse(doc(end=T0 + 30, **{"code.exe": 30.4, "teams.exe": 0}))
    assert got.seconds == {"code.exe": 30.0, "teams.exe": 0.0}


def test_oversized_links_and_foreign_names_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    folder.mkdir()
    big = doc()[:-1] + b"," + b" " * handover.MAX_FILE_BYTES + b"}"
    (folder / "2-1.json").write_bytes(big)
    (tmp_path / "elsewhere.json").write_bytes(doc(**{"code.exe": 1}))
    (folder / "2-2.json").symlink_to(tmp_path / "elsewhere.json")
    (folder / "not-a-session!-3.json").write_bytes(doc())
    (folder / "2-4.json").mkdir()
    (folder / "2-5.txt").write_bytes(doc())  # not ours: ignored, left alone
    problems = Problems()
    assert Inbox(folder).take(T0 + 3600, problems) == []
    assert problems.counts == {handover.SOURCE: 4}
    assert sorted(os.listdir(folder)) == ["2-4.json", "2-5.txt"]  # a folder is not unlinked
    assert (tmp_path / "elsewhere.json").exists()  # the link went, not its target


def test_a_damaged_entry_that_cannot_be_deleted_counts_once_per_inbox(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    (folder / "2-1.json").mkdir(parents=True)  # unlink fails on a folder, even for root
    inbox, problems = Inbox(folder), Problems()
    inbox.take(T0, problems)
    inbox.take(T0, problems)
    assert problems.counts == {handover.SOURCE: 1}


def test_files_ending_later_wait_and_far_future_ones_are_damaged(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    folder.mkdir()
    (folder / "2-1.json").write_bytes(doc(T0, T0 + 60, **{"code.exe": 10}))
    (folder / "2-2.json").write_bytes(doc(T0 + 600, T0 + 660, **{"code.exe": 10}))
    problems = Problems()
    inbox = Inbox(folder)
    assert inbox.take(T0 + 30, problems) == []  # 2-1 ends in 30 s: next time
    assert problems.counts == {handover.SOURCE: 1}  # 2-2 ends 630 s ahead: damaged
    assert os.listdir(folder) == ["2-1.json"]
    assert [p.end for p in inbox.take(T0 + 60, problems)] == [T0 + 60]


def test_a_missing_folder_is_no_slices() -> None:
    problems = Problems()
    assert Inbox(Path("/nonexistent/foreground")).take(T0, problems) == []
    assert problems.total == 0


# --- the app usage source --------------------------------------------------------------


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Ps:
    """psutil as the source uses it: one signed-in user running outlook.exe."""

    names: dict[int, str] = field(default_factory=dict)

    def users(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="alice")]

    def process_iter(self, attrs: list[str]) -> list[SimpleNamespace]:
        info = {
            "name": "OUTLOOK.EXE",
            "create_time": T0 - 3600,
            "cpu_times": SimpleNamespace(user=1.0, system=0.5),
            "memory_info": SimpleNamespace(rss=200 << 20),
            "username": "CONTOSO\\alice",
        }
        return [SimpleNamespace(pid=4242, info=info)]

    def Process(self, pid: int) -> SimpleNamespace:  # psutil spells it so
        return SimpleNamespace(name=lambda: self.names[pid])


def unavailable(argv: Sequence[str]) -> str:
    raise SourceUnavailable(f"{argv[0]}: not here")


def source(clock: Clock, folder: Path | None) -> tuple[AppSource, Env]:
    env = Env(run=unavailable, clock=clock, ps=Ps())
    return AppSource(env, inbox=None if folder is None else Inbox(folder)), env


def foreground(records: list[Any]) -> dict[str, float | None]:
    return {r.app: r.foreground_seconds for r in records}


def test_recorded_files_fill_foreground_seconds_of_the_interval(tmp_path: Path) -> None:
    clock = Clock(T0)
    apps, env = source(clock, recorded(tmp_path))
    clock.now = T0 + 600
    assert foreground(apps.flush()) == {
        "code.exe": 90.0,
        "explorer.exe": 2.0,
        "outlook.exe": 89.0,
        "teams.exe": 24.5,
    }
    assert env.problems.counts == {handover.SOURCE: len(DAMAGED)}
    clock.now = T0 + 900
    # no helper file this interval: unknown, not 0
    assert foreground(apps.flush()) == {"outlook.exe": None}


def test_an_empty_slice_is_a_known_zero_and_older_slices_are_dropped(tmp_path: Path) -> None:
    clock = Clock(T0 + 120)  # the service starts at 08:02, after two slices had ended
    apps, _ = source(clock, recorded(tmp_path))
    clock.now = T0 + 600
    # only 2-...520 (08:02-08:03, nothing in the foreground) ends inside the interval
    assert foreground(apps.flush()) == {"outlook.exe": 0.0}


def test_foreground_never_exceeds_the_interval(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    folder.mkdir()
    handover.write(folder, ForegroundSlice("2", T0 - 50, T0 + 10, {"outlook.exe": 60.0}))
    clock = Clock(T0)
    apps, _ = source(clock, folder)
    clock.now = T0 + 30
    [record] = apps.flush()
    assert record.interval_seconds == 30 and record.foreground_seconds == 30.0


def test_without_helper_files_foreground_is_unknown(tmp_path: Path) -> None:
    clock = Clock(T0)
    apps, _ = source(clock, tmp_path / "foreground")  # no helper ever ran
    clock.now = T0 + 300
    assert foreground(apps.flush()) == {"outlook.exe": None}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="replays the X11 probe")
def test_with_an_inbox_the_services_own_probe_is_not_used(tmp_path: Path) -> None:
    outputs = {
        ("xprop", "-root", "_NET_ACTIVE_WINDOW"): "_NET_ACTIVE_WINDOW(WINDOW): window id # 0x7\n",
        ("xprop", "-id", "0x7", "_NET_WM_PID"): "_NET_WM_PID(CARDINAL) = 4242\n",
    }

    def run(argv: Sequence[str]) -> str:
        return outputs[tuple(argv)]

    def env_for(clock: Clock) -> Env:
        return Env(
            run=run,
            read_bytes=lambda path: b"DISPLAY=:0\0",
            clock=clock,
            ps=Ps(names={4242: "outlook.exe"}),
        )

    for inbox, expected in ((None, 5.0), (Inbox(tmp_path / "fg"), None)):
        clock = Clock(T0)
        apps = AppSource(env_for(clock), inbox=inbox)
        apps.sample_foreground(5.0)
        clock.now = T0 + 60
        assert foreground(apps.flush()) == {"outlook.exe": expected}


def test_a_folder_filled_with_made_up_names_yields_a_bounded_number_of_records(
    tmp_path: Path,
) -> None:
    # Any signed-in user can write here (the helper runs as the user): 40 files of 512
    # distinct names each would otherwise become 20,480 app records in one interval.
    folder = tmp_path / "foreground"
    folder.mkdir()
    for i in range(40):
        names = {f"fake{i}-{j}.exe": 0.001 for j in range(handover.MAX_APPS)}
        handover.write(folder, ForegroundSlice("2", T0 + i, T0 + i + 60, names))
    handover.write(folder, ForegroundSlice("3", T0, T0 + 60, {"outlook.exe": 30.0}))
    clock = Clock(T0)
    apps, env = source(clock, folder)
    clock.now = T0 + 300
    got = foreground(apps.flush())
    assert len(got) <= handover.MAX_APPS + 1  # the helpers' names, and outlook.exe it runs
    assert got["outlook.exe"] == 30.0  # a name already in use is still credited
    assert env.problems.counts == {handover.SOURCE: 1}  # the overflow, counted once


def test_files_that_are_not_hand_overs_cannot_hide_the_real_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names the inbox ignores (and never deletes: they are not its own) must not use up
    # the files read per take, or any user could stop foreground time for every session
    # by leaving that many of them in the shared folder.
    monkeypatch.setattr(handover, "MAX_FILES_PER_TAKE", 10)
    folder = tmp_path / "foreground"
    folder.mkdir()
    for i in range(1000):
        (folder / (f".hide{i}" if i % 2 else f"hide-{i}.txt")).write_bytes(b"")
    (folder / "2-1.json").write_bytes(doc(**{"code.exe": 10}))
    problems = Problems()
    [piece] = Inbox(folder).take(T0 + 3600, problems)
    assert piece.seconds == {"code.exe": 10.0}
    assert problems.total == 0
    assert len(os.listdir(folder)) == 1000  # the others are left alone


def test_a_file_no_float_can_hold_is_damaged_not_fatal(tmp_path: Path) -> None:
    # One such file, left by any user, stopped the service at every start.
    folder = tmp_path / "foreground"
    folder.mkdir()
    (folder / "2-1.json").write_bytes(doc(**{"a.exe": 10**400}))
    clock = Clock(T0)
    apps, env = source(clock, folder)
    clock.now = T0 + 300
    assert foreground(apps.flush()) == {"outlook.exe": None}
    assert env.problems.counts == {handover.SOURCE: 1}
    assert os.listdir(folder) == []
