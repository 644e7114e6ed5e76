"""The public API in ``raytuner.__all__``: every name resolves, ``import raytuner`` loads
neither Ray nor torch, and the package layout cannot shadow a public name."""

from __future__ import annotations

import subprocess
import sys

import raytuner

PUBLIC_NAMES = {"Experiment", "load_experiment", "run", "resume", "RunResult", "read_summary",
              "make_plan", "export_model", "load_model", "create_model", "list_models",
                "list_datasets", "RaytunerError", "ConfigError", "RunError", "CheckpointError",
              "Interrupted", "smoke_experiment", "__version__"}


def test_every_public_name_resolves() -> None:
    assert set(raytuner.__all__) >= PUBLIC_NAMES
    for name in raytuner.__all__:
        assert getattr(raytuner, name) is not None, name
    assert set(dir(raytuner)) >= set(raytuner.__all__)


def test_import_raytuner_loads_neither_ray_nor_torch() -> None:
    code = ("import sys, raytuner; print(sorted(m for m in ('ray', 'torch', 'pydantic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_run_stays_the_function_after_its_package_loads() -> None:
    import raytuner.runs.launch

    assert raytuner.run is raytuner.runs.launch.run and callable(raytuner.run)
    assert raytuner.resume is raytuner.runs.launch.resume


def test_registries_list_their_names() -> None:
    assert {"cnn", "mlp", "resnet"} <= set(raytuner.list_models())
    assert {"digits", "mnist", "cifar10", "imagefolder"} <= set(raytuner.list_datasets())
    model = raytuner.create_model("mlp", (1, 8, 8), 10, depth=1, width=8)
    assert sum(p.numel() for p in model.parameters()) > 0
