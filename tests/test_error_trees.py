"""One error tree per side: every exception class a side defines derives from its root
error and is drawn, under its real parent, in the side's errors module docstring."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

from fleetpulse.agent import errors as agent_errors
from fleetpulse.collector import errors as collector_errors
from fleetpulse.contract.address import AddressError

#: a tree line: optional "│   " / "    " indents, then "├── " or "└── ", then the class name
_LINE = re.compile(r"^((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w*)\b")


def drawn_tree(module: ModuleType) -> dict[str, str | None]:
    """``{class name: drawn parent name}`` from the first block of ``module``'s docstring
    that starts with a name at column 0 (the root, parent None)."""
    doc = module.__doc__ or ""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        if not parents and not re.match(r"^[A-Z]\w*Error\b", line):
            continue  # before the tree
        if not line.strip():
            break  # the tree ends at the first blank line
        m = _LINE.match(line)
        assert m, f"not a tree line: {line!r}"
        depth = 0 if not parents else len(m.group(1)) // 4 + 1
        del stack[depth:]
        parents[m.group(2)] = stack[-1] if stack else None
        stack.append(m.group(2))
    return parents


def defined_exceptions(root_package: str) -> dict[str, type[BaseException]]:
    """Every exception class defined (not merely imported) in any module of the package."""
    package = importlib.import_module(root_package)
    modules = [package] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(package.__path__, root_package + ".")
    ]
    found: dict[str, type[BaseException]] = {}
    for module in modules:
        for obj in list(vars(module).values()):
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{obj.__qualname__}"] = obj
    return found


@pytest.mark.parametrize(
    ("package", "errors", "root"),
    [
        ("fleetpulse.agent", agent_errors, agent_errors.AgentError),
        ("fleetpulse.collector", collector_errors, collector_errors.CollectorError),
    ],
)
def test_every_exception_of_a_side_is_in_its_drawn_tree(
    package: str, errors: ModuleType, root: type[Exception]
) -> None:
    tree = drawn_tree(errors)
    assert tree[root.__name__] is None  # the root is drawn first, at the top
    found = defined_exceptions(package)
    assert len(found) >= 6  # the walk did find the side's classes
    for where, cls in found.items():
        assert issubclass(cls, root), f"{where} does not derive from {root.__name__}"
        assert cls.__module__ == errors.__name__, f"{where} is outside {errors.__name__}"
        assert cls.__name__ in tree, f"{where} is not drawn in {errors.__name__}'s docstring"
        parent = cls.__mro__[1].__name__
        if cls is not root:
            assert tree[cls.__name__] == parent, f"{where} is drawn under the wrong parent"
    # and nothing is drawn that does not exist
    assert set(tree) == {cls.__name__ for cls in found.values()}


def test_the_contract_raises_only_its_address_error() -> None:
    found = defined_exceptions("fleetpulse.contract")
    assert list(found.values()) == [AddressError]
    assert issubclass(AddressError, ValueError)  # callers may catch it as a bad value


def test_the_tree_parser_reads_depth_and_rejects_a_stray_line() -> None:
    module = ModuleType("m", "Doc.\n\nRootError  x\n├── AError\n│   └── BError\n└── CError\n")
    assert drawn_tree(module) == {
        "RootError": None,
        "AError": "RootError",
        "BError": "AError",
        "CError": "RootError",
    }
    with pytest.raises(AssertionError, match="not a tree line"):
        drawn_tree(ModuleType("m", "RootError\n├── AError\nlower case\n"))
