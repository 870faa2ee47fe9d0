"""The per-user helper: the sampler with an injected foreground probe and clock, the files
it hands over, and ``fleetpulse-agent foreground`` as a real process (one per session,
stopped by a signal or by its folder going)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetpulse.agent import helper
from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.sources import foreground, handover
from fleetpulse.agent.sources.foreground import ForegroundSampler
from fleetpulse.agent.sources.handover import ForegroundSlice, Inbox
from tests.procs import BIN, cli

T0 = 1772438400.0


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


class Probe:
    """Answers the foreground executable from a script, one answer per call."""

    def __init__(self, *answers: str | Exception | None) -> None:
        self.answers = list(answers)

    def __call__(self) -> str | None:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sampler(
    folder: Path, probe: Callable[[], str | None], clock: Clock, keep: int = 10
) -> tuple[ForegroundSampler, Problems]:
    problems = Problems()
    return ForegroundSampler(probe, clock, "2", folder, problems, keep), problems


def files(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def test_each_sample_credits_the_time_since_the_last_one(tmp_path: Path) -> None:
    clock = Clock()
    probe = Probe(
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",  # a path: only its name is kept
        "code.exe",
        None,  # screen locked: nobody in the foreground
        PermissionError("access denied (protected process)"),
        "OUTLOOK.EXE",
        "Inbox - Outlook\x07",  # not an executable's name: not credited
        "outlook.exe",
    )
    s, problems = sampler(tmp_path, probe, clock)
    for step in (1.0, 1.5, 1.0, 1.0, 1.0, 1.0, 600.0):  # the last after a sleep
        clock.now += step
        s.sample()
    assert problems.counts == {"foreground": 1}
    piece = s.flush()
    assert piece == ForegroundSlice(
        "2", T0, T0 + 606.5, {"code.exe": 2.5, "outlook.exe": 1.0 + foreground.MAX_GAP}
    )
    assert files(tmp_path) == ["2-1772438400000.json"]
    written = json.loads((tmp_path / "2-1772438400000.json").read_text())
    assert written == {
        "session_id": "2",
        "start": T0,
        "end": T0 + 606.5,
        "seconds": {"code.exe": 2.5, "outlook.exe": 6.0},
    }
    assert handover.parse((tmp_path / "2-1772438400000.json").read_bytes()) == piece


def test_flushes_follow_each_other_and_an_idle_one_is_an_empty_file(tmp_path: Path) -> None:
    clock = Clock()
    s, _ = sampler(tmp_path, Probe("teams.exe", None), clock)
    clock.now += 1
    s.sample()
    first = s.flush()
    clock.now += 60
    s.sample()
    second = s.flush()
    assert first is not None and second is not None
    assert (first.start, first.end, second.start, second.end) == (T0, T0 + 1, T0 + 1, T0 + 61)
    assert second.seconds == {}
    assert [p.seconds for p in Inbox(tmp_path).take(T0 + 61, Problems())] == [
        {"teams.exe": 1.0},
        {},
    ]
    assert os.listdir(tmp_path) == []  # no temporary file is left behind


def test_a_clock_set_back_writes_nothing_and_a_long_sleep_keeps_the_last_hour(
    tmp_path: Path,
) -> None:
    clock = Clock()
    s, _ = sampler(tmp_path, Probe("code.exe", "code.exe"), clock)
    clock.now -= 30
    assert s.flush() is None and files(tmp_path) == []
    clock.now = T0 + 5 * 3600
    s.sample()
    piece = s.flush()
    assert piece is not None and piece.end - piece.start == handover.MAX_SPAN
    assert piece.seconds == {"code.exe": foreground.MAX_GAP}


def test_pending_files_are_capped_while_the_service_takes_none(tmp_path: Path) -> None:
    clock = Clock()
    s, _ = sampler(tmp_path, Probe(*["code.exe"] * 6), clock, keep=3)
    (tmp_path / "3-1.json").write_bytes(b"another session's")
    for _ in range(6):
        clock.now += 60
        s.sample()
        s.flush()
    assert files(tmp_path) == [
        "2-1772438580000.json",
        "2-1772438640000.json",
        "2-1772438700000.json",
        "3-1.json",
    ]


def test_a_folder_gone_drops_the_slice_without_failing(tmp_path: Path) -> None:
    clock = Clock()
    s, _ = sampler(tmp_path / "gone", Probe("code.exe"), clock)
    clock.now += 1
    s.sample()
    assert s.flush() is None


def test_run_samples_flushes_and_stops_when_told(tmp_path: Path) -> None:
    clock = Clock()
    ticks: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            ticks.append(float(timeout or 0))
            clock.now += 1.0
            return len(ticks) > 150  # told to stop after 150 ticks

    s, _ = sampler(tmp_path, lambda: "code.exe", clock)
    s.run(Stop(), tick=1.0, flush_seconds=60.0)
    got = Inbox(tmp_path).take(clock.now, Problems())
    assert [(p.start - T0, p.end - T0) for p in got] == [(0, 60), (60, 120), (120, 151)]
    assert sum(p.seconds["code.exe"] for p in got) == 151.0
    assert set(ticks) == {1.0}

    calls = []

    def keep_going() -> bool:
        calls.append(1)
        return len(calls) < 3  # the folder went: stop after two samples

    s, _ = sampler(tmp_path, lambda: "code.exe", clock)
    s.run(threading.Event(), tick=0.01, flush_seconds=60.0, keep_going=keep_going)
    assert len(calls) == 3


def test_session_ids_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="session id"):
        ForegroundSampler(lambda: None, Clock(), "../1", tmp_path, Problems())
    assert helper.session_id({"XDG_SESSION_ID": "c2"}) == "c2"
    assert helper.session_id({}) is None


def test_only_the_executable_name_is_read_never_titles_paths_or_arguments() -> None:
    """What the helper can learn is what its code asks for: no window text, no command
    line, no path (the file's values are names only, checked by valid_app above)."""
    agent = Path(helper.__file__).parent
    sources = [
        agent / "helper.py",
        agent / "sources" / "foreground.py",
        agent / "sources" / "handover.py",
        agent / "platform" / "_windows.py",
    ]
    text = "\n".join(p.read_text() for p in sources)
    for call in ("GetWindowText", "GetClassName", "cmdline", ".exe()", ".cwd()", "environ()"):
        assert call not in text, call
    assert re.findall(r"user32\.(\w+)", text) == ["GetForegroundWindow", "GetWindowThreadProcessId"]


# --- the command, as a real process ----------------------------------------------------


def helper_env(session: str | None = "c7") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("XDG_SESSION_ID", None)
    if session is not None:
        env["XDG_SESSION_ID"] = session
    return env


def start(state: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "fleetpulse-agent"), "foreground", "--state-dir", str(state), *extra],
        env=helper_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform == "win32", reason="signals and XDG_SESSION_ID are POSIX")
