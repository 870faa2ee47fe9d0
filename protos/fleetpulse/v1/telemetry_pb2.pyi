from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BootType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOOT_TYPE_UNSPECIFIED: _ClassVar[BootType]
    BOOT_TYPE_COLD: _ClassVar[BootType]
    BOOT_TYPE_FAST_STARTUP: _ClassVar[BootType]
    BOOT_TYPE_RESUME: _ClassVar[BootType]

class SigninState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNIN_STATE_UNSPECIFIED: _ClassVar[SigninState]
    SIGNIN_STATE_IN_PROGRESS: _ClassVar[SigninState]
    SIGNIN_STATE_COMPLETE: _ClassVar[SigninState]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_SIGN_OUT: _ClassVar[EndReason]
    END_REASON_DISCONNECT: _ClassVar[EndReason]
BOOT_TYPE_UNSPECIFIED: BootType
BOOT_TYPE_COLD: BootType
BOOT_TYPE_FAST_STARTUP: BootType
BOOT_TYPE_RESUME: BootType
SIGNIN_STATE_UNSPECIFIED: SigninState
SIGNIN_STATE_IN_PROGRESS: SigninState
SIGNIN_STATE_COMPLETE: SigninState
END_REASON_UNSPECIFIED: EndReason
END_REASON_SIGN_OUT: EndReason
END_REASON_DISCONNECT: EndReason

class DeviceFacts(_message.Message):
    __slots__ = ("hostname", "os", "os_version", "agent_version", "hardware_id", "machine_id", "cpu_count", "memory_bytes", "boot_time", "form_factor", "manufacturer", "model", "system_disk")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_ID_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ID_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    BOOT_TIME_FIELD_NUMBER: _ClassVar[int]
    FORM_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_DISK_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os: str
    os_version: str
    agent_version: str
    hardware_id: str
    machine_id: str
    cpu_count: int
    memory_bytes: int
    boot_time: float
    form_factor: str
    manufacturer: str
    model: str
    system_disk: str
    def __init__(self, hostname: _Optional[str] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., agent_version: _Optional[str] = ..., hardware_id: _Optional[str] = ..., machine_id: _Optional[str] = ..., cpu_count: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., boot_time: _Optional[float] = ..., form_factor: _Optional[str] = ..., manufacturer: _Optional[str] = ..., model: _Optional[str] = ..., system_disk: _Optional[str] = ...) -> None: ...

