"""The Linux backend end to end against recorded command output and files, through an
injected Env (command runner, file reader, process table); nothing is patched."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.platform import _linux as linux
from fleetpulse.agent.platform.env import Env
from fleetpulse.contract.records import BootType, EndReason
from tests.agent.sysfs import PCI_NVME, Tree

FIXTURES = Path(__file__).parent.parent / "fixtures" / "linux"
BOOT = 1714633980.0
BOOT_ID = "0f3c1e5a-6b7d-4e8f-9a0b-1c2d3e4f5a6b"

SESSIONS = linux.SESSIONS_JOURNAL
LOGINCTL = ("loginctl", "show-session")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8", "replace")


@dataclass
class Runner:
    """Answers commands from recorded output; any other command is unavailable."""

    outputs: Mapping[tuple[str, ...], str | Exception]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str]) -> str:
        key = tuple(argv)
        self.calls.append(key)
        out = self.outputs.get(key)
        if out is None:
            raise SourceUnavailable(f"{argv[0]}: not recorded")
        if isinstance(out, Exception):
            raise out
        return out


@dataclass
class Files:
    contents: Mapping[str, bytes | Exception]

    def __call__(self, path: str) -> bytes:
        out = self.contents.get(path)
        if out is None:
            raise FileNotFoundError(path)
        if isinstance(out, Exception):
            raise out
        return out


@dataclass
class Proc:
    info: dict[str, Any]


@dataclass
class FakeProcess:
    pid: int
    names: Mapping[int, str]

    def name(self) -> str:
        if self.pid not in self.names:
            raise psutil.NoSuchProcess(self.pid)
        return self.names[self.pid]


@dataclass
class FakePs:
    procs: list[dict[str, Any]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)

    def boot_time(self) -> float:
        return BOOT

    def process_iter(self, attrs: list[str]) -> list[Proc]:
        return [Proc({k: p.get(k) for k in attrs}) for p in self.procs]

    def Process(self, pid: int) -> FakeProcess:  # psutil spells it so
        return FakeProcess(pid, self.names)


def make_env(
    outputs: Mapping[tuple[str, ...], str | Exception] | None = None,
    files: Mapping[str, bytes | Exception] | None = None,
    ps: FakePs | None = None,
    state_dir: str | None = None,
) -> tuple[Env, Runner]:
    runner = Runner(outputs or {})
    env = Env(
        run=runner,
        read_bytes=Files({linux.BOOT_ID_PATH: f"{BOOT_ID}\n".encode(), **(files or {})}),
        ps=ps or FakePs(),
        state_dir=state_dir,
        root="/nonexistent",  # no disk to walk unless a test gives a tree
    )
    return env, runner


def boot_outputs(name: str) -> dict[tuple[str, ...], str | Exception]:
    return {
        linux.MANAGER_SHOW: fixture(f"systemctl-show-{name}.txt"),
        linux.GRAPHICAL_SHOW: fixture(f"systemctl-show-{name}-graphical.txt"),
    }


# --- boot ---------------------------------------------------------------------------


def test_boot_record_from_a_uefi_boot():
    env, runner = make_env(boot_outputs("uefi"))
    boot = linux.boot_record(env)
    assert boot.boot_id == BOOT_ID
    assert boot.boot_time == BOOT
    assert boot.boot_type is BootType.COLD
    assert {p.name: p.seconds for p in boot.phases} == {
        "firmware": pytest.approx(4.563834, abs=1e-6),
        "loader": pytest.approx(2.918327, abs=1e-6),
        "kernel": pytest.approx(1.812650, abs=1e-6),
        "initrd": pytest.approx(3.121476, abs=1e-6),
        "userspace": pytest.approx(8.968428, abs=1e-6),
        "login_screen": pytest.approx(12.873342, abs=1e-6),
    }
    assert boot.total_seconds == pytest.approx(21.384715, abs=1e-6)
    assert runner.calls == [
        (
            "systemctl", "show",
            "--property=FirmwareTimestampMonotonic,LoaderTimestampMonotonic,"
            "InitRDTimestampMonotonic,UserspaceTimestampMonotonic,FinishTimestampMonotonic,"
            "SecurityStartTimestampMonotonic,SoftRebootStartTimestampMonotonic,Virtualization",
        ),
        ("systemctl", "show", "graphical.target", "--property=ActiveEnterTimestampMonotonic"),
    ]  # fmt: skip


def test_vm_with_a_bogus_firmware_time_reports_only_the_sound_phases():
    """systemd #22060: a KVM guest booted by sd-boot whose firmware "took" 28 minutes."""
    env, _ = make_env(boot_outputs("vm-bogus-firmware"))
    boot = linux.boot_record(env)
    phases = {p.name: p.seconds for p in boot.phases}
    assert "firmware" not in phases and "loader" not in phases  # unknown on a VM
    assert phases == {
        "kernel": pytest.approx(0.990, abs=1e-6),
        "initrd": pytest.approx(1.663, abs=1e-6),
        "userspace": pytest.approx(6.042, abs=1e-6),
        "login_screen": pytest.approx(8.683, abs=1e-6),
    }
    assert boot.total_seconds is None  # its firmware part is unknown
    assert boot.boot_type is BootType.COLD
    # firmware, loader and the total, each once with its reason
    assert env.problems.counts["plausibility"] == 3
    linux.boot_record(env)  # measured again next cycle: not counted again
    assert env.problems.counts["plausibility"] == 3


