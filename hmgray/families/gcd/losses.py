"""HypGCD's losses: the SimGCD base ``L_Euc`` and the two hyperbolic losses.

Symbols of the write-up. A batch of ``B`` images is seen as ``V`` augmented views
(``V = 2`` in training; evaluation runs one clean view, and the view-pair losses then pair
it with itself, which only the validation loss curve sees). ``logits`` (V*B, K) are the
prototype classifier's cosine scores, ``proj`` (V*B, d) the projection head's output,
rows ordered view by view. Labels enter only where ``labelled`` is true:
:func:`gcd_loss` never reads the label of an unlabelled image (a test permutes them).

**Euclidean part** (SimGCD), ``lambda`` = ``sup_weight``::

    L_Euc = lambda (L_fea^s + L_cls^s) + (1 - lambda)(L_fea^u + L_cls^u)

* ``L_cls^s``: cross-entropy of ``logits / student_temp`` on the labelled images of
  every view;
* ``L_cls^u``: self-distillation, each view's student distribution against the other
  view's sharpened teacher distribution ``softmax(logits.detach() / teacher_temp)``,
  plus ``memax_weight`` times the mean-entropy regulariser ``sum p log p + log K`` of the
  batch's mean prediction (it keeps clusters from collapsing);
* ``L_fea^u``: SimCLR's InfoNCE on the normalised projections of the two views
  (temperature ``con_temp``);
* ``L_fea^s``: SupCon on the labelled images' normalised projections, positives = same
  label in any view (temperature ``supcon_temp``).

**Hyperbolic part**, on the Poincare ball of curvature ``-c``: ``z = exp_0(clip(proj,
clip_r))`` (projected inside the ball).

* :func:`hyperbolic_class_loss`:
  ``L_hcl = -log(exp(-d_H(z_i, mu_j) / tau) / sum_j' exp(-d_H(z_i, mu_j') / tau))``,
  per view, averaged over views; ``mu_j`` the Einstein mean of the batch's samples of class
  ``j`` (gradients flow through the means, as released). Class of a sample: its label
  where labelled, otherwise the student's argmax (the released code takes the argmax for
  every sample; a labelled sample's label is what that argmax is trained towards).
  Label smoothing as released. A class with no sample in the batch has no mean; the
  released code leaves its centre at the origin and keeps it in the softmax, here it is
  left out of the softmax (a centre at the origin is a spurious class, nearest to every
  point of small norm).
* :func:`local_hierarchy_loss`: triplets ``(i, j, k)``: ``j`` a reciprocal nearest
  neighbour of ``i`` (both in each other's top ``topk`` by ``exp(-d_H)``, plus 1 when
  their classes agree, as released), ``k`` one that is not; ``triplets`` per anchor. The
  common ancestors are batch samples chosen by a hard Gumbel-softmax (temperature
  ``gumbel_tau``): ``z_ij`` over ``-max(d(z_i, .), d(z_j, .))``, ``z_ijk`` over
  ``-max(d(z_i, .), d(z_j, .), d(z_k, .))`` (straight-through: the forward pass picks one
  sample, gradients reach the choice's scores). Then
  ``L_lhl = [d(z_i, z_ij) - d(z_i, z_ijk) + delta]_+ + [d(z_j, z_ij) - d(z_j, z_ijk) +
  delta]_+ + [d(z_k, z_ijk) - d(z_k, z_ij) + delta]_+``, zero where both ancestors are
  the same sample, averaged over triplets. **On the ball, as the write-up says**: the
  released ``HIERLoss`` applies the ball's distance formula to the raw projection without
  mapping it onto the ball.

``L = L_Euc + alpha L_hcl + beta L_lhl`` (:func:`gcd_loss`); the arms switch the two
hyperbolic terms on (``hmgray.families.gcd.config``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hmgray.nn.hyperbolic import float32_block, poincare

__all__ = [
    "class_of",
    "distill_loss",
    "gcd_loss",
    "hyperbolic_class_loss",
    "info_nce",
    "local_hierarchy_loss",
    "me_max",
    "supcon",
    "to_ball",
]


def _views(x: Tensor, v: int) -> list[Tensor]:
    return list(x.chunk(v)) if v > 1 else [x, x]


def distill_loss(logits: Tensor, v: int, student_temp: float, teacher_temp: float) -> Tensor:
    """Self-distillation: each view's student log-probabilities against every other
    view's teacher probabilities (detached, sharpened), mean over samples and pairs."""
    views = _views(logits, v)
    teacher = [F.softmax(x.detach() / teacher_temp, -1) for x in views]
    student = [F.log_softmax(x / student_temp, -1) for x in views]
    terms = [(-t * s).sum(-1).mean() for i, t in enumerate(teacher)
             for j, s in enumerate(student) if i != j]  # fmt: skip
    return torch.stack(terms).mean()


