"""Offline checks of KubeRay ``RayCluster`` manifests (``kubectl apply -f FILE``): their
structure, and the project's security rules expressed in Kubernetes terms."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from raytuner.cluster.rules import (
    LOOPBACK_HOSTS,
    image_tag_problem,
    load_cluster_file,
    problem,
    ray_version,
)

KUBERAY_API_VERSION = "ray.io/v1"
GPU_RESOURCE = "nvidia.com/gpu"


def is_kuberay_manifest(doc: Mapping[str, Any]) -> bool:
    """Whether a loaded cluster file is a KubeRay resource rather than a launcher config."""
    return str(doc.get("apiVersion", "")).startswith("ray.io/") or "kind" in doc


def get_key(doc: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(doc, Mapping):
            doc = doc.get(key)
        elif isinstance(doc, list) and isinstance(key, int) and key < len(doc):
            doc = doc[key]
        else:
            return None
    return doc


def _env_problems(env: Any, key: str, source: str) -> list[str]:
    """RAY_AUTH_MODE=token and RAY_AUTH_TOKEN from a Secret in one container's env list."""
    entries = {e.get("name"): e for e in env or [] if isinstance(e, Mapping)}
    problems = []
    if get_key(entries, "RAY_AUTH_MODE", "value") != "token":
        problems.append(problem(source, f"{key}.env", "RAY_AUTH_MODE must be 'token'"))
    token = entries.get("RAY_AUTH_TOKEN") or {}
    if "value" in token:
        problems.append(problem(source, f"{key}.env.RAY_AUTH_TOKEN", "the token is written into "
                                 "the manifest; take it from a Secret (valueFrom.secretKeyRef)"))
    elif not get_key(token, "valueFrom", "secretKeyRef", "name"):
        problems.append(problem(source, f"{key}.env.RAY_AUTH_TOKEN",
                                 "missing: take it from a Secret (valueFrom.secretKeyRef)"))
    return problems


def _group_problems(group: Any, key: str, source: str, *, auth_in_env: bool) -> list[str]:
    """Containers, image pins and auth env of one head or worker group."""
    container = get_key(group, "template", "spec", "containers", 0)
    ckey = f"{key}.template.spec.containers[0]"
    if not isinstance(container, Mapping):
        return [problem(source, ckey, "missing: the Ray container")]
    problems = []
    image = container.get("image")
    found = (image_tag_problem(str(image), key=f"{ckey}.image", source=source) if image
             else problem(source, f"{ckey}.image", "missing"))
    if found:
        problems.append(found)
    if auth_in_env:
        problems.extend(_env_problems(container.get("env"), ckey, source))
    return problems


def _head_group_problems(spec: Mapping[str, Any], source: str, auth_in_env: bool) -> list[str]:
    head = spec.get("headGroupSpec")
    key = "spec.headGroupSpec"
    if not isinstance(head, Mapping):
        return [problem(source, key, "missing")]
    problems = _group_problems(head, key, source, auth_in_env=auth_in_env)
    params = head.get("rayStartParams") or {}
    if str(params.get("num-cpus")) != "0":
        problems.append(problem(source, f"{key}.rayStartParams.num-cpus",
                                 "set \"0\" so no trial runs on the head"))
    host = params.get("dashboard-host")
    if host not in LOOPBACK_HOSTS:
        problems.append(problem(source, f"{key}.rayStartParams.dashboard-host",
                                 f"{host!r}: set \"127.0.0.1\" explicitly (KubeRay's default is "
                                 "0.0.0.0)"))
    if head.get("serviceType", "ClusterIP") != "ClusterIP":
        problems.append(problem(source, f"{key}.serviceType", f"{head['serviceType']!r} puts "
                                 "Ray's ports outside the Kubernetes cluster; use ClusterIP"))
    if head.get("enableIngress"):
        problems.append(problem(source, f"{key}.enableIngress", "must not be enabled"))
    return problems


def _worker_group_problems(spec: Mapping[str, Any], source: str, auth_in_env: bool) -> list[str]:
    groups = spec.get("workerGroupSpecs")
    if not isinstance(groups, list) or not groups:
        return [problem(source, "spec.workerGroupSpecs", "missing: at least one GPU worker group")]
    problems = []
    for i, group in enumerate(groups):
        key = f"spec.workerGroupSpecs[{i}]"
        if not get_key(group, "groupName"):
            problems.append(problem(source, f"{key}.groupName", "missing"))
        low, high = get_key(group, "minReplicas"), get_key(group, "maxReplicas")
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            problems.append(problem(source, key, "minReplicas/maxReplicas must be integers with "
                                     f"0 <= minReplicas <= maxReplicas (got {low}, {high})"))
        problems.extend(_group_problems(group, key, source, auth_in_env=auth_in_env))
        gpus = get_key(group, "template", "spec", "containers", 0, "resources", "limits",
                    GPU_RESOURCE)
        if not (str(gpus).isdigit() and int(gpus) > 0):
            problems.append(problem(
                source, f"{key}.template.spec.containers[0].resources.limits.{GPU_RESOURCE}",
                f"must be a positive GPU count (got {gpus!r})"))
    return problems


def kuberay_problems(manifest: Mapping[str, Any], *, source: str = "manifest") -> list[str]:
    """Structure and security problems of a KubeRay ``RayCluster`` manifest.

    Checks apiVersion ``ray.io/v1`` and kind ``RayCluster``; ``spec.rayVersion`` and every Ray
    container image pin the installed Ray; the head has ``num-cpus: "0"``, ``dashboard-host:
    127.0.0.1``, a ClusterIP service and no ingress; every worker group requests
    ``nvidia.com/gpu``; token authentication is on either through ``spec.authOptions.mode:
    token`` or through ``RAY_AUTH_MODE=token`` plus ``RAY_AUTH_TOKEN`` from a Secret in every
    Ray container (and the autoscaler's env when in-tree autoscaling is on).
    """
    problems = []
    if manifest.get("apiVersion") != KUBERAY_API_VERSION:
        problems.append(problem(source, "apiVersion", f"{manifest.get('apiVersion')!r}: "
                                 f"expected {KUBERAY_API_VERSION!r}"))
    if manifest.get("kind") != "RayCluster":
        problems.append(problem(source, "kind", f"{manifest.get('kind')!r}: expected "
                                 "'RayCluster'"))
    if not get_key(manifest, "metadata", "name"):
        problems.append(problem(source, "metadata.name", "missing"))
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        return [*problems, problem(source, "spec", "missing")]
    if str(spec.get("rayVersion")) != ray_version():
        problems.append(problem(source, "spec.rayVersion", f"{spec.get('rayVersion')!r}: "
                                 f"expected the installed Ray {ray_version()!r}"))
    auth_in_env = get_key(spec, "authOptions", "mode") != "token"
    problems += _head_group_problems(spec, source, auth_in_env)
    problems += _worker_group_problems(spec, source, auth_in_env)
    if auth_in_env and spec.get("enableInTreeAutoscaling"):
        problems += _env_problems(get_key(spec, "autoscalerOptions", "env"),
                                  "spec.autoscalerOptions", source)
    return problems


def validate_kuberay_manifest(path: str | os.PathLike) -> list[str]:
    """Problems of the KubeRay manifest at ``path`` (empty when it passes)."""
    return kuberay_problems(load_cluster_file(path), source=str(path))
