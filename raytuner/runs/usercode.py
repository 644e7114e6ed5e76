"""The user's own modules (``model.name: mymodels:net``): found in the current folder, on
this machine and on a cluster's workers.

``python -m``, uvicorn and gunicorn look for ``module:attr`` in the current folder first; so
does ``raytuner``. On this machine Ray's workers already search the driver's current folder
(Ray adds it to their ``sys.path``); a cluster's nodes do not have that folder, so the modules
found in it travel to them in the job's runtime environment (``py_modules``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.registry import is_import_path
from raytuner.search.space import all_params


def add_current_folder() -> None:
    """Put the current folder first on the import path (the ``raytuner`` console script,
    unlike ``python -m``, does not)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def user_module_names(exp: Experiment) -> list[str]:
    """Top-level modules of every import path the experiment names, searched ones included."""
    names = [exp.model.get("name"), exp.data.name]
    for param in all_params(exp.space):
        if param.path in ("model.name", "data.name"):
            names += [v for v in param.finite_values() or [] if isinstance(v, str)]
    found = [n.partition(":")[0].split(".")[0] for n in names
             if isinstance(n, str) and is_import_path(n)]
    return sorted(set(found))


def local_module_paths(exp: Experiment, folder: str | Path | None = None) -> list[str]:
    """Files or package folders, inside ``folder`` (default: the current one), of the user's
    modules the experiment names."""
    root = Path(folder or os.getcwd()).resolve()
    paths = []
    for name in user_module_names(exp):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        locations = list(spec.submodule_search_locations or [])
        path = Path(locations[0] if locations else spec.origin).resolve()
        if path.is_relative_to(root):
            paths.append(str(path))
    return paths


#: set by Ray for the driver of a job started with ``ray job submit``: that job's own runtime
#: environment (its ``working_dir``, the folder it was submitted from) already carries the
#: user's modules, and Ray merges what ``ray.init`` adds into it
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def cluster_runtime_env(exp: Experiment) -> dict[str, Any] | None:
    """The runtime environment that ships the user's modules from the current folder to a
    cluster's workers, or None when there are none to ship (or the driver runs in a submitted
    job, whose ``working_dir`` ships them)."""
    if JOB_CONFIG_ENV in os.environ:
        return None
    paths = local_module_paths(exp)
    return {"py_modules": paths} if paths else None
