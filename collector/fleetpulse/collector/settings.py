"""Settings the collector hands to agents in every ack: fleet defaults (site ``*``) and
per-site overrides, set with ``fleetpulse-collector settings set`` and kept in the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from fleetpulse.collector.errors import ConfigError
from fleetpulse.contract.setting_ranges import RANGES

FLEET = "*"


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """What agents are told; 0 / empty means "not set centrally": agents keep their own."""

    report_interval_seconds: int = 0
    app_allowlist: tuple[str, ...] = ()
    signin_slo_seconds: float = 0.0


def _number(key: str, text: str) -> float:
    """``text`` as a number within the range agents check the same setting against
    (fleetpulse.contract.setting_ranges.RANGES)."""
    value = float(text)
    if problem := RANGES[key].problem(value):
        raise ValueError(problem)
    return value


def _interval(text: str) -> int:
    return int(_number("report_interval_seconds", text))


def _slo(text: str) -> float:
    return _number("signin_slo_seconds", text)


def _apps(text: str) -> tuple[str, ...]:
    return tuple(sorted({a.strip().casefold() for a in text.split(",") if a.strip()}))


PARSERS = {
    "report_interval_seconds": _interval,
    "signin_slo_seconds": _slo,
    "app_allowlist": _apps,
}


def parse_setting(key: str, value: str) -> object:
    """The typed value of one setting, or ConfigError naming what is wrong."""
    parser = PARSERS.get(key)
    if parser is None:
        raise ConfigError(f"unknown setting {key!r} (known: {', '.join(sorted(PARSERS))})")
    try:
        return parser(value)
    except ValueError as exc:
        raise ConfigError(f"{key}={value!r}: {exc}") from None


@dataclass
class SiteSettings:
    default: AgentSettings = field(default_factory=AgentSettings)
    per_site: dict[str, AgentSettings] = field(default_factory=dict)

    def for_site(self, site: str) -> AgentSettings:
        return self.per_site.get(site, self.default)

    def load(self, rows: Sequence[tuple[str, str, str]], base: AgentSettings | None = None) -> None:
        """Replaces the settings with stored ``(site, key, value)`` rows over ``base``;
        a stored value that no longer parses is ignored (the previous layer stands)."""
        default = base or AgentSettings()
        by_site: dict[str, dict[str, object]] = {}
        for site, key, value in rows:
            try:
                by_site.setdefault(site, {})[key] = parse_setting(key, value)
            except ConfigError:
                continue
        default = replace(default, **by_site.pop(FLEET, {}))  # type: ignore[arg-type]
        self.default = default
        self.per_site = {
            site: replace(default, **values)  # type: ignore[arg-type]
            for site, values in by_site.items()
        }