def test_bare_metal_firmware_beyond_the_ceiling_is_unknown(caplog: pytest.LogCaptureFixture):
    """systemd #8422: firmware time that grows with every reboot (9 min 39 s here)."""
    env, _ = make_env(boot_outputs("firmware-compounding"))
    boot = linux.boot_record(env)
    assert {p.name: p.seconds for p in boot.phases} == {
        "loader": pytest.approx(23.462, abs=1e-6),
        "kernel": pytest.approx(0.315, abs=1e-6),
        "initrd": pytest.approx(0.802, abs=1e-6),
        "userspace": pytest.approx(0.609, abs=1e-6),
        "login_screen": pytest.approx(1.719, abs=1e-6),
    }
    assert boot.total_seconds is None
    assert env.problems.counts["plausibility"] == 2  # firmware, and so the total
    assert "579.222 s is beyond the 300 s ceiling" in caplog.text


def test_boot_record_without_systemd_knows_only_the_boot_time():
    env, _ = make_env({})  # "System has not been booted with systemd as init system"
    boot = linux.boot_record(env)
    assert boot.boot_time == BOOT
    assert boot.total_seconds is None
    assert boot.phases == ()
    assert boot.boot_type is BootType.UNKNOWN
    assert env.problems.total == 0


def test_boot_record_in_a_container_has_no_total():
    env, _ = make_env(boot_outputs("container"))
    boot = linux.boot_record(env)
    assert boot.total_seconds is None
    assert [p.name for p in boot.phases] == ["userspace"]
    assert boot.boot_type is BootType.UNKNOWN


def test_boot_record_when_graphical_target_cannot_be_read():
    outputs = boot_outputs("noinitrd")
    outputs[linux.GRAPHICAL_SHOW] = SourceUnavailable("unit not found")
    env, _ = make_env(outputs)
    boot = linux.boot_record(env)
    assert "login_screen" not in {p.name for p in boot.phases}
    assert boot.total_seconds == pytest.approx(14.423579, abs=1e-6)


def test_boot_id_falls_back_when_unreadable():
    env, _ = make_env({}, files={linux.BOOT_ID_PATH: PermissionError("denied")})
    assert linux.boot_record(env).boot_id == f"boot-{int(BOOT)}"


# --- sign-ins -----------------------------------------------------------------------

DESKTOP_PROCS = [
    {"name": "gnome-shell", "username": "gdm", "create_time": 1714634003.0},  # login screen
    {"name": "gnome-shell", "username": "alice", "create_time": 1714634046.623456},
    {"name": "plasmashell", "username": "carol", "create_time": 1714634312.75},
    {"name": "xfce4-session", "username": "erin", "create_time": 1714634604.5},
    {"name": "sshd", "username": "bob", "create_time": 1714634100.2},
]


