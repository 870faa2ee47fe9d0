"""Positional constructors for frozen slots dataclasses that skip the generated
``__init__``'s ``object.__setattr__`` per field (about half its time, measured in
docs/benchmarks.md "Ingest worker CPU per record"), for decoders that build many small
records. The instance is the one ``cls(*values)`` builds: same type, same slots, still
frozen and hashable."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def positional(cls: type[_T]) -> Callable[..., _T]:
    """A function of every field of ``cls`` in declaration order (no defaults) returning
    the instance ``cls(*values)`` would. ``cls`` must be a frozen slots dataclass whose
    fields all take part in ``__init__`` and which has no ``__post_init__`` (TypeError
    otherwise: the shortcut would skip what its ``__init__`` does)."""
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls) if params else ()  # type: ignore[arg-type]
    if (
        not params
        or not params.frozen
        or "__slots__" not in cls.__dict__
        or hasattr(cls, "__post_init__")
        or not all(f.init for f in fields)
    ):
        raise TypeError(f"{cls.__name__} is not a frozen slots dataclass of init fields only")
    names = [f.name for f in fields]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    scope.update({f"_set_{n}": cls.__dict__[n].__set__ for n in names})
    body = "".join(f"    _set_{n}(o, {n})\n" for n in names)
    source = f"def build({', '.join(names)}):\n    o = _new(_cls)\n{body}    return o\n"
    exec(source, scope)  # the source is made of field names only
    build: Callable[..., _T] = scope["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build
