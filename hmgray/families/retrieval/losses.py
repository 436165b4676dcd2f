"""The retrieval losses, with the write-ups' symbols.

Contrastive loss (every arm) over a batch of B (image, caption) pairs with similarity
``S`` (cosine for ``clip``, ``-d_L`` for the hyperbolic arms; :func:`similarity`) and
``1 / tau`` the learnable logit scale. Targets are by identity, as in person search:
``q_ij = [id_i = id_j] / sum_k [id_i = id_k]``, so two captions of one person are not
pushed apart. With GAHR's **semantic margin softmax** (arm ``sms``, margin ``lambda``)::

    p_ij = exp(S(h_i^v, h_j^t) / tau)
           / sum_k exp((S(h_i^v, h_k^t) + lambda D(h_i^v, h_k^v)) / tau)
    D(h_i^v, h_k^v) = S(h_i^v, h_i^v) - S(h_i^v, h_k^v)
    L_i2t = -sum_ij q_ij log p_ij / B

and ``L_t2i`` the same with the roles of image and text swapped (``D`` over the texts);
``L = (L_i2t + L_t2i) / 2``; ``lambda = 0`` is the plain InfoNCE. ``D`` is the distance
between the two *images* (``S`` is ``-d_L``, so ``D = d_L(h_i^v, h_k^v)`` up to the clamp at
0): a negative whose image lies far from the anchor's must be beaten by a wider margin.
It carries no gradient, as in the authors' code (a margin, not a target). The released
code builds ``D`` from image-*text* distances (``sim_i2i_s`` is computed against the
texts); we implement the write-up's image-image ``D``.

**Entailment** (MERU; arms ``meru`` onward): ``L_ent = mean_i max(0, ext(h_i^t, h_i^v) -
aper(h_i^t))``: the image must lie in the text's entailment cone.

**BAI's local losses** (arms ``bai``, ``sms``), on the tokens and their cross-attended
contexts (``layers/bai.py``): text side, an InfoNCE over every word of the batch between
the word ``f^{t_m}`` and the image context it saw ``c^{t_m}`` (its own context is the
positive, every other word's the negatives; unit vectors, learnable scale); image side,
the similarity alignment of each image token with the text context it saw,
``-(cos(P f^{v_n}, sg(c^{v_n})) + cos(P c^{v_n}, sg(f^{v_n}))) / 2`` with a predictor ``P``
and stop-gradient ``sg`` (SimSiam's form, as the authors' ``bt2i``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmgray.nn.hyperbolic import float32_block, lorentz

__all__ = [
    "bai_image_loss",
    "bai_text_loss",
    "entailment_loss",
    "identity_targets",
    "margin_contrastive",
    "retrieval_loss",
    "similarity",
]


def identity_targets(ids: Tensor) -> Tensor:
    """(B,) identities -> (B, B) rows summing to 1 over the pairs of the same identity."""
    same = (ids[:, None] == ids[None, :]).float()
    return same / same.sum(1, keepdim=True)


def similarity(a: Tensor, b: Tensor, c: Tensor | float | None) -> Tensor:
    """S of every row of ``a`` against every row of ``b``, (N, D) x (M, D) -> (N, M),
    higher = closer: cosine for unit vectors (``c`` None), ``-d_L`` on the Lorentz model
    of curvature ``-c`` otherwise. Training logits and evaluation ranking both use it."""
    return a @ b.T if c is None else -lorentz.pairwise_distance(a, b, c)


@float32_block
def margin_contrastive(
    image: Tensor,
    text: Tensor,
    targets: Tensor,
    logit_scale: Tensor,
    c: Tensor | None,
    lam: float = 0.0,
) -> Tensor:
    """``(L_i2t + L_t2i) / 2`` (see the module docstring); image, text (B, D), targets
    (B, B), ``c`` None for cosine similarity. Runs in float32 under autocast."""
    s_vt = similarity(image, text, c)  # (B, B): row i = image i against every text
    logits_i2t, logits_t2i = logit_scale * s_vt, logit_scale * s_vt.T
    if lam:
        with torch.no_grad():
            s_vv, s_tt = similarity(image, image, c), similarity(text, text, c)
            d_v = s_vv.diagonal()[:, None] - s_vv  # D(h_i^v, h_k^v)
            d_t = s_tt.diagonal()[:, None] - s_tt
        log_p_i2t = logits_i2t - torch.logsumexp(logits_i2t + logit_scale * lam * d_v, 1, True)
        log_p_t2i = logits_t2i - torch.logsumexp(logits_t2i + logit_scale * lam * d_t, 1, True)
    else:
        log_p_i2t = F.log_softmax(logits_i2t, dim=1)
        log_p_t2i = F.log_softmax(logits_t2i, dim=1)
    loss_i2t = -(targets * log_p_i2t).sum(1).mean()
    loss_t2i = -(targets.T * log_p_t2i).sum(1).mean()
    return (loss_i2t + loss_t2i) / 2


@float32_block
def entailment_loss(text: Tensor, image: Tensor, c: Tensor) -> Tensor:
    """``mean_i max(0, ext(h_i^t, h_i^v) - aper(h_i^t))`` on the Lorentz model, (B, D) each."""
    angle = lorentz.exterior_angle(text, image, c)
    return (angle - lorentz.half_aperture(text, c)).clamp(min=0).mean()


def bai_text_loss(words: Tensor, contexts: Tensor, mask: Tensor, scale: Tensor) -> Tensor:
    """Word-level InfoNCE: words, contexts (B, M, D), mask (B, M) bool; the positive of
    word m is its own context, the negatives all other words' contexts in the batch
    (symmetric)."""
    w = F.normalize(words[mask].float(), dim=-1)  # (K, D), the K real words of the batch
    ctx = F.normalize(contexts[mask].float(), dim=-1)
    logits = scale * w @ ctx.T  # (K, K)
    labels = torch.arange(len(w), device=w.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def bai_image_loss(tokens: Tensor, contexts: Tensor, predictor: nn.Module) -> Tensor:
    """Image-side similarity alignment: tokens, contexts (B, N, D) ->
    ``-(cos(P f, sg(c)) + cos(P c, sg(f))) / 2`` averaged over tokens."""
    p_f, p_c = predictor(tokens), predictor(contexts)
    return (
        -(
            F.cosine_similarity(p_f, contexts.detach(), dim=-1).mean()
            + F.cosine_similarity(p_c, tokens.detach(), dim=-1).mean()
        )
        / 2
    )


def retrieval_loss(
    out: Mapping[str, Tensor], identity: Tensor, stages: set[str], w_ent: float,
    w_bai: float, lam: float,
) -> dict[str, Tensor]:  # fmt: skip
    """The arm's terms and their weighted ``total``: contrastive (+ ``w_ent`` entailment)
    (+ ``w_bai`` (text + image BAI losses, computed by the model in training, which owns
    the predictor and the word-level scale)), the margin ``lam`` where ``sms`` is on."""
    c = out.get("c")
    terms = {
        "contrastive": margin_contrastive(
            out["image"],
            out["text"],
            identity_targets(identity),
            out["logit_scale"],
            c,
            lam if "sms" in stages else 0.0,
        )  # fmt: skip
    }
    total = terms["contrastive"]
    if "ent" in stages:
        terms["entailment"] = entailment_loss(out["text"], out["image"], c)
        total = total + w_ent * terms["entailment"]
    if "bai" in stages and "bai_text" in out:
        terms["bai_text"], terms["bai_image"] = out["bai_text"], out["bai_image"]
        total = total + w_bai * (terms["bai_text"] + terms["bai_image"])
    terms["total"] = total
    return terms
