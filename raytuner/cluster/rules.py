"""What every cluster file must satisfy, whatever its kind: the ports Ray listens on, the
addresses that count as loopback or as the whole internet, images pinned to the installed Ray,
and the one-line form of a problem."""

from __future__ import annotations

import os
import re
from typing import Any

import ray

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


def ray_version() -> str:
    """The installed Ray version, which every cluster file must pin."""
    return ray.__version__


def load_cluster_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read one cluster file; anything but a YAML mapping is a :class:`ConfigError`."""
    doc = read_yaml_file(path)
    if not isinstance(doc, dict):
        raise ConfigError("expected a YAML mapping at the top level", source=str(path))
    return doc


def problem(source: str, key: str, message: str) -> str:
    return f"{source}: {key}: {message}"


def image_tag_problem(image: str, *, key: str, source: str,
                      version: str | None = None) -> str | None:
    """The problem with one container image reference, or None when it pins ``version``.

    Ray's own images (``rayproject/ray...``) must have a tag that starts with the version
    (``2.60.0-py311-gpu``); any other image must carry the version somewhere in its tag.
    """
    version = version or ray_version()
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return problem(source, key, f"image {image!r} has no tag; pin it to Ray {version}")
    if name.startswith("rayproject/"):
        pinned = tag.startswith(version)
    else:
        pinned = re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", tag) is not None
    if pinned:
        return None
    return problem(source, key, f"image {image!r} does not match the installed Ray {version}; "
                    f"use e.g. rayproject/ray:{version}-py311-gpu")
