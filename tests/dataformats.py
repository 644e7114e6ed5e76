"""Writers of the real on-disk formats torchvision reads: MNIST idx files (plain or gzipped),
CIFAR-10/100 pickled batches, image folders of PNGs."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte idx file: magic 0x0000 08 <ndim>, big-endian dims, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 + array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def class_images(labels: np.ndarray, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """uint8 images whose brightness depends on the class (so labels are checkable)."""
    rng = np.random.default_rng(seed)
    base = (labels.reshape(-1, *([1] * len(shape))) * 20 + 10).astype(np.int64)
    return np.clip(base + rng.integers(0, 10, size=(len(labels), *shape)), 0, 255
                   ).astype(np.uint8)


def write_mnist(root: Path, folder: str = "MNIST", *, per_class: int = 6, gz: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Write MNIST-format files to ``root/<folder>/raw``; returns the training images/labels."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_y = np.tile(np.arange(10), per_class).astype(np.uint8)
    test_y = np.arange(10).astype(np.uint8)
    train_x = class_images(train_y, (28, 28), seed=1)
    test_x = class_images(test_y, (28, 28), seed=2)
    arrays = (train_x, train_y, test_x, test_y)
    for name, array in zip(MNIST_FILES, arrays, strict=True):
        data = idx_bytes(array)
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / name).write_bytes(data)
    return train_x, train_y


def _pickle(path: Path, obj: dict) -> str:
    path.write_bytes(pickle.dumps(obj))
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar10(folder: Path, *, per_class: int = 5) -> tuple[dict[str, str], np.ndarray,
                                                                np.ndarray]:
    """CIFAR-10 python batches in ``folder`` (``cifar-10-batches-py``): five training batches,
    a test batch, ``batches.meta``. Returns ({file: md5}, train images HWC, train labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.tile(np.arange(10), per_class)
    images = class_images(labels, (32, 32, 3), seed=3)
    images[:, :, :, 0] = 10  # R, G, B planes are constant: the channel order is checkable
    images[:, :, :, 1] = 20
    md5s = {}
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        rows = images[part].transpose(0, 3, 1, 2).reshape(len(part), -1)  # CIFAR rows: RRR.GGG.BBB
        md5s[f"data_batch_{i}"] = _pickle(folder / f"data_batch_{i}", {
            "batch_label": f"training batch {i} of 5", "data": rows,
            "labels": labels[part].tolist(), "filenames": [f"{j}.png" for j in part]})
    test = class_images(np.arange(10), (3 * 32 * 32,), seed=4)
    md5s["test_batch"] = _pickle(folder / "test_batch", {"data": test,
                                                          "labels": list(range(10))})
    md5s["batches.meta"] = _pickle(folder / "batches.meta", {
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                        "horse", "ship", "truck"], "num_cases_per_batch": 10})
    return md5s, images, labels


def write_cifar100(folder: Path, *, per_class: int = 3) -> dict[str, str]:
    """CIFAR-100 python files in ``folder`` (``cifar-100-python``): train, test, meta."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.tile(np.arange(100), per_class)
    rows = class_images(labels % 10, (3 * 32 * 32,), seed=5)
    md5s = {"train": _pickle(folder / "train", {
        "data": rows, "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist()})}
    md5s["test"] = _pickle(folder / "test", {
        "data": rows[:100], "fine_labels": list(range(100)), "coarse_labels": [0] * 100})
    md5s["meta"] = _pickle(folder / "meta", {
        "fine_label_names": [f"class{i}" for i in range(100)],
        "coarse_label_names": [f"super{i}" for i in range(20)]})
    return md5s


def use_checksums(monkeypatch, cls, md5s: dict[str, str]) -> None:
    """Give torchvision's CIFAR class the checksums of the files a test wrote.

    torchvision verifies CIFAR files against the MD5s of the published archives, which no test
    can reproduce without the real data; everything else (file layout, unpickling, decoding)
    stays torchvision's own code.
    """
    monkeypatch.setattr(cls, "train_list", [[n, md5s[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5s[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5s[cls.meta["filename"]]})


def write_image_folder(root: Path, classes: dict[str, tuple[int, int, int]], *, per_class: int,
                       size: tuple[int, int] = (12, 10)) -> None:
    """PNG files in ``root/<class>/``; each class has its own colour plus a little noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.integers(-5, 6, size=(*size[::-1], 3)),
                             0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="RGB").save(root / name / f"{i:03d}.png")
