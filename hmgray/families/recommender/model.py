"""The multimodal recommender: text x image x item graph, fusion, dot or FM, BPR.

Axes: B users (rows of a batch), N items, M modalities, H history items, d fusion width.

* **Modalities** (``hmgray.families.recommender.layers``): an item's text vector is the
  [CLS] of its title + description, its image vector the ResNet's pooled feature of its
  main image, its graph vector g_i the GraphSAGE output. A user's text vector is the
  [CLS] of their last 5 reviews; their image vector the mean of the image features of
  their history items that have an image; their graph vector the mean of g_i over their
  history. History = the user's training items (the last ``max_history`` of them).
* **Projection**: each modality m has one linear map to d, shared by users and items (so
  a single-modality arm scores in one space); dropout after it.
* **Combination** (the arm, ``RecConfig.parts``): ``single`` (one modality),
  ``concat`` (the M projected vectors side by side; a missing one is zeros), or
  ``attention`` (``AttentionFusion``; users and items have their own fusion parameters).
* **Prediction**: ``dot`` (y = <u, i>) or ``fm`` (``hmgray.nn.fm``, over x = [u; i]).
* **Training** (``forward`` in train mode): for each (user, positive) row one negative
  is drawn uniformly from the items the user has no training interaction with; the
  output holds y_ui, y_uj and ||Theta||^2 for BPR (``task.bpr_loss``).
* **Inference** (eval mode): every item is scored for every user of the batch; the
  user's training items (and the row's ``also_seen`` items, e.g. the validation item of a
  test row) are set to -inf. Item features are computed once per evaluation pass
  (cached until the module is switched to train mode). ``rescore(rate)`` scores again with
  a fixed ``rate`` share of the item images removed (the robustness table).

Missing images: ``missing_image = "mask"`` forces the image modality's alpha to 0 (and
zeros it in ``single``/``concat``); ``"mean"`` replaces the missing feature with the mean
image feature of the items that have one (computed over the items of the batch in
training, over all items in evaluation) and treats it as present (MMRec's handling).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hmgray.families.recommender.config import RecConfig
from hmgray.families.recommender.layers.fusion import AttentionFusion
from hmgray.families.recommender.layers.graph import GraphEncoder
from hmgray.families.recommender.layers.image import ResNetEncoder
from hmgray.families.recommender.layers.text import TextEncoder
from hmgray.nn.fm import FactorizationMachine

__all__ = ["MultimodalRecommender", "image_drop_mask"]

NEG_TRIES = 32  # rejection-sampling rounds for negatives (a user owning most items is rare)
DROP_SEED = 20261127  # the robustness table's removed images: one fixed set for every run


def image_drop_mask(has_image: np.ndarray, rate: float, seed: int = DROP_SEED) -> np.ndarray:
    """Items whose image is removed at ``rate``: the first round(rate * n) of one seeded
    permutation of the items that have an image, so a larger rate removes a superset and
    every arm and seed loses the same images (a paired comparison)."""
    with_image = np.flatnonzero(has_image)
    order = np.random.default_rng(seed).permutation(with_image)
    drop = np.zeros(len(has_image), dtype=bool)
    drop[order[: int(round(rate * len(with_image)))]] = True
    return drop


def _history_pad(offsets: np.ndarray, items: np.ndarray, keep: int) -> np.ndarray:
    """(U, keep) int64: each user's last ``keep`` training items (time order), -1 padded."""
    n_users = len(offsets) - 1
    out = np.full((n_users, max(keep, 1)), -1, dtype=np.int64)
    for u in range(n_users):
        h = items[max(offsets[u], offsets[u + 1] - keep) : offsets[u + 1]]
        out[u, : len(h)] = h
    return out


