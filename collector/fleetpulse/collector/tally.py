"""Histograms and counters for the ingest path, kept as plain lists and dicts.

prometheus-client's Histogram and Counter take a lock for every ``observe``/``inc`` and walk
the buckets in Python (prometheus_client/metrics.py); at ten or more observations per
report that was a tenth of the collector's work per report. A tally is written by one
thread (the event loop) without a lock: an observation is a ``bisect`` into the bucket
bounds and two additions. The scrape thread reads a copy of each series (``list()`` of a
list or dict is one C call, atomic under the GIL), so a scrape never sees a count without
its sum. The exposition is the one prometheus-client gives: ``_bucket{le=...}`` cumulative,
``_count``, ``_sum``; counters as ``_total`` (OpenMetrics text format, Prometheus docs
"Metric types").
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]
Relabel = Callable[[Labels], Labels]


class HistogramTally:
    """One histogram family. ``buckets``: finite upper bounds, ascending (``+Inf`` added)."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str], buckets: Sequence[float]):
        self.name = name
        self.doc = doc
        self.labelnames = list(labelnames)
        self.bounds = [float(b) for b in buckets] + [math.inf]
        self._le = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]  # the client's own le format
        # per label values: a count per bucket (not cumulative), then the sum
        self.series: dict[Labels, list[float]] = {}

    def touch(self, labels: Labels) -> list[float]:
        """The series of ``labels``, created at zero if new."""
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(self.bounds) + 1)
        return s

    def observe(self, labels: Labels, value: float) -> None:
        s = self.series.get(labels) or self.touch(labels)
        s[bisect_left(self.bounds, value)] += 1
        s[-1] += value

    def take(self) -> dict[Labels, list[float]]:
        """The series observed since the last ``take``, emptied (for a tally kept in another
        process and merged into this one's, see ``merge``)."""
        series, self.series = self.series, {}
        return series

    def merge(self, series: dict[Labels, list[float]], relabel: Relabel | None = None) -> None:
        """Adds series ``take``n from a tally with the same buckets; ``relabel`` maps each
        label tuple first."""
        for labels, counts in series.items():
            s = self.touch(relabel(labels) if relabel else labels)
            for i, n in enumerate(counts):
                if n:
                    s[i] += n

    def collect(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        for labels, counts in sorted(list(self.series.items())):
            snapshot = list(counts)
            cumulative = 0.0
            buckets = []
            for le, n in zip(self._le, snapshot, strict=False):
                cumulative += n
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, snapshot[-1])
        return family


class CounterTally:
    """One counter family (exposed as ``<name>_total``)."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str]):
        self.name = name
        self.doc = doc
        self.labelnames = list(labelnames)
        self.series: dict[Labels, float] = {}

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        self.series[labels] = self.series.get(labels, 0.0) + amount

    def touch(self, labels: Labels) -> None:
        self.series.setdefault(labels, 0.0)

    def take(self) -> dict[Labels, float]:
        """The series counted since the last ``take``, emptied (see HistogramTally.take)."""
        series, self.series = self.series, {}
        return series

    def merge(self, series: dict[Labels, float], relabel: Relabel | None = None) -> None:
        """Adds series ``take``n from another tally; ``relabel`` maps each label tuple first."""
        for labels, value in series.items():
            key = relabel(labels) if relabel else labels
            self.series[key] = self.series.get(key, 0.0) + value

    def collect(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labelnames)
        for labels, value in sorted(list(self.series.items())):
            family.add_metric(list(labels), value)
        return family


def collect_all(tallies: Sequence[HistogramTally | CounterTally]) -> Iterator[Metric]:
    for t in tallies:
        yield t.collect()
