"""Configuration of the category discovery family (HypGCD): arms and the frozen run config.

Arms, a cumulative ladder, each step switching on one loss::

    euclidean  the SimGCD base: supervised and self-supervised contrastive losses,
               cross-entropy on labelled images, self-distillation with a mean-entropy
               regulariser on all images (``L_Euc``)
    hcl        + the hyperbolic class loss on the Poincare ball, weight ``alpha``
    lhl        + the local hierarchy loss on the ball, margin ``delta``, weight ``beta``:
               full HypGCD, ``L = L_Euc + alpha L_hcl + beta L_lhl``

Defaults are the released code's (DuannYu/HypGCD, ``train.py`` and ``hpy_loss.py``, over
SimGCD's ``model.py``): ``sup_weight`` (the write-up's lambda) 0.35, ``memax_weight`` 2,
student temperature 0.1, teacher temperature 0.04, SimCLR temperature 1.0, SupCon
temperature 0.07; curvature ``c`` 0.1 (fixed), ``clip_r`` 2.3, alpha 0.1, beta 5, margin
0.1, reciprocal top-30 neighbours, 50 triplets per anchor, Gumbel-softmax temperature
0.1, label smoothing 0.1. The class loss's temperature ``tau`` is the write-up's; the
released code divides by nothing, so its default is 1.0.
"""

from __future__ import annotations

import dataclasses

from hmgray.errors import ConfigError

__all__ = ["ARMS", "GcdConfig", "stages"]

ARMS = ("euclidean", "hcl", "lhl")


def stages(arm: str) -> set[str]:
    """The hyperbolic losses an arm switches on: a prefix of ``hcl``, ``lhl``."""
    if arm not in ARMS:
        raise ConfigError(f"unknown arm {arm!r}; valid arms: {', '.join(ARMS)}")
    return set(("hcl", "lhl")[: ARMS.index(arm)])


@dataclasses.dataclass(frozen=True)
class GcdConfig:
    """One category discovery run's model and loss configuration."""

    arm: str = "lhl"
    width: int = 24  # channels of the CNN's first stage (doubled at each of 3 stages)
    hidden_dim: int = 256  # the projection head's hidden width (DINOHead: 2048)
    proj_dim: int = 64  # the projection (bottleneck) the contrastive and hyperbolic losses use
    sup_weight: float = 0.35  # lambda of L_Euc
    memax_weight: float = 2.0
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    con_temp: float = 1.0  # SimCLR (info_nce_logits) temperature
    supcon_temp: float = 0.07
    c: float = 0.1  # curvature of the Poincare ball (hcl, lhl)
    clip_r: float = 2.3  # feature clipping radius before exp_0
    tau: float = 1.0  # temperature of the hyperbolic class loss
    alpha: float = 0.1  # weight of L_hcl
    smoothing: float = 0.1  # label smoothing of L_hcl
    beta: float = 5.0  # weight of L_lhl
    delta: float = 0.1  # margin of L_lhl
    topk: int = 30  # reciprocal nearest neighbours
    triplets: int = 50  # triplets per anchor
    gumbel_tau: float = 0.1  # temperature of the Gumbel-softmax ancestor choice

    def __post_init__(self) -> None:
        stages(self.arm)  # validates the arm
        for name in ("width", "hidden_dim", "proj_dim", "topk", "triplets"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("student_temp", "teacher_temp", "con_temp", "supcon_temp", "c",
                     "clip_r", "tau", "gumbel_tau"):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("memax_weight", "alpha", "beta", "delta"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("sup_weight", "smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    @property
    def stages(self) -> set[str]:
        return stages(self.arm)
