"""MGIPF's coarse-loss ablation: per backbone (DIN, DeepFM), fine -> hard -> mgipf.

    python experiments/coarse_loss_ablation.py                 # local embedded Ray
    python experiments/coarse_loss_ablation.py --smoke-test    # a few minutes
    python experiments/coarse_loss_ablation.py --data data/taobao    # converted shards
    ray job submit -- python experiments/coarse_loss_ablation.py --storage s3://bucket/runs

Every arm gets the same search budget (Optuna TPE + ASHA over learning rate, embedding
size and L2, plus ``w_coarse`` (log, 0.01 to 10) and ``w_main`` where the arm has coarse
heads, and ``w_pn``, ``w_nn`` for the soft coarse loss), selection on validation AUC;
every arm's first trial is the task's default configuration (``CtrConfig``: the authors'
Taobao DIN loss weights), paired candidates (what two arms share is drawn alike) fill the
rest of TPE's start-up where the budget leaves room (4 trials or more), and
each arm's best configuration is re-run on the shared seeds and evaluated on test (AUC,
group AUC, logloss, AUC on long-tail items). Each arm is compared with the arm before it
in its backbone's ladder. Then the sweep: the first ``mgipf`` arm's configuration at each
``--sweep`` value of ``w_coarse`` (``hmgray.families.ctr.ablation``). Tables and plots
land in ``<storage>/<name>/report/``.
"""

import sys

from hmgray.experiment import Experiment, main
from hmgray.families.ctr import ablation

COARSE = Experiment(
    task="ctr",
    script="experiments/coarse_loss_ablation.py",
    title="coarse-loss ablation",
    printed_tables=("ladder",),
    # after the default configuration, the start-up's trials take the same draws of what
    # the arms share (learning rate, embedding size, L2; w_coarse and w_main for the coarse
    # arms), so that an arm cannot win by a luckier draw; TPE proposes the trials beyond
    paired_starts=10,
    # every arm's first trial is the task's default configuration (CtrConfig's: the
    # authors' Taobao DIN loss weights); TPE's random start-up is a third of the budget
    start_from_default=True,
    default=dict(n=75000, epochs=2, num_samples=2, seeds="0,1,2", grace_period=1,
                 sweep=(0.3, 10.0)),
    smoke=dict(n=3000, epochs=1, num_samples=1, seeds="1", grace_period=1, sweep=(0.1, 1.0)),
    hooks=ablation,
)  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(COARSE))
