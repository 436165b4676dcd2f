"""Configuration of the click-through family (MGIPF): arms and the frozen run config.

Arms, per backbone (``din``, ``deepfm``), a cumulative ladder of three steps::

    <backbone>_fine    the backbone alone: y_hat = sigmoid(z_m), loss BCE(y_hat, y)
    <backbone>_hard    + one coarse head per granularity, y_hat = sigmoid(w . [z_m, z_c..]),
                       coarse BCE with every sample weighted 1 (w_pn = w_nn = 1)
    <backbone>_mgipf   + the soft coarse loss: w_pn, w_nn searched (MGIPF)

Defaults are the authors' Taobao DIN values (``w_pn`` 0.2, ``w_nn`` 0.1, ``w_coarse`` =
their ``aux_weight`` 0.05, ``w_main`` 1) and deepctr-torch's layer sizes (DIN: DNN (256,
128), attention (64, 16); DeepFM: DNN (256, 128)); coarse heads (128, 64) as in MGIPF.
"""

from __future__ import annotations

import dataclasses

from hmgray.errors import ConfigError

__all__ = ["ARMS", "BACKBONES", "MODES", "CtrConfig", "arm_parts"]

BACKBONES = ("din", "deepfm")
MODES = ("fine", "hard", "mgipf")
ARMS = tuple(f"{b}_{m}" for b in BACKBONES for m in MODES)
SOFT_DEFAULTS = (0.2, 0.1)  # the authors' Taobao DIN soft_weight_pn, soft_weight_nn


def arm_parts(arm: str) -> tuple[str, str]:
    """(backbone, mode) of an arm name."""
    if arm not in ARMS:
        raise ConfigError(f"unknown arm {arm!r}; valid arms: {', '.join(ARMS)}")
    backbone, _, mode = arm.partition("_")
    return backbone, mode


@dataclasses.dataclass(frozen=True)
class CtrConfig:
    """One click-through run's model and loss configuration."""

    arm: str = "din_mgipf"
    embedding_dim: int = 16
    dnn_hidden: tuple[int, ...] = (256, 128)
    att_hidden: tuple[int, ...] = (64, 16)
    coarse_hidden: tuple[int, ...] = (128, 64)
    max_history: int = 50
    l2: float = 1e-6  # lambda * sum of squared embedding weights (deepctr's l2_reg_embedding)
    w_coarse: float = 0.05  # the authors' aux_weight
    # weights of a coarse sample with y = 0 and y_c = 1 (w_pn) or y_c = 0 (w_nn); None:
    # the arm's default (mgipf: the authors' 0.2 and 0.1; hard: 1 and 1, the only values)
    w_pn: float | None = None
    w_nn: float | None = None
    w_main: float = 1.0  # weight of the backbone's own BCE(sigmoid(z_m), y)

    def __post_init__(self) -> None:
        backbone, mode = arm_parts(self.arm)
        for name in ("dnn_hidden", "att_hidden", "coarse_hidden"):
            value = tuple(int(v) for v in getattr(self, name))  # Tune hands lists back
            if not value or min(value) < 1:
                raise ConfigError(f"{name} must be a non-empty list of widths >= 1")
            object.__setattr__(self, name, value)
        if self.embedding_dim < 1 or self.max_history < 1:
            raise ConfigError("embedding_dim and max_history must be >= 1")
        for name, default in (("w_pn", SOFT_DEFAULTS[0]), ("w_nn", SOFT_DEFAULTS[1])):
            if getattr(self, name) is None:
                object.__setattr__(self, name, 1.0 if mode == "hard" else default)
        for name in ("l2", "w_coarse", "w_pn", "w_nn", "w_main"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if mode == "hard" and (self.w_pn, self.w_nn) != (1.0, 1.0):
            raise ConfigError(
                f"arm {self.arm!r} is the hard coarse loss: w_pn = w_nn = 1, "
                f"got {self.w_pn}, {self.w_nn}"
            )

    @property
    def backbone(self) -> str:
        return arm_parts(self.arm)[0]

    @property
    def mode(self) -> str:
        return arm_parts(self.arm)[1]
