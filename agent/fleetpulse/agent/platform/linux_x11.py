"""The foreground window on X11: the agent's display environment and ``xprop`` output.

Pure: the caller reads ``/proc/self/environ`` and runs xprop.
"""

from __future__ import annotations

import re

_WINDOW = re.compile(r"window id # (0x[0-9a-fA-F]+)")
_PID = re.compile(r"^_NET_WM_PID\(CARDINAL\) = ([0-9]+)\s*$", re.MULTILINE)


def parse_environ(data: bytes) -> dict[str, str]:
    """NUL-separated ``KEY=value`` pairs (``/proc/<pid>/environ``)."""
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep and key:
            env[key] = value
    return env


def x11_display(environ: dict[str, str]) -> bool:
    """Whether xprop can see the foreground window. Under Wayland it cannot: an X
    server there (XWayland) only knows X clients, so the answer would often be wrong.
    """
    if environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland":
        return False
    return bool(environ.get("DISPLAY"))


def active_window(xprop_root: str) -> str | None:
    """The window id from ``xprop -root _NET_ACTIVE_WINDOW``; None when no window is active."""
    match = _WINDOW.search(xprop_root)
    if match is None or int(match.group(1), 16) == 0:
        return None
    return match.group(1)


def window_pid(xprop_window: str) -> int | None:
    """The pid from ``xprop -id WIN _NET_WM_PID``; None when the window does not say."""
    match = _PID.search(xprop_window)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None
