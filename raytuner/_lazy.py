"""Package ``__init__`` files that name their public parts and load them on first use.

A package's ``__init__`` runs whenever any of its modules is imported; importing nothing there
keeps ``import raytuner.trial.optim`` from pulling in the training loop (and Ray, torch or the
config) before it is needed, and keeps the import order free of partly initialized packages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose public ``names`` map to the
    submodule (relative to the package) that defines each."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{names[name]}")
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
