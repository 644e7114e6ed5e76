"""CIFAR-10 through ``torchvision.datasets.CIFAR10``: 3x32x32 images, 10 classes."""

from __future__ import annotations

from raytuner.data.vision import VisionSet, register_vision_set

# Per-channel mean and std of the training split, as published and widely used.
SPEC = VisionSet(name="cifar10", tv_class="CIFAR10", shape=(3, 32, 32), num_classes=10,
                 mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))

register_vision_set(SPEC)
