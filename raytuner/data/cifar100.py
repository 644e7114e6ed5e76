"""CIFAR-100 through ``torchvision.datasets.CIFAR100``: 3x32x32 images, 100 classes."""

from __future__ import annotations

from raytuner.data.vision import VisionSet, register_vision_set

# Per-channel mean and std of the training split, as published and widely used.
SPEC = VisionSet(name="cifar100", tv_class="CIFAR100", shape=(3, 32, 32), num_classes=100,
                 mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762))

register_vision_set(SPEC)