def test_the_command_runs_once_per_session_and_flushes_when_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "foreground"
    proc = start(tmp_path, "--flush-seconds", "1")
    try:
        wait_for(lambda: folder.is_dir() and bool(files(folder)))
        again = cli("fleetpulse-agent", "foreground", "--state-dir", str(tmp_path),
                    env=helper_env())  # fmt: skip
        assert again.returncode == 0
        assert again.stderr == "fleetpulse-agent: foreground already runs in session c7\n"
        assert proc.poll() is None
        before = set(files(folder))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out, err) == (0, "", "")
    assert set(files(folder)) > before  # the last slice was flushed on the way out
    got = Inbox(folder).take(time.time(), Problems())
    # no display here: the helper ran and saw nothing in the foreground
    assert got and all(p.session_id == "c7" and p.seconds == {} for p in got)
    # the lock went with the process: a new helper starts
    proc = start(tmp_path, "--flush-seconds", "1")
    try:
        wait_for(lambda: bool(files(folder)))
        for entry in folder.iterdir():  # uninstall removes the folder: the helper ends
            entry.unlink()
        folder.rmdir()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_command_errors_are_one_line(tmp_path: Path) -> None:
    for args, env, message in (
        (["--flush-seconds", "0.5"], helper_env(), "--flush-seconds must be 1..900, not 0.5"),
        ([], helper_env(None), "no desktop session id here"),
    ):
        done = cli("fleetpulse-agent", "foreground", "--state-dir", str(tmp_path), *args, env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("fleetpulse-agent: error: ") and message in line, line
    (tmp_path / "file").write_text("")
    done = cli("fleetpulse-agent", "foreground", "--state-dir", str(tmp_path / "file"),
               env=helper_env())  # fmt: skip
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    # what argparse cannot read goes to the typer app, which names the option
    done = cli("fleetpulse-agent", "foreground", "--flush-seconds", "soon", env=helper_env())
    assert done.returncode == 2 and "--flush-seconds" in done.stderr
