"""Offline checks for the cluster files in ``clusters/``.

Two kinds of file live there: Ray cluster launcher configs (``ray up FILE``) and KubeRay
``RayCluster`` manifests (``kubectl apply -f FILE``). :func:`check_cluster_file` runs every check
that fits a file and returns its problems, each naming the file and the key:

- launcher configs go through Ray's own validator (:func:`validate_launcher_config`), the same
  ``prepare_config`` + ``validate_config`` pair that ``ray up`` runs; both work offline.
- :func:`security_problems`: token authentication on every ``ray start``, the token shipped from
  a file outside the repository, the dashboard bound to loopback, images pinned to the installed
  Ray, and no network ingress except SSH from a chosen address range.
- :func:`head_problems`: the head node offers Ray no CPUs, so no trial runs there.
- :func:`validate_kuberay_manifest`: the structure of a ``RayCluster`` plus the same security
  rules expressed in Kubernetes terms.

Nothing here starts Ray or calls a cloud API.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from raytuner.errors import ConfigError
from raytuner.files import read_yaml_file

#: Ports Ray listens on by default (as started by the cluster files); none may be open to the
#: outside. Whoever reaches the GCS, dashboard/Jobs or Client port can run code on the cluster.
RAY_PORTS: dict[int, str] = {
    6379: "GCS",
    8076: "object manager",
    8265: "dashboard and Jobs API",
    10001: "Ray Client",
    52365: "dashboard agent",
    8000: "Serve HTTP",
}
#: Dashboard hosts that keep the dashboard off every network interface but loopback.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Where Ray 2.60 looks for the token when RAY_AUTH_TOKEN(_PATH) are unset.
DEFAULT_TOKEN_PATH = "~/.ray/auth_token"
#: Sources that mean "the whole internet" in a firewall rule.
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
KUBERAY_API_VERSION = "ray.io/v1"
GPU_RESOURCE = "nvidia.com/gpu"

_RAY_START = re.compile(r"\bray\s+start\b")
_ASSIGN = r"(?:^|[\s;&|(]){name}=(['\"]?)([^\s;'\"&|)]*)\1"
_DASHBOARD_HOST = re.compile(r"--dashboard-host(?:=|\s+)(['\"]?)([^\s;'\"&|]+)\1")
_NO_DASHBOARD = re.compile(r"--include-dashboard(?:=|\s+)['\"]?(?:false|False|0)\b")
_RAY_PIN = re.compile(r"\bray(?:\[[^\]]*\])?==([0-9][0-9A-Za-z.]*)")


def ray_version() -> str:
    """The installed Ray version, which every cluster file must pin."""
    import ray  # imported on use: the checks are also loaded by commands that never start Ray

    return ray.__version__


def load_cluster_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read one cluster file; anything but a YAML mapping is a :class:`ConfigError`."""
    doc = read_yaml_file(path)
    if not isinstance(doc, dict):
        raise ConfigError("expected a YAML mapping at the top level", source=str(path))
    return doc


def is_kuberay_manifest(doc: Mapping[str, Any]) -> bool:
    """Whether a loaded cluster file is a KubeRay resource rather than a launcher config."""
    return str(doc.get("apiVersion", "")).startswith("ray.io/") or "kind" in doc


# --- Ray's own validator ------------------------------------------------------------------------


def validate_launcher_config(path: str | os.PathLike) -> dict[str, Any]:
    """Validate a cluster launcher file the way ``ray up`` does, offline; return Ray's view of it.

    Runs ``ray.autoscaler._private.util.prepare_config`` (merges the provider's
    ``defaults.yaml`` shipped in the wheel, moves the local provider's machines into its one node
    type, fills per-type min/max workers) and then ``validate_config`` (the JSON schema
    ``ray-schema.json``, which rejects unknown keys, plus Ray's cross-field rules). Neither reads
    credentials or the network. ``ray up`` additionally asks the cloud for instance shapes and
    creates IAM roles, key pairs and security groups; those steps are not run here.

    Raises:
        ConfigError: naming the file and the offending key.
    """
    source = str(path)
    return prepare_and_validate(load_cluster_file(path), source=source)