def test_signins_from_logind(tmp_path: Path):
    outputs: dict[tuple[str, ...], str | Exception] = {
        SESSIONS: fixture("journal-logind-sessions.jsonl"),
        (*LOGINCTL, "c1", "--property=Type", "--property=Class"): "Type=wayland\nClass=greeter\n",
        (*LOGINCTL, "2", "--property=Type", "--property=Class"): "Type=wayland\nClass=user\n",
        (*LOGINCTL, "4", "--property=Type", "--property=Class"): "Type=x11\nClass=user\n",
        (*LOGINCTL, "6", "--property=Type", "--property=Class"): "Type=unspecified\nClass=user\n",
    }
    state = str(tmp_path)
    files: dict[str, bytes | Exception] = {
        f"{state}/ready/alice": b'{"at": 1714634071.0, "session_id": "2"}',
        f"{state}/ready/erin": b'{"at": 1714634599.0, "session_id": null}',  # an older session's
    }
    env, runner = make_env(outputs, files, FakePs(procs=DESKTOP_PROCS), state_dir=state)
    seen = linux.signin_observations(env, BOOT)
    got = [o for o in seen if not o.end_only]
    # 3 and 5 ended before logind was asked their type: known only by their removal, at
    # the "Removed session" entry's time, for the agent to match to sign-ins it reported
    assert [(o.session_id, o.user, o.ended_at, o.end_reason) for o in seen if o.end_only] == [
        ("3", "bob", pytest.approx(1714634900.0, abs=1e-6), EndReason.SIGN_OUT),
        ("5", "dave", pytest.approx(1714634500.0, abs=1e-6), EndReason.SIGN_OUT),
    ]
    assert [(o.session_id, o.user, o.started_at, o.shell_started_at, o.desktop_ready_at, o.ended)
            for o in got] == [
        ("2", "alice", pytest.approx(1714634043.123456, abs=1e-6),
         pytest.approx(1714634046.623456, abs=1e-6), pytest.approx(1714634071.0, abs=1e-6), False),
        ("4", "carol", pytest.approx(1714634300.25, abs=1e-6),
         pytest.approx(1714634312.75, abs=1e-6), None, False),
        ("6", "erin", pytest.approx(1714634600.0, abs=1e-6),
         pytest.approx(1714634604.5, abs=1e-6), None, False),
    ]  # fmt: skip
    assert all(o.first_login is None and o.phases == () for o in got)
    # the truncated line and the two non-UTF-8 user names
    assert env.problems.counts["journal"] == 3
    # The journal of logind v249-v256 records no session type: logind is asked about each
    # live session (3 and 5 ended; 8 and 9 have no readable user).
    assert [c[2] for c in runner.calls if c[:2] == LOGINCTL] == ["c1", "2", "4", "6"]


def test_signins_only_of_this_boot():
    env, _ = make_env(
        {SESSIONS: fixture("journal-logind-sessions.jsonl")}, ps=FakePs(procs=DESKTOP_PROCS)
    )
    got = linux.signin_observations(env, 1714634400.0)
    assert [o.session_id for o in got if not o.end_only] == ["6"]


def test_user_manager_target_stands_in_for_an_unknown_shell():
    line = (
        '{"__REALTIME_TIMESTAMP":"1714634800000000","MESSAGE_ID":"8d45620c1a4348dbb17410da57c60c66",'
        '"SESSION_ID":"11","USER_ID":"frank","LEADER":"2051"}\n'
    )
    target = (
        "systemctl", "--user", "--machine=frank@.host", "show", "graphical-session.target",
        "--property=ActiveEnterTimestamp", "--timestamp=us+utc",
    )  # fmt: skip
    # logind itself tells the live session's type (the journal entry does not).
    typed = {(*LOGINCTL, "11", "--property=Type", "--property=Class"): "Type=wayland\nClass=user"}
    env, _ = make_env(
        {**typed, SESSIONS: line,
         target: "ActiveEnterTimestamp=Thu 2024-05-02 07:26:45.250000 UTC\n"}
    )  # fmt: skip
    [obs] = linux.signin_observations(env, BOOT)
    assert obs.shell_started_at == pytest.approx(1714634805.25, abs=1e-6)

    # Not readable (not root) or reached in an earlier session: unknown.
    env, _ = make_env({**typed, SESSIONS: line})
    assert linux.signin_observations(env, BOOT)[0].shell_started_at is None
    env, _ = make_env(
        {**typed, SESSIONS: line,
         target: "ActiveEnterTimestamp=Thu 2024-05-02 07:00:00.000000 UTC"}
    )  # fmt: skip
    assert linux.signin_observations(env, BOOT)[0].shell_started_at is None


_UTMP = "=hxxi32s4s32s256shhiii16s20s"


