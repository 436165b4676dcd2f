"""The image-text dual encoder shared by every arm; the arm decides the geometry.

Encoders (trained from scratch; transformers configs, no pretrained weights): a ViT over
``patch_size`` patches and a BERT over hashed word ids, both ``embed_dim`` wide, each
giving its ``[CLS]`` vector and its tokens. Axes: B batch, N image tokens, M words, D width.

* ``clip``: ``h = normalize(W x_cls)``, similarity ``S = h^v . h^t`` (cosine).
* hyperbolic arms (MERU): ``v = exp(alpha) W x_cls`` with ``alpha`` learnable, initialised
  ``log(D^-1/2)`` and kept ``<= 0`` (so the scaled features start at about unit norm and
  can only shrink), then ``h = exp_0(v)`` on the Lorentz model of curvature ``-c``
  (``hmgray.nn.hyperbolic``); similarity ``S = -d_L(h^v, h^t)``.

Logits are ``S / tau`` with ``1 / tau = exp(s)`` learnable, initialised at the configured
``tau`` and capped at 100 (CLIP's and MERU's cap: a larger scale makes the softmax a hard
max early on). The cap, ``alpha`` and the curvature are clamped in place before use, as
MERU does, so that a bound does not freeze them. Arms with BAI also return, in training,
BAI's two local losses over the tokens and their cross-attended contexts
(``layers/bai.py``, ``losses.py``).

``forward(batch)``: ``image`` uint8 (B, H, W, 3), ``tokens`` int64 (B, L) (0 = padding) ->
``image`` (B, D), ``text`` (B, D) (unit vectors, or Lorentz space components),
``logit_scale`` (), ``c`` () (hyperbolic arms), and with BAI in training ``bai_text`` (),
``bai_image`` ().
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmgray.families.retrieval.config import RetrievalConfig
from hmgray.families.retrieval.layers.bai import BidirectionalAttention
from hmgray.families.retrieval.losses import bai_image_loss, bai_text_loss, similarity
from hmgray.nn.hyperbolic import Curvature, lorentz

__all__ = ["RetrievalModel", "similarity"]

MAX_LOGIT_SCALE = math.log(100.0)


def _init_range(dim: int) -> float:
    # BERT's 0.02 is tuned for width 768; at a few dozen wide it leaves [CLS] almost
    # independent of the input (measured on the recommender's text encoder), so the std is
    # scaled to keep the same per-unit variance
    return 0.02 * (768 / dim) ** 0.5


class ImageEncoder(nn.Module):
    """ViT (transformers ``ViTModel``) -> ([CLS] (B, D), patch tokens (B, N, D)); images
    of (H, W), both multiples of the patch size (person crops are tall: e.g. 96 x 32)."""

    def __init__(self, config: RetrievalConfig, image_size: tuple[int, int]):
        super().__init__()
        from transformers import ViTConfig, ViTModel

        if image_size[0] % config.patch_size or image_size[1] % config.patch_size:
            raise ValueError(f"image_size {list(image_size)}: both sides must be multiples "
                             f"of patch_size {config.patch_size}")  # fmt: skip
        d = config.embed_dim
        vit = ViTConfig(
            image_size=tuple(image_size), patch_size=config.patch_size, num_channels=3,
            hidden_size=d, num_hidden_layers=config.layers, num_attention_heads=config.heads,
            intermediate_size=4 * d, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, initializer_range=_init_range(d),
        )  # fmt: skip
        self.vit = ViTModel(vit, add_pooling_layer=False)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        x = image.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # uint8 (B,H,W,3) -> [-1, 1]
        hidden = self.vit(pixel_values=x).last_hidden_state  # (B, 1 + N, D)
        return hidden[:, 0], hidden[:, 1:]


class TextEncoder(nn.Module):
    """BERT (transformers ``BertModel``) over hashed ids with ``[CLS]`` (id ``vocab_size``)
    prepended -> ([CLS] (B, D), word tokens (B, M, D), word mask (B, M))."""

    def __init__(self, config: RetrievalConfig):
        super().__init__()
        from transformers import BertConfig, BertModel

        d = config.embed_dim
        bert = BertConfig(
            vocab_size=config.vocab_size + 1, hidden_size=d, num_hidden_layers=config.layers,
            num_attention_heads=config.heads, intermediate_size=4 * d,
            max_position_embeddings=config.max_words + 1, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, pad_token_id=0,
            initializer_range=_init_range(d),
        )  # fmt: skip
        self.cls_id = config.vocab_size
        self.bert = BertModel(bert, add_pooling_layer=False)

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ids = torch.cat([torch.full_like(tokens[:, :1], self.cls_id), tokens], dim=1)
        mask = ids != 0  # (B, 1 + M)
        hidden = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return hidden[:, 0], hidden[:, 1:], mask[:, 1:]


class RetrievalModel(nn.Module):
    """Both encoders, the projections into the joint space and the arm's geometry."""

    def __init__(self, config: RetrievalConfig, context: Mapping[str, Any]):
        super().__init__()
        self.config = config
        d = config.embed_dim
        self.image_encoder = ImageEncoder(config, tuple(context["image_size"]))
        self.text_encoder = TextEncoder(config)
        self.proj_v, self.proj_t = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.tau)))
        self.hyperbolic = config.hyperbolic
        if self.hyperbolic:
            self.alpha_v = nn.Parameter(torch.tensor(-0.5 * math.log(d)))
            self.alpha_t = nn.Parameter(torch.tensor(-0.5 * math.log(d)))
            self.curvature = Curvature(config.c, learnable=config.learn_c)
        self.bai = None
        if "bai" in config.stages:
            self.bai = BidirectionalAttention(d)
            # the image-side alignment's predictor (SimSiam's bottleneck, D -> D/2 -> D) and
            # the word-level InfoNCE's own learnable scale, initialised 1 / 0.1 (GAHR's)
            self.predictor = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, d))
            self.local_log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def logit_scale(self) -> Tensor:
        with torch.no_grad():
            self.log_scale.clamp_(max=MAX_LOGIT_SCALE)
        return self.log_scale.exp()

    def _embed(self, x: Tensor, proj: nn.Linear, alpha: Tensor | None, c: Tensor | None):
        h = proj(x)
        if not self.hyperbolic:
            return F.normalize(h, dim=-1)
        with torch.no_grad():
            alpha.clamp_(max=0.0)  # features can shrink towards the origin, never grow
        return lorentz.exp_map0(h * alpha.exp(), c)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        v_cls, v_tok = self.image_encoder(batch["image"])
        t_cls, t_tok, t_mask = self.text_encoder(batch["tokens"])
        c = self.curvature() if self.hyperbolic else None
        out = {
            "image": self._embed(v_cls, self.proj_v, getattr(self, "alpha_v", None), c),
            "text": self._embed(t_cls, self.proj_t, getattr(self, "alpha_t", None), c),
            "logit_scale": self.logit_scale(),
        }
        if c is not None:
            out["c"] = c
        if self.bai is not None and self.training:
            c_v, c_t = self.bai(v_tok, t_tok, t_mask)
            out["bai_text"] = bai_text_loss(t_tok, c_t, t_mask, self.local_log_scale.exp())
            out["bai_image"] = bai_image_loss(v_tok, c_v, self.predictor)
        return out
