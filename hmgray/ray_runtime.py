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
