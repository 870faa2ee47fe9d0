"""The collector's errors: every exception class the collector defines, in one tree; the
servicer maps each to one gRPC status code (fleetpulse.collector.servicer._abort).

CollectorError               base; message shown to users on one line     -> INTERNAL
├── ConfigError              bad command-line or file configuration
├── Unauthenticated          missing/unknown/revoked credential or token  -> UNAUTHENTICATED
├── PermissionDenied         a credential used for another device's data  -> PERMISSION_DENIED
├── InvalidReport            records failing validation (lists their seqs) -> INVALID_ARGUMENT
├── WrongSite                a token of another site than the one expected -> FAILED_PRECONDITION
├── RateLimited              a device or peer over its rate                -> RESOURCE_EXHAUSTED
└── StoreUnavailable         the database cannot commit right now          -> UNAVAILABLE

InvalidReport sends the rejected records' seqs in the ``fleetpulse-rejected-seqs`` trailer;
RateLimited and StoreUnavailable send ``retry-after-ms``. ``fleetpulse-collector`` prints any
CollectorError as ``fleetpulse-collector: error: MESSAGE`` on stderr and exits 1.
tests/test_error_trees.py checks that every exception class under ``fleetpulse.collector``
derives from CollectorError and is drawn above.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of the collector's own errors."""


class ConfigError(CollectorError):
    pass


class Unauthenticated(CollectorError):
    """``reason``: a short fixed word for the auth-failure metric (bounded label)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class PermissionDenied(CollectorError):
    def __init__(self, message: str, reason: str = "wrong_credential") -> None:
        super().__init__(message)
        self.reason = reason


class WrongSite(CollectorError):
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
