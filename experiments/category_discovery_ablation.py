"""Generalized category discovery ablation: euclidean -> hcl -> lhl (HypGCD).

    python experiments/category_discovery_ablation.py                 # local embedded Ray
    python experiments/category_discovery_ablation.py --smoke-test    # a few minutes
    python experiments/category_discovery_ablation.py --data data/cub-gcd
    ray job submit -- python experiments/category_discovery_ablation.py --storage s3://bucket/runs

Every arm gets the same search budget (Optuna TPE + ASHA over learning rate and weight
decay; the curvature, clipping radius, class loss temperature and weight ``alpha`` from
``hcl`` on; the margin ``delta`` and weight ``beta`` for ``lhl``), starting from paired
candidates, selection on validation accuracy on held-out labelled images of old classes
(``Known``); each arm's best configuration is re-run on the shared seeds and its clusters
of the unlabelled training images are scored: All, Old, New (Hungarian matching over all
classes). Then the sweeps of the margin (``--sweep-delta``) and the curvature
(``--sweep-c``) of the full model (``hmgray.families.gcd.ablation``). Tables and plots
land in ``<storage>/<name>/report/``.
"""

import sys

from hmgray.experiment import Experiment, main
from hmgray.families.gcd import ablation

GCD = Experiment(
    task="gcd",
    script="experiments/category_discovery_ablation.py",
    title="category discovery ablation",
    printed_tables=("ladder",),
    paired_starts=10,
    # 2400 images, 6 epochs, width 32 took 27.6 min; 1600, 5, 24 took 15.8 min
    default=dict(n=1400, epochs=5, num_samples=2, seeds="0,1,2", grace_period=3,
                 sweep_delta=(0.01, 1.0), sweep_c=(0.01, 1.0)),
    smoke=dict(n=480, epochs=1, num_samples=1, seeds="1", grace_period=1,
               sweep_delta=(0.1,), sweep_c=(0.1,)),
    hooks=ablation,
)  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(GCD))
