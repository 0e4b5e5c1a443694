"""Namespaces built from modules' ``__all__``: a name is registered once, where it is defined."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from types import ModuleType


def export_all(namespace: MutableMapping[str, object], modules: Iterable[ModuleType]
               ) -> tuple[str, ...]:
    """Binds every name of each module's ``__all__`` in ``namespace`` (a package's
    ``globals()``) and returns them, sorted: the package's ``__all__``. A name exported by two
    of the modules raises ``ValueError``."""
    owners: dict[str, str] = {}
    for module in modules:
        for name in module.__all__:
            if name in owners and namespace.get(name) is not getattr(module, name):
                raise ValueError(
                    f"{name}: exported by both {owners[name]} and {module.__name__}"
                )
            owners.setdefault(name, module.__name__)
            namespace[name] = getattr(module, name)
    return tuple(sorted(owners))
