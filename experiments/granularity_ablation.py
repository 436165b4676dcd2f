"""HMG-Net granularity ablation: global -> micro -> meso -> full, fairly tuned, on Ray.

    python experiments/granularity_ablation.py                 # local embedded Ray
    python experiments/granularity_ablation.py --smoke-test    # a few minutes
    ray job submit -- python experiments/granularity_ablation.py --storage s3://bucket/runs

Every arm gets the same search budget (Optuna TPE + ASHA, selection on validation); each
arm's best configuration is re-run on the shared seeds and evaluated on test; the
ablation table (LaTeX, Markdown, CSV) and plots land in ``<storage>/<name>/report/``.
The stages, the folder layout and ``--resume`` are ``hmgray.experiment``'s.
"""

import sys

from hmgray.experiment import Experiment, main

# Default size: the planted ordering in <= 15 min on 2 cores. ASHA's first rung at epoch
# 4: the micro and meso arms learn the defects and detached parts after epoch ~4, so an
# earlier rung cannot tell a good configuration from a bad one.
GRANULARITY = Experiment(
    task="valuation",
    script="experiments/granularity_ablation.py",
    title="granularity ablation",
    default=dict(n=4000, epochs=8, num_samples=3, seeds="0,1,2", grace_period=4),
    smoke=dict(n=300, epochs=2, num_samples=1, seeds="1", grace_period=1),
)

if __name__ == "__main__":
    sys.exit(main(GRANULARITY))