def me_max(logits: Tensor, student_temp: float) -> Tensor:
    """``sum_k p_k log p_k + log K`` of the batch's mean prediction ``p`` (>= 0; 0 when
    ``p`` is uniform)."""
    p = F.softmax(logits / student_temp, -1).mean(0)
    return (p * torch.log(p.clamp(min=1e-12))).sum() + math.log(p.shape[0])


def info_nce(proj: Tensor, v: int, temp: float) -> Tensor:
    """SimCLR's InfoNCE over the views: each row's positive is its image in the other
    view(s), every other row a negative."""
    views = _views(proj, v)
    z = F.normalize(torch.cat(views), dim=-1)
    n, b = z.shape[0], views[0].shape[0]
    sim = (z @ z.T) / temp
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    ids = torch.arange(n, device=z.device) % b
    pos = (ids[:, None] == ids[None, :]) & ~torch.eye(n, dtype=torch.bool, device=z.device)
    logp = F.log_softmax(sim, -1)
    return -(logp.masked_fill(~pos, 0).sum(-1) / pos.sum(-1)).mean()


def supcon(proj: Tensor, labels: Tensor, v: int, temp: float) -> Tensor:
    """Supervised contrastive loss (Khosla et al., SimGCD's ``SupConLoss`` with
    ``temperature = base_temperature``): ``proj`` (V*B, d) of labelled rows only,
    ``labels`` (B,); positives are the other rows of the same label in any view."""
    views = _views(proj, v)
    z = F.normalize(torch.cat(views), dim=-1)
    y = labels.repeat(len(views))
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = ((z @ z.T) / temp).masked_fill(eye, float("-inf"))
    pos = (y[:, None] == y[None, :]) & ~eye
    logp = F.log_softmax(sim, -1)
    keep = pos.any(-1)
    per_row = logp.masked_fill(~pos, 0).sum(-1) / pos.sum(-1).clamp(min=1)
    return -per_row[keep].mean() if keep.any() else z.sum() * 0.0


def class_of(logits: Tensor, labels: Tensor, labelled: Tensor, v: int) -> Tensor:
    """(V*B,) class of every row: the label where labelled, else the student's argmax."""
    return torch.where(labelled.repeat(v), labels.repeat(v), logits.detach().argmax(-1))


def to_ball(proj: Tensor, c: float, clip_r: float) -> Tensor:
    """``exp_0(clip(proj, clip_r))`` projected inside the ball (released ``ToPoincare``)."""
    return poincare.project(poincare.exp_map0(poincare.clip_features(proj, clip_r), c), c)


def hyperbolic_class_loss(
    z: Tensor, classes: Tensor, c: float, tau: float, smoothing: float
) -> Tensor:
    """``L_hcl`` of one view: z (B, d) on the ball, classes (B,) -> scalar."""
    present, inverse = torch.unique(classes, return_inverse=True)  # (P,), (B,)
    weights = F.one_hot(inverse, len(present)).T.to(z.dtype)  # (P, B)
    centres = poincare.einstein_midpoint(z, c, weights)  # (P, d)
    logits = -poincare.pairwise_distance(z, centres, c) / tau  # (B, P)
    if len(present) == 1:
        return logits.sum() * 0.0  # one class: nothing to tell apart
    target = torch.full_like(logits, smoothing / (len(present) - 1))
    target.scatter_(1, inverse[:, None], 1.0 - smoothing)
    return (-target * F.log_softmax(logits, -1)).sum(-1).mean()


def _triplets(dist: Tensor, classes: Tensor, topk: int, per_anchor: int):
    """(i, j, k) index tensors: ``j`` a reciprocal top-``topk`` neighbour of ``i``, ``k``
    not one (nor ``i``), ``per_anchor`` drawn with replacement per anchor that has at
    least 2 reciprocal neighbours (as released)."""
    n = dist.shape[0]
    sim = torch.exp(-dist.detach()) + (classes[:, None] == classes[None, :]).to(dist.dtype)
    k = min(topk, n)
    near = torch.zeros(n, n, dtype=torch.bool, device=dist.device)
    near.scatter_(1, sim.topk(k, dim=1).indices, True)
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    recip = near & near.T & ~eye
    far = ~recip & ~eye
    anchors = torch.nonzero((recip.sum(1) >= 2) & far.any(1)).squeeze(1)
    if anchors.numel() == 0:
        return None
    j = torch.multinomial(recip[anchors].to(dist.dtype), per_anchor, replacement=True)
    kk = torch.multinomial(far[anchors].to(dist.dtype), per_anchor, replacement=True)
    i = anchors[:, None].expand_as(j)
    return i.reshape(-1), j.reshape(-1), kk.reshape(-1)


