"""glibc ``struct utmp`` records in each layout glibc writes, and which layout a file uses.

The struct (glibc ``bits/utmp.h``) is ut_type (short), ut_pid, ut_line[32], ut_id[4],
ut_user[32], ut_host[256], ut_exit (two shorts), then ut_session and ut_tv, whose sizes
depend on ``__WORDSIZE_TIME64_COMPAT32`` (``bits/wordsize.h`` of each port):

- 1 on x86-64, i386 and 32-bit ARM (armhf): ``int32_t ut_session`` and
  ``{uint32_t tv_sec; int32_t tv_usec}`` -> 384 bytes (glibc ``sysdeps/x86/utmp-size.h``,
  ``sysdeps/arm/utmp-size.h``; fixed for 32-bit ports regardless of ``_TIME_BITS`` since
  glibc 2.40, commit "login: structs utmp, utmpx, lastlog _TIME_BITS independence");
- 0 on aarch64 (``sysdeps/aarch64/bits/wordsize.h``): ``long ut_session`` and
  ``struct timeval`` (8-byte tv_sec and tv_usec), padded to 8 -> 400 bytes
  (``sysdeps/generic/utmp-size.h``).

All four are little-endian. A file copied from another machine must still parse, so the
layout is read from the file itself, never from the running machine's architecture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: ut_type values (glibc ``bits/utmp.h``): EMPTY .. ACCOUNTING.
EMPTY, RUN_LVL, BOOT_TIME, USER_PROCESS, DEAD_PROCESS, ACCOUNTING = 0, 1, 2, 7, 8, 9
#: A 32-bit unsigned tv_sec ends in 2106; a larger 64-bit one is not a login time.
_MAX_SECONDS = 2**32
_TEXT_FIELDS = (2, 3, 4, 5)  # ut_line, ut_id, ut_user, ut_host in the unpacked tuple
#: Sample at most this many records per candidate layout when deciding (spread evenly).
_SAMPLE = 512
#: The winning layout must explain at least this share of the file's bytes.
_MIN_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class UtmpLayout:
    """One on-disk ``struct utmp`` layout; ``fmt`` unpacks to the same 13 fields."""

    name: str
    fmt: struct.Struct

    @property
    def size(self) -> int:
        return self.fmt.size


#: x86-64, i386, armhf: ut_session and ut_tv kept 32-bit (tv_sec unsigned, glibc 2.40).
COMPAT32 = UtmpLayout("x86-64/i386/armhf", struct.Struct("<h2xi32s4s32s256shhiIi16s20s"))
#: aarch64: 8-byte ut_session, tv_sec and tv_usec at 8-byte alignment, 4 bytes tail padding.
LP64 = UtmpLayout("aarch64", struct.Struct("<h2xi32s4s32s256shhqqq16s20s4x"))
LAYOUTS = (COMPAT32, LP64)
assert (COMPAT32.size, LP64.size) == (384, 400)


@dataclass(frozen=True, slots=True)
class RawUtmp:
    """One record's fields as stored: text still bytes, time as seconds and µs."""

    ut_type: int
    pid: int
    line: bytes
    ut_id: bytes
    user: bytes
    host: bytes
    sec: int
    usec: int


def unpack(layout: UtmpLayout, data: bytes, offset: int) -> RawUtmp:
    ut_type, pid, line, ut_id, user, host, _term, _exit, _sess, sec, usec, _addr, _res = (
        layout.fmt.unpack_from(data, offset)
    )
    return RawUtmp(ut_type, pid, line, ut_id, user, host, sec, usec)


def _text_ok(raw: bytes) -> bool:
    """What strncpy leaves: text without control bytes, then only NULs."""
    text, _, rest = raw.partition(b"\0")
    return not rest.strip(b"\0") and all(b >= 0x20 and b != 0x7F for b in text)


def implausible(record: RawUtmp) -> str | None:
    """Why a record at a record boundary is not a utmp record; None when it can be one."""
    if not EMPTY <= record.ut_type <= ACCOUNTING:
        return f"ut_type {record.ut_type} is not one of glibc's 0..9"
    if not 0 <= record.usec < 1_000_000:
        return f"tv_usec {record.usec} is not below one second"
    if not 0 <= record.sec < _MAX_SECONDS or (record.ut_type != EMPTY and record.sec == 0):
        return f"tv_sec {record.sec} is not a time"
    if record.pid < 0:
        return f"ut_pid {record.pid} is negative"
    if not all(_text_ok(f) for f in (record.line, record.ut_id, record.user, record.host)):
        return "a text field is not NUL-padded text"
    return None


def _share(layout: UtmpLayout, data: bytes) -> float:
    """The share of the file's bytes that plausible records of ``layout`` explain."""
    count = len(data) // layout.size
    if count == 0:
        return 0.0
    step = max(1, count // _SAMPLE)
    sampled = range(0, count, step)
    good = sum(1 for i in sampled if implausible(unpack(layout, data, i * layout.size)) is None)
    return good / len(sampled) * count * layout.size / len(data)


def detect_layout(data: bytes) -> UtmpLayout | None:
    """The layout whose records best explain the file; None when none explains half of it.

    Each candidate reads records at its own boundaries; a wrong record size soon reads a
    record from the middle of another one (a text field where ut_type should be, µs that
    exceed a second, text that is not NUL-padded). A torn last write lowers every
    candidate alike; on a tie the 384-byte layout, the most common, wins.
    """
    best, best_share = None, 0.0
    for layout in LAYOUTS:
        share = _share(layout, data)
        if share > best_share:
            best, best_share = layout, share
    return best if best_share >= _MIN_SHARE else None
