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
- :func:`raytuner.cluster.kuberay.validate_kuberay_manifest`: the structure of a
  ``RayCluster`` plus the same security rules expressed in Kubernetes terms.

Nothing here starts Ray or calls a cloud API.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from raytuner import _ray_compat
from raytuner.cluster.kuberay import get_key, is_kuberay_manifest, kuberay_problems
from raytuner.cluster.rules import (
    DEFAULT_TOKEN_PATH,
    LOOPBACK_HOSTS,
    OPEN_CIDRS,
    RAY_PORTS,
    image_tag_problem,
    load_cluster_file,
    problem,
    ray_version,
)
from raytuner.errors import ConfigError

_RAY_START = re.compile(r"\bray\s+start\b")
_ASSIGN = r"(?:^|[\s;&|(]){name}=(['\"]?)([^\s;'\"&|)]*)\1"
_DASHBOARD_HOST = re.compile(r"--dashboard-host(?:=|\s+)(['\"]?)([^\s;'\"&|]+)\1")
_NO_DASHBOARD = re.compile(r"--include-dashboard(?:=|\s+)['\"]?(?:false|False|0)\b")
_RAY_PIN = re.compile(r"\bray(?:\[[^\]]*\])?==([0-9][0-9A-Za-z.]*)")








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
    provider = config.get("provider")
    if not isinstance(provider, Mapping) or not isinstance(provider.get("type"), str):
        raise ConfigError("must be a mapping with a 'type' (aws, local, ...)", source=source,
                          path="provider")
    try:
        prepared = _ray_compat.prepare_and_validate_launcher_config(config)
    except jsonschema.ValidationError as exc:
        key = ".".join(str(part) for part in exc.absolute_path) or "(top level)"
        raise ConfigError(f"rejected by Ray's schema: {exc.message}", source=source,
                          path=key) from None
    except Exception as exc:  # Ray raises ValueError, KeyError, click exceptions, ...
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise ConfigError(f"rejected by Ray's validator: {message}", source=source) from None
    return prepared


# --- launcher security --------------------------------------------------------------------------




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
            problems.append(problem(source, key, "no `ray start` command"))
        for i, cmd in starts:
            before = cmd[: _RAY_START.search(cmd).start()]
            modes = _assigned(before, "RAY_AUTH_MODE")
            if not modes or modes[-1] != "token":
                problems.append(problem(
                    source, f"{key}[{i}]",
                    "`ray start` without RAY_AUTH_MODE=token in the same command: the node would "
                    "run without token authentication (add `export RAY_AUTH_MODE=token;`)"))
    for key, option in _run_options(config):
        modes = _assigned(option, "RAY_AUTH_MODE")
        if modes and modes[-1] != "token":
            problems.append(problem(source, key,
                                     f"RAY_AUTH_MODE={modes[-1]} turns authentication off"))
    return problems


def _token_problems(config: Mapping[str, Any], source: str, repo_root: Path | None) -> list[str]:
    texts = [*_commands(config, "head_start_ray_commands"),
             *_commands(config, "worker_start_ray_commands"),
             *(option for _, option in _run_options(config))]
    if any(_assigned(text, "RAY_AUTH_TOKEN") for text in texts):
        return [problem(source, "RAY_AUTH_TOKEN", "the token is written into the cluster file; "
                         f"ship it as a file instead (file_mounts -> {DEFAULT_TOKEN_PATH})")]
    paths = [p for text in texts for p in _assigned(text, "RAY_AUTH_TOKEN_PATH")]
    remote = _normalize_remote(paths[-1] if paths else DEFAULT_TOKEN_PATH)
    file_mounts = config.get("file_mounts") or {}
    mounts = {_normalize_remote(str(k)): str(v) for k, v in file_mounts.items()}
    if remote not in mounts:
        return [problem(source, "file_mounts",
                         f"no mount delivers the auth token to {remote} on the nodes "
                         f"(add \"{remote}\": \"{DEFAULT_TOKEN_PATH}\")")]
    local = mounts[remote]
    if not local.startswith(("~", "/")):
        return [problem(source, f"file_mounts.{remote}", f"token source {local!r} is relative, "
                         "i.e. inside the repository; keep the token out of version control")]
    resolved = Path(os.path.expanduser(local)).resolve()
    if repo_root is not None and resolved.is_relative_to(Path(repo_root).resolve()):
        return [problem(source, f"file_mounts.{remote}",
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
            problems.append(problem(source, key, "no --dashboard-host: state "
                                     "--dashboard-host=127.0.0.1 explicitly (Ray's own AWS "
                                     "defaults use 0.0.0.0)"))
        elif hosts[-1] not in LOOPBACK_HOSTS:
            problems.append(problem(source, key, f"--dashboard-host={hosts[-1]} exposes the "
                                     "dashboard and Jobs API (they run code); use 127.0.0.1 and "
                                     "`ray dashboard CLUSTER.yaml`"))
    return problems




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
        return [problem(source, "docker.image", "no container image: nodes would run whatever "
                         f"Ray their machine has; use rayproject/ray:{version}-py311-gpu")]
    problems = [image_tag_problem(str(image), key=key, source=source, version=version)
                for key, image in images.items()]
    for key in ("setup_commands", "head_setup_commands", "worker_setup_commands"):
        for i, cmd in enumerate(_commands(config, key)):
            for pinned in _RAY_PIN.findall(cmd):
                if pinned != version:
                    problems.append(problem(source, f"{key}[{i}]", f"installs Ray {pinned}, not "
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
    return [problem(source, "provider.type", f"no ingress check for provider {kind!r}; add one "
                     "to raytuner/cluster/files.py before using it")]


def _aws_ingress_problems(config: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    for name, node_type in (config.get("available_node_types") or {}).items():
        if not (node_type.get("node_config") or {}).get("SecurityGroupIds"):
            problems.append(problem(
                source, f"available_node_types.{name}.node_config.SecurityGroupIds",
                "missing: Ray would create its own security group, which opens SSH to 0.0.0.0/0; "
                "give the SSH-only group from clusters/README.md"))
    rules = get_key(config, "provider", "security_group", "IpPermissions") or []
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
            problems.append(problem(source, key, f"ingress from {cidr} (the whole internet); "
                                     "allow only your own address range"))
    protocol = str(rule.get("IpProtocol", "-1"))
    low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
    if protocol in ("-1", "all") or low == -1:
        low, high = 0, 65535
    if (protocol, low, high) != ("tcp", 22, 22):
        ray_ports = [f"{port} ({what})" for port, what in RAY_PORTS.items() if low <= port <= high]
        detail = f"; it includes Ray ports {', '.join(ray_ports)}" if ray_ports else ""
        problems.append(problem(source, key, f"opens {protocol} {low}-{high}: only SSH (tcp 22) "
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
            problems.append(problem(source, key, f"{ip} is a public address: Ray's ports would "
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
        return [problem(source, "head_start_ray_commands",
                         "the head `ray start` lacks --num-cpus=0, so trials could run on it")]
    head_type = config.get("head_node_type")
    node_type = (config.get("available_node_types") or {}).get(head_type) or {}
    if (node_type.get("resources") or {}).get("CPU") != 0:
        return [problem(source, f"available_node_types.{head_type}.resources",
                         "set CPU: 0 so no trial runs on the head")]
    return []


# --- KubeRay ------------------------------------------------------------------------------------
















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