def _hard_gumbel(logits: Tensor) -> Tensor:
    """``F.gumbel_softmax(logits, tau=1, hard=True, dim=-1)`` with the Gumbel noise drawn as
    ``-log(-log U)``: the same distribution, drawn faster on CPU (torch draws it through
    ``exponential_``, 40 % of the hierarchy loss's time; this way the loss's step at 256
    rows went from 0.29 to 0.16 s on 2 cores)."""
    u = torch.rand_like(logits).clamp_(1e-10, 1 - 1e-7)
    soft = F.softmax(logits - torch.log(-torch.log(u)), dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft


def local_hierarchy_loss(
    z: Tensor,
    classes: Tensor,
    c: float,
    delta: float,
    topk: int,
    per_anchor: int,
    gumbel_tau: float,
) -> Tensor:
    """``L_lhl`` over the batch's rows (all views): z (N, d) on the ball -> scalar."""
    dist = poincare.pairwise_distance(z, z, c)  # (N, N)
    tri = _triplets(dist, classes, topk, per_anchor)
    if tri is None:
        return z.sum() * 0.0
    di, dj, dk = (dist[r] for r in tri)  # (T, N) each: distances to every batch sample
    d_ij = torch.maximum(di, dj)
    lca_ij = _hard_gumbel(-d_ij / gumbel_tau)
    lca_ijk = _hard_gumbel(-torch.maximum(dk, d_ij) / gumbel_tau)

    def to(d: Tensor, lca: Tensor) -> Tensor:  # each triplet member's distance to an lca
        return (d * lca).sum(1)

    loss = (
        F.relu(to(di, lca_ij) - to(di, lca_ijk) + delta)
        + F.relu(to(dj, lca_ij) - to(dj, lca_ijk) + delta)
        + F.relu(to(dk, lca_ijk) - to(dk, lca_ij) + delta)
    )
    distinct = lca_ij.argmax(1) != lca_ijk.argmax(1)
    return (loss * distinct.to(loss.dtype)).mean()


def gcd_loss(out: Mapping[str, Any], batch: Mapping[str, Tensor], config) -> dict[str, Tensor]:
    """Every term and ``total`` = ``L_Euc + alpha L_hcl + beta L_lhl`` (terms of the
    arm's switched-off losses are absent). Runs in float32 under autocast."""
    return _terms(out["logits"], out["proj"], int(out["views"]), batch["label"].long(),
                  batch["labelled"].bool(), config)  # fmt: skip


@float32_block
def _terms(logits: Tensor, proj: Tensor, v: int, labels: Tensor, labelled: Tensor, config):
    mask = labelled.repeat(v)
    lam = config.sup_weight
    terms: dict[str, Tensor] = {}
    if labelled.any():
        terms["cls_s"] = F.cross_entropy(logits[mask] / config.student_temp, labels.repeat(v)[mask])
        lab_proj = torch.cat([x[labelled] for x in _views(proj, v)])
        terms["fea_s"] = supcon(lab_proj, labels[labelled], 2, config.supcon_temp)
    else:
        terms["cls_s"] = terms["fea_s"] = logits.sum() * 0.0
    terms["cls_u"] = distill_loss(
        logits, v, config.student_temp, config.teacher_temp
    ) + config.memax_weight * me_max(logits, config.student_temp)
    terms["fea_u"] = info_nce(proj, v, config.con_temp)
    total = lam * (terms["fea_s"] + terms["cls_s"]) + (1 - lam) * (terms["fea_u"] + terms["cls_u"])
    stages = config.stages
    if stages:
        classes = class_of(logits, labels, labelled, v)
        z = to_ball(proj, config.c, config.clip_r)
        per_view = zip(_views(z, v)[:v], _views(classes, v)[:v], strict=True)
        terms["hcl"] = torch.stack(
            [
                hyperbolic_class_loss(zv, cv, config.c, config.tau, config.smoothing)
                for zv, cv in per_view
            ]  # fmt: skip
        ).mean()
        total = total + config.alpha * terms["hcl"]
        if "lhl" in stages:
            terms["lhl"] = local_hierarchy_loss(
                z, classes, config.c, config.delta, config.topk, config.triplets,
                config.gumbel_tau,
            )  # fmt: skip
            total = total + config.beta * terms["lhl"]
    terms["total"] = total
    return terms
