"""A realistic synthetic fleet that reports through the real spool and sender code.

Seeded distributions: log-normal boot and sign-in times with a long tail (about 1 % of
sign-ins take 30+ minutes, dominated by group policy), a morning sign-in storm, a site and
OS mix, first logins, and application usage. Many devices share one process and one channel.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fleetpulse.agent import __version__
from fleetpulse.agent.backoff import Backoff
from fleetpulse.agent.sender import RETRYABLE, Sender, SendResult, enroll
from fleetpulse.agent.sources.signin import user_hash
from fleetpulse.agent.spool import Spool
from fleetpulse.agent.transport import open_channel
from fleetpulse.contract.records import (
    AppUsageRecord,
    BootRecord,
    BootType,
    Contributor,
    Culprit,
    DeviceFacts,
    EndReason,
    Phase,
    Record,
    SigninEndRecord,
    SigninRecord,
    SigninState,
)
from fleetpulse.contract.serde import record_to_bytes
from fleetpulse.sim import hardware

OS_MIX = (("windows", 0.8), ("linux", 0.15), ("macos", 0.05))
APPS = (
    "outlook.exe",
    "teams.exe",
    "msedge.exe",
    "winword.exe",
    "excel.exe",
    "chrome.exe",
    "niche.exe",
    "storm.exe",
    "acrobat.exe",
    "explorer.exe",
)
LONG_TAIL = 0.01
#: Group policy client-side extensions of a typical domain, with their usual share of the
#: group policy time (a slow sign-in's time goes to Drive Maps: an unreachable share).
EXTENSIONS = (
    ("Registry", 0.25),
    ("Security", 0.15),
    ("Folder Redirection", 0.3),
    ("Drive Maps", 0.2),
    ("Printers", 0.1),
)
STARTUP_APPS = ("teams.exe", "onedrive.exe", "securityhealthsystray.exe", "cagent.exe")
#: Boot culprits Windows names (Diagnostics-Performance 101-103): (name, kind, median s).
BOOT_CULPRITS = (
    ("Fabrikam Update Service", "service", 9.0),
    ("Fabrikam Filter Driver", "driver", 4.0),
    ("Fabrikam Sync Client", "application", 6.0),
)
#: Extra startup applications per Windows sign-in with ``contributor_names``.
EXTRA_STARTUP_APPS = 3

log = logging.getLogger("fleetpulse.agent.simulate")


@dataclass
class SimDevice:
    index: int
    hostname: str
    os: str
    facts: DeviceFacts
    spool: Spool
    rng: random.Random
    slowness: float = 1.0  # the model's factor on boot and sign-in durations (hardware.py)
    device_id: str = ""
    site: str = ""
    key: bytes = b""
    sender: Sender | None = None
    live: dict[int, tuple[float, float]] = field(default_factory=dict)  # session -> (start, dur)
    sessions: int = 0


@dataclass
class Truth:
    """What the fleet generated, for tests and benchmarks to check against."""

    records: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    signins: list[tuple[str, str, float, float]] = field(
        default_factory=list
    )  # dev, site, start, total


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


class SimulatedFleet:
    def __init__(
        self,
        target: str,
        tokens: Sequence[str],
        devices: int,
        seed: int = 1,
        ca_cert: str | None = None,
        insecure: bool = False,
        batch_records: int = 500,
        session_ends: bool = False,
        contributor_names: int = 0,
    ) -> None:
        """``contributor_names`` > 0: every Windows sign-in also starts EXTRA_STARTUP_APPS
        startup applications named from that many distinct names (``tool0000.exe``, ...),
        taken in turn across the fleet, to exercise the collector's label cap."""
        self.target = target
        #: Whether current agents also send each history sign-in's end (older ones never do).
        self.session_ends = session_ends
        self._names = contributor_names
        self._named = 0  # extra startup applications named so far
        self.rng = random.Random(seed)
        self.truth = Truth()
        self._tokens = list(tokens)
        self._channel = open_channel(target, ca_cert, insecure)
        self._ca, self._insecure, self._batch = ca_cert, insecure, batch_records
        self._lock = threading.Lock()
        self.devices = [self._make(i, seed) for i in range(devices)]

    def _make(self, i: int, seed: int) -> SimDevice:
        rng = random.Random(seed * 1_000_003 + i)
        os_name = rng.choices([o for o, _ in OS_MIX], [w for _, w in OS_MIX])[0]
        hostname = f"sim-{seed}-{i:05d}"
        version = __version__ if rng.random() > 0.1 else "0.0.9"
        # its own generator: the hardware leaves every other draw of the device unchanged
        model = hardware.pick(random.Random(f"hw:{seed}:{i}"), os_name)
        facts = DeviceFacts(
            hostname=hostname,
            os=os_name,
            os_version=f"{os_name} simulated",
            agent_version=version,
            hardware_id=f"hw-{seed}-{i}",
            machine_id=f"mid-{seed}-{i}",
            cpu_count=4,
            memory_bytes=model.memory_gib * hardware.GIB,
            form_factor=rng.choice(["desktop", "laptop", "tablet"]),
            manufacturer=model.manufacturer,
            model=model.model,
            system_disk=model.system_disk,
        )
        return SimDevice(i, hostname, os_name, facts, Spool(":memory:"), rng, model.slowness)

    def enroll(self) -> None:
        for dev in self.devices:
            token = self._tokens[dev.index % len(self._tokens)]
            got = enroll(self.target, token, dev.facts, self._ca, self._insecure)
            dev.device_id, dev.site, dev.key = got.device_id, got.site, got.user_hash_key
            dev.sender = Sender(
                self.target,
                dev.device_id,
                got.device_secret,
                batch_records=self._batch,
                channel=self._channel,
            )

    # -- generation ------------------------------------------------------------
    def _signin(
        self,
        dev: SimDevice,
        start: float,
        total: float,
        state: SigninState,
        elapsed: float = 0.0,
        number: int | None = None,
    ) -> SigninRecord:
        """Session ``number`` (default: the device's newest) as one record."""
        rng = dev.rng
        number = dev.sessions if number is None else number
        session = f"s{number}"
        phases: tuple[Phase, ...] = ()
        if state is SigninState.COMPLETE:
            responsive = min(total * 0.3, lognormal(rng, 6, 0.5))
            core = total - responsive
            gp = core * (0.85 if total >= 1800 else rng.uniform(0.1, 0.4))
            profile = (core - gp) * rng.uniform(0.2, 0.5)
            phases = (
                Phase("core", round(core, 3)),
                Phase("responsive", round(responsive, 3)),
                Phase("profile", round(profile, 3)),
                Phase("group_policy", round(gp, 3)),
            )
            if dev.os != "windows":
                phases = phases[:2]
        contributors: tuple[Contributor, ...] = ()
        if state is SigninState.COMPLETE and dev.os == "windows":
            # its own generator: adding contributors leaves every other draw unchanged
            contributors = (
                sim_contributors(random.Random(f"{dev.index}:{number}"), gp, profile, total >= 1800)
                + self._extra_startup_apps()
            )
        return SigninRecord(
            session_id=session,
            boot_id=f"b{number}",
            user_hash=user_hash(dev.key, "u"),
            started_at=start,
            state=state,
            total_seconds=round(total, 3) if state is SigninState.COMPLETE else None,
            elapsed_seconds=round(elapsed, 3),
            phases=phases,
            first_login=rng.random() < 0.03,
            after_update=rng.random() < 0.02,
            contributors=contributors,
        )

    def _extra_startup_apps(self) -> tuple[Contributor, ...]:
        if not self._names:
            return ()
        with self._lock:
            first, self._named = self._named, self._named + EXTRA_STARTUP_APPS
        return tuple(
            Contributor("startup_app", f"tool{k % self._names:04d}.exe", 0.5)
            for k in range(first, first + EXTRA_STARTUP_APPS)
        )

    def _sample_total(self, rng: random.Random, slowness: float = 1.0) -> float:
        if rng.random() < LONG_TAIL:
            return rng.uniform(1800, 2400)
        return min(1700.0, lognormal(rng, 35, 0.7) * slowness)

    def _day(self, dev: SimDevice, day_start: float) -> list[tuple[Record, float]]:
        rng = dev.rng
        boot_at = day_start + 7.5 * 3600 + rng.gauss(0, 1800)
        boot_total = lognormal(rng, 45, 0.45) * dev.slowness
        boot_type = BootType.FAST_STARTUP if rng.random() < 0.3 else BootType.COLD
        degraded = rng.random() < 0.05
        culprits: tuple[Culprit, ...] = ()
        if dev.os == "windows":
            # its own generator: adding culprits leaves every other draw unchanged
            culprits = sim_culprits(random.Random(f"boot:{dev.index}:{dev.sessions}"), degraded)
        boot = BootRecord(
            boot_id=f"b{dev.sessions + 1}",
            boot_time=boot_at,
            total_seconds=round(boot_total, 3),
            phases=(
                Phase("main_path", round(boot_total * 0.7, 3)),
                Phase("post_boot", round(boot_total * 0.3, 3)),
            )
            if dev.os == "windows"
            else (
                Phase("kernel", round(boot_total * 0.3, 3)),
                Phase("userspace", round(boot_total * 0.7, 3)),
            ),
            boot_type=boot_type,
            degraded=degraded,
            culprits=culprits,
        )
        dev.sessions += 1
        start = boot_at + boot_total + abs(rng.gauss(120, 60))
        total = self._sample_total(rng, dev.slowness)
        signin = self._signin(dev, start, total, SigninState.COMPLETE)
        self._remember(dev, start, total)
        out: list[tuple[Record, float]] = [(boot, boot_at + boot_total), (signin, start + total)]
        end = self._session_end(dev, signin, start + total)
        if end is not None:
            out.append((end, end.ended_at))
        for app in rng.sample(APPS, 4):
            fg = rng.uniform(600, 7200)
            out.append(
                (
                    AppUsageRecord(
                        interval_start=start,
                        interval_seconds=8 * 3600.0,
                        app=app,
                        launches=rng.randint(1, 5),
                        running_seconds=fg * 1.5,
                        foreground_seconds=fg,
                        cpu_seconds=fg * 0.05,
                        peak_rss_bytes=rng.randint(50, 900) << 20,
                        crashes=1 if rng.random() < 0.02 else 0,
                    ),
                    start + 8 * 3600,
                )
            )
        return out

    def _session_end(
        self, dev: SimDevice, signin: SigninRecord, ready_at: float
    ) -> SigninEndRecord | None:
        """The end of a history sign-in's session, from its own generator (so every other
        draw stays the same): tablets are signed into for a minute or so, other devices
        for hours; one end in ten is a disconnect. None for older agents."""
        if not self.session_ends or dev.facts.agent_version != __version__:
            return None
        rng = random.Random(f"end:{dev.index}:{signin.session_id}")
        if dev.facts.form_factor == "tablet":
            length = rng.uniform(20, 90)
        else:
            length = min(10 * 3600.0, lognormal(rng, 4 * 3600, 0.5))
        reason = EndReason.DISCONNECT if rng.random() < 0.1 else EndReason.SIGN_OUT
        return SigninEndRecord(
            signin.session_id, signin.boot_id, round(ready_at + length, 3), reason
        )

    def _remember(self, dev: SimDevice, start: float, total: float) -> None:
        with self._lock:
            self.truth.signins.append((dev.device_id, dev.site, start, total))

    def _spool(self, dev: SimDevice, items: list[tuple[Record, float]]) -> None:
        dev.spool.put((r.kind, record_to_bytes(r, observed)) for r, observed in items)
        with self._lock:
            self.truth.records += len(items)
            for r, _ in items:
                self.truth.by_kind[r.kind.value] = self.truth.by_kind.get(r.kind.value, 0) + 1

    def history(self, days: int, now: float | None = None) -> None:
        """Spools ``days`` of past activity for every device (not sent yet)."""
        now = now or time.time()
        today = now - now % 86400
        for dev in self.devices:
            items: list[tuple[Record, float]] = []
            for d in range(days, 0, -1):
                items += [
                    (r, min(t, now))
                    for r, t in self._day(dev, today - d * 86400)
                    if not (isinstance(r, SigninEndRecord) and r.ended_at > now)  # still on
                ]
            self._spool(dev, items)

    def live_step(self, now: float, start_probability: float) -> None:
        """Advances live sign-ins: starts some, reports progress, completes the finished."""
        for dev in self.devices:
            items: list[tuple[Record, float]] = []
            for number, (start, total) in list(dev.live.items()):
                if now >= start + total:
                    del dev.live[number]
                    done = self._signin(dev, start, total, SigninState.COMPLETE, number=number)
                    items.append((done, now))
                    self._remember(dev, start, total)
                else:
                    live = self._signin(
                        dev, start, total, SigninState.IN_PROGRESS, now - start, number=number
                    )
                    items.append((live, now))
            if not dev.live and dev.rng.random() < start_probability:
                dev.sessions += 1
                dev.live[dev.sessions] = (now, self._sample_total(dev.rng, dev.slowness))
                items.append((self._signin(dev, now, 0, SigninState.IN_PROGRESS), now))
            if items:
                self._spool(dev, items)

    def _send_each(
        self, devices: Sequence[SimDevice], workers: int
    ) -> list[tuple[SimDevice, SendResult]]:
        def one(dev: SimDevice) -> tuple[SimDevice, SendResult]:
            assert dev.sender is not None
            return dev, dev.sender.send(dev.spool, dev.facts)

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, devices))

    def send(self, workers: int = 4) -> tuple[int, int]:
        """One pass: sends every device's spool until it is empty or a call fails;
        returns (acked, still spooled)."""
        results = self._send_each(self.devices, workers)
        return (
            sum(r.acked + r.duplicates for _, r in results),
            sum(r.remaining for _, r in results),
        )

    def deliver(
        self,
        give_up_after: float = 300.0,
        workers: int = 4,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> tuple[int, int]:
        """Sends until every spool is empty, retrying the devices whose send failed as the
        agent does (agent/backoff.py: full jitter, never sooner than the collector's
        ``retry-after-ms`` hint; agent/sender.py's retryable status codes). Gives up when
        a non-retryable status (e.g. UNAUTHENTICATED) comes back or after
        ``give_up_after`` seconds without a single record delivered; returns
        (acked, still spooled)."""
        backoff = backoff or Backoff(base=0.5, cap=10.0)
        retryable = {code.name for code in RETRYABLE}
        acked = 0
        pending: Sequence[SimDevice] = self.devices
        last_progress = time.monotonic()
        while True:
            results = self._send_each(pending, workers)
            got = sum(r.acked + r.duplicates for _, r in results)
            acked += got
            left = [(dev, r) for dev, r in results if r.remaining]
            remaining = sum(r.remaining for _, r in left)
            if not left:
                return acked, 0
            errors = [r.error for _, r in left if r.error is not None]
            if any(e.split(":", 1)[0] not in retryable for e in errors):
                return acked, remaining
            if got:
                last_progress = time.monotonic()
                backoff.reset()
            if time.monotonic() - last_progress >= give_up_after:
                return acked, remaining
            if errors:
                hint = max((r.retry_after or 0.0 for _, r in left), default=0.0)
                delay = backoff.next_delay(hint or None)
                log.warning(
                    "%d device(s) could not send (%s); %d record(s) kept, retry in %.1fs",
                    len(errors),
                    errors[0],
                    remaining,
                    delay,
                )
                sleep(delay)
            pending = [dev for dev, _ in left]

    def close(self) -> None:
        self._channel.close()
        for dev in self.devices:
            dev.spool.close()


def sim_culprits(rng: random.Random, degraded: bool) -> tuple[Culprit, ...]:
    """Culprits Windows names for one boot: on every degraded boot and a quarter of the
    others, one or two of BOOT_CULPRITS with a log-normal time each, largest first."""
    if not degraded and rng.random() >= 0.25:
        return ()
    picked = rng.sample(BOOT_CULPRITS, rng.randint(1, 2))
    found = [Culprit(n, k, round(lognormal(rng, median, 0.6), 3)) for n, k, median in picked]
    return tuple(sorted(found, key=lambda c: (-c.seconds, c.name)))


def sim_contributors(
    rng: random.Random, group_policy: float, profile: float, slow: bool
) -> tuple[Contributor, ...]:
    """Contributors of one complete Windows sign-in: its group policy seconds split over
    the extensions (Drive Maps takes 93 % of a 30-minute one), a logon script on some
    devices, Run-key startup apps, and the profile (local, sometimes roaming, rarely
    temporary)."""
    out = []
    kind = rng.random()
    name = "temporary" if kind < 0.005 else "roaming" if kind < 0.1 else "local"
    out.append(Contributor("profile", name, round(profile, 3)))
    weights = [w * rng.uniform(0.5, 1.5) for _, w in EXTENSIONS]
    if slow:
        rest = sum(w for (n, _), w in zip(EXTENSIONS, weights, strict=True) if n != "Drive Maps")
        weights = [
            0.93 * rest / 0.07 if n == "Drive Maps" else w
            for (n, _), w in zip(EXTENSIONS, weights, strict=True)
        ]
    scripts = group_policy * 0.1 if rng.random() < 0.3 else 0.0
    extensions = group_policy - scripts
    for (n, _), w in zip(EXTENSIONS, weights, strict=True):
        out.append(Contributor("gp_extension", n, round(extensions * w / sum(weights), 3)))
    if scripts:
        out.append(Contributor("gp_script", "logon.cmd", round(scripts, 3)))
    for app in STARTUP_APPS:
        if rng.random() < 0.7:
            out.append(Contributor("startup_app", app, round(lognormal(rng, 1.2, 0.6), 3)))
    return tuple(out)
