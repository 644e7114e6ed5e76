"""Models: every registered model on every data set's input shape, the cnn's channel lists
and width multiplier, the small-image ResNet stem, and a user's model by import path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from raytuner.config import validate_experiment
from raytuner.errors import ConfigError
from raytuner.models import create_model, list_models, validate_model_settings

#: digits, MNIST / Fashion-MNIST, CIFAR
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def test_registry_lists_the_builtin_models() -> None:
    assert set(list_models()) >= {"mlp", "cnn", "resnet"}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list_models())
def test_model_forward_and_backward_on_every_input_shape(name: str, shape) -> None:
    torch.manual_seed(0)
    model = create_model(name, shape, 10)
    x = torch.randn(4, *shape)
    logits = model(x)
    assert logits.shape == (4, 10)
    nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_cnn_channel_list_sets_each_block_and_the_depth() -> None:
    settings = validate_model_settings("cnn", {"channels": [8, 12, 20], "pool": "avg"})
    assert "depth" not in settings  # derived from the list, so a search can change lists
    model = create_model("cnn", (1, 28, 28), 10, **settings)
    assert [c.out_channels for c in _convs(model)] == [8, 12, 20]
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 3


def test_cnn_width_multiplier_scales_every_block() -> None:
    narrow = create_model("cnn", (3, 32, 32), 10, depth=3, channels=16, width_multiplier=0.5)
    assert [c.out_channels for c in _convs(narrow)] == [8, 16, 32]
    wide = create_model("cnn", (3, 32, 32), 10, channels=[16, 16], width_multiplier=2.0)
    assert [c.out_channels for c in _convs(wide)] == [32, 32]


@pytest.mark.parametrize(("settings", "words"), [
    ({"channels": [8, 16], "depth": 3}, "contradicts"),
    ({"channels": []}, "empty"),
    ({"channels": [8, 2000]}, "between 1 and 1024"),
    ({"channels": [8] * 7}, "at most 6"),
    ({"width_multiplier": 0}, "greater than or equal"),
])
def test_cnn_bad_channel_settings_are_config_errors(settings, words) -> None:
    with pytest.raises(ConfigError, match=words):
        validate_model_settings("cnn", settings)


def test_cnn_search_can_switch_between_channel_lists_of_different_lengths() -> None:
    exp = validate_experiment({
        "name": "t", "model": {"name": "cnn", "channels": [8, 16]},
        "search": {"space": {"model.channels": {"choice": [[8], [8, 16], [8, 16, 32]]}}}})
    with pytest.raises(ConfigError, match="contradicts"):  # depth cannot be searched with a list
        validate_experiment({**exp.to_dict(), "search": {"space": {
            "model.depth": {"int": [1, 3]}}}})


def test_resnet_has_a_small_image_stem_and_takes_the_data_channels() -> None:
    for arch, blocks in (("resnet18", [2, 2, 2, 2]), ("resnet34", [3, 4, 6, 3])):
        model = create_model("resnet", (1, 28, 28), 10, arch=arch)
        assert model.conv1.in_channels == 1
        assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
        assert isinstance(model.maxpool, nn.Identity)
        assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == blocks
    with_dropout = create_model("resnet", (3, 32, 32), 100, dropout=0.2)
    assert isinstance(with_dropout.fc[0], nn.Dropout) and with_dropout.fc[1].out_features == 100
    with pytest.raises(ConfigError, match="resnet18, resnet34|'resnet18'"):
        validate_model_settings("resnet", {"arch": "resnet50"})


# -- a user's model by import path -----------------------------------------------------------


def _exp(model: dict, **extra):
    return validate_experiment({"name": "t", "model": model, **extra})


def test_user_model_settings_reach_the_factory() -> None:
    exp = _exp({"name": "userpkg.models:tiny_mlp", "hidden": 7})
    model = create_model(exp.model_name, (1, 8, 8), 10, **exp.model_settings)
    assert model[1].out_features == 7


def test_user_model_typo_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="did you mean 'hidden'") as info:
        _exp({"name": "userpkg.models:tiny_mlp", "hiden": 7})
    assert "model.hiden:" in str(info.value) and "hidden, dropout" in str(info.value)


def test_user_model_checks_in_the_search_space_too() -> None:
    with pytest.raises(ConfigError) as info:
        _exp({"name": "userpkg.models:tiny_mlp"},
             search={"space": {"model.width": {"choice": [8, 16]}}})
    assert "search.space.model.width" in str(info.value)
    _exp({"name": "userpkg.models:tiny_mlp"},
         search={"space": {"model.hidden": {"choice": [8, 16]}}})


def test_user_model_required_settings_kwargs_and_bad_factories() -> None:
    with pytest.raises(ConfigError, match="needs this setting") as info:
        _exp({"name": "userpkg.models:needs_width"})
    assert "model.width:" in str(info.value)
    _exp({"name": "userpkg.models:needs_width", "width": 4})
    _exp({"name": "userpkg.models:anything", "whatever": 1, "else": "x"})  # **settings: its job
    with pytest.raises(ConfigError, match="expected factory\\(input_shape, num_classes"):
        _exp({"name": "userpkg.models:one_argument"})
    with pytest.raises(ConfigError, match="returned str"):
        create_model("userpkg.models:not_a_module", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="cannot import module"):
        _exp({"name": "userpkg.nothere:f"})
