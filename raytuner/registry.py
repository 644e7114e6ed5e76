"""Name -> factory registries for every named choice, and user import paths.

The way timm's ``register_model`` / ``create_model`` / ``list_models`` work: a built-in choice
registers itself where it is defined (``@SCHEDULERS.register("asha")``), the schema takes its
allowed names from the registry (:meth:`Registry.field`), and a user names their own code by
import path (``"package.module:attr"``). A registry entry may pair its factory with a pydantic
settings class, so the experiment file is validated against exactly the keyword settings the
factory accepts (no ``**kwargs`` that swallow typos).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, PlainValidator
from pydantic_core import PydanticCustomError

from raytuner.errors import ConfigError, UserCodeMissing

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered factory and the settings model its keyword arguments are checked with."""

    name: str
    factory: T
    settings: type[BaseModel] | None


class Registry(Generic[T]):
    """A named collection of factories, e.g. every model raytuner can build."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, settings: type[BaseModel] | None = None
    ) -> Callable[[T], T]:
        """Decorator: register ``factory`` under ``name`` with its settings model."""

        def decorator(factory: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, factory, settings)
            return factory

        return decorator

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def choices(self) -> tuple[str, ...]:
        """Registered names in the order they were registered (the order error messages list)."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str, *, path: str | None = None) -> Entry[T]:
        """The entry for ``name``; an unknown name is a ConfigError listing the known ones."""
        if name in self._entries:
            return self._entries[name]
        if is_import_path(name):
            try:
                return Entry(name, import_object(name, path=path), None)
            except UserCodeMissing as exc:
                if not _DEFER_MISSING.get():
                    raise
                return Entry(name, _missing_factory(exc), None)
        raise ConfigError(
            f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"
            " (or a 'package.module:attr' import path)",
            path=path,
        )

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered as ``name``."""
        return self.get(name).factory(*args, **kwargs)  # type: ignore[operator]

    def field(self) -> Any:
        """A pydantic field type accepting exactly the registered names.

        Checked at validation time, so a name registered after the schema was imported counts
        too; the error is the one a ``Literal`` gives ("unknown value; expected one of: ...").
        """

        def check(value: Any) -> str:
            if isinstance(value, str) and value in self._entries:
                return value
            names = [repr(n) for n in self.choices()]
            expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
            raise PydanticCustomError("literal_error", "Input should be {expected}",
                                      {"expected": expected})

        return Annotated[str, PlainValidator(check, json_schema_input_type=str)]


#: inside :func:`user_code_optional`: an import path whose module is absent resolves to a
#: factory that raises when called, so reading a run folder needs none of the user's code
_DEFER_MISSING = contextvars.ContextVar("raytuner_defer_missing_user_code", default=False)


@contextlib.contextmanager
def user_code_optional() -> Iterator[None]:
    """Inside the block, an import path whose module cannot be imported does not fail the
    lookup; calling its factory raises the :class:`UserCodeMissing` error instead. For reading
    a run folder, whose experiment was validated, user code included, when it ran."""
    token = _DEFER_MISSING.set(True)
    try:
        yield
    finally:
        _DEFER_MISSING.reset(token)


def _missing_factory(error: UserCodeMissing) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise UserCodeMissing(str(error))

    return missing


def is_import_path(name: str) -> bool:
    """True for ``"package.module:attr"`` strings that name user code."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr)


def import_object(spec: str, *, path: str | None = None) -> Any:
    """Import ``"package.module:attr"``; errors name the spec and the config key."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            # the user's module exists but one of its own imports is missing
            raise ConfigError(f"cannot import module {module_name!r} from {spec!r}: {exc}",
                              path=path) from exc
        raise UserCodeMissing(
            f"cannot import module {module_name!r} from {spec!r}: run raytuner from the folder "
            f"that holds {module_name.split('.')[0]!r} or add that folder to PYTHONPATH",
            path=path) from exc
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} from {spec!r}: {exc}",
                          path=path) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}", path=path)
        obj = getattr(obj, part)
    return obj
