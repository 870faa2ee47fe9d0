"""The basic macOS backend with recorded ``sysctl``/``sw_vers``/``ioreg`` output."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import _macos as macos
from fleetpulse.agent.platform.env import Env

# What the commands print on a MacBook Pro (Apple silicon), macOS 15.3.
RECORDED = {
    ("sysctl", "-n", "kern.boottime"): (
        "{ sec = 1772438400, usec = 250000 } Mon Mar  2 08:00:00 2026\n"
    ),
    ("sysctl", "-n", "kern.bootsessionuuid"): "5C1E1F4A-6B2D-4E0F-9A7C-3D8B2E6F1A90\n",
    ("sysctl", "-n", "hw.model"): "MacBookPro18,3\n",
    ("sw_vers", "-productVersion"): "15.3\n",
    ("ioreg", "-rd1", "-c", "IOPlatformExpertDevice"): (
        "+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000230, registered>\n"
        "    {\n"
        '      "IOPlatformSerialNumber" = "C02XG0FDJGH5"\n'
        '      "IOPlatformUUID" = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"\n'
        '      "model" = <"MacBookPro18,3">\n'
        "    }\n"
    ),
}


def run(argv: Sequence[str]) -> str:
    try:
        return RECORDED[tuple(argv)]
    except KeyError:
        raise SourceUnavailable(f"{argv[0]}: not recorded") from None


def user(name: str, terminal: str, started: float) -> SimpleNamespace:
    return SimpleNamespace(name=name, terminal=terminal, host="", started=started, pid=501)


def env(runner=run, users=()) -> Env:  # type: ignore[no-untyped-def]
    ps = SimpleNamespace(boot_time=lambda: 1772438400.0, users=lambda: list(users))
    return Env(run=runner, ps=ps)


def test_boot_time_comes_from_kern_boottime_with_microseconds():
    boot = macos.boot_record(env())
    assert boot.boot_time == pytest.approx(1772438400.25, abs=0.001)
    assert boot.boot_id == "5C1E1F4A-6B2D-4E0F-9A7C-3D8B2E6F1A90"
    assert boot.total_seconds is None  # not measured on macOS yet: unknown, not 0
    assert boot.phases == ()


def test_unreadable_boottime_falls_back_to_psutil_and_is_counted():
    def garbled(argv: Sequence[str]) -> str:
        if argv[-1] == "kern.boottime":
            return "sysctl: unknown oid\n"
        raise SourceUnavailable("not recorded")

    e = env(garbled)
    boot = macos.boot_record(e)
    assert boot.boot_time == 1772438400.0
    assert boot.boot_id == "boot-1772438400"
    assert e.problems.counts["macos.sysctl"] == 1


def test_sign_ins_of_this_boot_from_utmpx():
    users = [user("dana", "console", 1772438460.0), user("old", "ttys000", 1772000000.0)]
    (signin,) = macos.signin_observations(env(users=users), 1772438400.25)
    assert (signin.user, signin.started_at) == ("dana", 1772438460.0)
    assert signin.session_id == "console-1772438460"
    assert signin.shell_started_at is None and signin.phases == ()


def test_unmeasured_things_stay_unknown():
    assert macos.crashes(env(), 0.0) == []
    assert macos.foreground_app(env()) is None


def test_os_facts():
    assert macos.os_facts(env()) == {
        "os": "macos",
        "os_version": "macOS 15.3",
        "machine_id": "",
        "hardware_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
        "form_factor": "laptop",
        "manufacturer": "Apple",
        "model": "MacBookPro18,3",
        "system_disk": "",
    }


@pytest.mark.parametrize(
    ("model", "form"),
    [
        ("MacBookAir10,1", "laptop"),
        ("iMac21,1", "desktop"),
        ("Macmini9,1", "desktop"),
        ("Mac14,13", ""),
    ],
)
def test_form_factor_only_where_the_model_says(model: str, form: str):
    assert macos.form_factor(model) == form


def test_nothing_available_never_raises():
    def unavailable(argv: Sequence[str]) -> str:
        raise SourceUnavailable("no such command")

    e = env(unavailable)
    assert macos.boot_record(e).boot_time == 1772438400.0
    assert macos.os_facts(e)["os_version"] == ""


def test_a_clock_step_moves_kern_boottime_but_not_the_boot_id():
    # XNU's clock_set_calendar_microtime shifts the boot time by every clock step; the
    # boot session UUID is set once per boot, so the id stays (in this process and after
    # an agent restart, which is just another reading).
    stepped = dict(RECORDED)
    stepped[("sysctl", "-n", "kern.boottime")] = (
        "{ sec = 1772437646, usec = 731002 } Mon Mar  2 07:47:26 2026\n"
    )
    before = macos.boot_record(env())
    after = macos.boot_record(env(runner=lambda argv: stepped[tuple(argv)]))
    assert after.boot_time != before.boot_time
    assert after.boot_id == before.boot_id == "5C1E1F4A-6B2D-4E0F-9A7C-3D8B2E6F1A90"
