"""One Windows boot has one id and one boot record, whatever psutil's float does.

``psutil.boot_time()`` on Windows is "now minus uptime": a real report saw 1491482416.0
and 1491482417.0 on one machine in one boot; psutil before 7.1.0 also moved it by every
sleep; and any clock step moves it. The identity comes from the ``BootId`` counter
(recorded ``reg query`` output) or the Kernel-General 12 start; each scenario below
feeds psutil values that move and checks one id, one boot time and one record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from fleetpulse.agent import platform
from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform import _windows
from fleetpulse.agent.platform.env import Env
from fleetpulse.agent.sources.boot import BootSource
from fleetpulse.contract.records import BootType
from tests.agent.test_windows_backend import at, recorded

BOOT = "2026-03-02T07:58:10.5"  # Kernel-General 12 StartTime in fast_logon/System.xml


def drifting(*values: float) -> Callable[[], float]:
    """A psutil.boot_time() that returns ``values`` in turn, then the last forever."""
    it: Iterator[float] = iter(values)
    last = [values[0]]

    def boot_time() -> float:
        last[0] = next(it, last[0])
        return last[0]

    return boot_time


def windows_env(scenario: str, boot_time: Callable[[], float], without: Sequence[str] = ()) -> Env:
    """``scenario`` replayed; ``without`` lists sources that fail ("reg", "System")."""
    replay = recorded(scenario)

    def run(argv: Sequence[str]) -> str:
        if "reg" in without and argv[0] == "reg":
            raise SourceUnavailable("reg exited 1: ERROR: The system was unable to find")
        if "System" in without and argv[:3] == ["wevtutil", "qe", "System"]:
            return ""
        return replay(argv)

    return Env(run=run, ps=SimpleNamespace(boot_time=boot_time, users=list))


@pytest.fixture
def windows_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "boot_record", _windows.boot_record)


def reported(env: Env, memory: Memory, polls: int) -> list[str]:
    """Boot ids the boot source reports over ``polls`` polls (spooled after each)."""
    source = BootSource(env, memory, settle_seconds=0)
    out = []
    for _ in range(polls):
        out += [b.boot_id for b in source.measure()]
        source.confirm()
    return out


JITTER = (at(BOOT) + 0.6, at(BOOT) - 0.6, at(BOOT) + 0.6, at(BOOT) - 0.6)  # 11, 09, 11, 09 s
SLEPT = (at(BOOT), at(BOOT) + 3600.0, at(BOOT) + 9000.0)  # psutil < 7.1: +each sleep
NTP_STEP = (at(BOOT), at(BOOT) - 754.0, at(BOOT) + 3.2)  # clock stepped back, then forward


@pytest.mark.parametrize("values", [JITTER, SLEPT, NTP_STEP], ids=["jitter", "sleep", "ntp"])
@pytest.mark.parametrize("without", [(), ("reg",)], ids=["counter", "kernel-start"])
def test_a_moving_psutil_boot_time_keeps_one_id_one_time_one_kind(
    values: tuple[float, ...], without: tuple[str, ...]
):
    env = windows_env("fast_logon", drifting(*values), without)
    boots = [_windows.boot_record(env) for _ in values]
    expected = "win-boot-62" if not without else f"win-start-{int(at(BOOT))}"
    assert {b.boot_id for b in boots} == {expected}
    assert [b.boot_time for b in boots] == pytest.approx([at(BOOT)] * len(values), abs=0.001)
    assert {b.boot_type for b in boots} == {BootType.COLD}
    assert [b.total_seconds for b in boots] == pytest.approx([38.211] * len(values), abs=0.001)


@pytest.mark.parametrize("values", [JITTER, SLEPT, NTP_STEP], ids=["jitter", "sleep", "ntp"])
def test_one_boot_record_per_boot_across_polls(
    windows_backend: None, tmp_path: Path, values: tuple[float, ...]
):
    env = windows_env("fast_logon", drifting(*values))
    assert reported(env, Memory(tmp_path / "memory.json"), len(values)) == ["win-boot-62"]


def test_agent_restarts_report_the_boot_once(windows_backend: None, tmp_path: Path):
    path = tmp_path / "memory.json"
    seen = []
    for value in JITTER:  # each restart reads a psutil value a second away from the last
        seen += reported(windows_env("fast_logon", drifting(value)), Memory(path), 2)
    assert seen == ["win-boot-62"]


def test_a_real_reboot_is_a_new_boot(windows_backend: None, tmp_path: Path):
    path = tmp_path / "memory.json"
    first = reported(windows_env("fast_logon", drifting(at(BOOT))), Memory(path), 2)
    after = windows_env("after_reboot", drifting(at("2026-03-03T07:45:00.4")))
    boot = _windows.boot_record(after)
    assert boot.boot_id == "win-boot-63"
    assert boot.boot_time == pytest.approx(at("2026-03-03T07:45:00.125"), abs=0.001)
    again = reported(after, Memory(path), 2)
    assert (first, again) == (["win-boot-62"], ["win-boot-63"])
    # Without the counter the new kernel start tells the boots apart just as well.
    no_counter = windows_env("after_reboot", drifting(at("2026-03-03T07:45:00.4")), ("reg",))
    assert _windows.boot_record(no_counter).boot_id == (
        f"win-start-{int(at('2026-03-03T07:45:00.125'))}"
    )


def test_a_fast_startup_is_a_boot_of_its_own_even_with_the_same_counter():
    # The hibernated kernel carries on: psutil's origin and possibly the counter are those
    # of the last cold boot; the Kernel-Boot 27 of the hybrid boot names this start.
    env = windows_env(
        "fast_startup", drifting(at("2026-02-20T10:00:01"), at("2026-02-20T10:00:02"))
    )
    boots = {_windows.boot_record(env).boot_id for _ in range(2)}
    assert boots == {f"win-boot-62-resume-{int(at('2026-03-03T07:30:02.5'))}"}


def test_with_neither_counter_nor_kernel_events_psutil_is_the_last_resort():
    env = windows_env("fast_logon", drifting(at(BOOT)), ("reg", "System"))
    boot = _windows.boot_record(env)
    assert boot.boot_id == f"boot-{int(at(BOOT))}"
    assert boot.boot_type is BootType.UNKNOWN
