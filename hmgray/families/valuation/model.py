"""HMG-Net: hierarchical multi-granularity valuation of second-hand items.

Axes: B listings, L words, P patches, R regions, D = ``d_model``.

Stages (each switchable; the ablation arms switch them cumulatively)::

    V, g_img = PatchEncoder(image)            bag of patches + pooled global image feature
    T, g_txt = TextEncoder(tokens)            tiny BERT from scratch + masked-mean text feature
    F_micro, A = DSCA(T, V)                   Level 1: words -> patches cross-attention
    S = StructuralMatching(V, boxes, T, heads)  Level 2: scene graph <-> text tree (GMN)
    E_market = MarketGNN(location, period, item)  Level 3: spatio-temporal market graph

    E_entity = f_E( [LN(g_img), LN(g_txt), LN(F_micro)?, LN(S)?] )   one LayerNorm per block  (B, D)

Heads (registry ``HEADS``, picked by name)::

    direct:        price = price_scale * softplus( f_entity([E_entity, msrp / price_scale])
                                                   + gamma * f_market(E_market) )
    depreciation:  delta = sigmoid( f_entity(E_entity) + gamma * f_market(E_market) )
                   P_pred = P_anchor * (1 - delta),   P_anchor = MSRP

The ``gamma * f_market`` term is present only when the market stage is on. ``delta`` is
in [0, 1] and P_pred in [0, MSRP] for any input (float32 sigmoid saturates to exactly 0 or
1, never past them). The direct head is given MSRP as an input feature so that the
comparison direct vs depreciation ("anchor effectiveness") isolates the *multiplicative
anchor*, not access to MSRP; the market term enters both heads the same additive way.
With a learnable f_market, gamma cannot be told apart from the scale of f_market's last
layer: in training it acts as the market term's initial weight and gradient multiplier,
and gamma = 0 removes the term (the market GNN then gets no gradient).

Arms (``ARM_STAGES``): ``global`` = g_img + g_txt, direct head; ``micro`` = + F_micro;
``meso`` = + S; ``full`` = + market graph + depreciation head. ``HMGNetConfig.head`` and
``HMGNetConfig.market`` override the arm's head / market stage (``"auto"`` = the arm's).
Modules of stages that are off are not built, so their parameters do not exist.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hmgray.families.valuation.config import ARM_STAGES, ARMS, HMGNetConfig
from hmgray.families.valuation.layers.dsca import DSCA
from hmgray.families.valuation.layers.encoders import PatchEncoder, TextEncoder
from hmgray.families.valuation.layers.gmn import StructuralMatching
from hmgray.families.valuation.layers.market_gnn import MarketGNN

__all__ = [
    "ARMS",
    "ARM_STAGES",
    "HEADS",
    "HMGNet",
    "HMGNetConfig",
    "DirectHead",
    "DepreciationHead",
]


def _mlp(d_in: int, d_out: int, d_hidden: int, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out)
    )


class DirectHead(nn.Module):
    """price = price_scale * softplus(f_entity([E_entity, msrp / price_scale]) + gamma * f_market(E_market))."""

    def __init__(self, d: int, gamma: float, price_scale: float, market: bool):
        super().__init__()
        self.gamma, self.price_scale = gamma, price_scale
        self.f_entity = _mlp(d + 1, 1, d)
        self.f_market = _mlp(d, 1, d) if market else None

    def forward(
        self, e_entity: Tensor, e_market: Tensor | None, msrp: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        with torch.autocast(device_type=e_entity.device.type, enabled=False):
            x = torch.cat([e_entity.float(), (msrp.float() / self.price_scale)[:, None]], -1)
            z = self.f_entity(x).squeeze(-1)  # (B,)
            if self.f_market is not None:
                z = z + self.gamma * self.f_market(e_market.float()).squeeze(-1)
            return self.price_scale * nn.functional.softplus(z), None


class DepreciationHead(nn.Module):
    """delta = sigmoid(f_entity(E_entity) + gamma * f_market(E_market)); P_pred = MSRP * (1 - delta)."""

    def __init__(self, d: int, gamma: float, price_scale: float, market: bool):
        super().__init__()
        self.gamma = gamma
        self.f_entity = _mlp(d, 1, d)
        self.f_market = _mlp(d, 1, d) if market else None

    def forward(
        self, e_entity: Tensor, e_market: Tensor | None, msrp: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        with torch.autocast(device_type=e_entity.device.type, enabled=False):
            z = self.f_entity(e_entity.float()).squeeze(-1)  # (B,)
            if self.f_market is not None:
                z = z + self.gamma * self.f_market(e_market.float()).squeeze(-1)
            delta = torch.sigmoid(z)  # [0, 1]
            p_anchor = msrp.float()
            return p_anchor * (1.0 - delta), delta


HEADS: dict[str, type[nn.Module]] = {"direct": DirectHead, "depreciation": DepreciationHead}


class HMGNet(nn.Module):
    """HMG-Net (contracts §4): ``forward(batch) -> {"price", "delta", "attention"}``.

    Args:
        cfg: the configuration (arm, sizes, switches).
        market: the manifest's ``market`` object; needed only when the market stage is on.
    """

    def __init__(self, cfg: HMGNetConfig, market: dict | None = None):
        super().__init__()
        self.cfg = cfg
        st = cfg.stages
        d = cfg.d_model
        self.patch_enc = PatchEncoder(cfg.image_size, cfg.patch_size, d)
        self.text_enc = TextEncoder(
            cfg.vocab_size, cfg.max_words, d, cfg.text_layers, cfg.text_heads, cfg.dropout
        )
        self.dsca = DSCA(d, cfg.attention, heads=cfg.dsca_heads) if st["micro"] else None
        self.structural = (
            StructuralMatching(d, cfg.gmn_layers, cfg.num_region_labels, self.patch_enc.grid)
            if st["meso"]
            else None
        )
        if st["market"] and not market:
            raise ValueError("HMGNet: the market stage is on but no `market` object was given")
        self.market_gnn = (
            MarketGNN(market, d, cfg.gnn_layers, cfg.dropout) if st["market"] else None
        )
        n_feat = 2 + int(st["micro"]) + int(st["meso"])
        # one LayerNorm per feature block, not one over the concatenation: F_micro is a sum
        # over the valid words (DSCA's formula), so its scale grows with the description's
        # length (~10-30 words); a joint LayerNorm would then shrink g_img and g_txt by that
        # factor and make their scale depend on the word count (measured: the micro arm
        # trained worse than the global arm with the joint norm)
        self.feat_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(n_feat))
        self.f_E = _mlp(n_feat * d, d, d, cfg.dropout)
        self.head = HEADS[st["head"]](d, cfg.gamma, cfg.price_scale, st["market"])

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | None]:
        """
        Args:
            batch: the decoded batch of contracts §3, as torch tensors.
        Returns:
            ``price`` (B,) currency units, ``delta`` (B,) or None (direct head),
            ``attention`` (B, L, P) or None (no micro stage).
        """
        tokens = batch["tokens"]
        if tokens.shape[1] > self.cfg.max_words:
            raise ValueError(f"batch has {tokens.shape[1]} words > max_words={self.cfg.max_words}")
        v, patch_mask, g_img = self.patch_enc(batch["image"], batch["has_image"])  # (B, P, D)
        t, word_mask, g_txt = self.text_enc(tokens)  # (B, L, D)
        feats, attention = [g_img, g_txt], None
        if self.dsca is not None:
            f_micro, attention = self.dsca(t, v, word_mask, patch_mask)
            feats.append(f_micro)
        if self.structural is not None:
            feats.append(
                self.structural(
                    v,
                    batch["has_image"],
                    batch["scene_boxes"],
                    batch["scene_labels"],
                    batch["scene_mask"] > 0,
                    t,
                    word_mask,
                    batch["text_heads"],
                )
            )
        feats = [norm(f) for norm, f in zip(self.feat_norms, feats, strict=True)]
        e_entity = self.f_E(torch.cat(feats, dim=-1))  # (B, D)
        e_market = (
            self.market_gnn(batch["location_id"], batch["period"], batch["item_model_id"])
            if self.market_gnn is not None
            else None
        )
        price, delta = self.head(e_entity, e_market, batch["msrp"])
        return {"price": price, "delta": delta, "attention": attention}
