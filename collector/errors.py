"""The collector's errors; the servicer maps each to one gRPC status code.

CollectorError               base; message shown to users on one line
├── ConfigError              bad command-line or file configuration
├── Unauthenticated          missing/unknown/revoked credential or token  -> UNAUTHENTICATED
├── PermissionDenied         a credential used for another device's data  -> PERMISSION_DENIED
├── InvalidReport            records failing validation (lists their seqs) -> INVALID_ARGUMENT
├── RateLimited              a device over its report rate                 -> RESOURCE_EXHAUSTED
└── StoreUnavailable         the database cannot commit right now          -> UNAVAILABLE
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of the collector's own errors."""


class ConfigError(CollectorError):
    pass


class Unauthenticated(CollectorError):
    pass


class PermissionDenied(CollectorError):
    pass


class InvalidReport(CollectorError):
    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"record seq={seq}: {msg}" for seq, msg in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(shown + more)

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.problems if seq > 0]


class RateLimited(CollectorError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(CollectorError):
    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
