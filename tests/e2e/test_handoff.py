"""The MSI's hand-off (STATE/enroll.ini, written by msiexec's WriteIniValues) applied at the
service's first start against a live collector: enrolment, the token removed from disk,
reinstalls that keep the device, and settings errors that keep the token for a retry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetpulse.agent.errors import ConfigError
from fleetpulse.agent.install.handoff import HANDOFF, apply_handoff
from fleetpulse.agent.install.installer import config_template
from tests.e2e.test_install import _devices, _token
from tests.procs import start_collector


def _ini(state: Path, **values: str) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    keys = ("collector", "token", "token_file", "ca_cert", "client_cert", "client_key",
            "insecure")  # fmt: skip
    # what WriteIniValues writes: every key, empty when the property was not given
    text = "[enroll]\r\n" + "".join(f"{k}={values.get(k, '')}\r\n" for k in keys)
    path = state / HANDOFF
    path.write_bytes(text.encode("cp1252"))
    return path


def test_first_start_enrolls_and_leaves_no_token(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        token = _token(c)
        token_file = tmp_path / "deploy" / "token.txt"
        token_file.parent.mkdir()
        token_file.write_text(token + "\n")
        state = tmp_path / "ProgramData" / "fleetpulse"
        ini = _ini(state, collector=c.grpc, token_file=str(token_file))

        done = apply_handoff(state, config_template=config_template)
        assert done is not None and done.startswith("enrolled as ")
        creds = json.loads((state / "credentials.json").read_text())
        assert creds["collector"] == c.grpc and creds["site"] == "hq"
        assert not token_file.exists()
        assert "token" not in ini.read_text()
        assert f"collector={c.grpc}" in ini.read_text()
        assert "# report_interval_seconds = 60.0" in (state / "config.toml").read_text()
        for path in state.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path

        # an upgrade or repair: the same collector, a token again: the device is kept
        _ini(state, collector=c.grpc, token=_token(c))
        again = apply_handoff(state)
        assert again == f"kept the credential of device {creds['device_id']}"
        assert "token" not in (state / HANDOFF).read_text()
        assert len(_devices(c)) == 1

        # reinstalled with no properties at all (an upgrade): nothing to do, nothing lost
        _ini(state)
        assert apply_handoff(state) == f"kept the credential of device {creds['device_id']}"
        assert json.loads((state / "credentials.json").read_text()) == creds
    finally:
        c.stop()


def test_token_property_is_removed_once_used(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        token = _token(c)
        state = tmp_path / "state"
        ini = _ini(state, collector=c.grpc, token=token)
        assert (apply_handoff(state) or "").startswith("enrolled as ")
        assert token not in ini.read_text()
    finally:
        c.stop()


def test_bad_settings_keep_the_token_for_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _ini(state, token="fpt_abc")
    with pytest.raises(ConfigError, match="a token but no collector"):
        apply_handoff(state)
    assert "token=fpt_abc" in (state / HANDOFF).read_text()

    _ini(state, collector="127.0.0.1:1")
    with pytest.raises(ConfigError, match="not enrolled and no TOKEN or TOKENFILE given"):
        apply_handoff(state)

    _ini(state, collector="127.0.0.1:1", token="fpt_abc", client_cert=str(tmp_path / "c.pem"))
    with pytest.raises(ConfigError, match="CLIENTCERT and CLIENTKEY go together"):
        apply_handoff(state)
    assert "token=fpt_abc" in (state / HANDOFF).read_text()


def test_no_handoff_file_means_nothing_to_do(tmp_path: Path) -> None:
    assert apply_handoff(tmp_path) is None
