"""The agent's errors.

AgentError                  base; its message is shown to the user on one line
├── ConfigError             missing/invalid configuration or state directory
├── EnrollmentError         the collector refused or could not be reached to enroll
├── SourceUnavailable       a measurement source does not exist on this machine
└── MalformedInput          a source produced data that cannot be parsed
"""


class AgentError(Exception):
    """Base of the agent's own errors."""


class ConfigError(AgentError):
    pass


class EnrollmentError(AgentError):
    pass


class SourceUnavailable(AgentError):
    pass


class MalformedInput(AgentError):
    pass
