"""Multimodal recommender modality ablation: graph, text, image, concat, fusion, fusion+FM.

    python experiments/modality_ablation.py                 # local embedded Ray
    python experiments/modality_ablation.py --smoke-test    # a few minutes
    python experiments/modality_ablation.py --data data/amazon-baby   # converted shards
    ray job submit -- python experiments/modality_ablation.py --storage s3://bucket/runs

Every arm gets the same search budget (Optuna TPE + ASHA over learning rate, BPR's
lambda, the fusion width, dropout, and the attention / FM widths where the arm has them),
selection on validation Recall@20; each arm's best configuration is re-run on the shared
seeds and evaluated on test (Recall@10/20, NDCG@10/20, full ranking over all items, the
user's seen items masked). ``fusion_mean`` is ``fusion`` with mean-imputed missing
images; the robustness table (``hmgray.families.recommender.robustness``) removes 25 and
50 % of the item images at test time. Tables and plots land in ``<storage>/<name>/report/``.
"""

import sys

from hmgray.experiment import Experiment, main
from hmgray.families.recommender import robustness

# Default size: the planted ordering within 15 min on 2 CPU cores.
MODALITY = Experiment(
    task="recommender",
    script="experiments/modality_ablation.py",
    title="modality ablation",
    arms=("graph", "text", "image", "concat", "fusion", "fusion_mean", "fusion_fm"),
    arm_overrides={"fusion_mean": {"arm": "fusion", "missing_image": "mean"}},
    reference_arm="fusion_fm",
    extra_metrics=robustness.COLUMNS,
    printed_tables=("ladder", "robustness"),
    summary_columns=("test_ranking_ms_per_user",),
    default=dict(n=10000, epochs=6, num_samples=2, seeds="0,1,2", grace_period=3),
    smoke=dict(n=600, epochs=2, num_samples=1, seeds="1", grace_period=1),
    hooks=robustness,
)

if __name__ == "__main__":
    sys.exit(main(MODALITY))
