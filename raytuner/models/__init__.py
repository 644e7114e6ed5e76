"""Model registry: ``create_model(name, input_shape, num_classes, **settings)``.

Every model factory takes the input shape ``(C, H, W)``, the number of classes and plain keyword
settings (checked by a pydantic settings class), and returns an ``nn.Module``. A user's own model
is named by import path, ``"pkg.module:factory"``, with the same signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.config._pydantic import validate_section
from raytuner.errors import ConfigError
from raytuner.models._registry import MODELS
from raytuner.models.user import check_user_model_settings

if TYPE_CHECKING:  # torch loads when a model is built, not when settings are validated
    from torch import nn


def list_models() -> list[str]:
    """Names of the registered models."""
    return MODELS.names()


def validate_model_settings(name: str, settings: dict[str, Any], *, path: str = "model") -> dict:
    """Check ``settings`` against the model's settings class; returns them with defaults filled."""
    entry = MODELS.get(name, path=f"{path}.name")
    if entry.settings is None:  # user model: its own signature is the contract
        return check_user_model_settings(entry.factory, name, settings, path=path)

    return validate_section(entry.settings, settings, path=path).model_dump()


def create_model(
    name: str, input_shape: tuple[int, ...], num_classes: int, **settings: Any
) -> nn.Module:
    """Build the model ``name`` for inputs of ``input_shape`` and ``num_classes`` outputs."""
    from torch import nn

    entry = MODELS.get(name, path="model.name")
    if entry.settings is not None:
        settings = validate_model_settings(name, settings)
    model = entry.factory(tuple(input_shape), int(num_classes), **settings)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model factory {name!r} returned {type(model).__name__}, "
                          "expected a torch.nn.Module", path="model.name")
    return model


# Register the built-in models (imported for their side effect).
from raytuner.models import cnn, mlp, resnet  # noqa: E402,F401

__all__ = ["MODELS", "create_model", "list_models", "validate_model_settings"]
