"""PromQL fragments shared by the boards.

Counters and histograms are per collector instance: sum them. Fleet-state gauges are
computed from the shared database by every instance: take ``max by`` their own labels
first (one value per series however many collectors run), then sum.
"""

from __future__ import annotations

SITE = 'site=~"$site"'
OS = 'os=~"$os"'
SITE_OS = f"{SITE}, {OS}"
REPORTING = 'state="reporting"'
SILENT = 'state="silent"'

# Bucket bounds as prometheus-client renders them: le="120.0", not le="120".
LE_SLA = 'le="120.0"'
LE_30_MIN = 'le="1800.0"'
SLA_SECONDS = 120

DEVICE_LABELS = "site, os, agent_version, state"
PER_DEVICE_LABELS = "device_id, hostname, site"

OBJECTIVE = "fleetpulse:login_sla_objective:ratio"

# The event-time window figures (collector signin_windows.py): the SLA report's own
# figures for the last 24h, 7d or 28d, per site, computed from the store.
WINDOW = 'window="$window"'
WINDOW_CHOICES = ["24h", "7d", "28d"]
WINDOW_DEFAULT = "7d"
P95 = 'quantile="0.95"'


def sel(*matchers: str) -> str:
    """A label selector; nothing at all when there is no matcher."""
    present = [m for m in matchers if m]
    return "{" + ", ".join(present) + "}" if present else ""


def devices(*matchers: str, by: str = "") -> str:
    """Enrolled devices (fleet-state gauge), counted once across collector instances."""
    inner = f"max by ({DEVICE_LABELS}) (fleetpulse_devices{sel(*matchers)})"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def per_site(metric: str, *matchers: str, by: str = "") -> str:
    """A per-site fleet-state gauge (expected, unused, in progress), once per site."""
    inner = f"max by (site) ({metric}{sel(*matchers)})"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def per_device(metric: str, *matchers: str) -> str:
    """A per-device gauge, once per device across collector instances."""
    return f"max by ({PER_DEVICE_LABELS}) ({metric}{sel(*matchers)})"


def quantile(
    q: float, histogram: str, *matchers: str, by: str = "", window: str = "$__rate_interval"
) -> str:
    labels = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({labels}) "
        f"(rate({histogram}_bucket{sel(*matchers)}[{window}])))"
    )


def increase(metric: str, *matchers: str, by: str = "", window: str = "$__range") -> str:
    agg = f"sum by ({by})" if by else "sum"
    return f"{agg} (increase({metric}{sel(*matchers)}[{window}]))"


def top_named(counter: str, n: int, window: str = "$__range") -> str:
    """The ``n`` (kind, name) series of a named-seconds counter (sign-in contributors,
    boot culprits) that grew most over ``window``, summed over collector instances."""
    return f"topk({n}, {increase(counter, by='kind, name', window=window)})"


def rate(metric: str, *matchers: str, by: str = "", window: str = "$__rate_interval") -> str:
    agg = f"sum by ({by})" if by else "sum"
    return f"{agg} (rate({metric}{sel(*matchers)}[{window}]))"


def within_sla(histogram: str, *matchers: str, by: str = "", window: str = "$__range") -> str:
    """Share of observations at or under 120 s."""
    return (
        f"{increase(histogram + '_bucket', LE_SLA, *matchers, by=by, window=window)}\n/\n"
        f"{increase(histogram + '_count', *matchers, by=by, window=window)}"
    )


def at_least_30_min(histogram: str, *matchers: str, by: str = "", window: str = "$__range") -> str:
    """Observations of 1800 s or more: all of them minus those under the 1800 s bound."""
    return (
        f"round(\n  {increase(histogram + '_count', *matchers, by=by, window=window)}\n"
        f"  -\n  {increase(histogram + '_bucket', LE_30_MIN, *matchers, by=by, window=window)}"
        "\n)"
    )


def mean(histogram: str, *matchers: str, by: str = "", window: str = "$__range") -> str:
    return (
        f"{increase(histogram + '_sum', *matchers, by=by, window=window)}\n/\n"
        f"{increase(histogram + '_count', *matchers, by=by, window=window)}"
    )


def window_count(name: str, *matchers: str) -> str:
    """A window count (signins, known_duration, within_slo, long) of the selected sites:
    once per site across instances, then summed (sites partition the sign-ins)."""
    return per_site(f"fleetpulse_login_window_{name}", WINDOW, *matchers)


def known_share(numerator: str, known: str) -> str:
    """``numerator / known`` with no value where nothing has a known duration (unknown,
    as the report's null), not NaN."""
    return f"{numerator}\n/\n({known} > 0)"


def window_within_slo(*matchers: str) -> str:
    """The share within the SLO by event time: within / known duration, as the report."""
    return known_share(
        window_count("within_slo", *matchers), window_count("known_duration", *matchers)
    )
