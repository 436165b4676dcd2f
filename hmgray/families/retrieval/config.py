"""Configuration of the hyperbolic retrieval family: arms and the frozen run config.

Arms, a cumulative ladder, each step switching on one stage::

    clip   Euclidean dual encoder: InfoNCE over cosine similarity, learnable temperature
    hrl    + hyperbolic representation learning: features scaled, mapped by the Lorentz
           exp map, logits = -distance x scale (MERU without its entailment loss)
    meru   + MERU's entailment loss (text entails image), weight ``w_ent``
    bai    + bidirectional attention interaction and its two local losses, ``w_bai``
    sms    + semantic margin softmax, margin ``lam``: full GAHR

``meru`` sits inside the ladder because GAHR trains with the entailment loss on (its
released ``s.config.yaml``: ``ent: true``, ``ent_ratio`` 0.1), so the GAHR stages are
measured on top of MERU. Defaults: MERU's (curvature 1 learnable within [c0/10, 10 c0],
temperature 0.07 with the logit scale capped at 100, entailment weight 0.2, AdamW weight
decay 0.2) and GAHR's (margin 0.2, BAI weight 0.03).
"""

from __future__ import annotations

import dataclasses

from hmgray.errors import ConfigError

__all__ = ["ARMS", "RetrievalConfig", "stages"]

ARMS = ("clip", "hrl", "meru", "bai", "sms")


def stages(arm: str) -> set[str]:
    """The stages an arm switches on: a prefix of ``hrl``, ``ent``, ``bai``, ``sms``."""
    if arm not in ARMS:
        raise ConfigError(f"unknown arm {arm!r}; valid arms: {', '.join(ARMS)}")
    return set(("hrl", "ent", "bai", "sms")[: ARMS.index(arm)])


@dataclasses.dataclass(frozen=True)
class RetrievalConfig:
    """One retrieval run's model and loss configuration."""

    arm: str = "sms"
    embed_dim: int = 64  # width of both encoders and of the joint space
    layers: int = 2  # transformer layers per encoder
    heads: int = 4
    patch_size: int = 8
    vocab_size: int = 4096  # hashed word ids (hmgray.data.text), 0 = padding
    max_words: int = 32
    tau: float = 0.07  # initial temperature; the learnable logit scale is 1 / tau
    c: float = 1.0  # initial curvature of the Lorentz model (hyperbolic arms)
    learn_c: bool = True  # learnable curvature, clamped to [c / 10, 10 c] (MERU)
    w_ent: float = 0.2  # MERU's entailment weight (arms meru, bai, sms)
    w_bai: float = 0.03  # GAHR's BAI loss weight (arms bai, sms)
    lam: float = 0.2  # GAHR's semantic margin lambda (arm sms)

    def __post_init__(self) -> None:
        stages(self.arm)  # validates the arm
        for name in ("embed_dim", "layers", "heads", "patch_size", "max_words"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.embed_dim % self.heads:
            raise ConfigError(
                f"embed_dim {self.embed_dim} must be a multiple of heads {self.heads}"
            )
        if self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be >= 2 (0 is padding), got {self.vocab_size}")
        for name in ("tau", "c"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("w_ent", "w_bai", "lam"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def stages(self) -> set[str]:
        return stages(self.arm)

    @property
    def hyperbolic(self) -> bool:
        return "hrl" in self.stages
