"""Clusters: what the connected Ray cluster can hold, this machine's resources, and the offline
checks of the cluster files in ``clusters/`` (which are not runtime code).

- :mod:`~raytuner.cluster.capacity`: nodes, autoscaler node types, trials that fit (Ray side);
- :mod:`~raytuner.cluster.machine`: this machine's CPUs and GPUs, checked before Ray starts;
- :mod:`~raytuner.cluster.files` and :mod:`~raytuner.cluster.kuberay`: launcher configs and
  KubeRay manifests checked against Ray's schema and the project's security rules.
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "check_cluster": "capacity", "default_max_concurrent": "capacity",
    "check_local_resources": "machine", "check_cluster_file": "files",
})
