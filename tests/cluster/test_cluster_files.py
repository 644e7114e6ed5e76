"""Every file in clusters/ passes Ray's validator and the project's security checks; each check
fails on a copy of a real file with one thing changed. No Ray cluster is started."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from conftest import REPO

from raytuner.cluster.files import (
    check_cluster_file,
    head_problems,
    image_tag_problem,
    load_cluster_file,
    security_problems,
    validate_launcher_config,
)
from raytuner.cluster.kuberay import is_kuberay_manifest, validate_kuberay_manifest
from raytuner.errors import ConfigError

ROOT = REPO
CLUSTERS = ROOT / "clusters"
CLUSTER_FILES = sorted(CLUSTERS.glob("*.yaml"))
LAUNCHER_FILES = [p for p in CLUSTER_FILES if not is_kuberay_manifest(load_cluster_file(p))]
KUBERAY_FILES = [p for p in CLUSTER_FILES if is_kuberay_manifest(load_cluster_file(p))]
VERSION = ray.__version__


def _ids(path: Path) -> str:
    return path.name


def _variant(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> Path:
    """A copy of clusters/<name> with ``change`` applied, written under tmp_path."""
    doc = copy.deepcopy(load_cluster_file(CLUSTERS / name))
    change(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _problems(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> list[str]:
    return check_cluster_file(_variant(tmp_path, name, change), repo_root=ROOT)


def _assert_reported(problems: list[str], *fragments: str) -> None:
    assert any(all(f in p for f in fragments) for p in problems), (fragments, problems)


# --- the real files ---------------------------------------------------------------------------


def test_clusters_folder_holds_the_three_documented_files() -> None:
    assert {p.name for p in CLUSTER_FILES} >= {"gpu.yaml", "local.yaml", "kuberay.yaml"}


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=_ids)
def test_cluster_file_passes_every_check(path: Path) -> None:
    assert check_cluster_file(path, repo_root=ROOT) == []


@pytest.mark.parametrize("path", LAUNCHER_FILES, ids=_ids)
def test_launcher_config_accepted_by_rays_validator(path: Path) -> None:
    config = validate_launcher_config(path)
    # prepare_config resolved the node types (the local provider's machines become one type)
    # and filled every type's worker bounds
    assert config["head_node_type"] in config["available_node_types"]
    for node_type in config["available_node_types"].values():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"]
    assert security_problems(config, source=str(path), repo_root=ROOT) == []
    assert head_problems(config, source=str(path)) == []


@pytest.mark.parametrize("path", KUBERAY_FILES, ids=_ids)
def test_kuberay_manifest_passes_structural_checks(path: Path) -> None:
    assert validate_kuberay_manifest(path) == []


def test_gpu_cluster_has_spot_and_on_demand_gpu_workers() -> None:
    config = validate_launcher_config(CLUSTERS / "gpu.yaml")
    workers = {name: t for name, t in config["available_node_types"].items()
               if name != config["head_node_type"]}
    spot = [t for t in workers.values() if "InstanceMarketOptions" in t["node_config"]]
    on_demand = [t for t in workers.values() if "InstanceMarketOptions" not in t["node_config"]]
    assert spot and on_demand
    assert all(t["resources"]["GPU"] >= 1 and t["min_workers"] == 0 for t in workers.values())
    assert config["idle_timeout_minutes"] > 0


# --- Ray's validator rejects broken launcher files --------------------------------------------


def test_validator_rejects_unknown_top_level_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, "gpu.yaml", lambda c: c.update(idle_timeout_minute=5))
    with pytest.raises(ConfigError, match=r"gpu\.yaml: \(top level\): .*'idle_timeout_minute'"):
        validate_launcher_config(path)


def test_validator_rejects_unknown_node_type_key_and_names_it(tmp_path: Path) -> None:
    def typo(c: dict[str, Any]) -> None:
        c["available_node_types"]["gpu.1x.spot"]["max_worker"] = 3

    with pytest.raises(ConfigError, match=r"available_node_types\.gpu\.1x\.spot: .*'max_worker'"):
        validate_launcher_config(_variant(tmp_path, "gpu.yaml", typo))


def test_validator_rejects_wrong_type(tmp_path: Path) -> None:
    path = _variant(tmp_path, "gpu.yaml", lambda c: c.update(max_workers="ten"))
    with pytest.raises(ConfigError, match=r"max_workers: .*'ten' is not of type 'integer'"):
        validate_launcher_config(path)


def test_validator_rejects_unknown_head_node_type(tmp_path: Path) -> None:
    path = _variant(tmp_path, "gpu.yaml", lambda c: c.update(head_node_type="ray.head.gone"))
    with pytest.raises(ConfigError, match="head_node_type"):
        validate_launcher_config(path)


def test_validator_rejects_missing_provider(tmp_path: Path) -> None:
    path = _variant(tmp_path, "gpu.yaml", lambda c: c.pop("provider"))
    with pytest.raises(ConfigError, match=r"gpu\.yaml: provider: must be a mapping"):
        validate_launcher_config(path)


def test_validator_rejects_node_types_for_local_provider(tmp_path: Path) -> None:
    def add_types(c: dict[str, Any]) -> None:
        c["available_node_types"] = {"x": {"resources": {}, "node_config": {}}}

    with pytest.raises(ConfigError, match="available_node_types"):
        validate_launcher_config(_variant(tmp_path, "local.yaml", add_types))


def test_validator_failure_is_reported_with_the_security_problems(tmp_path: Path) -> None:
    def both(c: dict[str, Any]) -> None:
        c["bogus"] = 1
        c["head_start_ray_commands"][1] = c["head_start_ray_commands"][1].replace(
            "127.0.0.1", "0.0.0.0")

    problems = _problems(tmp_path, "gpu.yaml", both)
    _assert_reported(problems, "(top level)", "'bogus'")
    _assert_reported(problems, "--dashboard-host=0.0.0.0")


# --- security checks on launcher files --------------------------------------------------------


def _replace_in(key: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        c[key] = [cmd.replace(old, new) for cmd in c[key]]
    return change


def _set_mount(remote: str, local: str | None) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        if local is None:
            del c["file_mounts"][remote]
        else:
            c["file_mounts"][remote] = local
    return change


AUTH_OFF = "export RAY_AUTH_MODE=token;"
LAUNCHER_BREAKAGES: list[tuple[str, str, Callable[[dict[str, Any]], Any], tuple[str, ...]]] = [
    ("head-auth-removed", "gpu.yaml", _replace_in("head_start_ray_commands", AUTH_OFF, ""),
     ("head_start_ray_commands[1]", "RAY_AUTH_MODE=token")),
    ("worker-auth-removed", "gpu.yaml", _replace_in("worker_start_ray_commands", AUTH_OFF, ""),
     ("worker_start_ray_commands[1]", "RAY_AUTH_MODE=token")),
    ("local-worker-auth-removed", "local.yaml",
     _replace_in("worker_start_ray_commands", AUTH_OFF, ""), ("worker_start_ray_commands[1]",)),
    ("auth-set-after-ray-start", "gpu.yaml",
     lambda c: c.update(worker_start_ray_commands=[
         "ray stop", "ray start --address=$RAY_HEAD_IP:6379; export RAY_AUTH_MODE=token"]),
     ("worker_start_ray_commands[1]",)),
    ("auth-disabled", "gpu.yaml",
     _replace_in("head_start_ray_commands", "RAY_AUTH_MODE=token", "RAY_AUTH_MODE=disabled"),
     ("head_start_ray_commands[1]",)),
    ("auth-disabled-in-docker", "gpu.yaml",
     lambda c: c["docker"]["run_options"].append("--env RAY_AUTH_MODE=disabled"),
     ("docker.run_options[3]", "RAY_AUTH_MODE=disabled")),
    ("no-ray-start", "gpu.yaml", lambda c: c.update(worker_start_ray_commands=["ray stop"]),
     ("worker_start_ray_commands", "no `ray start`")),
    ("token-mount-removed", "gpu.yaml", _set_mount("~/.ray/auth_token", None),
     ("file_mounts", "~/.ray/auth_token")),
    ("token-from-repository", "gpu.yaml", _set_mount("~/.ray/auth_token", "clusters/auth_token"),
     ("file_mounts.~/.ray/auth_token", "inside the repository")),
    ("token-under-repo-root", "local.yaml",
     _set_mount("~/.ray/auth_token", str(ROOT / "secrets" / "auth_token")),
     ("inside the repository",)),
    ("token-in-file", "gpu.yaml",
     _replace_in("head_start_ray_commands", AUTH_OFF, AUTH_OFF + " export RAY_AUTH_TOKEN=abc;"),
     ("RAY_AUTH_TOKEN", "written into the cluster file")),
    ("token-path-not-mounted", "gpu.yaml",
     _replace_in("worker_start_ray_commands", AUTH_OFF,
                 AUTH_OFF + " export RAY_AUTH_TOKEN_PATH=/etc/ray/token;"),
     ("file_mounts", "/etc/ray/token")),
    ("dashboard-public", "gpu.yaml",
     _replace_in("head_start_ray_commands", "-host=127.0.0.1", "-host=0.0.0.0"),
     ("head_start_ray_commands[1]", "--dashboard-host=0.0.0.0")),
    ("dashboard-host-implicit", "local.yaml",
     _replace_in("head_start_ray_commands", "--dashboard-host=127.0.0.1", ""),
     ("head_start_ray_commands[1]", "no --dashboard-host")),
    # Without its own start commands the file gets Ray's AWS defaults, which bind 0.0.0.0 and
    # lack authentication: the checks see the prepared config, as `ray up` would run it.
    ("start-commands-omitted", "gpu.yaml", lambda c: c.pop("head_start_ray_commands"),
     ("--dashboard-host=0.0.0.0",)),
    ("image-wrong-version", "gpu.yaml",
     lambda c: c["docker"].update(image="rayproject/ray:2.59.0-py311-gpu"),
     ("docker.image", f"installed Ray {VERSION}")),
    ("image-latest", "local.yaml", lambda c: c["docker"].update(image="rayproject/ray:latest"),
     ("docker.image", "does not match")),
    ("image-untagged", "gpu.yaml", lambda c: c["docker"].update(image="rayproject/ray"),
     ("docker.image", "no tag")),
    ("worker-image-wrong", "gpu.yaml",
     lambda c: c["docker"].update(worker_image="rayproject/ray:2.9.0-gpu"),
     ("docker.worker_image",)),
    ("no-docker", "gpu.yaml", lambda c: c.pop("docker"), ("docker.image", "no container image")),
    ("setup-installs-other-ray", "gpu.yaml",
     lambda c: c["setup_commands"].append("pip install 'ray[tune]==2.59.0'"),
     ("setup_commands[2]", "Ray 2.59.0")),
    ("default-security-group", "gpu.yaml",
     lambda c: c["available_node_types"]["gpu.1x.spot"]["node_config"].pop("SecurityGroupIds"),
     ("available_node_types.gpu.1x.spot.node_config.SecurityGroupIds", "0.0.0.0/0")),
    ("ssh-from-anywhere", "gpu.yaml",
     lambda c: c["provider"].update(security_group={"GroupName": "x", "IpPermissions": [
         {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
          "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
     ("provider.security_group.IpPermissions[0]", "whole internet")),
    ("dashboard-port-open", "gpu.yaml",
     lambda c: c["provider"].update(security_group={"IpPermissions": [
         {"IpProtocol": "tcp", "FromPort": 8265, "ToPort": 8265,
          "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}]}),
     ("IpPermissions[0]", "8265 (dashboard and Jobs API)")),
    ("all-traffic-open", "gpu.yaml",
     lambda c: c["provider"].update(security_group={"IpPermissions": [
         {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]}),
     ("IpPermissions[0]", "6379 (GCS)")),
    ("local-public-head", "local.yaml", lambda c: c["provider"].update(head_ip="8.8.8.8"),
     ("provider.head_ip", "public address")),
    ("local-public-worker", "local.yaml",
     lambda c: c["provider"].update(worker_ips=["10.0.0.11", "1.1.1.1"]),
     ("provider.worker_ips[1]",)),
    ("head-runs-trials", "gpu.yaml",
     lambda c: c["available_node_types"]["ray.head.default"].update(resources={"CPU": 4}),
     ("available_node_types.ray.head.default.resources", "CPU: 0")),
    ("local-head-runs-trials", "local.yaml",
     _replace_in("head_start_ray_commands", "--num-cpus=0", ""),
     ("head_start_ray_commands", "--num-cpus=0")),
]


@pytest.mark.parametrize(("name", "change", "fragments"),
                         [pytest.param(f, c, e, id=i) for i, f, c, e in LAUNCHER_BREAKAGES])
def test_launcher_check_fails_on_broken_copy(tmp_path: Path, name: str,
                                             change: Callable[[dict[str, Any]], Any],
                                             fragments: tuple[str, ...]) -> None:
    problems = _problems(tmp_path, name, change)
    _assert_reported(problems, name, *fragments)


def test_problems_name_the_file(tmp_path: Path) -> None:
    change = _replace_in("worker_start_ray_commands", AUTH_OFF, "")
    problems = _problems(tmp_path, "gpu.yaml", change)
    assert problems and all(p.startswith(str(tmp_path / "gpu.yaml") + ": ") for p in problems)


def test_unreadable_cluster_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    assert check_cluster_file(path) == [f"{path}: expected a YAML mapping at the top level"]


# --- image tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("image", [f"rayproject/ray:{VERSION}-py311-gpu",
                                   f"rayproject/ray:{VERSION}",
                                   f"ghcr.io/acme/raytuner:0.1.0-ray{VERSION}-gpu",
                                   f"registry:5000/team/raytuner:{VERSION}"])
def test_image_tag_pinned_to_installed_ray_passes(image: str) -> None:
    assert image_tag_problem(image, key="k", source="f") is None


@pytest.mark.parametrize("image", ["rayproject/ray:latest", "rayproject/ray-ml:2.49.0-gpu",
                                   f"rayproject/ray:nightly-{VERSION}", "registry:5000/raytuner",
                                   f"acme/raytuner:{VERSION}1", "rayproject/ray@sha256:abc"])
def test_image_tag_not_pinned_fails(image: str) -> None:
    problem = image_tag_problem(image, key="docker.image", source="f.yaml")
    assert problem is not None and problem.startswith("f.yaml: docker.image: ")


# --- KubeRay manifest ---------------------------------------------------------------------------


def _head(c: dict[str, Any]) -> dict[str, Any]:
    return c["spec"]["headGroupSpec"]


def _worker_container(c: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return c["spec"]["workerGroupSpecs"][i]["template"]["spec"]["containers"][0]


def _drop_env(container: dict[str, Any], name: str) -> None:
    container["env"] = [e for e in container["env"] if e["name"] != name]


def _literal_token(c: dict[str, Any]) -> None:
    _drop_env(_worker_container(c), "RAY_AUTH_TOKEN")
    _worker_container(c)["env"].append({"name": "RAY_AUTH_TOKEN", "value": "abc"})


W0 = "spec.workerGroupSpecs[0]"
W0C = f"{W0}.template.spec.containers[0]"
KUBERAY_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], Any], tuple[str, ...]]] = [
    ("dashboard-public", lambda c: _head(c)["rayStartParams"].update({"dashboard-host": "0.0.0.0"}),
     ("spec.headGroupSpec.rayStartParams.dashboard-host", "'0.0.0.0'")),
    ("dashboard-host-implicit", lambda c: _head(c)["rayStartParams"].pop("dashboard-host"),
     ("dashboard-host", "KubeRay's default is 0.0.0.0")),
    ("head-runs-trials", lambda c: _head(c)["rayStartParams"].pop("num-cpus"),
     ("spec.headGroupSpec.rayStartParams.num-cpus",)),
    ("load-balancer", lambda c: _head(c).update(serviceType="LoadBalancer"),
     ("spec.headGroupSpec.serviceType", "'LoadBalancer'")),
    ("ingress", lambda c: _head(c).update(enableIngress=True), ("enableIngress",)),
    ("worker-auth-removed", lambda c: _drop_env(_worker_container(c), "RAY_AUTH_MODE"),
     (f"{W0C}.env", "RAY_AUTH_MODE")),
    ("head-token-removed",
     lambda c: _drop_env(_head(c)["template"]["spec"]["containers"][0], "RAY_AUTH_TOKEN"),
     ("spec.headGroupSpec.template.spec.containers[0].env.RAY_AUTH_TOKEN", "missing")),
    ("token-in-manifest", _literal_token, (f"{W0C}.env.RAY_AUTH_TOKEN", "written into")),
    ("autoscaler-auth-removed", lambda c: c["spec"]["autoscalerOptions"].pop("env"),
     ("spec.autoscalerOptions.env",)),
    ("no-gpu", lambda c: _worker_container(c, 1)["resources"]["limits"].pop("nvidia.com/gpu"),
     ("spec.workerGroupSpecs[1].template.spec.containers[0].resources.limits.nvidia.com/gpu",)),
    ("image-wrong-version",
     lambda c: _worker_container(c).update(image="rayproject/ray:2.59.0-py311-gpu"),
     (f"{W0C}.image", f"installed Ray {VERSION}")),
    ("ray-version-wrong", lambda c: c["spec"].update(rayVersion="2.59.0"), ("spec.rayVersion",)),
    ("old-api-version", lambda c: c.update(apiVersion="ray.io/v1alpha1"), ("apiVersion",)),
    ("wrong-kind", lambda c: c.update(kind="RayJob"), ("kind", "'RayJob'")),
    ("no-worker-groups", lambda c: c["spec"].update(workerGroupSpecs=[]),
     ("spec.workerGroupSpecs", "at least one")),
    ("replicas-inverted", lambda c: c["spec"]["workerGroupSpecs"][0].update(minReplicas=9),
     (W0, "minReplicas")),
    ("no-head", lambda c: c["spec"].pop("headGroupSpec"), ("spec.headGroupSpec", "missing")),
]


@pytest.mark.parametrize(("change", "fragments"),
                         [pytest.param(c, e, id=i) for i, c, e in KUBERAY_BREAKAGES])
def test_kuberay_check_fails_on_broken_copy(tmp_path: Path, change: Callable[[dict[str, Any]], Any],
                                            fragments: tuple[str, ...]) -> None:
    path = _variant(tmp_path, "kuberay.yaml", change)
    problems = validate_kuberay_manifest(path)
    _assert_reported(problems, str(path), *fragments)
    assert check_cluster_file(path) == problems


def test_kuberay_operator_managed_auth_replaces_env(tmp_path: Path) -> None:
    """With spec.authOptions.mode=token (KubeRay >= 1.5.1) the operator injects the token."""
    def operator_auth(c: dict[str, Any]) -> None:
        c["spec"]["authOptions"] = {"mode": "token"}
        c["spec"]["autoscalerOptions"].pop("env")
        for container in [_head(c)["template"]["spec"]["containers"][0],
                          _worker_container(c, 0), _worker_container(c, 1)]:
            _drop_env(container, "RAY_AUTH_MODE")
            _drop_env(container, "RAY_AUTH_TOKEN")

    assert validate_kuberay_manifest(_variant(tmp_path, "kuberay.yaml", operator_auth)) == []
