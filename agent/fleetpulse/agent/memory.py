"""What the agent has already reported (boots, finished sign-ins, session ends), kept
across restarts."""

from __future__ import annotations

import json
import os
from pathlib import Path


class Memory:
    """A small set of keys persisted atomically; ``path=None`` keeps it in memory only."""

    def __init__(self, path: Path | None, limit: int = 2000) -> None:
        self._path = path
        self._limit = limit
        self._keys: list[str] = []
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self._keys = [str(k) for k in loaded][-limit:]
            except (OSError, ValueError):
                self._keys = []  # a lost memory costs at most a resend the collector drops
        self._set = set(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._set

    def with_prefix(self, prefix: str) -> list[str]:
        """The remembered keys that start with ``prefix``, oldest first."""
        return [k for k in self._keys if k.startswith(prefix)]

    def add(self, key: str) -> None:
        if key in self._set:
            return
        self._keys.append(key)
        self._set.add(key)
        if len(self._keys) > self._limit:
            self._set.discard(self._keys.pop(0))
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._keys), encoding="utf-8")
        os.replace(tmp, self._path)
