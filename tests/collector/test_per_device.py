from __future__ import annotations

import gzip

from prometheus_client.parser import text_string_to_metric_families

from fleetpulse.collector.model import FleetState
from fleetpulse.collector.per_device import render


def test_pre_rendered_gauges_parse_escape_labels_and_skip_unknowns() -> None:
    state = FleetState(
        per_device=[
            ("d1", 'pc"01\\x', "north", 42.5, None, 1.8e9),
            ("d2", "pc\n02", "south", None, 61.0, 1.8e9 + 1),
        ]
    )
    out = render(state)
    assert gzip.decompress(out.gzipped) == out.text
    families = {f.name: f for f in text_string_to_metric_families(out.text.decode())}
    login = families["fleetpulse_device_last_login_seconds"].samples
    assert [(s.labels["hostname"], s.value) for s in login] == [('pc"01\\x', 42.5)]
    boot = families["fleetpulse_device_last_boot_seconds"].samples
    assert [(s.labels["hostname"], s.labels["site"], s.value) for s in boot] == [
        ("pc\n02", "south", 61.0)
    ]
    seen = families["fleetpulse_device_last_seen_timestamp_seconds"].samples
    assert [s.value for s in seen] == [1.8e9, 1.8e9 + 1]


def test_nothing_to_render_is_only_headers() -> None:
    out = render(FleetState())
    assert b"fleetpulse_device_last_login_seconds{" not in out.text
