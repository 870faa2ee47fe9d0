from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from fleetpulse.agent.errors import SourceUnavailable
from fleetpulse.agent.memory import Memory
from fleetpulse.agent.platform.env import Env, Problems
from fleetpulse.agent.plausibility import BootContext, judge_boot
from fleetpulse.agent.sources.boot import BootSource
from fleetpulse.contract.records import BootRecord, Phase
from fleetpulse.contract.serde import record_to_proto


def env(tmp_path: Path, boom: bool = False) -> Env:
    def boot_time() -> float:
        if boom:
            raise RuntimeError("backend bug")
        return 1000.0

    def read_bytes(path: str) -> bytes:
        return b"boot-1\n"

    return Env(
        ps=SimpleNamespace(boot_time=boot_time),
        read_bytes=read_bytes,
        run=lambda argv: "",
        clock=lambda: 5000.0,
    )


def test_boot_is_remembered_only_after_it_is_spooled(tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    src = BootSource(env(tmp_path), Memory(path), settle_seconds=0)
    [boot] = src.measure()
    # a crash now must not lose the boot: it is not remembered as reported, only as seen
    assert "boot:boot-1" not in Memory(path)
    again = BootSource(env(tmp_path), Memory(path), settle_seconds=0)
    assert len(again.measure()) == 1
    again.confirm()
    assert path.exists()
    assert BootSource(env(tmp_path), Memory(path), settle_seconds=0).measure() == []
    assert boot.boot_time == 1000.0


def test_a_backend_bug_is_counted_not_raised(tmp_path: Path) -> None:
    e = env(tmp_path, boom=True)
    assert BootSource(e, Memory(None), settle_seconds=0).measure() == []
    assert e.problems.counts["boot"] == 1


# --- plausibility (fleetpulse.agent.plausibility), on every platform's boots ---------------------


def test_a_boot_starting_in_the_future_is_not_reported(tmp_path: Path) -> None:
    e = env(tmp_path)
    e.ps = SimpleNamespace(boot_time=lambda: 5000.0 + 3600)  # an hour after "now"
    src = BootSource(e, Memory(None), settle_seconds=0)
    assert src.measure() == [] and src.current is None
    assert e.problems.counts["plausibility"] == 1


def windows_boot(**phases: float) -> BootRecord:
    return BootRecord(
        boot_id="boot-7", boot_time=1000.0, total_seconds=phases.pop("total"),
        phases=tuple(Phase(k, v) for k, v in phases.items()),
    )  # fmt: skip


def test_negative_phase_is_unknown_and_so_is_the_total_it_is_part_of() -> None:
    problems = Problems()
    boot = windows_boot(total=40.0, main_path=-5.0, post_boot=45.0, driver_init=3.0)
    judged = judge_boot(boot, BootContext(now=5000.0), problems)
    assert judged is not None
    assert [(p.name, p.seconds) for p in judged.phases] == [
        ("post_boot", 45.0),
        ("driver_init", 3.0),
    ]
    assert judged.total_seconds is None
    assert problems.counts["plausibility"] == 2  # main_path, then the total


def test_a_sub_phase_lost_keeps_the_total() -> None:
    problems = Problems()
    boot = windows_boot(total=40.0, main_path=30.0, post_boot=10.0, explorer_init=-1.0)
    judged = judge_boot(boot, BootContext(now=5000.0), problems)
    assert judged is not None and judged.total_seconds == 40.0
    assert [p.name for p in judged.phases] == ["main_path", "post_boot"]


def test_phase_longer_than_the_uptime_is_unknown() -> None:
    problems = Problems()
    boot = windows_boot(total=700.0, main_path=20.0, post_boot=680.0)  # 10 min after boot
    judged = judge_boot(boot, BootContext(now=1000.0 + 60.0), problems)
    assert judged is not None
    assert [p.name for p in judged.phases] == ["main_path"] and judged.total_seconds is None


def test_longer_than_since_the_previous_boot_is_unknown() -> None:
    problems = Problems()
    linux_boot = BootRecord(
        boot_id="b", boot_time=1000.0, total_seconds=130.0,
        phases=(Phase("firmware", 120.0), Phase("kernel", 2.0), Phase("userspace", 8.0)),
    )  # fmt: skip
    # The previous boot was 90 s before this kernel started: 120 s of firmware cannot be.
    ctx = BootContext(now=2000.0, virtualization="", previous_boot_time=910.0)
    judged = judge_boot(linux_boot, ctx, problems)
    assert judged is not None
    assert [p.name for p in judged.phases] == ["kernel", "userspace"]
    assert judged.total_seconds is None
    # With a previous boot long ago the same boot is sound.
    ctx = BootContext(now=2000.0, virtualization="", previous_boot_time=100.0)
    assert judge_boot(linux_boot, ctx, Problems()) == linux_boot


def test_beyond_the_ceiling_and_on_a_vm_firmware_is_unknown() -> None:
    boot = BootRecord(
        boot_id="b", boot_time=1000.0, total_seconds=320.0,
        phases=(Phase("firmware", 301.0), Phase("loader", 4.0), Phase("kernel", 15.0)),
    )  # fmt: skip
    judged = judge_boot(boot, BootContext(now=9000.0, virtualization=""), Problems())
    assert judged is not None and [p.name for p in judged.phases] == ["loader", "kernel"]
    vm = replace(boot, phases=(Phase("firmware", 3.0), Phase("loader", 1.0), Phase("kernel", 2.0)))
    judged = judge_boot(vm, BootContext(now=9000.0, virtualization="microsoft"), Problems())
    assert judged is not None and [p.name for p in judged.phases] == ["kernel"]
    assert judged.total_seconds is None
    # Bare metal, within the ceiling: untouched.
    assert judge_boot(vm, BootContext(now=9000.0, virtualization=""), Problems()) == vm


def test_an_implausible_value_never_reaches_the_wire() -> None:
    """What the collector's histograms observe is the serialised record: the VM's 28-minute
    firmware and its total are absent from it."""
    fixtures = Path(__file__).parent.parent / "fixtures" / "linux"
    outputs = {
        "--property=ActiveEnterTimestampMonotonic":
            (fixtures / "systemctl-show-vm-bogus-firmware-graphical.txt").read_text(),
        "show": (fixtures / "systemctl-show-vm-bogus-firmware.txt").read_text(),
    }  # fmt: skip

    def run(argv: Sequence[str]) -> str:
        if argv[:2] != ("systemctl", "show"):
            raise SourceUnavailable(argv[0])
        return outputs[argv[-1]] if argv[-1] in outputs else outputs["show"]

    e = Env(ps=SimpleNamespace(boot_time=lambda: 1000.0), read_bytes=lambda p: b"boot-vm\n",
            run=run, clock=lambda: 5000.0)  # fmt: skip
    [boot] = BootSource(e, Memory(None), settle_seconds=0).measure()
    wire = record_to_proto(boot, observed_at=5000.0).boot
    assert not wire.HasField("total_seconds")
    assert sorted(p.name for p in wire.phases) == ["initrd", "kernel", "login_screen", "userspace"]
    assert max(p.seconds for p in wire.phases) < 10


# --- one identity per boot, whatever the backend's id does between polls -------------


class Flipping:
    """A backend whose boot id and start time move between polls of one boot."""

    def __init__(self, observations: list[tuple[str, float]]) -> None:
        self.observations = observations

    def env(self) -> Env:
        def boot_time() -> float:
            return self.observations[0][1]

        def read_bytes(path: str) -> bytes:
            boot_id, _ = self.observations.pop(0)
            return f"{boot_id}\n".encode()

        return Env(
            ps=SimpleNamespace(boot_time=boot_time),
            read_bytes=read_bytes,
            run=lambda argv: "",
            clock=lambda: 9000.0,
        )


def test_an_id_that_changes_form_within_one_boot_keeps_the_first_identity(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memory.json"
    # the counter form, then a fallback form for the same start (1 s of jitter), then back
    polls = Flipping([("win-boot-41", 1000.0), ("win-start-1001", 1001.0), ("win-boot-41", 1000.4)])
    seen = []
    for _ in range(3):  # a new agent process each poll: restarts keep the identity too
        src = BootSource(polls.env(), Memory(path), settle_seconds=0)
        records = src.measure()
        src.confirm()
        assert src.current is not None
        seen.append((src.current.boot_id, src.current.boot_time, len(records)))
    assert seen == [
        ("win-boot-41", 1000.0, 1),
        ("win-boot-41", 1000.0, 0),
        ("win-boot-41", 1000.0, 0),
    ]


def test_a_real_reboot_is_a_new_boot_and_bounds_its_phases(tmp_path: Path) -> None:
    from fleetpulse.agent.platform import _linux as linux

    fixtures = Path(__file__).parent.parent / "fixtures" / "linux"
    answers = {
        linux.MANAGER_SHOW: (fixtures / "systemctl-show-uefi.txt").read_text(),
        linux.GRAPHICAL_SHOW: (fixtures / "systemctl-show-uefi-graphical.txt").read_text(),
    }
    path = tmp_path / "memory.json"

    def source(boot_id: str, boot_time: float) -> BootSource:
        e = Flipping([(boot_id, boot_time)]).env()
        e.run = lambda argv: answers.get(tuple(argv), "")
        return BootSource(e, Memory(path), settle_seconds=0)

    first = source("boot-a", 1000.0)
    [one] = first.measure()
    first.confirm()
    assert one.total_seconds is not None  # 4.6 s of firmware is sound on its own
    # a new boot id 3 s later: a new boot, whose 4.6 s of firmware cannot have happened
    # within the 3 s since the previous boot started
    second = source("boot-b", 1003.0)
    [two] = second.measure()
    assert (two.boot_id, two.boot_time) == ("boot-b", 1003.0)
    assert "firmware" not in {p.name for p in two.phases} and two.total_seconds is None