class Settings(_message.Message):
    __slots__ = ("report_interval_seconds", "app_allowlist", "signin_slo_seconds")
    REPORT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    APP_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    SIGNIN_SLO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    report_interval_seconds: int
    app_allowlist: _containers.RepeatedScalarFieldContainer[str]
    signin_slo_seconds: float
    def __init__(self, report_interval_seconds: _Optional[int] = ..., app_allowlist: _Optional[_Iterable[str]] = ..., signin_slo_seconds: _Optional[float] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("token", "facts", "expected_site")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SITE_FIELD_NUMBER: _ClassVar[int]
    token: str
    facts: DeviceFacts
    expected_site: str
    def __init__(self, token: _Optional[str] = ..., facts: _Optional[_Union[DeviceFacts, _Mapping]] = ..., expected_site: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("device_id", "device_secret", "site", "user_hash_key", "settings")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SECRET_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    USER_HASH_KEY_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    device_secret: str
    site: str
    user_hash_key: bytes
    settings: Settings
    def __init__(self, device_id: _Optional[str] = ..., device_secret: _Optional[str] = ..., site: _Optional[str] = ..., user_hash_key: _Optional[bytes] = ..., settings: _Optional[_Union[Settings, _Mapping]] = ...) -> None: ...

class Phase(_message.Message):
    __slots__ = ("name", "seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    seconds: float
    def __init__(self, name: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class Culprit(_message.Message):
    __slots__ = ("name", "kind", "seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    seconds: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class Contributor(_message.Message):
    __slots__ = ("kind", "name", "seconds")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    seconds: float
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class Boot(_message.Message):
    __slots__ = ("boot_id", "boot_time", "total_seconds", "phases", "boot_type", "degraded", "culprits")
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    BOOT_TIME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    BOOT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    CULPRITS_FIELD_NUMBER: _ClassVar[int]
    boot_id: str
    boot_time: float
    total_seconds: float
    phases: _containers.RepeatedCompositeFieldContainer[Phase]
    boot_type: BootType
    degraded: bool
    culprits: _containers.RepeatedCompositeFieldContainer[Culprit]
    def __init__(self, boot_id: _Optional[str] = ..., boot_time: _Optional[float] = ..., total_seconds: _Optional[float] = ..., phases: _Optional[_Iterable[_Union[Phase, _Mapping]]] = ..., boot_type: _Optional[_Union[BootType, str]] = ..., degraded: _Optional[bool] = ..., culprits: _Optional[_Iterable[_Union[Culprit, _Mapping]]] = ...) -> None: ...

class Signin(_message.Message):
    __slots__ = ("session_id", "boot_id", "user_hash", "started_at", "state", "total_seconds", "elapsed_seconds", "phases", "first_login", "after_update", "contributors")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_HASH_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    FIRST_LOGIN_FIELD_NUMBER: _ClassVar[int]
    AFTER_UPDATE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTORS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    boot_id: str
    user_hash: str
    started_at: float
    state: SigninState
    total_seconds: float
    elapsed_seconds: float
    phases: _containers.RepeatedCompositeFieldContainer[Phase]
    first_login: bool
    after_update: bool
    contributors: _containers.RepeatedCompositeFieldContainer[Contributor]
    def __init__(self, session_id: _Optional[str] = ..., boot_id: _Optional[str] = ..., user_hash: _Optional[str] = ..., started_at: _Optional[float] = ..., state: _Optional[_Union[SigninState, str]] = ..., total_seconds: _Optional[float] = ..., elapsed_seconds: _Optional[float] = ..., phases: _Optional[_Iterable[_Union[Phase, _Mapping]]] = ..., first_login: _Optional[bool] = ..., after_update: _Optional[bool] = ..., contributors: _Optional[_Iterable[_Union[Contributor, _Mapping]]] = ...) -> None: ...

class SigninEnd(_message.Message):
    __slots__ = ("boot_id", "session_id", "ended_at", "reason")
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    boot_id: str
    session_id: str
    ended_at: float
    reason: EndReason
    def __init__(self, boot_id: _Optional[str] = ..., session_id: _Optional[str] = ..., ended_at: _Optional[float] = ..., reason: _Optional[_Union[EndReason, str]] = ...) -> None: ...

class AppUsage(_message.Message):
    __slots__ = ("interval_start", "interval_seconds", "app", "launches", "running_seconds", "foreground_seconds", "cpu_seconds", "peak_rss_bytes", "crashes")
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    LAUNCHES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FOREGROUND_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CRASHES_FIELD_NUMBER: _ClassVar[int]
    interval_start: float
    interval_seconds: float
    app: str
    launches: int
    running_seconds: float
    foreground_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    crashes: int
    def __init__(self, interval_start: _Optional[float] = ..., interval_seconds: _Optional[float] = ..., app: _Optional[str] = ..., launches: _Optional[int] = ..., running_seconds: _Optional[float] = ..., foreground_seconds: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., peak_rss_bytes: _Optional[int] = ..., crashes: _Optional[int] = ...) -> None: ...

class AgentHealth(_message.Message):
    __slots__ = ("dropped", "parse_errors", "spool_bytes", "clock_skew_seconds", "rejected")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    PARSE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    SPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SKEW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    dropped: _containers.ScalarMap[str, int]
    parse_errors: int
    spool_bytes: int
    clock_skew_seconds: float
    rejected: int
    def __init__(self, dropped: _Optional[_Mapping[str, int]] = ..., parse_errors: _Optional[int] = ..., spool_bytes: _Optional[int] = ..., clock_skew_seconds: _Optional[float] = ..., rejected: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("seq", "observed_at", "boot", "signin", "app_usage", "health", "signin_end")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    BOOT_FIELD_NUMBER: _ClassVar[int]
    SIGNIN_FIELD_NUMBER: _ClassVar[int]
    APP_USAGE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SIGNIN_END_FIELD_NUMBER: _ClassVar[int]
    seq: int
    observed_at: float
    boot: Boot
    signin: Signin
    app_usage: AppUsage
    health: AgentHealth
    signin_end: SigninEnd
    def __init__(self, seq: _Optional[int] = ..., observed_at: _Optional[float] = ..., boot: _Optional[_Union[Boot, _Mapping]] = ..., signin: _Optional[_Union[Signin, _Mapping]] = ..., app_usage: _Optional[_Union[AppUsage, _Mapping]] = ..., health: _Optional[_Union[AgentHealth, _Mapping]] = ..., signin_end: _Optional[_Union[SigninEnd, _Mapping]] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("device_id", "facts", "records", "sent_at")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    facts: DeviceFacts
    records: _containers.RepeatedCompositeFieldContainer[Record]
    sent_at: float
    def __init__(self, device_id: _Optional[str] = ..., facts: _Optional[_Union[DeviceFacts, _Mapping]] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., sent_at: _Optional[float] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "server_time", "settings")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    server_time: float
    settings: Settings
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., server_time: _Optional[float] = ..., settings: _Optional[_Union[Settings, _Mapping]] = ...) -> None: ...
