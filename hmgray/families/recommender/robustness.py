"""The modality ablation's robustness table: test metrics with 0, 25 and 50 % of the item
images removed at test time, the masking ``fusion`` against the same model with
mean-imputed missing images (``fusion_mean``: ``missing_image = "mean"``, MMRec's
handling), and the full model.

Nothing is re-trained: the confirmation runs evaluate their test split once more per
removal rate (``eval_groups`` -> the model's ``rescore``), on one fixed set of removed
images for every arm and seed (``model.image_drop_mask``), so the comparison is paired.
The results columns are ``test_drop25_<metric>`` and ``test_drop50_<metric>``; the
table is a ``comparisons`` entry of the results metadata whose rows are those column
variants (``analysis.compare``).

Used as the ``hooks`` of ``experiments/modality_ablation.py``.
"""

from __future__ import annotations

from hmgray.search.ablation import Condition

RATES = {"drop25": 0.25, "drop50": 0.5}
METRICS = ("recall_10", "recall_20", "ndcg_10", "ndcg_20")
COLUMNS = (
    *(f"test_{g}_{m}" for g in RATES for m in METRICS),
    "test_ranking_ms_per_user",  # full-ranking time per user, in the run summary
)
ARMS = ("fusion", "fusion_mean", "fusion_fm")


def conditions(ctx) -> list[Condition]:
    """The plain confirmation, with the image-removal rates evaluated on test."""
    return [Condition("confirm", {"eval_groups": dict(RATES)})]


def metadata(ctx) -> dict:
    shown = [a for a in ARMS if a in ctx.args.arms]
    return {
        "comparisons": [
            {
                "name": "robustness",
                "param": "image_removal",
                "variants": {"0 %": "", "25 %": "drop25_", "50 %": "drop50_"},
                "arms": shown or list(ctx.args.arms),
                "metrics": ["test_recall_20", "test_ndcg_20"],
                "row_header": "item images removed at test time",
                "title": (
                    "robustness to missing images: the same trained models, a fixed share "
                    "of item images removed at test time; fusion masks a missing image, "
                    "fusion_mean imputes the mean image feature"
                ),
            }
        ]
    }
