from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from agent.memory import Memory
from agent.platform.env import Env
from agent.sources.boot import BootSource


def env(tmp_path: Path, boom: bool = False) -> Env:
    def boot_time() -> float:
        if boom:
            raise RuntimeError("backend bug")
        return 1000.0

    def read_bytes(path: str) -> bytes:
        return b"boot-1\n"

    return Env(ps=SimpleNamespace(boot_time=boot_time), read_bytes=read_bytes,
               run=lambda argv: "", clock=lambda: 5000.0)


def test_boot_is_remembered_only_after_it_is_spooled(tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    src = BootSource(env(tmp_path), Memory(path), settle_seconds=0)
    [boot] = src.measure()
    assert not path.exists()  # a crash now must not lose the boot: it is measured again
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
