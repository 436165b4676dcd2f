"""Joining or starting Ray: the one place that calls ``ray.init``.

A script run as ``python experiments/x.py`` starts a local, embedded Ray. The same
script run as ``ray job submit -- python experiments/x.py`` (the job supervisor sets
``RAY_ADDRESS``) or with ``RAY_ADDRESS`` exported joins that cluster instead, unchanged.
Token authentication stays on: a local Ray generates its token; a client joining a
cluster needs ``RAY_AUTH_MODE=token`` and ``~/.ray/auth_token`` (see README).
"""

from __future__ import annotations

import logging
import os

import ray


def cluster_address() -> str | None:
    """The address of the cluster to join, or None to start a local Ray."""
    return os.environ.get("RAY_ADDRESS") or None


def init_ray(
    *, num_cpus: int | None = None, quiet: bool = True, log_to_driver: bool = True
) -> dict:
    """Join the cluster named by ``RAY_ADDRESS`` or start a local Ray; return its resources.

    Local Ray gets every core by default (Ray Data's read/decode tasks need CPU beside
    the training workers). ``quiet`` turns Ray Data's per-operator progress bars off:
    our own progress lines say what runs. ``log_to_driver=False`` keeps the workers'
    output in Ray's session logs instead of echoing it in this process (the experiment
    runner collects those logs into the experiment folder).
    """
    if ray.is_initialized():
        return ray.cluster_resources()
    address = cluster_address()
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=log_to_driver)
    else:
        # Ray Train's Prometheus metrics callbacks cost start-up time in every run and
        # nothing reads them on an embedded Ray.
        os.environ.setdefault("RAY_TRAIN_METRICS_ENABLED", "0")
        # Nothing preempts the processes of an embedded Ray; Train's preemption watcher
        # is one more actor (a process start) per run. A cluster keeps it.
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=log_to_driver,
        )
    if quiet:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    return ray.cluster_resources()


AUTOSCALING_CONFIG_ENV = "HMGRAY_AUTOSCALING_CONFIG"
BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"  # where `ray up` puts it on the head


def autoscaler_ceiling() -> dict[str, float] | None:
    """What the cluster may grow to: the autoscaler's configured maximum, per resource.

    From, in order: the cluster config an autoscaler reports to the GCS (KubeRay and
    autoscaler v2 do; read with ``ray._private.state.state.get_max_resources_from_cluster_config``,
    the function Ray Data's own autoscaling uses, private in Ray 2.60, hence the guard);
    else the cluster launcher config the autoscaler runs with, read on this node (a job's
    driver runs on the head): ``$HMGRAY_AUTOSCALING_CONFIG`` or ``~/ray_bootstrap_config.yaml``
    (:func:`ceiling_from_launcher_config`). None when no node type can scale up (a fixed
    cluster, an embedded Ray) or neither is there; an unlimited maximum
    (``max_count: -1``) reads as None too, since nothing can be sized from it.
    """
    try:
        import ray._private.state as ray_state
        from ray.data._internal.cluster_autoscaler.util import is_autoscaling_enabled

        config = ray_state.state.get_cluster_config()
        if config is not None and config.node_group_configs:
            if not is_autoscaling_enabled():
                return None
            most = ray_state.state.get_max_resources_from_cluster_config() or {}
            if not most or any(v >= 2**62 for v in most.values()):
                return None
            return {k: float(v) for k, v in most.items()}
    except Exception:  # a private API: never let it stop an experiment
        pass
    path = os.path.expanduser(os.environ.get(AUTOSCALING_CONFIG_ENV) or BOOTSTRAP_CONFIG)
    if os.path.isfile(path):
        return ceiling_from_launcher_config(path)
    return None


def ceiling_from_launcher_config(path: str) -> dict[str, float] | None:
    """The most of each resource a cluster launcher config (``cluster/aws-gpu.yaml``,
    ``cluster/fake-multinode.yaml``) lets the cluster have: the head type's resources plus,
    for every worker type, its ``max_workers`` (at most the cluster's ``max_workers``)
    times its resources. A type whose resources are left to detection (``{}``) adds
    nothing. None when no worker type can scale up."""
    import yaml

    with open(path) as f:
        config = yaml.safe_load(f) or {}
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    cap = config.get("max_workers")
    total: dict[str, float] = {}
    scalable = False
    for name, spec in types.items():
        spec = spec or {}
        if name == head:
            count = 1
        else:
            count = int(spec.get("max_workers", cap if cap is not None else 0))
            if cap is not None:
                count = min(count, int(cap))
            scalable |= count > int(spec.get("min_workers", 0))
        for k, v in (spec.get("resources") or {}).items():
            total[k] = total.get(k, 0.0) + count * float(v)
    return total if scalable and total else None


_standing_request = False  # whether this process has a request before the autoscaler


def ask_autoscaler(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler for room for ``bundles`` now (``ray.autoscaler.sdk.request_resources``:
    it scales up at once instead of one pending placement group at a time). The request
    stands until replaced: :func:`withdraw_autoscaler_request` withdraws it, so the
    cluster can scale down when the experiment ends."""
    global _standing_request
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)
    _standing_request = bool(bundles)


def withdraw_autoscaler_request() -> None:
    """Withdraw this process's standing request (:func:`ask_autoscaler`), if it made one."""
    global _standing_request
    from ray.autoscaler.sdk import request_resources

    if _standing_request and ray.is_initialized():
        request_resources(num_cpus=0, bundles=[])
    _standing_request = False
