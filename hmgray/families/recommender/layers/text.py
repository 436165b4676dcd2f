"""Text encoder: the DistilBERT architecture trained from scratch; the ``[CLS]`` vector.

``transformers.DistilBertConfig`` builds the architecture (no pretrained weights are
loaded: nothing is downloaded). The input is hashed word ids (``hmgray.data.text``) with
the ``[CLS]`` id prepended; the item text is title + description, the user text the
user's last 5 training reviews concatenated (``hmgray.families.recommender.data``).

Shapes: ``forward(tokens (B, L) int64, 0 = padding) -> (B, dim)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["TextEncoder"]


class TextEncoder(nn.Module):
    """DistilBERT(dim, n_layers, n_heads, hidden_dim) over hashed ids; returns [CLS].

    ``vocab_size`` hashed ids (0 = padding) plus one more id, ``vocab_size`` itself, for
    ``[CLS]``. The write-up's size is DistilBERT-base: dim 768, 6 layers, 12 heads, FFN 3072.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        n_layers: int,
        n_heads: int,
        hidden_dim: int,
        max_len: int,
        dropout: float,
    ):
        super().__init__()
        from transformers import DistilBertConfig, DistilBertModel

        config = DistilBertConfig(
            vocab_size=vocab_size + 1,
            dim=dim,
            n_layers=n_layers,
            n_heads=n_heads,
            hidden_dim=hidden_dim,
            max_position_embeddings=max_len + 1,
            dropout=dropout,
            attention_dropout=dropout,
            pad_token_id=0,
            initializer_range=0.02 * (768 / dim) ** 0.5,
        )
        self.cls_id = vocab_size
        self.bert = DistilBertModel(config)
        self.out_dim = dim

    def forward(self, tokens: Tensor) -> Tensor:
        cls = torch.full_like(tokens[:, :1], self.cls_id)
        ids = torch.cat([cls, tokens], dim=1)  # (B, 1 + L)
        mask = (ids != 0).long()
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, 1+L, D)
        return hidden[:, 0]
