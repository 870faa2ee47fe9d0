"""The Windows backend replaying recorded ``wevtutil``/``reg``/``powershell`` output.

Each scenario directory under tests/fixtures/windows holds what those commands printed;
the fake runner below answers an argv from it, the way ``env.run`` would on Windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import _windows, windows_hardware
from fleetpulse.agent.platform.env import Env, Problems
from fleetpulse.contract.phases import BOOT_PHASES, SIGNIN_SUBPHASES
from fleetpulse.contract.records import BootType, Contributor, Culprit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "windows"
LOG_FILES = {
    "Security": "Security.xml",
    "System": "System.xml",
    "Application": "Application.xml",
    "Microsoft-Windows-Diagnostics-Performance/Operational": "Diagnostics-Performance.xml",
    "Microsoft-Windows-User Profile Service/Operational": "UserProfileService.xml",
    "Microsoft-Windows-GroupPolicy/Operational": "GroupPolicy.xml",
    "Microsoft-Windows-Shell-Core/Operational": "Shell-Core.xml",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational": (
        "LocalSessionManager.xml"
    ),
}


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def recorded(
    scenario: str, calls: list[list[str]] | None = None, until: str | None = None
) -> Callable[[Sequence[str]], str]:
    """Replays ``scenario``; ``until`` cuts the logs off at that time, as they were then."""
    base = FIXTURES / scenario

    def as_of(text: str) -> str:
        if until is None:
            return text
        lines = text.splitlines(keepends=True)
        return "".join(x for x in lines if x.partition("SystemTime='")[2][:26] <= until)

    def run(argv: Sequence[str]) -> str:
        argv = list(argv)
        if calls is not None:
            calls.append(argv)
        if argv[:2] == ["wevtutil", "qe"]:
            path = base / LOG_FILES[argv[2]]
            # wevtutil prints nothing when no event matches.
            return as_of(path.read_bytes().decode("utf-8", "replace")) if path.exists() else ""
        if argv[:2] == ["reg", "query"]:
            name = argv[argv.index("/v") + 1] if "/v" in argv else argv[2].rsplit("\\", 1)[-1]
            path = base / f"reg-{name}.txt"
        elif argv[0] == "powershell" and "CreationTimeUtc" in argv[-1]:
            path = base / "powershell-CreationTimeUtc.txt"
        elif argv[0] == "powershell" and "Get-PhysicalDisk" in argv[-1]:
            path = base / "powershell-PhysicalDisk.txt"
        else:
            raise SourceUnavailable(f"{argv[0]}: not recorded")
        if not path.exists():
            raise SourceUnavailable(f"{argv[0]} exited 1: ERROR: not found")
        return path.read_text()

    return run


def env_for(
    scenario: str, boot_time: str, calls: list[list[str]] | None = None, until: str | None = None
) -> Env:
    ps = SimpleNamespace(boot_time=lambda: at(boot_time), users=list)
    return Env(run=recorded(scenario, calls, until), ps=ps)


def phases(items) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {p.name: p.seconds for p in items}


# -- boot --------------------------------------------------------------------------------


def test_cold_boot_reads_event_100_by_field_name():
    env = env_for("fast_logon", "2026-03-02T07:58:10.5")
    boot = _windows.boot_record(env)
    assert boot.boot_time == pytest.approx(at("2026-03-02T07:58:10.5"), abs=0.001)
    assert boot.boot_type is BootType.COLD
    assert boot.total_seconds == pytest.approx(38.211, abs=0.001)
    assert phases(boot.phases) == {
        "main_path": pytest.approx(21.403, abs=0.001),
        "post_boot": pytest.approx(16.808, abs=0.001),
        "kernel_init": pytest.approx(2.205, abs=0.001),
        "driver_init": pytest.approx(1.890, abs=0.001),
        "devices_init": pytest.approx(0.980, abs=0.001),
        "user_profile": pytest.approx(1.250, abs=0.001),
        "machine_profile": pytest.approx(3.410, abs=0.001),
        "explorer_init": pytest.approx(1.632, abs=0.001),
    }
    assert {p.name for p in boot.phases} <= set(BOOT_PHASES)
    assert boot.degraded is False
    assert boot.culprits == ()
    assert env.problems.total == 0


def test_degraded_boot_names_its_culprits_from_the_same_boot_only():
    env = env_for("degraded_boot", "2026-03-06T08:00:06.0")
    boot = _windows.boot_record(env)
    assert boot.degraded is True
    assert boot.total_seconds == pytest.approx(184.365, abs=0.001)
    assert phases(boot.phases) == {
        "main_path": pytest.approx(96.620, abs=0.001),
        "post_boot": pytest.approx(87.745, abs=0.001),
        "kernel_init": pytest.approx(4.410, abs=0.001),
        "driver_init": pytest.approx(12.876, abs=0.001),
        "devices_init": pytest.approx(6.203, abs=0.001),
        "user_profile": pytest.approx(3.120, abs=0.001),
        "machine_profile": pytest.approx(45.980, abs=0.001),
        "explorer_init": pytest.approx(14.408, abs=0.001),
    }
    # Worst first; the 103 of the previous boot (other StartTime) is not joined.
    assert boot.culprits == (
        Culprit("Contoso Update Service", "service", pytest.approx(40.012, abs=0.001)),
        Culprit("Contoso Sync Client", "application", pytest.approx(21.450, abs=0.001)),
        Culprit("BackgroundPrefetchTime", "background_prefetch", pytest.approx(12.5, abs=0.001)),
        Culprit("Contoso Filter Driver", "driver", pytest.approx(9.875, abs=0.001)),
    )


def test_fast_startup_boot_starts_at_the_resume_not_at_the_last_cold_boot():
    # With Fast Startup the kernel's uptime origin is the cold boot of 20 February.
    env = env_for("fast_startup", "2026-02-20T10:00:01.0")
    boot = _windows.boot_record(env)
    assert boot.boot_type is BootType.FAST_STARTUP
    assert boot.boot_time == pytest.approx(at("2026-03-03T07:30:02.5"), abs=0.001)
    # The counter is the last cold boot's; the hybrid boot's Kernel-Boot 27 names this start.
    assert boot.boot_id == f"win-boot-62-resume-{int(at('2026-03-03T07:30:02.5'))}"
    assert boot.total_seconds == pytest.approx(9.880, abs=0.001)
    assert phases(boot.phases)["main_path"] == pytest.approx(6.120, abs=0.001)
    assert phases(boot.phases)["post_boot"] == pytest.approx(3.760, abs=0.001)


def test_boot_before_event_100_is_written_has_unknown_duration_not_zero():
    # Only the previous boot's event 100 exists yet.
    env = env_for("gp_30min_logon", "2026-03-04T08:55:37.9")
    boot = _windows.boot_record(env)
    assert boot.boot_type is BootType.COLD
    assert boot.total_seconds is None
    assert boot.phases == ()
    assert boot.degraded is None
    assert boot.culprits == ()


def test_boot_queries_are_native_wevtutil_xml_newest_first():
    calls: list[list[str]] = []
    _windows.boot_record(env_for("fast_logon", "2026-03-02T07:58:10.5", calls))
    wevtutil = [c for c in calls if c[0] == "wevtutil"]
    assert {c[2] for c in wevtutil} == {
        "System",
        "Microsoft-Windows-Diagnostics-Performance/Operational",
    }
    for call in wevtutil:
        assert call[1] == "qe" and "/f:xml" in call and "/rd:true" in call
        assert call[3].startswith("/q:*[System[")


# -- sign-ins ----------------------------------------------------------------------------


def test_fast_logon_has_every_sub_phase_to_the_millisecond():
    env = env_for("fast_logon", "2026-03-02T07:58:10.5")
    boot = _windows.boot_record(env)
    (signin,) = _windows.signin_observations(env, boot.boot_time)  # DWM/UMFD/type 3/5 skipped
    assert signin.user == "CORP\\alice"
    assert signin.session_id == f"win-4a3f12-{int(at('2026-03-02T08:15:04.1234567'[:26]))}"
    assert signin.started_at == pytest.approx(at("2026-03-02T08:15:04.123457"), abs=0.001)
    assert signin.shell_started_at == pytest.approx(at("2026-03-02T08:15:11.583"), abs=0.001)
    assert list(phases(signin.phases)) == list(SIGNIN_SUBPHASES)
    assert phases(signin.phases) == {
        "network_providers": pytest.approx(0.751, abs=0.001),
        "profile": pytest.approx(1.245, abs=0.001),
        "group_policy": pytest.approx(2.817, abs=0.001),
        "gp_scripts": pytest.approx(0.742, abs=0.001),
        "userinit_explorer": pytest.approx(1.473, abs=0.001),
        "active_setup": pytest.approx(0.766, abs=0.001),
    }
    assert signin.first_login is False  # profile created in November
    # Only a Defender definition and a Store app were installed since the last boot.
    assert signin.after_update is False
    assert signin.ended is False
    assert env.problems.total == 0


def test_thirty_minute_logon_dominated_by_group_policy():
    env = env_for("gp_30min_logon", "2026-03-04T08:55:37.9")
    (signin,) = _windows.signin_observations(env, at("2026-03-04T08:55:37.9"))
    # Two linked 4624s (UAC split token) are one sign-in.
    assert signin.started_at == pytest.approx(at("2026-03-04T09:02:05"), abs=0.001)
    # No process auditing here: the shell start comes from Shell-Core 9705.
    assert signin.shell_started_at == pytest.approx(at("2026-03-04T09:32:07.25"), abs=0.001)
    assert signin.shell_started_at - signin.started_at == pytest.approx(1802.25, abs=0.001)
    assert phases(signin.phases) == {
        "profile": pytest.approx(3.480, abs=0.001),
        # Timestamps, not PolicyElaspedTimeInSeconds (1776, whole seconds).
        "group_policy": pytest.approx(1776.250, abs=0.001),
        "gp_scripts": pytest.approx(18.5, abs=0.001),
        "active_setup": pytest.approx(1.125, abs=0.001),
    }
    assert signin.after_update is True  # KB5053598 installed between the two boots
    assert signin.first_login is None  # profile creation time not readable here
    assert signin.ended is True  # 4647 on the linked logon id


def test_a_sign_in_stuck_in_group_policy_is_seen_while_it_lasts():
    env = env_for("gp_30min_logon", "2026-03-04T08:55:37.9", until="2026-03-04T09:20:00")
    (signin,) = _windows.signin_observations(env, at("2026-03-04T08:55:37.9"))
    assert signin.started_at == pytest.approx(at("2026-03-04T09:02:05"), abs=0.001)
    assert signin.shell_started_at is None
    assert signin.ended is False
    # Profile done; group policy started but not finished, so its length is unknown.
    assert phases(signin.phases) == {"profile": pytest.approx(3.480, abs=0.001)}


def test_group_policy_extensions_are_contributors_not_phases():
    # This test used to expect the per-extension time in a debug log line only: it is now
    # carried on the sign-in as a contributor (issue 14), still never as a phase.
    env = env_for("gp_30min_logon", "2026-03-04T08:55:37.9")
    (signin,) = _windows.signin_observations(env, at("2026-03-04T08:55:37.9"))
    assert Contributor("gp_extension", "Folder Redirection", 1758.25) in signin.contributors
    assert "Folder Redirection" not in phases(signin.phases)


def test_first_logon_is_flagged_from_the_profile_creation_time():
    calls: list[list[str]] = []
    env = env_for("first_logon", "2026-03-05T06:40:01", calls)
    (signin,) = _windows.signin_observations(env, at("2026-03-05T06:40:01"))
    assert signin.first_login is True
    assert signin.user == "CORP\\carol"
    assert signin.shell_started_at == pytest.approx(at("2026-03-05T07:13:25.24"), abs=0.001)
    assert phases(signin.phases) == {
        "network_providers": pytest.approx(0.488, abs=0.001),
        "profile": pytest.approx(41.2, abs=0.001),
        "group_policy": pytest.approx(9.375, abs=0.001),
        "userinit_explorer": pytest.approx(3.225, abs=0.001),
        "active_setup": pytest.approx(62.4, abs=0.001),
    }
    # No previous boot and no event 100 to tell: unknown, not False.
    assert signin.after_update is None
    powershell = [c for c in calls if c[0] == "powershell"]
    assert len(powershell) == 1 and "C:\\Users\\carol" in powershell[0][-1]
    # The profile's creation time is asked once per sign-in, not on every poll.
    _windows.signin_observations(env, at("2026-03-05T06:40:01"))
    assert len([c for c in calls if c[0] == "powershell"]) == 1


def test_sign_ins_before_this_boot_are_not_reported():
    env = env_for("fast_logon", "2026-03-02T07:58:10.5")
    assert _windows.signin_observations(env, at("2026-03-02T09:00:00")) == []


# -- crashes, facts ----------------------------------------------------------------------


def test_crashes_are_executable_names_only_lowercase():
    env = env_for("crash", "2026-03-02T07:58:10.5")
    found = _windows.crashes(env, at("2026-03-02T00:00:00"))
    assert [(c.app, c.at) for c in found] == [
        ("outlook.exe", pytest.approx(at("2026-03-02T10:41:07.654321"), abs=0.001)),
        ("teams.exe", pytest.approx(at("2026-03-02T13:05:55"), abs=0.001)),
        ("legacyapp.exe", pytest.approx(at("2026-03-02T14:20:00.1"), abs=0.001)),
    ]
    assert all("\\" not in c.app and "/" not in c.app for c in found)
    assert env.problems.counts["windows.application"] == 1  # the one without AppName


def test_os_facts_from_the_registry():
    facts = _windows.os_facts(env_for("facts", "2026-03-02T07:58:10.5"))
    assert facts == {
        "os": "windows",
        # ProductName says Windows 10; build 26100 is Windows 11.
        "os_version": "Windows 11 Enterprise 24H2 (build 26100.3194)",
        "machine_id": "7f3c2a91-5b8d-4e6f-a1c3-9d2e4b6f8a01",
        "hardware_id": "4c4c4544-0042-3510-8052-b3c04f4d3232",
        "form_factor": "",  # only knowable through the Windows power API
        # SMBIOS type 1 through the BIOS registry key; an NVMe system disk (MediaType 4)
        "manufacturer": "Dell Inc.",
        "model": "Latitude 5440",
        "system_disk": "ssd",
    }


def test_hardware_queries_name_no_serial_number():
    calls: list[list[str]] = []
    _windows.os_facts(env_for("facts", "2026-03-02T07:58:10.5", calls))
    assert ["reg", "query", r"HKLM\HARDWARE\DESCRIPTION\System\BIOS"] in calls
    assert not any("serial" in " ".join(argv).lower() for argv in calls)


@pytest.mark.parametrize(
    ("output", "media"),
    [
        ('[{"MediaType":3,"BusType":11,"Model":"ST1000LM049-2GH172"}]', "hdd"),
        ('{"MediaType":"SSD","BusType":"NVMe","Model":"KXG60ZNV512G TOSHIBA"}', "ssd"),
        ('[{"MediaType":"HDD","BusType":"SATA","Model":"WDC WD10SPZX-08Z10"}]', "hdd"),
        ('[{"MediaType":0,"BusType":11,"Model":"SAMSUNG MZ7LN256HAJQ"}]', ""),  # Unspecified
        ('[{"MediaType":5,"BusType":17,"Model":"Optane"}]', ""),  # SCM: neither
        ('[{"MediaType":3,"BusType":1,"Model":"Msft Virtual Disk"}]', ""),  # Hyper-V
        ('[{"MediaType":4,"BusType":15,"Model":"Disk"}]', ""),  # a file-backed VHD
        ('[{"MediaType":4,"BusType":17},{"MediaType":3,"BusType":11}]', ""),  # disagree
        ("[]", ""),  # Storage Spaces: no physical disk has the partition's number
        ("", ""),
    ],
)
def test_system_disk_media_from_msft_physical_disk(output: str, media: str):
    assert windows_hardware.system_disk(output, Problems()) == media


def test_system_disk_output_that_is_not_json_is_a_counted_problem():
    problems = Problems()
    assert windows_hardware.system_disk("Get-Partition : No MSFT_Partition", problems) == ""
    assert windows_hardware.system_disk('["SSD"]', problems) == ""
    assert problems.counts[windows_hardware.SOURCE] == 2


def test_foreground_app_is_not_knowable_off_windows():
    assert _windows.foreground_app(env_for("facts", "2026-03-02T07:58:10.5")) is None
    assert _windows.session_id() is None  # ProcessIdToSessionId exists only there


# -- broken input ------------------------------------------------------------------------


def test_malformed_logs_are_counted_and_the_rest_still_measures():
    env = env_for("malformed", "2026-03-02T07:58:10.5")
    boot = _windows.boot_record(env)
    assert boot.total_seconds == pytest.approx(38.211, abs=0.001)
    assert env.problems.counts["windows.diagnostics_performance"] == 1  # no BootStartTime
    (signin,) = _windows.signin_observations(env, boot.boot_time)
    assert signin.user == "CORP\\alice"
    assert phases(signin.phases) == {"userinit_explorer": pytest.approx(1.473, abs=0.001)}
    assert signin.shell_started_at == pytest.approx(at("2026-03-02T08:15:11.583"), abs=0.001)
    # Truncated, undecodable markup, bad TimeCreated; and a 4624 without TargetLogonId.
    assert env.problems.counts["windows.security"] == 3
    assert env.problems.counts["windows.signin"] == 1


def test_nothing_readable_leaves_everything_unknown_without_raising():
    def unavailable(argv: Sequence[str]) -> str:
        raise SourceUnavailable(f"{argv[0]}: access is denied")

    ps = SimpleNamespace(boot_time=lambda: at("2026-03-02T07:58:10.5"), users=list)
    env = Env(run=unavailable, ps=ps)
    boot = _windows.boot_record(env)
    assert (boot.total_seconds, boot.boot_type, boot.degraded) == (None, BootType.UNKNOWN, None)
    assert _windows.signin_observations(env, boot.boot_time) == []
    assert _windows.crashes(env, 0.0) == []
    assert _windows.os_facts(env) == {
        "os": "windows",
        "os_version": "",
        "machine_id": "",
        "hardware_id": "",
        "form_factor": "",
        "manufacturer": "",
        "model": "",
        "system_disk": "",
    }


@pytest.mark.parametrize("output", ["\x00\x01\x02", "<Events><Broken", "Access is denied."])
def test_garbage_output_is_a_counted_problem_not_an_exception(output: str):
    ps = SimpleNamespace(boot_time=lambda: at("2026-03-02T07:58:10.5"), users=list)
    env = Env(run=lambda argv: output, ps=ps)
    boot = _windows.boot_record(env)
    assert boot.total_seconds is None
    assert _windows.signin_observations(env, boot.boot_time) == []
    assert _windows.crashes(env, 0.0) == []
    assert env.problems.total >= 3
