"""A user's model by import path: ``model.name: "pkg.module:factory"``.

``factory(input_shape, num_classes, **settings)`` returns an ``nn.Module``; the settings are the
other keys of the ``model`` section (searchable like any key). They are checked against the
factory's signature, so a typo is an error naming ``model.<key>``, unless the factory takes
``**kwargs`` (then it is the factory's job to refuse unknown settings).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from raytuner.errors import ConfigError

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_user_model_settings(factory: Any, name: str, settings: dict[str, Any],
                              *, path: str = "model") -> dict[str, Any]:
    """``settings`` unchanged when ``factory`` accepts them; a ConfigError otherwise."""
    if not callable(factory):
        raise ConfigError(f"{name!r} is a {type(factory).__name__}, not a model factory; expected "
                          "factory(input_shape, num_classes, **settings)", path=f"{path}.name")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature: nothing to check
        return dict(settings)
    params = list(signature.parameters.values())
    kinds = {p.kind for p in params}
    positional = [p for p in params if p.kind in _POSITIONAL]
    if len(positional) < 2 and inspect.Parameter.VAR_POSITIONAL not in kinds:
        raise ConfigError(f"model factory {name!r} takes {signature}; expected "
                          "factory(input_shape, num_classes, **settings)", path=f"{path}.name")
    accepted = [p for p in positional[2:] if p.kind != inspect.Parameter.POSITIONAL_ONLY]
    accepted += [p for p in params if p.kind == inspect.Parameter.KEYWORD_ONLY]
    names = [p.name for p in accepted]
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        for key in settings:
            if key not in names:
                message = f"unknown setting {key!r} for model {name!r}"
                close = difflib.get_close_matches(key, names, n=1)
                if close:
                    message += f" (did you mean {close[0]!r}?)"
                message += f"; its factory accepts: {', '.join(names) or 'no settings'}"
                raise ConfigError(message, path=f"{path}.{key}")
    for param in accepted:
        if param.default is inspect.Parameter.empty and param.name not in settings:
            raise ConfigError(f"model {name!r} needs this setting (its factory has no default)",
                              path=f"{path}.{param.name}")
    return dict(settings)
