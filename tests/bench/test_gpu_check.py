"""benchmarks/gpu_check.py: its model and throughput arithmetic, and the whole script in its
tiny CPU mode (--smoke: two trials sharing one logical GPU, AMP off and on)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO

from benchmarks import gpu_check


def test_resnet18_cifar_keeps_32x32_resolution_in_the_stem() -> None:
    model = gpu_check.resnet18_cifar((3, 32, 32), 10)
    assert model.conv1.stride == (1, 1) and isinstance(model.maxpool, torch.nn.Identity)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_aggregate_throughput_uses_wall_clock_over_epochs_after_the_first() -> None:
    # two trials, 100 images per epoch; epoch 2 of each takes 2 s, overlapping by 1 s
    a = [{"epoch": 1, "epoch_end": 10.0, "epoch_time_s": 5.0, "train_samples": 100},
         {"epoch": 2, "epoch_end": 12.0, "epoch_time_s": 2.0, "train_samples": 100}]
    b = [{"epoch": 1, "epoch_end": 11.0, "epoch_time_s": 5.0, "train_samples": 100},
         {"epoch": 2, "epoch_end": 13.0, "epoch_time_s": 2.0, "train_samples": 100}]
    assert gpu_check.aggregate_throughput([a, b]) == pytest.approx(200 / 3.0)


def test_without_cuda_the_full_check_refuses_to_run(capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert gpu_check.main([]) == 2
    assert "--smoke" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_run_packs_two_trials_on_one_gpu_with_and_without_amp() -> None:
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "2 trial(s) per GPU (resources.gpu=0.5), AMP off/on" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert sorted(r[1] for r in rows) == ["off", "on"] and {r[2] for r in rows} == {"cpu"}
    assert all(float(r[3]) > 0 for r in rows)  # samples/s
    assert "samples/s (all trials" in out and "done in" in out