def utmp(ut_type: int, line: str, user: str, at: float, host: str = "") -> bytes:
    sec = int(at)
    return struct.pack(
        _UTMP, ut_type, 77, line.encode(), b"", user.encode(), host.encode(), 0, 0, 0,
        sec, round((at - sec) * 1e6), b"\0" * 16, b"\0" * 20,
    )  # fmt: skip


def test_signins_fall_back_to_wtmp_without_a_readable_journal():
    wtmp = b"".join(
        [
            utmp(2, "~", "reboot", BOOT),
            utmp(7, ":0", "alice", BOOT + 40.5, host=":0"),
            utmp(7, "pts/3", "bob", BOOT + 41.0, host="10.1.2.3"),
        ]
    )
    procs = [{"name": "cinnamon", "username": "alice", "create_time": BOOT + 44.0}]
    # journalctl runs, but an unprivileged agent sees no system entries
    env, _ = make_env({SESSIONS: ""}, {linux.WTMP_PATH: wtmp}, FakePs(procs=procs))
    [obs] = linux.signin_observations(env, BOOT)
    assert (obs.user, obs.started_at, obs.shell_started_at) == (
        "alice", pytest.approx(BOOT + 40.5, abs=1e-6), pytest.approx(BOOT + 44.0, abs=1e-6),
    )  # fmt: skip


def test_wtmpdb_is_preferred_over_wtmp(tmp_path: Path):
    import sqlite3

    path = tmp_path / "wtmp.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, "
        "Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT"
    )
    db.execute(
        "INSERT INTO wtmp VALUES (9, 3, 'alice', ?, NULL, 'tty2', NULL, 'gdm-password')",
        (int(BOOT * 1e6) + 30_000_000,),
    )
    db.commit()
    db.close()
    files: dict[str, bytes | Exception] = {
        linux.WTMPDB_PATH: path.read_bytes(),
        linux.WTMP_PATH: utmp(7, ":0", "mallory", BOOT + 1.0),
    }
    env, _ = make_env({}, files)
    [obs] = linux.signin_observations(env, BOOT)
    assert (obs.session_id, obs.user, obs.shell_started_at) == ("wtmpdb-9", "alice", None)


def test_garbage_everywhere_never_raises_and_is_counted(tmp_path: Path):
    state = str(tmp_path)
    env, _ = make_env(
        {SESSIONS: "\x00garbage\n{not json\n[]\n"},
        {
            linux.WTMPDB_PATH: b"this is not sqlite" * 40,
            f"{state}/ready/alice": b"\xff",
        },
        state_dir=state,
    )
    assert linux.signin_observations(env, BOOT) == []
    assert env.problems.counts["journal"] == 3
    assert env.problems.counts["wtmpdb"] == 1


# --- crashes, foreground, facts -------------------------------------------------------


def test_crashes_since():
    argv = (
        "journalctl", "-q", "-o", "json", "--since=@1714635050",
        "--output-fields=MESSAGE_ID,COREDUMP_EXE,COREDUMP_COMM,COREDUMP_TIMESTAMP",
        "MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1",
    )  # fmt: skip
    env, _ = make_env({argv: fixture("journal-coredumps.jsonl")})
    assert [c.app for c in linux.crashes(env, 1714635050.5)] == [
        "vendor-app", "gnome-calculato", "evince",
    ]  # fmt: skip
    assert env.problems.counts["journal"] == 2
    env, _ = make_env({})
    assert linux.crashes(env, 0.0) == []


X11_ENV = b"DISPLAY=:0\0XDG_SESSION_TYPE=x11\0"
ROOT = ("xprop", "-root", "_NET_ACTIVE_WINDOW")
WINDOW = ("xprop", "-id", "0x3a00007", "_NET_WM_PID")


def test_foreground_app_on_x11():
    env, _ = make_env(
        {ROOT: "_NET_ACTIVE_WINDOW(WINDOW): window id # 0x3a00007\n",
         WINDOW: "_NET_WM_PID(CARDINAL) = 4242\n"},
        {linux.ENVIRON_PATH: X11_ENV},
        FakePs(names={4242: "firefox-esr"}),
    )  # fmt: skip
    assert linux.foreground_app(env) == "firefox-esr"


