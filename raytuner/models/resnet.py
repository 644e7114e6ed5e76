"""torchvision's ResNet-18/34 with a stem for small images.

The ImageNet stem (7x7 stride-2 convolution, then max pooling) shrinks a 32x32 image to 8x8
before the first residual stage and an 8x8 digit to 2x2; for small images the standard
change (as in the CIFAR ResNet papers) is a 3x3 stride-1 convolution and no max pooling. The
stem takes as many input channels as the data has, so 1-channel digits and MNIST work too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from raytuner.models._registry import MODELS

if TYPE_CHECKING:
    from torch import nn


class ResNetSettings(BaseModel):
    """Keyword settings of the ``resnet`` model (every one searchable as ``model.<key>``)."""

    model_config = ConfigDict(extra="forbid")

    arch: Literal["resnet18", "resnet34"] = Field("resnet18", description="torchvision ResNet")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before the classifier")
    zero_init_residual: bool = Field(
        False, description="start each residual branch at zero (its last BatchNorm weight = 0)")


@MODELS.register("resnet", settings=ResNetSettings)
def build_resnet(input_shape: tuple[int, ...], num_classes: int, *, arch: str = "resnet18",
                 dropout: float = 0.0, zero_init_residual: bool = False) -> nn.Module:
    """A randomly initialized torchvision ResNet for ``input_shape = (C, H, W)`` images."""
    # deferred: torch and torchvision are heavy; only building a ResNet needs them
    import torchvision.models
    from torch import nn

    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes,
                                              zero_init_residual=zero_init_residual)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    # The same initialization torchvision gives its own convolutions.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    if dropout > 0:
        model.fc = nn.Sequential(nn.Dropout(dropout), model.fc)
    return model
