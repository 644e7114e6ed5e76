"""MNIST through ``torchvision.datasets.MNIST``: 1x28x28 images, 10 classes."""

from __future__ import annotations

from raytuner.data.vision import VisionSet, register_vision_set

# Per-channel mean and std of the training split, as published and widely used.
SPEC = VisionSet(name="mnist", tv_class="MNIST", shape=(1, 28, 28), num_classes=10,
                 mean=(0.1307,), std=(0.3081,), augmentations=("crop",))

register_vision_set(SPEC)