def prepare_and_validate(config: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """:func:`validate_launcher_config` for an already loaded mapping."""
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    provider = config.get("provider")
    if not isinstance(provider, Mapping) or not isinstance(provider.get("type"), str):
        raise ConfigError("must be a mapping with a 'type' (aws, local, ...)", source=source,
                          path="provider")
    try:
        prepared = prepare_config(copy.deepcopy(dict(config)))
        validate_config(prepared)
    except jsonschema.ValidationError as exc:
        key = ".".join(str(part) for part in exc.absolute_path) or "(top level)"
        raise ConfigError(f"rejected by Ray's schema: {exc.message}", source=source,
                          path=key) from None
    except Exception as exc:  # Ray raises ValueError, KeyError, click exceptions, ...
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise ConfigError(f"rejected by Ray's validator: {message}", source=source) from None
    return prepared


# --- launcher security --------------------------------------------------------------------------


def _problem(source: str, key: str, message: str) -> str:
    return f"{source}: {key}: {message}"


def _assigned(text: str, name: str) -> list[str]:
    """Values a shell snippet assigns to ``name`` (``export NAME=v``, ``NAME=v cmd``, ``-e``)."""
    pattern = re.compile(_ASSIGN.format(name=re.escape(name)))
    return [match.group(2) for match in pattern.finditer(text)]


def _commands(config: Mapping[str, Any], key: str) -> list[str]:
    value = config.get(key) or []
    return [str(cmd) for cmd in value] if isinstance(value, list) else [str(value)]


def _run_options(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, option)`` for every ``docker run`` option of the config."""
    docker = config.get("docker") or {}
    return [(f"docker.{key}[{i}]", str(option))
            for key in ("run_options", "head_run_options", "worker_run_options")
            for i, option in enumerate(docker.get(key) or [])]


def _auth_problems(config: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        commands = enumerate(_commands(config, key))
        starts = [(i, cmd) for i, cmd in commands if _RAY_START.search(cmd)]
        if not starts:
            problems.append(_problem(source, key, "no `ray start` command"))
        for i, cmd in starts:
            before = cmd[: _RAY_START.search(cmd).start()]
            modes = _assigned(before, "RAY_AUTH_MODE")
            if not modes or modes[-1] != "token":
                problems.append(_problem(
                    source, f"{key}[{i}]",
                    "`ray start` without RAY_AUTH_MODE=token in the same command: the node would "
                    "run without token authentication (add `export RAY_AUTH_MODE=token;`)"))
    for key, option in _run_options(config):
        modes = _assigned(option, "RAY_AUTH_MODE")
        if modes and modes[-1] != "token":
            problems.append(_problem(source, key,
                                     f"RAY_AUTH_MODE={modes[-1]} turns authentication off"))
    return problems


def _token_problems(config: Mapping[str, Any], source: str, repo_root: Path | None) -> list[str]:
    texts = [*_commands(config, "head_start_ray_commands"),
             *_commands(config, "worker_start_ray_commands"),
             *(option for _, option in _run_options(config))]
    if any(_assigned(text, "RAY_AUTH_TOKEN") for text in texts):
        return [_problem(source, "RAY_AUTH_TOKEN", "the token is written into the cluster file; "
                         f"ship it as a file instead (file_mounts -> {DEFAULT_TOKEN_PATH})")]
    paths = [p for text in texts for p in _assigned(text, "RAY_AUTH_TOKEN_PATH")]
    remote = _normalize_remote(paths[-1] if paths else DEFAULT_TOKEN_PATH)
    file_mounts = config.get("file_mounts") or {}
    mounts = {_normalize_remote(str(k)): str(v) for k, v in file_mounts.items()}
    if remote not in mounts:
        return [_problem(source, "file_mounts",
                         f"no mount delivers the auth token to {remote} on the nodes "
                         f"(add \"{remote}\": \"{DEFAULT_TOKEN_PATH}\")")]
    local = mounts[remote]
    if not local.startswith(("~", "/")):
        return [_problem(source, f"file_mounts.{remote}", f"token source {local!r} is relative, "
                         "i.e. inside the repository; keep the token out of version control")]
    resolved = Path(os.path.expanduser(local)).resolve()
    if repo_root is not None and resolved.is_relative_to(Path(repo_root).resolve()):
        return [_problem(source, f"file_mounts.{remote}",
                         f"token source {local!r} lies inside the repository {repo_root}")]
    return []


def _normalize_remote(path: str) -> str:
    path = path.strip().rstrip("/")
    for home in ("$HOME/", "${HOME}/"):
        if path.startswith(home):
            path = "~/" + path[len(home):]
    return path


def _dashboard_problems(config: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    for i, cmd in enumerate(_commands(config, "head_start_ray_commands")):
        if not (_RAY_START.search(cmd) and "--head" in cmd) or _NO_DASHBOARD.search(cmd):
            continue
        hosts = [match.group(2) for match in _DASHBOARD_HOST.finditer(cmd)]
        key = f"head_start_ray_commands[{i}]"
        if not hosts:
            problems.append(_problem(source, key, "no --dashboard-host: state "
                                     "--dashboard-host=127.0.0.1 explicitly (Ray's own AWS "
                                     "defaults use 0.0.0.0)"))
        elif hosts[-1] not in LOOPBACK_HOSTS:
            problems.append(_problem(source, key, f"--dashboard-host={hosts[-1]} exposes the "
                                     "dashboard and Jobs API (they run code); use 127.0.0.1 and "
                                     "`ray dashboard CLUSTER.yaml`"))
    return problems


def image_tag_problem(image: str, *, key: str, source: str,
                      version: str | None = None) -> str | None:
    """The problem with one container image reference, or None when it pins ``version``.

    Ray's own images (``rayproject/ray...``) must have a tag that starts with the version
    (``2.60.0-py311-gpu``); any other image must carry the version somewhere in its tag.
    """
    version = version or ray_version()
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return _problem(source, key, f"image {image!r} has no tag; pin it to Ray {version}")
    if name.startswith("rayproject/"):
        pinned = tag.startswith(version)
    else:
        pinned = re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", tag) is not None
    if pinned:
        return None
    return _problem(source, key, f"image {image!r} does not match the installed Ray {version}; "
                    f"use e.g. rayproject/ray:{version}-py311-gpu")


def _image_problems(config: Mapping[str, Any], source: str) -> list[str]:
    version = ray_version()
    docker = config.get("docker") or {}
    images = {f"docker.{key}": docker[key] for key in ("image", "head_image", "worker_image")
              if docker.get(key)}
    for name, node_type in (config.get("available_node_types") or {}).items():
        image = (node_type.get("docker") or {}).get("worker_image")
        if image:
            images[f"available_node_types.{name}.docker.worker_image"] = image
    if not images:
        return [_problem(source, "docker.image", "no container image: nodes would run whatever "
                         f"Ray their machine has; use rayproject/ray:{version}-py311-gpu")]
    problems = [image_tag_problem(str(image), key=key, source=source, version=version)
                for key, image in images.items()]
    for key in ("setup_commands", "head_setup_commands", "worker_setup_commands"):
        for i, cmd in enumerate(_commands(config, key)):
            for pinned in _RAY_PIN.findall(cmd):
                if pinned != version:
                    problems.append(_problem(source, f"{key}[{i}]", f"installs Ray {pinned}, not "
                                             f"the installed Ray {version}"))
    return [problem for problem in problems if problem]


def _ingress_problems(config: Mapping[str, Any], source: str) -> list[str]:
    provider = config.get("provider") or {}
    kind = provider.get("type")
    if kind == "aws":
        return _aws_ingress_problems(config, source)
    if kind == "local":
        return _local_address_problems(provider, source)
    if kind == "fake_multinode":  # one machine, for tests; nothing listens outside it
        return []
    return [_problem(source, "provider.type", f"no ingress check for provider {kind!r}; add one "
                     "to raytuner/cluster_checks.py before using it")]


def _aws_ingress_problems(config: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    for name, node_type in (config.get("available_node_types") or {}).items():
        if not (node_type.get("node_config") or {}).get("SecurityGroupIds"):
            problems.append(_problem(
                source, f"available_node_types.{name}.node_config.SecurityGroupIds",
                "missing: Ray would create its own security group, which opens SSH to 0.0.0.0/0; "
                "give the SSH-only group from clusters/README.md"))
    rules = _get(config, "provider", "security_group", "IpPermissions") or []
    for i, rule in enumerate(rules):
        problems.extend(_rule_problems(rule, f"provider.security_group.IpPermissions[{i}]",
                                       source))
    return problems


def _rule_problems(rule: Mapping[str, Any], key: str, source: str) -> list[str]:
    problems = []
    cidrs = [r.get("CidrIp") for r in rule.get("IpRanges") or []]
    cidrs += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges") or []]
    for cidr in cidrs:
        if cidr in OPEN_CIDRS:
            problems.append(_problem(source, key, f"ingress from {cidr} (the whole internet); "
                                     "allow only your own address range"))
    protocol = str(rule.get("IpProtocol", "-1"))
    low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
    if protocol in ("-1", "all") or low == -1:
        low, high = 0, 65535
    if (protocol, low, high) != ("tcp", 22, 22):
        ray_ports = [f"{port} ({what})" for port, what in RAY_PORTS.items() if low <= port <= high]
        detail = f"; it includes Ray ports {', '.join(ray_ports)}" if ray_ports else ""
        problems.append(_problem(source, key, f"opens {protocol} {low}-{high}: only SSH (tcp 22) "
                                 f"may be reachable from outside the cluster{detail}"))
    return problems


def _local_address_problems(provider: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    addresses = [("provider.head_ip", provider.get("head_ip"))]
    addresses += [(f"provider.worker_ips[{i}]", ip)
                  for i, ip in enumerate(provider.get("worker_ips") or [])]
    for key, address in addresses:
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError:
            continue  # a host name: where it resolves is the network's business
        if ip.is_global:
            problems.append(_problem(source, key, f"{ip} is a public address: Ray's ports would "
                                     "listen on it; use the machines' private addresses"))
    return problems


def security_problems(config: Mapping[str, Any], *, source: str = "cluster config",
                      repo_root: str | os.PathLike | None = None) -> list[str]:
    """Project security rules for one launcher config (raw or as prepared by Ray).

    - every ``ray start`` sets ``RAY_AUTH_MODE=token`` in its own command (workers do not turn
      authentication on by themselves), and nothing sets it to another value;
    - the token reaches the nodes through ``file_mounts`` from a file outside the repository,
      never as a value in the cluster file;
    - the head's ``ray start`` states ``--dashboard-host`` and it is a loopback address;
    - every container image pins the installed Ray version;
    - no ingress except SSH from a chosen range: AWS nodes use a given security group (Ray's own
      opens SSH to 0.0.0.0/0), extra rules open nothing else; local machines use private IPs.
    """
    root = Path(repo_root) if repo_root is not None else None
    return [*_auth_problems(config, source), *_token_problems(config, source, root),
            *_dashboard_problems(config, source), *_image_problems(config, source),
            *_ingress_problems(config, source)]


def head_problems(config: Mapping[str, Any], *, source: str = "cluster config") -> list[str]:
    """The head must offer Ray no CPUs, so Tune never places a trial on it."""
    if (config.get("provider") or {}).get("type") == "local":
        heads = [cmd for cmd in _commands(config, "head_start_ray_commands")
                 if _RAY_START.search(cmd)]
        if heads and all(re.search(r"--num-cpus(?:=|\s+)0\b", cmd) for cmd in heads):
            return []
        return [_problem(source, "head_start_ray_commands",
                         "the head `ray start` lacks --num-cpus=0, so trials could run on it")]
    head_type = config.get("head_node_type")
    node_type = (config.get("available_node_types") or {}).get(head_type) or {}
    if (node_type.get("resources") or {}).get("CPU") != 0:
        return [_problem(source, f"available_node_types.{head_type}.resources",
                         "set CPU: 0 so no trial runs on the head")]
    return []


# --- KubeRay ------------------------------------------------------------------------------------


def _get(doc: Any, *keys: Any) -> Any:
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
    if _get(entries, "RAY_AUTH_MODE", "value") != "token":
        problems.append(_problem(source, f"{key}.env", "RAY_AUTH_MODE must be 'token'"))
    token = entries.get("RAY_AUTH_TOKEN") or {}
    if "value" in token:
        problems.append(_problem(source, f"{key}.env.RAY_AUTH_TOKEN", "the token is written into "
                                 "the manifest; take it from a Secret (valueFrom.secretKeyRef)"))
    elif not _get(token, "valueFrom", "secretKeyRef", "name"):
        problems.append(_problem(source, f"{key}.env.RAY_AUTH_TOKEN",
                                 "missing: take it from a Secret (valueFrom.secretKeyRef)"))
    return problems


def _group_problems(group: Any, key: str, source: str, *, auth_in_env: bool) -> list[str]:
    """Containers, image pins and auth env of one head or worker group."""
    container = _get(group, "template", "spec", "containers", 0)
    ckey = f"{key}.template.spec.containers[0]"
    if not isinstance(container, Mapping):
        return [_problem(source, ckey, "missing: the Ray container")]
    problems = []
    image = container.get("image")
    problem = (image_tag_problem(str(image), key=f"{ckey}.image", source=source) if image
               else _problem(source, f"{ckey}.image", "missing"))
    if problem:
        problems.append(problem)
    if auth_in_env:
        problems.extend(_env_problems(container.get("env"), ckey, source))
    return problems


def _head_group_problems(spec: Mapping[str, Any], source: str, auth_in_env: bool) -> list[str]:
    head = spec.get("headGroupSpec")
    key = "spec.headGroupSpec"
    if not isinstance(head, Mapping):
        return [_problem(source, key, "missing")]
    problems = _group_problems(head, key, source, auth_in_env=auth_in_env)
    params = head.get("rayStartParams") or {}
    if str(params.get("num-cpus")) != "0":
        problems.append(_problem(source, f"{key}.rayStartParams.num-cpus",
                                 "set \"0\" so no trial runs on the head"))
    host = params.get("dashboard-host")
    if host not in LOOPBACK_HOSTS:
        problems.append(_problem(source, f"{key}.rayStartParams.dashboard-host",
                                 f"{host!r}: set \"127.0.0.1\" explicitly (KubeRay's default is "
                                 "0.0.0.0)"))
    if head.get("serviceType", "ClusterIP") != "ClusterIP":
        problems.append(_problem(source, f"{key}.serviceType", f"{head['serviceType']!r} puts "
                                 "Ray's ports outside the Kubernetes cluster; use ClusterIP"))
    if head.get("enableIngress"):
        problems.append(_problem(source, f"{key}.enableIngress", "must not be enabled"))
    return problems


def _worker_group_problems(spec: Mapping[str, Any], source: str, auth_in_env: bool) -> list[str]:
    groups = spec.get("workerGroupSpecs")
    if not isinstance(groups, list) or not groups:
        return [_problem(source, "spec.workerGroupSpecs", "missing: at least one GPU worker group")]
    problems = []
    for i, group in enumerate(groups):
        key = f"spec.workerGroupSpecs[{i}]"
        if not _get(group, "groupName"):
            problems.append(_problem(source, f"{key}.groupName", "missing"))
        low, high = _get(group, "minReplicas"), _get(group, "maxReplicas")
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            problems.append(_problem(source, key, "minReplicas/maxReplicas must be integers with "
                                     f"0 <= minReplicas <= maxReplicas (got {low}, {high})"))
        problems.extend(_group_problems(group, key, source, auth_in_env=auth_in_env))
        gpus = _get(group, "template", "spec", "containers", 0, "resources", "limits",
                    GPU_RESOURCE)
        if not (str(gpus).isdigit() and int(gpus) > 0):
            problems.append(_problem(
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
        problems.append(_problem(source, "apiVersion", f"{manifest.get('apiVersion')!r}: "
                                 f"expected {KUBERAY_API_VERSION!r}"))
    if manifest.get("kind") != "RayCluster":
        problems.append(_problem(source, "kind", f"{manifest.get('kind')!r}: expected "
                                 "'RayCluster'"))
    if not _get(manifest, "metadata", "name"):
        problems.append(_problem(source, "metadata.name", "missing"))
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        return [*problems, _problem(source, "spec", "missing")]
    if str(spec.get("rayVersion")) != ray_version():
        problems.append(_problem(source, "spec.rayVersion", f"{spec.get('rayVersion')!r}: "
                                 f"expected the installed Ray {ray_version()!r}"))
    auth_in_env = _get(spec, "authOptions", "mode") != "token"
    problems += _head_group_problems(spec, source, auth_in_env)
    problems += _worker_group_problems(spec, source, auth_in_env)
    if auth_in_env and spec.get("enableInTreeAutoscaling"):
        problems += _env_problems(_get(spec, "autoscalerOptions", "env"),
                                  "spec.autoscalerOptions", source)
    return problems


def validate_kuberay_manifest(path: str | os.PathLike) -> list[str]:
    """Problems of the KubeRay manifest at ``path`` (empty when it passes)."""
    return kuberay_problems(load_cluster_file(path), source=str(path))


# --- one entry point ----------------------------------------------------------------------------


def check_cluster_file(path: str | os.PathLike, *,
                       repo_root: str | os.PathLike | None = None) -> list[str]:
    """Every check that fits the file at ``path``; an empty list means it passes.

    A launcher config that Ray's validator rejects still gets the security checks (on the file as
    written), so one run reports everything.
    """
    try:
        doc = load_cluster_file(path)
    except ConfigError as exc:
        return [str(exc)]
    source = str(path)
    if is_kuberay_manifest(doc):
        return kuberay_problems(doc, source=source)
    problems: list[str] = []
    try:
        config = prepare_and_validate(doc, source=source)
    except ConfigError as exc:
        problems.append(str(exc))
        config = doc
    problems += security_problems(config, source=source, repo_root=repo_root)
    problems += head_problems(config, source=source)
    return problems

