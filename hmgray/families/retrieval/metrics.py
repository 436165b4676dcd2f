"""Text-to-image retrieval metrics, matched by identity (the person-search protocol of
IRRA's ``utils/metrics.py``): every text is a query against the whole image gallery, and a
gallery image is correct when it shows the query's identity (or class).

For one query with gallery ranked by descending similarity and ``match_r`` = 1 when the
image at rank r (1-based) is correct, ``n`` correct images in all:

* ``R@K`` (higher is better): 1 if any of the top K is correct; averaged over queries.
* ``AP = (1 / n) sum_{r : match_r} (sum_{s <= r} match_s) / r``; ``mAP`` its mean.
* ``INP = n / r_last`` (Ye et al., "Deep learning for person re-identification", 2021),
  ``r_last`` the rank of the last (hardest) correct image; ``mINP`` its mean. It says how
  much of the list a user must read to find every correct image.

All in percent, as the papers report them. Queries without any correct image in the
gallery are an error (the protocol has none; a converter that makes one is wrong). Ties
in similarity keep gallery order (a stable sort), so a constant model does not score by
luck of the sort. The whole (Q, G) similarity matrix is ranked at once in chunks of
queries; tests check it against torchmetrics' retrieval metrics and hand-worked lists.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rank_metrics"]

RANKS = (1, 5, 10)


@torch.no_grad()
def rank_metrics(
    similarity: Tensor, query_ids: Tensor, gallery_ids: Tensor, chunk: int = 1024
) -> dict[str, float]:
    """``{"r1", "r5", "r10", "map", "minp"}`` in percent.

    Shapes: similarity (Q, G) (higher = more alike), query_ids (Q,), gallery_ids (G,).
    """
    q, g = similarity.shape
    if query_ids.shape != (q,) or gallery_ids.shape != (g,):
        raise ValueError(
            f"similarity is {tuple(similarity.shape)} but query_ids is "
            f"{tuple(query_ids.shape)} and gallery_ids {tuple(gallery_ids.shape)}"
        )
    sums = dict.fromkeys(("r1", "r5", "r10", "map", "minp"), 0.0)
    ranks = torch.arange(1, g + 1, dtype=torch.float64, device=similarity.device)
    for i in range(0, q, chunk):
        sim, qid = similarity[i : i + chunk].float(), query_ids[i : i + chunk]
        order = torch.sort(sim, dim=1, descending=True, stable=True).indices  # (B, G)
        match = gallery_ids[order] == qid[:, None]  # (B, G), ranked
        n = match.sum(1)
        if bool((n == 0).any()):
            bad = int(qid[n == 0][0])
            raise ValueError(f"query identity {bad} has no image in the gallery")
        hits = match.cumsum(1).double()  # correct images within the top r
        for k in RANKS:
            sums[f"r{k}"] += float((hits[:, min(k, g) - 1] > 0).sum())
        sums["map"] += float(((hits / ranks) * match).sum(1).div(n).sum())
        last = g - 1 - torch.flip(match, dims=[1]).double().argmax(1)  # 0-based rank of last hit
        sums["minp"] += float((n.double() / (last + 1).double()).sum())
    return {k: 100.0 * v / q for k, v in sums.items()}
