"""Anchor effectiveness: direct price regression vs P = MSRP * (1 - delta), on Ray.

    python experiments/anchor_effectiveness.py                 # local embedded Ray
    python experiments/anchor_effectiveness.py --smoke-test    # a few minutes
    ray job submit -- python experiments/anchor_effectiveness.py --storage s3://bucket/runs

The two arms are the same HMG-Net (model arm ``full``: every granularity level and the
market graph) with different heads (``hmgray.families.valuation.model``)::

    direct:  price = price_scale * softplus(f_entity([E_entity, MSRP / price_scale]) + ...)
    anchor:  delta = sigmoid(f_entity(E_entity) + ...),  price = MSRP * (1 - delta)

The direct head also receives MSRP as an input feature, so the comparison isolates the
multiplicative anchor, not access to MSRP. The reference arm is ``anchor``.

Both arms are searched once with the same budget on the full training split (selection on
validation); each arm's best configuration is then re-trained, unchanged, on every
training set (full, few-shot k, long-tail; ``hmgray.families.valuation.anchor``) over the
shared seeds, all in one Tune grid, and evaluated on test. Every confirmation run records
its validation-loss curve (``--evals-per-epoch`` points per full-data epoch); the report
has the full-data, few-shot and long-tail tables and ``curves.png``.
"""

import sys

from hmgray.experiment import Experiment, main
from hmgray.families.valuation import anchor

# Default size: fits 15 min on 2 cores (2 search trials per arm, then 2 arms x 3 seeds x
# 5 training sets); both arms' searches draw the same candidates (same space, same seed).
ANCHOR = Experiment(
    task="valuation",
    script="experiments/anchor_effectiveness.py",
    title="anchor effectiveness",
    arms=("direct", "anchor"),
    arm_overrides={
        "direct": {"arm": "full", "head": "direct"},
        "anchor": {"arm": "full", "head": "depreciation"},
    },
    reference_arm="anchor",
    ladder="star",  # a head against a head, not a ladder of stages
    extra_metrics=anchor.HEAD_TAIL,
    printed_tables=("ladder", "fewshot", "longtail"),
    default=dict(
        n=3000, epochs=3, num_samples=2, seeds="0,1,2", grace_period=1, k="5,20,80", longtail_k=20
    ),
    smoke=dict(n=300, epochs=2, num_samples=1, seeds="1", grace_period=1, k="3", longtail_k=3),
    hooks=anchor,  # flags, the training sets, their conditions and tables
)

if __name__ == "__main__":
    sys.exit(main(ANCHOR))