def test_foreground_app_unknown_on_wayland_without_display_or_when_gone():
    env, runner = make_env({}, {linux.ENVIRON_PATH: b"WAYLAND_DISPLAY=wayland-0\0DISPLAY=:0\0"})
    assert linux.foreground_app(env) is None
    assert runner.calls == []  # not even asked
    env, runner = make_env({}, {linux.ENVIRON_PATH: b"HOME=/root\0"})
    assert linux.foreground_app(env) is None and runner.calls == []
    env, _ = make_env({}, {linux.ENVIRON_PATH: X11_ENV})  # xprop missing
    assert linux.foreground_app(env) is None
    env, _ = make_env(
        {ROOT: "_NET_ACTIVE_WINDOW(WINDOW): window id # 0x3a00007\n",
         WINDOW: "_NET_WM_PID(CARDINAL) = 4242\n"},
        {linux.ENVIRON_PATH: X11_ENV},
    )  # fmt: skip
    assert linux.foreground_app(env) is None  # the process exited meanwhile


def test_os_facts(tmp_path: Path):
    env, _ = make_env(
        files={
            "/etc/os-release": (FIXTURES / "os-release").read_bytes(),
            linux.MACHINE_ID_PATH: b"3D1219C7C4C5404AAA1F6D2A48ADFDA4\n",
            linux.PRODUCT_UUID_PATH: b"4C4C4544-0035-3910-8053-B4C04F395A32\n",
            linux.CHASSIS_TYPE_PATH: b"10\n",
            linux.SYS_VENDOR_PATH: b"Dell Inc.\n",
            linux.PRODUCT_NAME_PATH: b"Latitude 7420\n",
        }
    )
    nvme = f"{PCI_NVME}/nvme0n1"
    tree = Tree(tmp_path).disk(nvme, 0).partition(nvme, "nvme0n1p2", 2, "259:2")
    env.root = str(tree.mounted("259:2", "ext4", "/dev/nvme0n1p2").root)
    assert linux.os_facts(env) == {
        "os": "linux",
        "os_version": "Ubuntu 24.04.1 LTS",
        "machine_id": "3d1219c7c4c5404aaa1f6d2a48adfda4",
        "hardware_id": "4c4c4544-0035-3910-8053-b4c04f395a32",
        "form_factor": "laptop",
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7420",
        "system_disk": "ssd",
    }


@pytest.mark.parametrize(
    ("vendor", "product"),
    [
        (b"To be filled by O.E.M.\n", b"To be filled by O.E.M.\n"),
        (b"System manufacturer\n", b"System Product Name\n"),  # ASUS boards
        (b"Default string\n", b"Default string\n"),
        (b"\n", b"   \n"),
        (b"\xff\xff\xff\xff\n", b"\x00\x00\n"),  # unprogrammed or zeroed EEPROM
        (PermissionError("hidden"), FileNotFoundError("no DMI: ARM board")),
    ],
)
def test_placeholder_dmi_strings_are_unknown(
    vendor: bytes | Exception, product: bytes | Exception
) -> None:
    env, _ = make_env(
        files={linux.SYS_VENDOR_PATH: vendor, linux.PRODUCT_NAME_PATH: product},
    )
    facts = linux.os_facts(env)
    assert (facts["manufacturer"], facts["model"], facts["system_disk"]) == ("", "", "")


def test_dmi_serial_numbers_are_never_read():
    env, _ = make_env()
    read: list[str] = []
    files = env.read_bytes

    def recording(path: str) -> bytes:
        read.append(path)
        return files(path)

    env.read_bytes = recording
    linux.os_facts(env)
    assert linux.SYS_VENDOR_PATH in read and linux.PRODUCT_NAME_PATH in read
    assert not any("serial" in p for p in read)


def test_os_facts_unknowns_stay_empty():
    env, _ = make_env(
        files={
            "/usr/lib/os-release": b'PRETTY_NAME="Fedora Linux 40 (Workstation Edition)"\n',
            linux.MACHINE_ID_PATH: b"uninitialized\n",
            linux.PRODUCT_UUID_PATH: PermissionError("root only"),
        }
    )
    facts = linux.os_facts(env)
    assert facts["os_version"] == "Fedora Linux 40 (Workstation Edition)"
    assert facts["machine_id"] == "" and facts["hardware_id"] == "" and facts["form_factor"] == ""
    assert env.problems.counts["machine_id"] == 1
