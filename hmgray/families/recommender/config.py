"""Configuration of the multimodal recommender: arms, sizes, the frozen config.

Arms (a *star* around the full model: each removes one part of it)::

    graph      the graph modality alone             y = <u, i>
    text       the text modality alone              y = <u, i>
    image      the image modality alone             y = <u, i>
    concat     all three, concatenated, no attention (missing modality = zeros)
    fusion     attention fusion with the missing-modality mask, y = <u, i>
    fusion_fm  attention fusion + factorization machine over [u; i]   (the full model)

``missing_image`` = ``"mean"`` replaces a missing image's feature with the mean image
feature of the items that have one (what MMRec does) instead of masking it in the
fusion; the modality ablation's ``fusion_mean`` arm is ``fusion`` with it.

Sizes: the dataclass defaults are the write-up's (``SIZES["seed"]``: DistilBERT-base 768,
ResNet-50 2048, GraphSAGE 128, fusion 128, FM factors 64); ``SIZES["cpu"]`` shrinks widths
and depths for 2 CPU cores, never the structure.
"""

from __future__ import annotations

import dataclasses

from hmgray.errors import ConfigError

__all__ = ["ARMS", "ARM_PARTS", "MODALITIES", "RecConfig", "SIZES"]

MODALITIES = ("text", "image", "graph")

# arm -> (modalities, combine, predictor)
ARM_PARTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "graph": (("graph",), "single", "dot"),
    "text": (("text",), "single", "dot"),
    "image": (("image",), "single", "dot"),
    "concat": (MODALITIES, "concat", "dot"),
    "fusion": (MODALITIES, "attention", "dot"),
    "fusion_fm": (MODALITIES, "attention", "fm"),
}
ARMS = tuple(ARM_PARTS)

# The longest texts and the hashed vocabulary the context's token arrays are built with;
# a config's item_tokens / user_tokens (at most these) truncate them.
ITEM_TOKENS = 32
USER_TOKENS = 64
VOCAB_SIZE = 8192
MAX_HISTORY = 50  # a user's image and graph vectors are means over the last 50 items

SIZES: dict[str, dict] = {
    "seed": dict(
        text_dim=768, text_layers=6, text_heads=12, text_ffn=3072,
        image_width=64, image_blocks=(3, 4, 6, 3),
        graph_emb=128, graph_dim=128, d=128, fm_k=64,
    ),
    "cpu": dict(
        text_dim=32, text_layers=1, text_heads=2, text_ffn=64,
        image_width=4, image_blocks=(1, 1, 1, 1),
        graph_emb=32, graph_dim=32, d=32, fm_k=16, item_tokens=16, user_tokens=24,
    ),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RecConfig:
    """One recommender run's model configuration (defaults: the write-up's sizes)."""

    arm: str = "fusion_fm"
    text_dim: int = 768
    text_layers: int = 6
    text_heads: int = 12
    text_ffn: int = 3072
    image_width: int = 64
    image_blocks: tuple[int, ...] = (3, 4, 6, 3)
    graph_emb: int = 128  # the learnable initial node embeddings
    graph_dim: int = 128
    d: int = 128  # every modality is projected to d before fusion
    attn_dim: int = 64  # width of the fusion's scoring layer W
    fm_k: int = 64
    dropout: float = 0.1
    reg_lambda: float = 1e-5  # BPR's lambda: lambda * ||Theta||^2 on the weights
    missing_image: str = "mask"  # "mask" (alpha = 0) or "mean" (mean-imputed feature)
    item_tokens: int = ITEM_TOKENS
    user_tokens: int = USER_TOKENS
    vocab_size: int = VOCAB_SIZE
    max_history: int = MAX_HISTORY

    def __post_init__(self) -> None:
        if self.arm not in ARM_PARTS:
            raise ConfigError(f"unknown arm {self.arm!r}; valid arms: {', '.join(ARMS)}")
        if self.missing_image not in ("mask", "mean"):
            raise ConfigError(f"missing_image must be 'mask' or 'mean', got {self.missing_image!r}")
        if self.text_dim % self.text_heads:
            raise ConfigError(f"text_dim {self.text_dim} is not divisible by text_heads")
        # Tune hands lists back; the dataclass is frozen and hashable with a tuple
        object.__setattr__(self, "image_blocks", tuple(int(b) for b in self.image_blocks))

    @property
    def parts(self) -> tuple[tuple[str, ...], str, str]:
        """(modalities, combine, predictor) of the arm."""
        return ARM_PARTS[self.arm]
