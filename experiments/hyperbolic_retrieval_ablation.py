"""Hyperbolic image-text retrieval ablation: clip -> hrl -> meru -> bai -> sms (GAHR).

    python experiments/hyperbolic_retrieval_ablation.py                 # local embedded Ray
    python experiments/hyperbolic_retrieval_ablation.py --smoke-test    # a few minutes
    python experiments/hyperbolic_retrieval_ablation.py --data data/cuhk-pedes
    ray job submit -- python experiments/hyperbolic_retrieval_ablation.py --storage s3://bucket/runs

Every arm gets the same search budget (Optuna TPE + ASHA over learning rate, weight decay
and temperature; the curvature (initial value, learnable or fixed) from ``hrl`` on; the
entailment weight from ``meru``; the BAI weight from ``bai``; the margin for ``sms``),
starting from paired candidates (what two arms share is drawn alike), selection on
validation R@1 (text-to-image, matched by identity); each arm's best configuration is
re-run on the shared seeds and evaluated on test: R@1, R@5, R@10, mAP, mINP, and the
curvature the run ended with. Then the curvature sweep (``--sweep``): the last hyperbolic
arm's configuration with the curvature fixed at each value
(``hmgray.families.retrieval.ablation``). Tables and plots land in
``<storage>/<name>/report/``.
"""

import sys

from hmgray.experiment import Experiment, main
from hmgray.families.retrieval import ablation

RETRIEVAL = Experiment(
    task="retrieval",
    script="experiments/hyperbolic_retrieval_ablation.py",
    title="hyperbolic retrieval ablation",
    printed_tables=("ladder",),
    # the curvature each run ended with (learnable-c runs move it; NaN for clip)
    extra_metrics=("val_c", "test_c"),
    summary_columns=("test_c",),
    paired_starts=10,
    # 8 epochs of 4000 pairs took 17.1 min; 6 of 3200 fit the 15-minute budget
    default=dict(n=3200, epochs=6, num_samples=2, seeds="0,1,2", grace_period=3,
                 sweep=(0.1, 1.0, 10.0)),
    smoke=dict(n=480, epochs=1, num_samples=1, seeds="1", grace_period=1, sweep=(1.0,)),
    hooks=ablation,
)  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(RETRIEVAL))
