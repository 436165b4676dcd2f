"""HMG-Net's configuration and its ablation arms, without the model's libraries.

Importing this module costs no more than torch (the attention registry's names), so the
task, the experiment scripts' flags and ``--help`` do not wait for torch-geometric and
transformers; ``hmgray.families.valuation.model`` builds the network from it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from hmgray.nn.attention import ATTENTIONS

__all__ = ["ARMS", "ARM_STAGES", "HMGNetConfig"]

ARMS = ("global", "micro", "meso", "full")

# Cumulative stage switches of the granularity ablation.
ARM_STAGES: dict[str, dict[str, Any]] = {
    "global": {"micro": False, "meso": False, "market": False, "head": "direct"},
    "micro": {"micro": True, "meso": False, "market": False, "head": "direct"},
    "meso": {"micro": True, "meso": True, "market": False, "head": "direct"},
    "full": {"micro": True, "meso": True, "market": True, "head": "depreciation"},
}

_INT_FIELDS = (
    "d_model",
    "patch_size",
    "vocab_size",
    "max_words",
    "max_regions",
    "num_region_labels",
    "text_layers",
    "text_heads",
    "gnn_layers",
    "gmn_layers",
    "dsca_heads",
)
_FLOAT_FIELDS = ("dropout", "gamma", "price_scale")
_HEAD_CHOICES = ("auto", "direct", "depreciation")
_MARKET_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class HMGNetConfig:
    """Configuration of :class:`HMGNet`; plain dicts only at the Ray boundary (``from_dict``).

    Defaults are sized for the synthetic 48x48 data on CPU (a 64-listing
    forward+backward of the ``full`` arm in tens of ms on one thread).
    """

    arm: str = "full"
    d_model: int = 48
    patch_size: int = 8  # 48 / 8 = 6 x 6 = 36 patches
    image_size: tuple[int, int] = (48, 48)  # (H, W), the manifest's image_size
    vocab_size: int = 4096  # hashed word ids, 0 = padding (decode_batch default)
    max_words: int = 32  # L, also BERT's position table size
    max_regions: int = 4  # R the decoder pads to (the model itself accepts any R)
    num_region_labels: int = 16  # detector classes: 0 body, 1.. part kinds
    attention: str = "sparsemax"  # DSCA normalisation (registry name)
    dsca_heads: int = 4  # DSCA attention heads (1 = the write-up's single map; see nn.dsca)
    text_layers: int = 1
    text_heads: int = 4
    gnn_layers: int = 2  # market HeteroConv layers
    gmn_layers: int = 2  # graph matching propagation layers
    dropout: float = 0.1
    gamma: float = 1.0  # weight of the market term in the head
    price_scale: float = 1000.0  # currency units; prices are regressed / this
    head: str = "auto"  # auto (= arm's) | direct | depreciation
    market: str = "auto"  # auto (= arm's) | on | off

    def __post_init__(self) -> None:
        # Normalise values arriving from JSON / Tune (lists, numpy scalars) to plain Python
        # types so that to_dict() is JSON-able and equal configs compare equal.
        size = self.image_size
        if isinstance(size, numbers.Integral):
            size = (size, size)
        if isinstance(size, (list, tuple)) and all(isinstance(s, numbers.Integral) for s in size):
            object.__setattr__(self, "image_size", tuple(int(s) for s in size))
        for f in dataclasses.fields(self):
            val = getattr(self, f.name)
            if (
                f.name in _INT_FIELDS
                and isinstance(val, numbers.Integral)
                and not isinstance(val, bool)
            ):
                object.__setattr__(self, f.name, int(val))
            elif (
                f.name in _FLOAT_FIELDS
                and isinstance(val, numbers.Real)
                and not isinstance(val, bool)
            ):
                object.__setattr__(self, f.name, float(val))
        self._validate()

    def _validate(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"HMGNetConfig.{name}={getattr(self, name)!r}: {why}")

        if self.arm not in ARMS:
            raise bad("arm", f"valid values: {list(ARMS)}")
        if self.attention not in ATTENTIONS:
            raise bad("attention", f"valid values: {sorted(ATTENTIONS)}")
        if self.head not in _HEAD_CHOICES:
            raise bad("head", f"valid values: {list(_HEAD_CHOICES)}")
        if self.market not in _MARKET_CHOICES:
            raise bad("market", f"valid values: {list(_MARKET_CHOICES)}")
        for name in _INT_FIELDS:
            val = getattr(self, name)
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise bad(name, "must be an integer >= 1")
        if self.vocab_size < 2:
            raise bad("vocab_size", "must be >= 2 (id 0 is padding)")
        size = self.image_size
        if not (
            isinstance(size, tuple)
            and len(size) == 2
            and all(isinstance(s, int) and s > 0 for s in size)
            and not any(s % self.patch_size for s in size)
        ):
            raise bad("image_size", f"must be (H, W) divisible by patch_size={self.patch_size}")
        if self.d_model % self.text_heads:
            raise bad("text_heads", f"must divide d_model={self.d_model}")
        if self.d_model % self.dsca_heads:
            raise bad("dsca_heads", f"must divide d_model={self.d_model}")
        for name in _FLOAT_FIELDS:
            if not isinstance(getattr(self, name), float):
                raise bad(name, "must be a real number")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "must be in [0, 1)")
        if not (math.isfinite(self.gamma) and self.gamma >= 0.0):
            raise bad("gamma", "must be finite and >= 0")
        if not (math.isfinite(self.price_scale) and self.price_scale > 0.0):
            raise bad("price_scale", "must be finite and > 0")

    # -- resolved stage switches -------------------------------------------------------
    @property
    def stages(self) -> dict[str, Any]:
        """The arm's switches with the ``head`` / ``market`` overrides applied."""
        s = dict(ARM_STAGES[self.arm])
        if self.head != "auto":
            s["head"] = self.head
        if self.market != "auto":
            s["market"] = self.market == "on"
        return s

    # -- Ray boundary --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HMGNetConfig:
        """Build from a plain dict; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"HMGNetConfig: unknown fields {unknown}; valid fields: {sorted(names)}"
            )
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (image_size as a list); ``from_dict(to_dict())`` round-trips."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["image_size"] = list(self.image_size)
        return d
