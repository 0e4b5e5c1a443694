"""Namespaces built from modules' ``__all__`` (a name is registered once, where it is defined),
and the one vocabulary of loss families."""

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


def family_of(fn) -> str:
    """The family of a public function: the module or family package of ``jaxseg_losses`` that
    defines it (``"pixelwise"``, ``"region"``, ``"lovasz"``, ``"boundary"``, ``"contour"``,
    ``"topology"``, ``"adjacency"``, ``"recipes"``, ...), the one family vocabulary of the
    packages, the CLI's ``list``, the documentation pages and the tests' case table."""
    module = getattr(fn, "func", fn).__module__  # a functools.partial: its function's
    if not module.startswith("jaxseg_losses."):
        raise ValueError(f"family_of: {fn!r} is not defined in jaxseg_losses")
    return module.removeprefix("jaxseg_losses.").split(".")[0]
