"""Settings the collector hands to agents in every ack (per site, defaults for all)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AgentSettings:
    report_interval_seconds: int = 60
    app_allowlist: tuple[str, ...] = ()
    signin_slo_seconds: float = 120.0


@dataclass
class SiteSettings:
    default: AgentSettings = field(default_factory=AgentSettings)
    per_site: dict[str, AgentSettings] = field(default_factory=dict)

    def for_site(self, site: str) -> AgentSettings:
        return self.per_site.get(site, self.default)
