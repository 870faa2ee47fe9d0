"""The committed generated code matches the .proto sources."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_has_no_drift(tmp_path: Path) -> None:
    bindir = str(Path(sys.executable).parent)  # protoc plugins live beside the interpreter
    env = {**os.environ, "PYTHON": sys.executable, "PATH": bindir + os.pathsep + os.environ["PATH"]}
    subprocess.run(
        ["bash", str(ROOT / "protos" / "generate.sh"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*"))
    assert generated, "protoc produced nothing"
    for rel in generated:
        committed = ROOT / "protos" / rel
        assert committed.exists(), f"{rel} is not committed"
        assert filecmp.cmp(committed, tmp_path / rel, shallow=False), (
            f"{rel} differs from its .proto: run protos/generate.sh and commit"
        )
