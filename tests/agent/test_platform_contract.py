"""Every platform backend offers exactly the contract of agent/platform/__init__.py,
with the same signatures, and each module imports on any OS."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from fleetpulse.agent.platform import _linux, _macos, _windows

CONTRACT = ("boot_record", "signin_observations", "crashes", "foreground_app", "os_facts")
BACKENDS = (_linux, _windows, _macos)


def public_functions(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and name in CONTRACT
    }


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda m: m.__name__)
def test_backend_has_every_contract_function(backend: ModuleType):
    assert public_functions(backend) == set(CONTRACT)


@pytest.mark.parametrize("name", CONTRACT)
def test_signatures_are_identical_across_backends(name: str):
    reference = inspect.signature(getattr(_linux, name))
    for backend in (_windows, _macos):
        assert inspect.signature(getattr(backend, name)) == reference, backend.__name__


def test_the_contract_is_what_the_package_exports():
    import fleetpulse.agent.platform as platform

    for name in CONTRACT:
        assert callable(getattr(platform, name))