class MultimodalRecommender(nn.Module):
    """See the module docstring. ``context`` is ``RecommenderTask.load_context``'s."""

    def __init__(self, cfg: RecConfig, context: Mapping[str, Any]):
        super().__init__()
        self.cfg = cfg
        self.modalities, self.combine, self.predictor = cfg.parts
        n_items, n_users = int(context["num_items"]), int(context["num_users"])
        self.n_items, self.n_users = n_items, n_users
        self._buffers_from(context, cfg)

        proj: dict[str, nn.Module] = {}
        if "text" in self.modalities:
            self.text = TextEncoder(
                cfg.vocab_size,
                cfg.text_dim,
                cfg.text_layers,
                cfg.text_heads,
                cfg.text_ffn,
                max(cfg.item_tokens, cfg.user_tokens),
                cfg.dropout,
            )
            proj["text"] = nn.Linear(self.text.out_dim, cfg.d)
        if "image" in self.modalities:
            self.image = ResNetEncoder(cfg.image_width, cfg.image_blocks)
            proj["image"] = nn.Linear(self.image.out_dim, cfg.d)
        if "graph" in self.modalities:
            self.graph = GraphEncoder(
                n_items,
                torch.as_tensor(np.asarray(context["edge_index"]), dtype=torch.long),
                torch.as_tensor(np.asarray(context["edge_weight"]), dtype=torch.float32),
                cfg.graph_emb,
                cfg.graph_dim,
                cfg.graph_dim,
                cfg.dropout,
            )
            proj["graph"] = nn.Linear(self.graph.out_dim, cfg.d)
        self.proj = nn.ModuleDict(proj)
        self.drop = nn.Dropout(cfg.dropout)
        m = len(self.modalities)
        if self.combine == "attention":
            self.user_fusion = AttentionFusion(m, cfg.d, cfg.attn_dim)
            self.item_fusion = AttentionFusion(m, cfg.d, cfg.attn_dim)
        width = cfg.d * (m if self.combine == "concat" else 1)
        self.fm = FactorizationMachine(width, width, cfg.fm_k) if self.predictor == "fm" else None
        self._cache: dict[str, Tensor] | None = None

    # -- data held by the model ------------------------------------------------------
    def _buffers_from(self, ctx: Mapping[str, Any], cfg: RecConfig) -> None:
        def buf(name: str, value, dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=dtype), False)

        offsets = np.asarray(ctx["hist_offsets"], dtype=np.int64)
        items = np.asarray(ctx["hist_items"], dtype=np.int64)
        users = np.repeat(np.arange(self.n_users), np.diff(offsets))
        buf("train_keys", np.sort(users * self.n_items + items), torch.long)  # (E,) sorted
        buf("hist_offsets", offsets, torch.long)
        buf("hist_items", items, torch.long)
        buf("hist_pad", _history_pad(offsets, items, cfg.max_history), torch.long)  # (U, H)
        buf("item_tokens", np.asarray(ctx["item_tokens"])[:, : cfg.item_tokens], torch.long)
        buf("user_tokens", np.asarray(ctx["user_tokens"])[:, : cfg.user_tokens], torch.long)
        buf("item_has_text", ctx["item_has_text"], torch.bool)
        buf("user_has_text", ctx["user_has_text"], torch.bool)
        buf("item_images", ctx["item_images"], torch.uint8)  # (N, 3, H, W)
        buf("item_has_image", ctx["item_has_image"], torch.bool)

    def train(self, mode: bool = True):
        self._cache = None  # item features are stale once the weights may change
        return super().train(mode)

    # -- features --------------------------------------------------------------------
    def _raw_items(self, ids: Tensor) -> dict[str, Tensor]:
        """Raw (unprojected) modality features of the items ``ids`` (K,), row k = ids[k];
        the graph entry holds every item's g_i (N, Dg)."""
        raw: dict[str, Tensor] = {}
        if "text" in self.modalities:
            raw["text"] = self.text(self.item_tokens[ids])
        if "image" in self.modalities:
            raw["image"] = self.image(self.item_images[ids].float() / 255.0)
        if "graph" in self.modalities:
            raw["graph"] = self.graph()
        return raw

    def _image_rows(self, raw_image: Tensor, ok: Tensor) -> tuple[Tensor, Tensor]:
        """(features, present) of the image rows given which have an image (``ok``)."""
        if self.cfg.missing_image == "mask":
            return raw_image * ok[:, None].to(raw_image.dtype), ok
        have = ok[:, None].to(raw_image.dtype)
        mean = (raw_image * have).sum(0) / have.sum().clamp_min(1.0)  # no image at all: 0
        return torch.where(ok[:, None], raw_image, mean), torch.ones_like(ok)

    def _sides(
        self, raw: dict[str, Tensor], rows: Tensor, ids: Tensor, users: Tensor, image_ok: Tensor
    ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """Projected modality vectors and presence of the items ``ids`` and the ``users``.

        ``raw`` rows are items ``rows`` (K,) (a sorted id list; every id in ``ids`` and in
        the users' histories is among them); ``image_ok`` (N,) says which images exist.
        Returns ((items (K', M, d), present (K', M)), (users (B, M, d), present (B, M))).
        """
        lookup = torch.full((self.n_items,), -1, dtype=torch.long, device=rows.device)
        lookup[rows] = torch.arange(len(rows), device=rows.device)
        hist = self.hist_pad[users]  # (B, H), -1 padded
        valid = hist >= 0
        hist_rows = lookup[hist.clamp_min(0)]  # (B, H)
        item_x, item_p, user_x, user_p = [], [], [], []
        for m in self.modalities:
            if m == "graph":
                g = raw["graph"]  # (N, Dg): indexed by item id
                i_raw, i_ok = g[ids], torch.ones_like(ids, dtype=torch.bool)
                u_raw, u_ok = _masked_mean(g[hist.clamp_min(0)], valid)
            elif m == "image":
                feats, ok = self._image_rows(raw["image"], image_ok[rows])
                i_raw, i_ok = feats[lookup[ids]], ok[lookup[ids]]
                u_raw, u_ok = _masked_mean(feats[hist_rows], valid & ok[hist_rows])
            else:  # text: items' own texts, users' reviews
                i_raw, i_ok = raw["text"][lookup[ids]], self.item_has_text[ids]
                u_raw = self.text(self.user_tokens[users])
                u_ok = self.user_has_text[users]
            item_x.append(self.drop(self.proj[m](i_raw)))
            user_x.append(self.drop(self.proj[m](u_raw)))
            item_p.append(i_ok)
            user_p.append(u_ok)
        items = (torch.stack(item_x, dim=1), torch.stack(item_p, dim=1))  # (K', M, d), (K', M)
        users_ = (torch.stack(user_x, dim=1), torch.stack(user_p, dim=1))  # (B, M, d), (B, M)
        return items, users_

    def _combine(self, x: Tensor, present: Tensor, fusion: nn.Module | None) -> Tensor:
        """(K, M, d), (K, M) -> (K, width): the arm's user or item vector."""
        if self.combine == "attention":
            return fusion(x, present)[0]
        x = x * present.unsqueeze(-1).to(x.dtype)  # a missing modality is zeros
        return x.flatten(1)  # single: (K, d); concat: (K, M d)

    def _score_pairs(self, u: Tensor, i: Tensor) -> Tensor:
        return self.fm(u, i) if self.fm is not None else (u * i).sum(-1)

    def _score_all(self, u: Tensor, items: Tensor) -> Tensor:
        return self.fm.full(u, items) if self.fm is not None else u @ items.T

    def _vectors(self, raw, rows, ids, users, image_ok) -> tuple[Tensor, Tensor]:
        (ix, ip), (ux, up) = self._sides(raw, rows, ids, users, image_ok)
        fu = getattr(self, "user_fusion", None)
        fi = getattr(self, "item_fusion", None)
        return self._combine(ux, up, fu), self._combine(ix, ip, fi)

    # -- training --------------------------------------------------------------------
    def seen(self, users: Tensor, items: Tensor) -> Tensor:
        """Whether (users[b], items[b]) is a training interaction: (B,) bool."""
        keys = users * self.n_items + items
        pos = torch.searchsorted(self.train_keys, keys).clamp_max(len(self.train_keys) - 1)
        return self.train_keys[pos] == keys

    def sample_negatives(self, users: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One item per user drawn uniformly from the items they have no training
        interaction with (rejection sampling, ``NEG_TRIES`` rounds)."""
        dev = users.device
        neg = torch.randint(self.n_items, users.shape, device=dev, generator=generator)
        for _ in range(NEG_TRIES):
            bad = self.seen(users, neg)
            if not bool(bad.any()):
                break
            fresh = torch.randint(self.n_items, users.shape, device=dev, generator=generator)
            neg = torch.where(bad, fresh, neg)
        return neg

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        users, pos = batch["user"].long(), batch["item"].long()
        if not self.training:
            return self._evaluate(users, pos, batch.get("also_seen"))
        neg = self.sample_negatives(users)
        hist = self.hist_pad[users]
        rows = torch.unique(torch.cat([pos, neg, hist[hist >= 0]]))  # sorted
        raw = self._raw_items(rows)
        ids = torch.cat([pos, neg])
        u, items = self._vectors(raw, rows, ids, users, self.item_has_image)
        i_pos, i_neg = items[: len(pos)], items[len(pos) :]
        return {
            "pos": self._score_pairs(u, i_pos),
            "neg": self._score_pairs(u, i_neg),
            "reg": self.weight_norm(),
        }

    def weight_norm(self) -> Tensor:
        """||Theta||^2 over the weight matrices, convolutions and embeddings (biases and
        normalisation gains are not shrunk: pulling a BatchNorm gain to 0 is no prior)."""
        return sum(p.pow(2).sum() for p in self.parameters() if p.ndim >= 2)

    # -- inference -------------------------------------------------------------------
    def _all_items_raw(self) -> dict[str, Tensor]:
        if self._cache is None:
            self._cache = self._raw_items(torch.arange(self.n_items, device=self.hist_pad.device))
        return self._cache

    def scores(self, users: Tensor, image_ok: Tensor | None = None) -> Tensor:
        """(B, N) scores of every item for ``users`` (nothing masked)."""
        raw = self._all_items_raw()
        every = torch.arange(self.n_items, device=users.device)
        ok = self.item_has_image if image_ok is None else image_ok
        u, items = self._vectors(raw, every, every, users, ok)
        return self._score_all(u, items).float()

    def seen_mask(self, users: Tensor, also_seen: Tensor | None) -> Tensor:
        """(B, N) bool: the users' training items and the rows' ``also_seen`` (-1 = pad)."""
        mask = torch.zeros(len(users), self.n_items, dtype=torch.bool, device=users.device)
        starts = self.hist_offsets[users]
        counts = self.hist_offsets[users + 1] - starts  # (B,) training items per user
        dev = users.device
        row = torch.repeat_interleave(torch.arange(len(users), device=dev), counts)
        # position within the user's run of items: 0, 1, ... counts[b] - 1
        within = torch.arange(int(counts.sum()), device=dev) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        mask[row, self.hist_items[torch.repeat_interleave(starts, counts) + within]] = True
        if also_seen is not None and also_seen.numel():
            r, c = torch.nonzero(also_seen >= 0, as_tuple=True)
            mask[r, also_seen[r, c].long()] = True
        return mask

    def _evaluate(self, users: Tensor, pos: Tensor, also_seen: Tensor | None) -> dict[str, Any]:
        seen = self.seen_mask(users, also_seen)
        seen[torch.arange(len(users)), pos] = False  # the held-out item is a candidate

        def ranked(image_ok: Tensor | None) -> Tensor:
            return self.scores(users, image_ok).masked_fill(seen, float("-inf"))

        t0 = time.perf_counter()
        scores = ranked(None)
        seconds = time.perf_counter() - t0  # full ranking of this batch (+ item features once)
        # BPR on held-out rows (the validation loss): a fixed-seed negative among the
        # unmasked items, so the loss curve compares like with like across epochs
        gen = torch.Generator(device=users.device).manual_seed(0)
        neg = self.sample_negatives(users, gen)
        rows = torch.arange(len(users), device=users.device)

        def rescore(rate: float) -> Tensor:
            drop = image_drop_mask(self.item_has_image.cpu().numpy(), rate)
            drop = torch.as_tensor(drop, device=users.device)
            return ranked(self.item_has_image & ~drop)

        return {
            "scores": scores,
            "pos": scores[rows, pos],
            "neg": scores[rows, neg],
            "reg": self.weight_norm(),
            "rescore": rescore,
            "ranking_seconds": seconds,
        }


def _masked_mean(x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of x (B, H, D) over the kept H (B, H); (zeros, False) where none is kept."""
    w = keep.unsqueeze(-1).to(x.dtype)
    total = w.sum(1)
    return (x * w).sum(1) / total.clamp_min(1.0), keep.any(1)
