"""Converters from real public formats to hmgray shards, one entry point for all::

    python -m hmgray.data.formats craigslist --csv vehicles.csv --msrp msrp.csv --out DIR
    python -m hmgray.data.formats mercari --tsv train.tsv --msrp msrp.csv --out DIR
    python -m hmgray.data.formats amazon2023 --reviews Baby.jsonl.gz --meta meta_Baby.jsonl.gz \\
        --out DIR [--images DIR] [--k-core 5]
    python -m hmgray.data.formats taobao --raw-sample raw_sample.csv --ad-feature ad_feature.csv \\
        --user-profile user_profile.csv --behavior-log behavior_log.csv --out DIR
    python -m hmgray.data.formats userbehavior --csv UserBehavior.csv --out DIR [--seed 0]
    python -m hmgray.data.formats ijcai15 --user-log user_log_format1.csv \\
        --user-info user_info_format1.csv --out DIR [--seed 0]
    python -m hmgray.data.formats cuhk-pedes --json reid_raw.json --images imgs --out DIR
    python -m hmgray.data.formats icfg-pedes --json ICFG-PEDES.json --images imgs --out DIR
    python -m hmgray.data.formats rstpreid --json data_captions.json --images imgs --out DIR
    python -m hmgray.data.formats cub --root CUB_200_2011 --text text_c10 --out DIR

Each format belongs to a family; :data:`CONVERTERS` maps it to the family's command-line
module (``main(argv) -> exit status``), imported only when that format is asked for.
"""

from __future__ import annotations

__all__ = ["CONVERTERS"]

# format -> (module with main(argv), what it reads)
CONVERTERS: dict[str, tuple[str, str]] = {
    "craigslist": (
        "hmgray.families.valuation.data.formats.__main__",
        "Kaggle 'Used Cars Dataset' vehicles.csv (valuation)",
    ),
    "mercari": (
        "hmgray.families.valuation.data.formats.__main__",
        "Mercari Price Suggestion train.tsv (valuation)",
    ),
    "amazon2023": (
        "hmgray.families.recommender.data.formats.__main__",
        "Amazon Reviews 2023 <Category>.jsonl + meta_<Category>.jsonl (recommender)",
    ),
    "taobao": (
        "hmgray.families.ctr.data.formats.__main__",
        "Taobao display ads (Tianchi 56) raw_sample/ad_feature/user_profile/behavior_log (ctr)",
    ),
    "userbehavior": (
        "hmgray.families.ctr.data.formats.__main__",
        "UserBehavior.csv (Tianchi 649) (ctr)",
    ),
    "ijcai15": (
        "hmgray.families.ctr.data.formats.__main__",
        "IJCAI-15 user_log_format1.csv + user_info_format1.csv (Tianchi 42) (ctr)",
    ),
    "cuhk-pedes": (
        "hmgray.families.retrieval.data.formats.__main__",
        "CUHK-PEDES reid_raw.json + imgs/ (retrieval)",
    ),
    "icfg-pedes": (
        "hmgray.families.retrieval.data.formats.__main__",
        "ICFG-PEDES ICFG-PEDES.json + imgs/ (retrieval)",
    ),
    "rstpreid": (
        "hmgray.families.retrieval.data.formats.__main__",
        "RSTPReid data_captions.json + imgs/ (retrieval)",
    ),
    "cub": (
        "hmgray.families.retrieval.data.formats.__main__",
        "CUB-200-2011 folder + text_c10 captions (retrieval)",
    ),
    "cub-gcd": (
        "hmgray.families.gcd.data.formats.__main__",
        "CUB-200-2011 folder, the GCD class split (gcd)",
    ),
}
