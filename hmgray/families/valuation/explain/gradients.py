"""Attributions of the depreciation delta to image pixels and to words.

Target: ``delta`` (B,) of HMG-Net's depreciation head,
``delta = sigmoid(f_entity(E_entity) + gamma * f_market(E_market))``, a fraction of the
MSRP in [0, 1] (higher = the item is worth less). Axes: B listings, H x W pixels, L words,
D word-embedding width, S quadrature steps.

Inputs that get attributions:

* the image x (B, 3, H, W), pixels in [0, 1] (contracts §3);
* the word embeddings e (B, L, D): the output of the text encoder's word-embedding table,
  before BERT adds position embeddings and its LayerNorm. They are captured and replaced
  through a forward hook on that ``nn.Embedding`` (``word_embedding_module``), so the
  model's code is untouched. A word's attribution is the sum over its D coordinates;
  padding positions (token 0) get exactly 0.

Methods::

    gradient x input      A_x = x * d delta/dx             A_e = sum_D e * d delta/de
    integrated gradients  A_x = (x - x') * int_0^1 d delta(x' + a (x - x'), e' + a (e - e'))/dx da
                          A_e = sum_D (e - e') * int_0^1 d delta(...)/de da

Integrated gradients (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365) moves
image and words together along one straight path from the baseline (x', e') to the input
(x, e); the integral is taken by Gauss-Legendre quadrature on ``steps`` nodes of [0, 1]
(as Captum does), which is exact for polynomials of degree < 2 S. Completeness, the check
that the quadrature converged::

    sum A_x + sum A_e = delta(x, e) - delta(x', e')       (``Attribution.completeness_gap``)

Baselines: words e' = 0, the embedding of "no word" (BERT's padding row is zero and gets
no gradient). Image x' (``image_baseline``): ``"blur"`` (default), a Gaussian blur of the
image itself (sigma = 2 px, Sturmfels et al. 2020, "Visualizing the Impact of Feature
Attribution Baselines", https://distill.pub/2020/attribution-baselines/): it keeps the
colours and the rough layout (so wear, which lives in the body colour, is in the baseline
too) and removes what is a few pixels wide (defects, edges, noise); ``"grey"``, a
constant 0.5 image, which the patch encoder sees as zero (it centres pixels at 0.5);
``"zeros"``, black. Gradient x input is the classic x * grad (no baseline); its sum
equals delta(x, e) - delta(0, 0) only for a delta linear in its inputs.

The blur baseline has a prior of its own: x - x' is largest on thin structures, so even
an untrained model's integrated gradients put 6x the random share of their mass on
obvious defects (default experiment); gradient x input of the untrained model does not
(1.3x). ``hmgray.families.valuation.explain.report`` therefore reports every map next to the same map of
the untrained model.

Where the model is steep along the path, a few nodes miss a narrow ramp and completeness
fails; ``integrated_gradients(max_steps=...)`` redoes those listings with more nodes.

The model is put in eval mode (no dropout) for every call and left so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "IMAGE_BASELINES",
    "WORD_EMBEDDING",
    "Attribution",
    "delta_of",
    "gradient_x_input",
    "image_baseline",
    "integrated_gradients",
    "word_embedding_module",
]

# Path of HMGNet's word-embedding table (hmgray.families.valuation.layers.encoders.TextEncoder -> BertModel).
WORD_EMBEDDING = "text_enc.bert.embeddings.word_embeddings"
IMAGE_BASELINES = ("blur", "grey", "zeros")
# sigma of the "blur" baseline in pixels: wide enough to wash out 2 px lines and 4 x 4
# dents (their blurred contrast falls to < 1/3), narrow enough to keep the 14-16 px body
# and its colour.
BLUR_SIGMA_PX = 2.0

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class Attribution:
    """Attributions of ``delta`` for a batch of B listings.

    Attributes:
        image: (B, 3, H, W) per pixel and channel, in delta units.
        words: (B, L) per word, in delta units; 0 at padding.
        delta: (B,) delta at the input.
        delta_baseline: (B,) delta at the baseline (integrated gradients); NaN for
            gradient x input, which has none.
        method: ``"grad_x_input"`` or ``"integrated_gradients"``.
        steps: (B,) quadrature nodes used per listing (integrated gradients; 1 for
            gradient x input).
    """

    image: Tensor
    words: Tensor
    delta: Tensor
    delta_baseline: Tensor
    method: str
    steps: Tensor | None = None

    def pixel_map(self) -> Tensor:
        """(B, H, W): the attribution of each pixel, summed over its 3 channels (signed)."""
        return self.image.sum(dim=1)

    @property
    def completeness_gap(self) -> Tensor:
        """(B,): sum of all attributions - (delta - delta_baseline); ~0 for converged IG."""
        total = self.image.flatten(1).sum(1) + self.words.sum(1)
        return total - (self.delta - self.delta_baseline)


def word_embedding_module(model: nn.Module, path: str = WORD_EMBEDDING) -> nn.Module:
    """The module whose output is the word embeddings e (B, L, D)."""
    try:
        return model.get_submodule(path)
    except AttributeError as e:
        raise ValueError(
            f"{type(model).__name__} has no word-embedding module at {path!r}; pass "
            "word_embedding= the path of the nn.Embedding that embeds batch['tokens']"
        ) from e


def delta_of(model: nn.Module, batch: Batch) -> Tensor:
    """``model(batch)["delta"]`` (B,), float32; ValueError if the model has no delta."""
    delta = model(batch)["delta"]
    if delta is None:
        raise ValueError(
            "the model has no depreciation head (delta is None): attribution of delta needs "
            "the 'full' arm or head='depreciation'"
        )
    return delta.float()


@contextmanager
def _replaced_output(module: nn.Module, fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """While active, ``module``'s output o is replaced by ``fn(o)``."""
    handle = module.register_forward_hook(lambda _m, _inp, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def image_baseline(image: Tensor, kind: str = "blur") -> Tensor:
    """The image baseline x' of integrated gradients (see the module docstring).

    Args:
        image: (B, 3, H, W) in [0, 1].  kind: one of ``IMAGE_BASELINES``.
    Returns:
        (B, 3, H, W), no gradient.
    """
    image = image.detach()
    if kind == "zeros":
        return torch.zeros_like(image)
    if kind == "grey":
        return torch.full_like(image, 0.5)
    if kind == "blur":
        k = _gaussian_kernel(BLUR_SIGMA_PX).to(image)
        r = (k.numel() - 1) // 2
        c = image.shape[1]
        x = image
        # separable blur; replicate padding: the border is background, which continues
        x = F.conv2d(
            F.pad(x, (r, r, 0, 0), mode="replicate"),
            k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
            groups=c,
        )
        x = F.conv2d(
            F.pad(x, (0, 0, r, r), mode="replicate"),
            k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
            groups=c,
        )
        return x
    raise ValueError(f"unknown image baseline {kind!r}; valid: {list(IMAGE_BASELINES)}")


def _delta_and_grads(
    model: nn.Module, emb: nn.Module, batch: Batch, image: Tensor, scale: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """delta at (image, scale * e) and its gradients, one forward + backward.

    ``scale`` (N,) multiplies each listing's word embeddings e (1 = the words as they are,
    0 = the baseline e' = 0). Listings do not interact in the model (a listing's delta
    depends only on its own inputs), so the gradient of sum_b delta_b w.r.t. listing b's
    inputs is that of delta_b.

    Returns:
        delta (N,), d delta / d image (N, 3, H, W), d delta / d(scale e) (N, L, D), e (N, L, D).
    """
    image = image.detach().requires_grad_(True)
    captured: dict[str, Tensor] = {}

    def on_embeddings(out: Tensor) -> Tensor:
        captured["e"] = out.detach()
        # a leaf, so that its gradient can be read
        captured["z"] = (scale[:, None, None] * captured["e"]).requires_grad_(True)
        return captured["z"]

    with _replaced_output(emb, on_embeddings), torch.enable_grad():
        delta = delta_of(model, {**batch, "image": image})
        g_img, g_z = torch.autograd.grad(delta.sum(), [image, captured["z"]])
    return delta.detach(), g_img, g_z, captured["e"]


def gradient_x_input(
    model: nn.Module, batch: Batch, *, word_embedding: str = WORD_EMBEDDING
) -> Attribution:
    """Gradient x input of delta for every listing of ``batch`` (one forward + backward)."""
    model.eval()
    emb = word_embedding_module(model, word_embedding)
    image = batch["image"].detach().float()
    ones = torch.ones(image.shape[0], device=image.device)
    delta, g_img, g_emb, e = _delta_and_grads(model, emb, batch, image, ones)
    return Attribution(
        image=image * g_img,
        words=(e * g_emb).sum(-1),
        delta=delta,
        delta_baseline=torch.full_like(delta, float("nan")),
        method="grad_x_input",
        steps=torch.ones(delta.shape[0], dtype=torch.long),
    )


def _gauss_legendre(steps: int) -> tuple[Tensor, Tensor]:
    """Nodes in (0, 1) and weights summing to 1 of ``steps``-point Gauss-Legendre."""
    x, w = np.polynomial.legendre.leggauss(steps)  # on [-1, 1], weights sum to 2
    return torch.tensor((x + 1) / 2, dtype=torch.float32), torch.tensor(w / 2, dtype=torch.float32)


def _repeat(batch: Batch, s: int) -> Batch:
    """Each listing s times in a row: (B, ...) -> (B * S, ...)."""
    return {
        k: v.repeat_interleave(s, dim=0) if isinstance(v, Tensor) else v for k, v in batch.items()
    }


def integrated_gradients(
    model: nn.Module,
    batch: Batch,
    *,
    steps: int = 32,
    max_steps: int | None = None,
    gap_tol: tuple[float, float] = (5e-3, 0.05),
    baseline: str | Tensor = "blur",
    word_embedding: str = WORD_EMBEDDING,
    max_rows: int = 512,
) -> Attribution:
    """Integrated gradients of delta, image and words along one joint path.

    Args:
        model: returns ``delta`` (depreciation head).
        batch: decoded batch (contracts §3) of B listings, torch tensors.
        steps: S, Gauss-Legendre nodes.
        max_steps: refinement: a listing whose completeness gap exceeds
            ``atol + rtol * |delta - delta_baseline|`` (``gap_tol = (atol, rtol)``) is
            recomputed with twice the nodes, until it passes or ``max_steps`` is reached.
            None = no refinement. Why: the trained model is steep along some paths (one
            listing of the default experiment: delta moves 0.004 within 5e-4 of the path,
            and at one of 32 nodes the gradient w.r.t. its words is ~1000 x the path
            average). Measured on that model's 597 test listings: 32 nodes give a mean
            |gap| of 1.1e-2 and a max of 0.78 (delta units); refining to <= 128 nodes with
            the default tolerance (161 listings refined, 2.2x the cost) gives a mean of
            4.6e-3 and a max of 0.18. Ramps narrower than the node spacing remain; the
            gap is reported, not hidden.
        baseline: an ``IMAGE_BASELINES`` name or a (B, 3, H, W) image.
        max_rows: at most this many (listing, step) rows per forward pass (memory).
    Returns:
        :class:`Attribution` with ``delta_baseline`` = delta(x', e') and ``steps`` per
        listing.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    image = batch["image"].detach().float()
    base = image_baseline(image, baseline) if isinstance(baseline, str) else baseline.detach()
    if base.shape != image.shape:
        raise ValueError(f"baseline shape {tuple(base.shape)} != image shape {tuple(image.shape)}")
    out = _integrated_gradients(model, batch, base, steps, word_embedding, max_rows)
    atol, rtol = gap_tol
    while max_steps is not None and steps < max_steps:
        change = (out.delta - out.delta_baseline).abs()
        bad = (out.completeness_gap.abs() > atol + rtol * change).nonzero().flatten()
        if bad.numel() == 0:
            break
        steps = min(2 * steps, max_steps)
        sub = {k: v[bad] if isinstance(v, Tensor) else v for k, v in batch.items()}
        redo = _integrated_gradients(model, sub, base[bad], steps, word_embedding, max_rows)
        out.image[bad], out.words[bad], out.steps[bad] = redo.image, redo.words, redo.steps
    return out


def _integrated_gradients(
    model: nn.Module,
    batch: Batch,
    base: Tensor,
    steps: int,
    word_embedding: str,
    max_rows: int,
) -> Attribution:
    """Integrated gradients with ``steps`` nodes for every listing (no refinement)."""
    model.eval()
    emb = word_embedding_module(model, word_embedding)
    image = batch["image"].detach().float()
    alphas, weights = _gauss_legendre(steps)  # (S,), (S,)
    alphas, weights = alphas.to(image.device), weights.to(image.device)
    b = image.shape[0]
    chunk = max(1, max_rows // steps)  # listings per forward pass
    a_img = torch.zeros_like(image)
    a_words = torch.zeros(batch["tokens"].shape, device=image.device)
    delta = torch.empty(b, device=image.device)
    delta_base = torch.empty(b, device=image.device)
    for lo in range(0, b, chunk):
        sl = slice(lo, min(b, lo + chunk))
        sub = {k: v[sl] if isinstance(v, Tensor) else v for k, v in batch.items()}
        n = sl.stop - sl.start
        x, x0 = image[sl], base[sl]
        with torch.no_grad():
            delta[sl] = delta_of(model, {**sub, "image": x})
            with _replaced_output(emb, torch.zeros_like):
                delta_base[sl] = delta_of(model, {**sub, "image": x0})
        a = alphas.repeat(n)  # (n * S,) listing-major, like repeat_interleave
        x_rep, x0_rep = x.repeat_interleave(steps, 0), x0.repeat_interleave(steps, 0)
        xp = x0_rep + a[:, None, None, None] * (x_rep - x0_rep)  # points on the path
        _, g_img, g_emb, e = _delta_and_grads(model, emb, _repeat(sub, steps), xp, a)
        w = weights.repeat(n)[:, None, None, None]  # (n * S, 1, 1, 1)
        avg_img = (w * g_img).view(n, steps, *x.shape[1:]).sum(1)  # (n, 3, H, W)
        a_img[sl] = (x - x0) * avg_img
        avg_emb = (w[..., 0] * g_emb).view(n, steps, *g_emb.shape[1:]).sum(1)  # (n, L, D)
        e = e.view(n, steps, *e.shape[1:])[:, 0]  # (n, L, D), the same at every node
        a_words[sl] = (e * avg_emb).sum(-1)
    return Attribution(
        image=a_img,
        words=a_words,
        delta=delta,
        delta_baseline=delta_base,
        method="integrated_gradients",
        steps=torch.full((b,), steps, dtype=torch.long),
    )
