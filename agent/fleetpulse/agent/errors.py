"""The agent's errors: every exception class the agent defines, in one tree.

AgentError                  base; its message is shown to the user on one line
├── ConfigError             missing/invalid configuration, state directory or spool file
├── EnrollmentError         the collector refused or could not be reached to enroll
├── SourceUnavailable       a measurement source does not exist on this machine
├── PingError               the collector refused or failed an empty report (doctor, install)
└── ServiceError            a service-manager command failed (systemctl, schtasks, launchctl)

``fleetpulse-agent`` prints any AgentError as ``fleetpulse-agent: error: MESSAGE`` on stderr
and exits 1 (``install`` exits 2 for EnrollmentError; ``install`` and ``uninstall`` exit 3
for ServiceError, as they document). tests/test_error_trees.py checks that every
exception class under ``fleetpulse.agent`` derives from AgentError and is drawn above.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of the agent's own errors."""


class ConfigError(AgentError):
    """Missing or invalid configuration, state directory, credential or spool file."""


class EnrollmentError(AgentError):
    """The collector refused the enrollment token or could not be reached to enroll."""


class SourceUnavailable(AgentError):
    """A measurement source does not exist on this machine (its value stays unknown)."""


class PingError(AgentError):
    """The collector refused or failed an empty report: ``code`` is the gRPC status code
    name (``"UNAUTHENTICATED"``), ``details`` the collector's message."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class ServiceError(AgentError):
    """A service-manager command failed; the message names the command and its last
    line of output."""
