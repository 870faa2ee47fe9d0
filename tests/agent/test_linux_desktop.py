"""Deciding which logins are desktop sign-ins and timing them; X11 and device-fact parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetpulse.agent.platform.env import Problems
from fleetpulse.agent.platform.linux_desktop import (
    Login,
    ReadyMarker,
    ShellStart,
    observations,
    parse_ready_marker,
    shell_starts,
)
from fleetpulse.agent.platform.linux_facts import form_factor, parse_os_release
from fleetpulse.agent.platform.linux_x11 import (
    active_window,
    parse_environ,
    window_pid,
    x11_display,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "linux"
T0 = 1714634000.0


def test_shell_start_and_marker_are_attached_to_the_right_session():
    logins = [
        Login("2", "alice", T0 + 1.5, graphical=True, logind=True),
        Login("3", "bob", T0 + 2.0, graphical=False, logind=True),  # ssh
        Login("c1", "gdm", T0 - 20.0, graphical=None, logind=True),  # greeter, older logind
        Login("7", "alice", T0 + 900.0, graphical=True, logind=True),  # signed in again
    ]
    shells = [
        ShellStart("gdm", T0 - 18.0),
        ShellStart("alice", T0 + 904.25),  # the second session's shell (the first is gone)
        ShellStart("bob", T0 + 3.0),
    ]
    markers = {"alice": ReadyMarker(at=T0 + 911.5, session_id="7")}
    got = observations(logins, shells, markers)
    assert [(o.session_id, o.user, o.shell_started_at, o.desktop_ready_at) for o in got] == [
        ("2", "alice", None, None),
        ("7", "alice", pytest.approx(T0 + 904.25, abs=1e-6), pytest.approx(T0 + 911.5, abs=1e-6)),
    ]


def test_undecided_login_needs_a_shell_or_marker_as_evidence():
    logins = [
        Login("wtmp-tty3-1", "carol", T0, graphical=None),
        Login("wtmp-tty5-2", "dave", T0 + 10.0, graphical=None),  # text console
        Login("wtmp-tty6-3", "erin", T0 + 20.0, graphical=None),
    ]
    shells = [ShellStart("carol", T0 + 6.75)]
    # erin's DE is unknown to the agent, but the session-ready hook ran (no logind id).
    markers = {"erin": ReadyMarker(at=T0 + 41.0, session_id="12")}
    got = observations(logins, shells, markers)
    assert [(o.user, o.shell_started_at, o.desktop_ready_at) for o in got] == [
        ("carol", pytest.approx(T0 + 6.75, abs=1e-6), None),
        ("erin", None, pytest.approx(T0 + 41.0, abs=1e-6)),
    ]


def test_marker_from_before_the_session_or_for_another_session_is_ignored():
    logins = [Login("4", "carol", T0, graphical=True, logind=True)]
    assert (
        observations(logins, [], {"carol": ReadyMarker(T0 - 5.0, None)})[0].desktop_ready_at is None
    )
    assert (
        observations(logins, [], {"carol": ReadyMarker(T0 + 5.0, "3")})[0].desktop_ready_at is None
    )
    got = observations(logins, [], {"carol": ReadyMarker(T0 + 5.0, None)})
    assert got[0].desktop_ready_at == pytest.approx(T0 + 5.0, abs=1e-6)


def test_shell_starts_from_process_info():
    infos = [
        {"name": "gnome-shell", "username": "alice", "create_time": T0 + 3.5},
        {"name": "plasmashell", "username": None, "create_time": T0},  # access denied
        {"name": "bash", "username": "alice", "create_time": T0},
        {"name": "xfce4-session", "username": "erin", "create_time": None},
    ]
    assert shell_starts(infos) == [ShellStart("alice", T0 + 3.5)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"at": 1714634071.25, "session_id": "2"}', ReadyMarker(1714634071.25, "2")),
        (b'{"at": 1714634071, "session_id": null}', ReadyMarker(1714634071.0, None)),
    ],
)
def test_ready_marker(data: bytes, expected: ReadyMarker):
    problems = Problems()
    assert parse_ready_marker(data, problems) == expected
    assert problems.total == 0


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe", b"[1]", b'{"at": "soon"}', b'{"at": true}', b'{"at": -1}', b'{"at": 1e999}',
     b'{"at": 5, "session_id": 3}', b'{"at": 1714634071.2',
     b'{"at": ' + b"9" * 400 + b"}"],  # no float holds it: OverflowError before
)  # fmt: skip
def test_malformed_ready_marker_is_skipped(data: bytes):
    problems = Problems()
    assert parse_ready_marker(data, problems) is None
    assert problems.counts["session_ready"] == 1


def test_x11_environment():
    environ = parse_environ(b"HOME=/root\0DISPLAY=:0\0XDG_SESSION_TYPE=x11\0\0broken\0")
    assert environ == {"HOME": "/root", "DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}
    assert x11_display(environ)
    assert not x11_display({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not x11_display({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"})
    assert not x11_display({})


def test_xprop_output():
    assert active_window("_NET_ACTIVE_WINDOW(WINDOW): window id # 0x3a00007\n") == "0x3a00007"
    assert active_window("_NET_ACTIVE_WINDOW(WINDOW): window id # 0x0\n") is None
    assert active_window("_NET_ACTIVE_WINDOW:  not found.\n") is None
    assert window_pid("_NET_WM_PID(CARDINAL) = 4242\n") == 4242
    assert window_pid("_NET_WM_PID:  not found.\n") is None


def test_os_release():
    problems = Problems()
    fields = parse_os_release((FIXTURES / "os-release").read_text(), problems)
    assert fields["PRETTY_NAME"] == "Ubuntu 24.04.1 LTS"
    assert fields["ID"] == "ubuntu"
    assert problems.total == 0
    fields = parse_os_release("PRETTY_NAME=\"Broken\nNAME='It\\'s'\njunk\nID=x\n", problems)
    assert fields == {"ID": "x"}
    assert problems.counts["os_release"] == 3


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("3\n", "desktop"), ("10\n", "laptop"), ("30\n", "tablet"), ("32", "tablet"),
     ("17\n", ""), ("1\n", ""), ("", ""), ("x", "")],
)  # fmt: skip
def test_form_factor(raw: str, kind: str):
    assert form_factor(raw) == kind
