"""Data sets: real on-disk formats loaded through the real torchvision classes, image folders,
user sets by import path, subsets, synthetic stand-ins and per-set key checks."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli
from dataformats import (
    use_checksums,
    write_cifar10,
    write_cifar100,
    write_image_folder,
    write_mnist,
)

from raytuner.config import validate_experiment
from raytuner.data import check_data_ready, dataset_present, list_datasets, load_dataset
from raytuner.data.split import stratified_split
from raytuner.data.subset import stratified_subset
from raytuner.errors import ConfigError


def data_config(**data):
    return validate_experiment({"name": "t", "data": data}).data


def test_list_datasets_has_every_builtin_set() -> None:
    assert set(list_datasets()) >= {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100",
                                    "imagefolder"}


# -- MNIST and Fashion-MNIST: idx files ------------------------------------------------------


def test_mnist_idx_files_load_normalized_with_a_stratified_split(tmp_path: Path) -> None:
    images, labels = write_mnist(tmp_path)
    cfg = data_config(name="mnist", root=str(tmp_path), download=False, val_fraction=0.2)
    bundle = load_dataset(cfg, seed=3)
    assert bundle.input_shape == (1, 28, 28) and bundle.num_classes == 10
    assert len(bundle.train_y) == 48 and len(bundle.val_y) == 12
    train_idx, val_idx = stratified_split(labels, 0.2, 3)
    assert torch.equal(bundle.train_y, torch.as_tensor(labels[train_idx], dtype=torch.int64))
    expected = (torch.as_tensor(images[val_idx]).float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(bundle.val_x[:, 0], expected, atol=1e-5)
    counts = np.bincount(bundle.val_y.numpy(), minlength=10)
    assert counts.min() >= 1 and counts.max() <= 2  # stratified: 12 of 60, every class


def test_fashion_mnist_gzipped_files_are_extracted_and_loaded(tmp_path: Path) -> None:
    write_mnist(tmp_path, "FashionMNIST", gz=True)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert not (raw / "train-images-idx3-ubyte").exists()
    cfg = data_config(name="fashion_mnist", root=str(tmp_path), download=False)
    check_data_ready(cfg)  # the .gz files count as present
    bundle = load_dataset(cfg, seed=0)
    assert (raw / "train-images-idx3-ubyte").is_file()  # extracted next to the archive
    assert bundle.input_shape == (1, 28, 28) and len(bundle.train_y) + len(bundle.val_y) == 60
    # Fashion-MNIST's own statistics, not MNIST's: the darkest class-0 pixel is 10/255.
    assert bundle.train_x.min().item() == pytest.approx((10 / 255 - 0.2860) / 0.3530, abs=1e-4)


def test_absent_set_with_download_off_says_where_to_put_which_files(tmp_path: Path) -> None:
    cfg = data_config(name="mnist", root=str(tmp_path / "empty"), download=False)
    assert not dataset_present(cfg)
    for attempt in (lambda: check_data_ready(cfg), lambda: load_dataset(cfg, 0)):
        with pytest.raises(ConfigError) as info:
            attempt()
        message = str(info.value)
        assert info.value.path == "data.root"
        assert str(tmp_path / "empty" / "MNIST" / "raw") in message
        assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
        assert "https://" in message


def test_cli_run_on_an_absent_set_exits_2_before_writing_anything(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    result = run_cli("run", str(REPO / "experiments" / "cifar10_resnet.yaml"), "--storage",
                     str(storage), "--set", f"data.root={tmp_path / 'nodata'}",
                     "--set", "data.download=false", timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cifar-10-python.tar.gz" in lines[0]
    assert str(tmp_path / "nodata" / "cifar-10-batches-py") in lines[0]
    assert not storage.exists()


def test_default_data_root_follows_raytuner_data(tmp_path: Path, monkeypatch) -> None:
    from raytuner.data.paths import data_root, default_data_root

    monkeypatch.setenv("RAYTUNER_DATA", str(tmp_path / "shared"))
    assert default_data_root() == tmp_path / "shared"
    assert data_root(data_config(name="mnist")) == (tmp_path / "shared").resolve()
    monkeypatch.delenv("RAYTUNER_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_root() == tmp_path / "cache" / "raytuner" / "data"


# -- CIFAR: pickled batches -------------------------------------------------------------------


def test_cifar10_batches_load_channels_first(tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import CIFAR10

    md5s, images, labels = write_cifar10(tmp_path / "cifar-10-batches-py")
    use_checksums(monkeypatch, CIFAR10, md5s)
    cfg = data_config(name="cifar10", root=str(tmp_path), download=False, val_fraction=0.2)
    bundle = load_dataset(cfg, seed=0)
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert len(bundle.train_y) == 40 and len(bundle.val_y) == 10
    red = (10 / 255 - 0.4914) / 0.2470
    green = (20 / 255 - 0.4822) / 0.2435
    assert torch.allclose(bundle.train_x[:, 0], torch.full_like(bundle.train_x[:, 0], red))
    assert torch.allclose(bundle.train_x[:, 1], torch.full_like(bundle.train_x[:, 1], green))
    train_idx, _ = stratified_split(labels, 0.2, 0)
    blue = (torch.as_tensor(images[train_idx, :, :, 2]).float() / 255 - 0.4465) / 0.2616
    assert torch.allclose(bundle.train_x[:, 2], blue, atol=1e-5)


def test_cifar10_tarball_placed_by_hand_is_extracted(tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import CIFAR10

    staging = tmp_path / "staging"
    md5s, _, _ = write_cifar10(staging / "cifar-10-batches-py")
    use_checksums(monkeypatch, CIFAR10, md5s)
    root = tmp_path / "data"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    cfg = data_config(name="cifar10", root=str(root), download=False)
    assert not dataset_present(cfg)
    check_data_ready(cfg)
    bundle = load_dataset(cfg, seed=0)
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert len(bundle.train_y) + len(bundle.val_y) == 50


def test_cifar100_uses_fine_labels(tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import CIFAR100

    use_checksums(monkeypatch, CIFAR100, write_cifar100(tmp_path / "cifar-100-python"))
    cfg = data_config(name="cifar100", root=str(tmp_path), download=False, val_fraction=0.34)
    bundle = load_dataset(cfg, seed=1)
    assert bundle.num_classes == 100 and bundle.input_shape == (3, 32, 32)
    assert set(bundle.train_y.tolist()) == set(range(100))
    assert len(bundle.train_y) + len(bundle.val_y) == 300 and len(bundle.val_y) >= 100


def test_corrupted_cifar_files_are_a_clear_error(tmp_path: Path) -> None:
    from raytuner.errors import RunError

    write_cifar10(tmp_path / "cifar-10-batches-py")  # checksums differ from the published ones
    with pytest.raises(RunError, match="could not be read"):
        load_dataset(data_config(name="cifar10", root=str(tmp_path), download=False), 0)


# -- image folders -----------------------------------------------------------------------------

COLOURS = {"blue": (20, 30, 200), "green": (20, 200, 30), "red": (200, 30, 20)}


def test_image_folder_split_resize_and_training_statistics(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "images", COLOURS, per_class=5)
    cfg = data_config(name="imagefolder", root=str(tmp_path / "images"), image_size=8,
                      val_fraction=0.4)
    bundle = load_dataset(cfg, seed=0)
    assert bundle.input_shape == (3, 8, 8) and bundle.num_classes == 3
    assert len(bundle.train_y) == 9 and len(bundle.val_y) == 6
    assert sorted(bundle.val_y.tolist()) == [0, 0, 1, 1, 2, 2]  # stratified; classes sorted
    means = bundle.train_x.mean(dim=(0, 2, 3))
    stds = bundle.train_x.std(dim=(0, 2, 3))
    assert torch.allclose(means, torch.zeros(3), atol=1e-5)
    assert torch.allclose(stds, torch.ones(3), atol=1e-3)
    red = bundle.train_x[bundle.train_y == 2]  # class "red": channel 0 brighter than channel 2
    assert (red[:, 0] > red[:, 2]).all()


def test_image_folder_with_a_separate_validation_folder_in_grayscale(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", COLOURS, per_class=4)
    write_image_folder(tmp_path / "val", COLOURS, per_class=2)
    cfg = data_config(name="imagefolder", root=str(tmp_path / "train"),
                      val_root=str(tmp_path / "val"), channels=1, image_size=6)
    bundle = load_dataset(cfg, seed=0)
    assert bundle.input_shape == (1, 6, 6)
    assert len(bundle.train_y) == 12 and len(bundle.val_y) == 6


def test_image_folder_errors_name_the_key(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", COLOURS, per_class=3)
    write_image_folder(tmp_path / "val", {"blue": (0, 0, 255)}, per_class=2)
    cases = [
        (dict(root=str(tmp_path / "missing")), "data.root", "does not exist"),
        (dict(root=str(tmp_path / "train"), val_root=str(tmp_path / "val")), "data.val_root",
         "differ"),
    ]
    for keys, path, words in cases:
        with pytest.raises(ConfigError, match=words) as info:
            load_dataset(data_config(name="imagefolder", **keys), 0)
        assert info.value.path == path
    (tmp_path / "train" / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="broken.png"):
        load_dataset(data_config(name="imagefolder", root=str(tmp_path / "train"),
                                 val_fraction=0.5), 0)


# -- data keys per set -----------------------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"name": "mnist", "val_root": "/x"}, "data.val_root", "does not use 'val_root'"),
    ({"name": "digits", "root": "/x"}, "data.root", "applies to"),
    ({"name": "cifar10", "image_size": 64}, "data.image_size", "imagefolder"),
    ({"name": "imagefolder"}, "data.root", "one sub-folder of images per class"),
    ({"name": "userpkg.data:digits_pair", "synthetic": True}, "data.synthetic", "user"),
    ({"name": "digits", "subset": 0}, "data.subset", "greater than or equal to 1"),
    ({"name": "imagefolder", "root": "x", "channels": 2}, "data.channels", "expected one of"),
])
def test_data_keys_are_checked_per_set(data, path, words) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        validate_experiment({"name": "t", "data": data})
    assert f"{path}:" in str(info.value)


# -- subsets and synthetic data ------------------------------------------------------------


def test_stratified_subset_keeps_class_shares_and_is_fixed_by_seed() -> None:
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    picked = stratified_subset(labels, 20, seed=5)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert np.bincount(labels[picked]).tolist() == [8, 6, 4, 2]
    assert np.array_equal(picked, stratified_subset(labels, 20, seed=5))
    assert not np.array_equal(picked, stratified_subset(labels, 20, seed=6))
    assert len(stratified_subset(labels, 1000, seed=0)) == 100


def test_subset_applies_to_any_set(tmp_path: Path) -> None:
    bundle = load_dataset(data_config(name="digits", subset=100, val_subset=50), seed=0)
    assert len(bundle.train_y) == 100 and len(bundle.val_y) == 50
    assert np.bincount(bundle.train_y.numpy()).min() >= 9  # stratified: 10 classes, ~10 each
    write_mnist(tmp_path, per_class=10)
    mnist = load_dataset(data_config(name="mnist", root=str(tmp_path), subset=30), seed=0)
    assert len(mnist.train_y) == 30 and np.bincount(mnist.train_y.numpy()).tolist() == [3] * 10


@pytest.mark.parametrize(("name", "shape", "classes"), [
    ("digits", (1, 8, 8), 10), ("mnist", (1, 28, 28), 10), ("fashion_mnist", (1, 28, 28), 10),
    ("cifar10", (3, 32, 32), 10), ("cifar100", (3, 32, 32), 100),
])
def test_synthetic_data_has_the_real_shape_and_classes(name, shape, classes) -> None:
    bundle = load_dataset(data_config(name=name, synthetic=True, subset=200, val_subset=100), 0)
    assert bundle.input_shape == shape and bundle.num_classes == classes
    assert len(bundle.train_y) == 200 and len(bundle.val_y) == 100
    assert int(bundle.train_y.max()) < classes


def test_synthetic_image_folder_takes_its_size_and_class_count(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", COLOURS, per_class=1)
    cfg = data_config(name="imagefolder", root=str(tmp_path / "imgs"), image_size=16,
                      channels=1, synthetic=True)
    bundle = load_dataset(cfg, 0)
    assert bundle.input_shape == (1, 16, 16) and bundle.num_classes == 3


# -- a user's data set by import path --------------------------------------------------------


def test_user_dataset_pair_of_torch_datasets_becomes_tensors() -> None:
    bundle = load_dataset(data_config(name="userpkg.data:digits_pair"), seed=0)
    assert bundle.input_shape == (1, 8, 8)  # (8, 8) arrays got a channel axis
    assert len(bundle.train_y) == 1400 and len(bundle.val_y) == 397
    assert bundle.num_classes == 10 and bundle.train_x.dtype == torch.float32
    assert bundle.train_x.max().item() == pytest.approx(1.0)


def test_user_dataset_bundle_still_works_and_bad_returns_are_errors() -> None:
    bundle = load_dataset(data_config(name="userpkg.data:tiny_bundle"), seed=0)
    assert bundle.name == "tiny" and bundle.input_shape == (1, 4, 4)
    with pytest.raises(ConfigError, match="returned int; expected a raytuner.data.DataBundle"):
        load_dataset(data_config(name="userpkg.data:wrong_type"), seed=0)


# -- downloads: torchvision's own code, failing fast; the lock -------------------------------


def test_failed_download_says_where_to_put_the_files(tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import MNIST

    from raytuner.errors import RunError

    # Nothing listens on the discard port: torchvision's download fails at once, as offline.
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    cfg = data_config(name="mnist", root=str(tmp_path))
    check_data_ready(cfg)  # a download may still fetch it: not an error up front
    with pytest.raises(RunError, match="downloading it failed") as info:
        load_dataset(cfg, 0)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_loading_waits_for_the_lock_another_process_holds(tmp_path: Path, monkeypatch) -> None:
    from filelock import FileLock

    from raytuner.data import paths
    from raytuner.errors import RunError

    write_mnist(tmp_path)
    monkeypatch.setattr(paths, "LOCK_TIMEOUT_S", 0.2)
    holder = FileLock(str(tmp_path / ".MNIST.lock"))  # as a concurrent download would
    with holder, pytest.raises(RunError, match="timed out waiting for another process"):
        load_dataset(data_config(name="mnist", root=str(tmp_path)), 0)
    assert len(load_dataset(data_config(name="mnist", root=str(tmp_path)), 0).train_y) == 48


def test_relative_data_paths_are_made_absolute_where_the_experiment_loads(
        tmp_path: Path, monkeypatch) -> None:
    # Trials that load their own data run in their trial folders, so "images" must not be
    # looked up there.
    monkeypatch.chdir(tmp_path)
    cfg = data_config(name="imagefolder", root="images", val_root="~/val")
    assert cfg.root == str(tmp_path / "images")
    assert cfg.val_root == str(Path.home() / "val")
