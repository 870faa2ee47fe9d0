"""Schema migrations, portable between SQLite and PostgreSQL; applied in order, once each."""

import re

#: A sign-in of this many seconds or more is a long one (the fleet gauge
#: fleetpulse_logins_long_ended_last_hour): the predicate of migration 9's partial index,
#: which a query uses only if it states the same term (``total_seconds >= 1800``) literally.
LONG_SIGNIN_SECONDS = 1800

#: Sets each device's latest sign-in (start, total) and boot (time, total) from the stored
#: rows: how schema 5 fills the columns that ingest keeps from then on.
LATEST_BACKFILL = (
    "UPDATE devices SET"
    " last_signin_at = (SELECT MAX(s.started_at) FROM signins s"
    " WHERE s.device_id = devices.device_id),"
    " last_signin_seconds = (SELECT s.total_seconds FROM signins s"
    " WHERE s.device_id = devices.device_id ORDER BY s.started_at DESC LIMIT 1),"
    " last_boot_at = (SELECT MAX(b.boot_time) FROM boots b"
    " WHERE b.device_id = devices.device_id),"
    " last_boot_seconds = (SELECT b.total_seconds FROM boots b"
    " WHERE b.device_id = devices.device_id ORDER BY b.boot_time DESC LIMIT 1)",
)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        site TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        max_uses INTEGER,
        uses INTEGER NOT NULL DEFAULT 0,
        last_used DOUBLE PRECISION,
        revoked_at DOUBLE PRECISION
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        site TEXT NOT NULL,
        hostname TEXT NOT NULL,
        os TEXT NOT NULL,
        os_version TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        hardware_id TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        token_id TEXT,
        enrolled_at DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION,
        revoked_at DOUBLE PRECISION
    );
    CREATE INDEX devices_by_site ON devices (site);
    CREATE TABLE boots (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        boot_id TEXT NOT NULL,
        boot_time DOUBLE PRECISION NOT NULL,
        total_seconds DOUBLE PRECISION,
        boot_type TEXT NOT NULL,
        degraded INTEGER,
        phases TEXT NOT NULL,
        culprits TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq),
        UNIQUE (device_id, boot_id)
    );
    CREATE INDEX boots_by_time ON boots (boot_time);
    CREATE TABLE signins (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        boot_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        user_hash TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        total_seconds DOUBLE PRECISION,
        core_seconds DOUBLE PRECISION,
        responsive_seconds DOUBLE PRECISION,
        phases TEXT NOT NULL,
        first_login INTEGER,
        after_update INTEGER,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq),
        UNIQUE (device_id, boot_id, session_id)
    );
    CREATE INDEX signins_by_time ON signins (started_at);
    CREATE TABLE signins_in_progress (
        device_id TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        elapsed_seconds DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (device_id, boot_id, session_id)
    );
    CREATE TABLE app_usage (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        interval_start DOUBLE PRECISION NOT NULL,
        interval_seconds DOUBLE PRECISION NOT NULL,
        app TEXT NOT NULL,
        launches INTEGER NOT NULL,
        running_seconds DOUBLE PRECISION NOT NULL,
        foreground_seconds DOUBLE PRECISION,
        cpu_seconds DOUBLE PRECISION NOT NULL,
        peak_rss_bytes BIGINT,
        crashes INTEGER,
        PRIMARY KEY (device_id, seq)
    );
    CREATE INDEX app_usage_by_time ON app_usage (interval_start);
    CREATE TABLE device_health (
        device_id TEXT PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        dropped TEXT NOT NULL,
        parse_errors BIGINT NOT NULL,
        spool_bytes BIGINT NOT NULL,
        clock_skew_seconds DOUBLE PRECISION,
        rejected BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE inventory (
        hostname TEXT PRIMARY KEY,
        site TEXT NOT NULL
    );
    """,
    # 2: identity checks at enrollment (re-enrolled hardware, cloned images)
    """
    ALTER TABLE devices ADD COLUMN identity TEXT NOT NULL DEFAULT 'ok';
    ALTER TABLE devices ADD COLUMN related_device TEXT;
    CREATE INDEX devices_by_machine ON devices (machine_id);
    CREATE INDEX devices_by_hardware ON devices (hardware_id);
    """,
    # 3: central settings pushed to agents in every ack
    """
    CREATE TABLE site_settings (
        site TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (site, key)
    );
    """,
    # 4: per-device lookups of the fleet-state refresh (latest sign-in / boot, unused devices)
    """
    CREATE INDEX signins_by_device_time ON signins (device_id, started_at);
    CREATE INDEX boots_by_device_time ON boots (device_id, boot_time);
    """,
    # 5: the named parts of each stored sign-in's time (store/contributors.py); rows of a
    # sign-in share its (device_id, seq), ``ordinal`` is the contributor's place in it
    """
    CREATE TABLE signin_contributors (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        ordinal INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq, ordinal)
    );
    CREATE INDEX signin_contributors_by_name ON signin_contributors (kind, name);
    """,
    # 6: each device's latest sign-in and boot on its row, kept at ingest, and one covering
    # index for the fleet-state counts: the refresh reads the index once, in group order,
    # instead of sorting every device and probing sign-ins per device
    """
    ALTER TABLE devices ADD COLUMN last_signin_at DOUBLE PRECISION;
    ALTER TABLE devices ADD COLUMN last_signin_seconds DOUBLE PRECISION;
    ALTER TABLE devices ADD COLUMN last_boot_at DOUBLE PRECISION;
    ALTER TABLE devices ADD COLUMN last_boot_seconds DOUBLE PRECISION;
    """
    + "".join(f"{statement};" for statement in LATEST_BACKFILL)
    + """
    CREATE INDEX devices_fleet ON devices (site, os, agent_version, identity, revoked_at,
        last_seen, enrolled_at, last_signin_at);
    CREATE INDEX inventory_by_site ON inventory (site);
    """,
    # 7: the end of each signed-in session (store/ingest.py); a table of its own, so this
    # migration may run before or after any other; the session length is ended_at minus
    # the started_at of the sign-in with the same (device_id, boot_id, session_id)
    """
    CREATE TABLE signin_ends (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        boot_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        ended_at DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device_id, seq),
        UNIQUE (device_id, boot_id, session_id)
    );
    CREATE INDEX signin_ends_by_time ON signin_ends (ended_at);
    """,
    # 8: each device's hardware (DeviceFacts 8, 11-13), NULL = unknown; set at enrolment and
    # kept from every report's facts like hostname and os_version
    """
    ALTER TABLE devices ADD COLUMN manufacturer TEXT;
    ALTER TABLE devices ADD COLUMN model TEXT;
    ALTER TABLE devices ADD COLUMN memory_bytes BIGINT;
    ALTER TABLE devices ADD COLUMN system_disk TEXT;
    """,
    # 9: long sign-ins by their end time (start + total; NULL total = not indexed): the
    # refresh's count of those that ended in the last hour reads only them, not every
    # sign-in of the last 25 hours; a partial index, so ingest writes it for long ones only
    f"""
    CREATE INDEX signins_long_by_end ON signins ((started_at + total_seconds))
        WHERE total_seconds >= {LONG_SIGNIN_SECONDS};
    """,
]


#: The range of each integer column type on both stores: PostgreSQL ``integer`` is 4 bytes
#: and ``bigint`` 8 bytes, signed (PostgreSQL manual, 8.1.1 "Integer Types"); SQLite stores
#: any INTEGER-affinity value in up to 8 bytes, signed (sqlite.org/datatype3.html, 2.), so
#: the PostgreSQL range is the portable one.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "INTEGER": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
}

_CREATE = re.compile(r"CREATE TABLE (\w+) \((.*)\)", re.DOTALL)
_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+) (.*)", re.DOTALL)
_CONSTRAINTS = ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT")
_QUALIFIERS = ("NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "REFERENCES")


def _declared(words: list[str]) -> str:
    taken = []
    for word in words:
        if word in _QUALIFIERS:
            break
        taken.append(word)
    return " ".join(taken)


def _definitions(body: str) -> list[str]:
    """The comma-separated parts of a CREATE TABLE body, commas inside parentheses kept."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts if p.strip()]


def column_types() -> dict[str, str]:
    """``{"table.column": "DECLARED TYPE"}`` after every migration, read from MIGRATIONS
    (e.g. ``{"app_usage.launches": "INTEGER", ...}``): the type each value is stored as."""
    types: dict[str, str] = {}
    for script in MIGRATIONS:
        for statement in (s.strip() for s in script.split(";")):
            if m := _CREATE.fullmatch(statement):
                for part in _definitions(m.group(2)):
                    words = part.split()
                    if words[0] not in _CONSTRAINTS:
                        types[f"{m.group(1)}.{words[0]}"] = _declared(words[1:])
            elif m := _ADD_COLUMN.fullmatch(statement):
                types[f"{m.group(1)}.{m.group(2)}"] = _declared(m.group(3).split())
    return types


def integer_range(column: str) -> tuple[int, int]:
    """The values ``table.column`` holds on both stores; KeyError if it is not an integer
    column of the schema."""
    return INTEGER_RANGES[column_types()[column]]
