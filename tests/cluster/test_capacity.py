"""What a cluster can hold: trial fits, fractional GPUs, autoscaler node types from the real
clusters/gpu.yaml, and the error for resources no node can provide. No Ray is started."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from raytuner.cluster.capacity import (
    STATIC,
    Autoscaling,
    NodeShape,
    check_trial_fits,
    node_types_from_launcher_config,
    trials_that_fit,
)
from raytuner.errors import ConfigError

GPU_YAML = REPO / "clusters" / "gpu.yaml"


def _gpu_yaml_types() -> Autoscaling:
    return node_types_from_launcher_config(yaml.safe_load(GPU_YAML.read_text()))


def test_fractional_gpus_pack_trials_on_one_gpu() -> None:
    node = NodeShape("n", cpu=4, gpu=1)
    assert node.fits(1, 0.25) == 4
    assert node.fits(1, 0.5) == 2
    assert node.fits(2, 0.25) == 2  # CPUs are the limit
    assert NodeShape("n", cpu=1, gpu=1).fits(0.1, 0.1) == 10  # not 9 (float division)
    assert NodeShape("head", cpu=0, gpu=0).fits(1, 0) == 0


def test_max_concurrent_counts_node_by_node() -> None:
    # 8 CPUs on a GPU-less head and 2 one-GPU workers: totals would say 4 GPU trials fit in
    # 10 CPUs and 2 GPUs at 0.5 each; per node, the head holds none of them.
    nodes = [NodeShape("head", 8, 0), NodeShape("w1", 1, 1), NodeShape("w2", 1, 1)]
    assert trials_that_fit(0.5, 0.5, nodes, STATIC) == 4
    assert trials_that_fit(1, 0.5, nodes, STATIC) == 2
    assert trials_that_fit(1, 0, nodes, STATIC) == 10


def test_gpu_yaml_node_types_and_autoscaled_concurrency() -> None:
    scaling = _gpu_yaml_types()
    shapes = {t.name: (t.cpu, t.gpu, t.count) for t in scaling.node_types}
    assert shapes == {"node type gpu.1x.spot": (4, 1, 8),
                      "node type gpu.4x.ondemand": (48, 4, 2)}
    assert scaling.max_workers == 10
    head = [NodeShape("head", 0, 0)]
    # 0.25 GPU: 2 x 4-GPU nodes hold 32, 8 x 1-GPU nodes 32, within max_workers 10
    assert trials_that_fit(1, 0.25, head, scaling) == 2 * 16 + 8 * 4
    check_trial_fits(1, 4, head, scaling)  # a 4-GPU node type exists


def test_resources_no_node_can_provide_name_the_key_and_the_largest_node() -> None:
    nodes = [NodeShape("node a", 0, 0), NodeShape("node b", 1, 1)]
    with pytest.raises(ConfigError) as info:
        check_trial_fits(1, 2, nodes, STATIC)
    message = str(info.value)
    assert info.value.path == "resources.gpu"
    assert "1 CPU and 2 GPU" in message and "node b (1 CPU, 1 GPU)" in message
    with pytest.raises(ConfigError) as info:
        check_trial_fits(3, 0.5, nodes, STATIC)
    assert info.value.path == "resources.cpu" and "resources.cpu=3" in str(info.value)
    with pytest.raises(ConfigError, match="gpu.4x.ondemand"):
        check_trial_fits(1, 8, [NodeShape("head", 0, 0)], _gpu_yaml_types())


def test_unknown_autoscaler_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    check_trial_fits(1, 8, [NodeShape("head", 0, 0)], Autoscaling(known=False))
    assert "wait forever" in caplog.text
