"""The MGIPF models: a CTR backbone (DIN or DeepFM) with coarse-grained interest heads.

Inputs of a row (``hmgray.families.ctr.task.RowDecoder``): the categorical fields of
the context (user, item, brand, cate and the data set's others), the history
``hist_brand``/``hist_cate`` (newest first, 0-padded) and its length.

* **Embeddings**: one table per field, ``embedding_dim`` wide, index 0 (unknown / pad)
  fixed at zero; a behaviour is the concatenation of its brand and category embeddings,
  looked up in the target's tables (as DIN shares goods / category embeddings), and the
  target's own (brand, cate) pair is the query.
* **DIN** (Zhou et al. 2018, deepctr-torch's layout): the local activation unit scores
  each behaviour k against the query q with an MLP over ``[q, k, q - k, q * k]``
  (``att_hidden``, ReLU); weights are *not* softmax-normalised (DIN keeps the intensity of
  interest) and padding is masked; the pooled interest is ``sum_k a_k k``. The DNN input
  is the field embeddings and the pooled interest, flattened; ``z_m = DNN(input)``.
* **DeepFM** (Guo et al. 2017): the history enters as two mean-pooled fields (brand,
  cate); ``z_m = first-order + FM + DNN`` over the same field embeddings, the FM term
  ``1/2 sum_k [(sum_f v_f)^2 - sum_f v_f^2]_k``.
* **Coarse heads** (MGIPF): one DNN per granularity c (``coarse_hidden``, (128, 64) in the
  paper) on the backbone's shared DNN input, ``z_c`` its logit.
* **Output**: ``y_hat = sigmoid(w . [z_m, z_c ...])``, w a bias-free ``Linear`` (the
  authors' ``Linear(3, 1, bias=False)``); the ``fine`` arms have no coarse heads and
  ``y_hat = sigmoid(z_m)``. w starts at (1, 0, 0), i.e. the model starts as its
  backbone, where the authors keep PyTorch's default (uniform in +-1/sqrt(3)): that draws
  a negative weight on z_m or on a coarse logit about half of the time, which their
  thousands of steps per epoch (26 M rows, batch 8192) undo, but a few hundred steps do
  not: measured on the default synthetic data, DIN + soft coarse loss with the default
  draw had validation AUC 0.44 after one epoch (w = (-0.10, 0.32, -0.49)), and the
  coarse arms' test AUC spread over seeds was 0.13 against 0.004 for the fine arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hmgray.families.ctr.config import CtrConfig

__all__ = ["CtrModel", "mlp"]

EMBEDDING_STD = 1e-4  # deepctr-torch's init_std of embedding tables


def mlp(sizes: Sequence[int], out: int | None = 1) -> nn.Sequential:
    """Linear + ReLU layers of ``sizes`` (the first is the input width), then a linear
    output of width ``out`` (none when ``out`` is None)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    if out is not None:
        layers.append(nn.Linear(sizes[-1], out))
    return nn.Sequential(*layers)


class CtrModel(nn.Module):
    """Backbone + coarse heads; ``forward`` returns ``logit`` (B,) of y_hat, ``z_main``
    (B,) and ``z_coarse`` (B, C) (C = 0 for the fine arms)."""

    def __init__(self, config: CtrConfig, context: Mapping[str, Any]):
        super().__init__()
        self.config = config
        e = config.embedding_dim
        self.fields = tuple(context["fields"])
        self.coarse = tuple(context["coarse"]) if config.mode != "fine" else ()
        self.emb = nn.ModuleDict(
            {f: nn.Embedding(n, e, padding_idx=0) for f, n in context["fields"].items()}
        )
        for table in self.emb.values():
            nn.init.normal_(table.weight, std=EMBEDDING_STD)
            with torch.no_grad():
                table.weight[0].zero_()
        n_inputs = len(self.fields) * e + 2 * e  # fields + pooled (brand, cate) interest
        if config.backbone == "din":
            self.attention = mlp([8 * e, *config.att_hidden])
        else:
            self.linear = nn.ModuleDict(
                {f: nn.Embedding(n, 1, padding_idx=0) for f, n in context["fields"].items()}
            )
            for table in self.linear.values():
                nn.init.zeros_(table.weight)
            self.bias = nn.Parameter(torch.zeros(()))
        self.dnn = mlp([n_inputs, *config.dnn_hidden])
        self.heads = nn.ModuleList(mlp([n_inputs, *config.coarse_hidden]) for _ in self.coarse)
        self.combine = None
        if self.coarse:
            self.combine = nn.Linear(1 + len(self.coarse), 1, bias=False)
            with torch.no_grad():  # start as the backbone: w = (1, 0, ..., 0)
                self.combine.weight.zero_()
                self.combine.weight[0, 0] = 1.0

    def _history(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(B, L, 2E) behaviour embeddings and (B, L) validity mask."""
        hb = batch["hist_brand"][:, : self.config.max_history].long()
        hc = batch["hist_cate"][:, : self.config.max_history].long()
        keys = torch.cat([self.emb["brand"](hb), self.emb["cate"](hc)], dim=-1)
        return keys, hb.ne(0) | hc.ne(0)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        fields = torch.stack([self.emb[f](batch[f].long()) for f in self.fields], 1)  # (B,F,E)
        keys, mask = self._history(batch)
        if self.config.backbone == "din":
            query = torch.cat([fields[:, self.fields.index("brand")],
                               fields[:, self.fields.index("cate")]], -1)  # fmt: skip
            q = query[:, None, :].expand_as(keys)
            score = self.attention(torch.cat([q, keys, q - keys, q * keys], -1)).squeeze(-1)
            pooled = (score.masked_fill(~mask, 0.0)[..., None] * keys).sum(1)  # (B, 2E)
        else:
            denom = mask.sum(1, keepdim=True).clamp(min=1).to(keys.dtype)
            pooled = (keys * mask[..., None]).sum(1) / denom
        inputs = torch.cat([fields.flatten(1), pooled], 1)
        z_main = self.dnn(inputs).squeeze(-1)
        if self.config.backbone == "deepfm":
            e = self.config.embedding_dim
            v = torch.cat([fields, pooled.view(-1, 2, e)], 1)  # (B, F + 2, E)
            fm = 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(1)
            first = sum(self.linear[f](batch[f].long()).squeeze(-1) for f in self.fields)
            z_main = z_main + fm + first + self.bias
        if not self.coarse:
            return {"logit": z_main, "z_main": z_main, "z_coarse": z_main.new_zeros(len(z_main), 0)}
        z_coarse = torch.cat([head(inputs) for head in self.heads], 1)  # (B, C)
        logit = self.combine(torch.cat([z_main[:, None], z_coarse], 1)).squeeze(-1)
        return {"logit": logit, "z_main": z_main, "z_coarse": z_coarse}

    def embedding_l2(self) -> Tensor:
        """Sum of squared embedding weights (deepctr-torch's embedding regulariser)."""
        tables = [*self.emb.values(), *getattr(self, "linear", {}).values()]
        return sum(t.weight.pow(2).sum() for t in tables)
