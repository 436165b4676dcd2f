"""PNG figures of the attributions (matplotlib, Agg canvas, no pyplot state).

* ``listing_png``: one listing: the image with its scene regions (and the true defect box
  on synthetic data), the pixel attribution of delta as a heat map over the image, the
  occlusion effect of every patch cell, the words coloured by their attribution, and the
  occlusion statements of the scene regions.
* ``market_png``: delta of one listing at every (location, period) of the market graph,
  and the market shift averaged over many listings against the planted one.

Colours: red = raises delta (the item is worth less), blue = lowers it, both scaled to the
largest |value| of the panel, which the panel's title states.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["listing_png", "market_png"]

CMAP = "RdBu_r"  # diverging: red = raises delta, blue = lowers it


def _png(fig: Figure, dpi: int) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# Smallest colour scale, delta units (1e-5 percentage points of the MSRP): a map whose
# values are all below it is float32 noise (e.g. integrated gradients of a flat image,
# which equals its blur baseline) and is drawn blank rather than stretched to full colour.
_MIN_SCALE = 1e-7


def _scale(values: np.ndarray) -> float:
    """Colour scale: the 99.5th percentile of |values| (one hot pixel does not wash out the
    rest), at least ``_MIN_SCALE``."""
    v = np.abs(values[np.isfinite(values)])
    return float(max(np.percentile(v, 99.5) if v.size else 0.0, _MIN_SCALE))


def _box(ax, box, h: int, w: int, colour: str, style: str = "-", label: str | None = None):
    x0, y0, x1, y1 = box
    # pixel centres sit at integer coordinates in imshow: edges are at -0.5
    ax.add_patch(
        Rectangle(
            (x0 * w - 0.5, y0 * h - 0.5),
            (x1 - x0) * w,
            (y1 - y0) * h,
            fill=False,
            edgecolor=colour,
            linestyle=style,
            linewidth=1.4,
        )
    )
    if label:
        ax.text(x0 * w - 0.5, y0 * h - 1.0, label, color=colour, fontsize=7, va="bottom")


def _heat(ax, grey: np.ndarray, attr: np.ndarray, title: str, defect_box, h: int, w: int):
    """Grey image with the signed map over it: red raises delta, blue lowers it."""
    s = _scale(attr)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    alpha = np.clip(np.abs(attr) / s, 0.0, 1.0)
    ax.imshow(attr, cmap=CMAP, vmin=-s, vmax=s, alpha=alpha, interpolation="nearest")
    if defect_box is not None:
        _box(ax, defect_box, h, w, "lime", "--")
    ax.set_title(f"{title} (scale {s:.1e})", fontsize=8)
    ax.set_axis_off()


def listing_png(
    image: np.ndarray,
    pixel_attr: np.ndarray,
    words: Sequence[str],
    word_attr: np.ndarray,
    *,
    title: str,
    regions: Sequence[tuple[str, Sequence[float]]] = (),
    statements: Sequence[str] = (),
    occlusion_grid: np.ndarray | None = None,
    defect_box: Sequence[float] | None = None,
    gxi_map: np.ndarray | None = None,
    dpi: int = 100,
) -> bytes:
    """PNG bytes of one listing's attribution figure.

    Args:
        image: (3, H, W) in [0, 1].  pixel_attr: (H, W) integrated gradients, summed over
            channels, delta units.  words: the listing's words (as tokenised, the first L).
        word_attr: (>= len(words),) signed, delta units.  title: first line of the figure.
        regions: (name, normalised box) to outline.  statements: occlusion sentences,
            printed under the words.  occlusion_grid: (gh, gw) effect of masking each patch
            cell, delta units.  defect_box: the true defect box (synthetic data), dashed.
        gxi_map: (H, W) gradient x input, an extra panel when given.
    """
    img = np.clip(np.transpose(image, (1, 2, 0)), 0.0, 1.0)  # (H, W, 3)
    h, w = img.shape[:2]
    grey = img @ np.array([0.299, 0.587, 0.114])  # (H, W), for a readable overlay
    ncol = 4 if gxi_map is not None else 3
    fig = Figure(figsize=(3.4 * ncol, 5.1))
    gs = fig.add_gridspec(
        2,
        ncol,
        height_ratios=[1.0, 0.42],
        left=0.02,
        right=0.98,
        top=0.9,
        bottom=0.02,
        wspace=0.08,
        hspace=0.1,
    )
    fig.suptitle(title, fontsize=10)

    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(img, interpolation="nearest")
    for name, box in regions:
        _box(ax, box, h, w, "black", label=name)
    if defect_box is not None:
        _box(ax, defect_box, h, w, "lime", "--")
    note = " (green dashed: true defect)" if defect_box is not None else ""
    ax.set_title("listing" + note, fontsize=8)
    ax.set_axis_off()

    _heat(fig.add_subplot(gs[0, 1]), grey, pixel_attr, "integrated gradients", defect_box, h, w)
    if gxi_map is not None:
        _heat(fig.add_subplot(gs[0, 2]), grey, gxi_map, "gradient x input", defect_box, h, w)

    ax = fig.add_subplot(gs[0, ncol - 1])
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if occlusion_grid is not None and np.isfinite(occlusion_grid).any():
        gh, gw = occlusion_grid.shape
        so = _scale(occlusion_grid)
        ax.imshow(
            occlusion_grid,
            cmap=CMAP,
            vmin=-so,
            vmax=so,
            alpha=0.55,
            extent=(-0.5, w - 0.5, h - 0.5, -0.5),
            interpolation="nearest",
        )
        for r in range(gh):
            for c in range(gw):
                pp = 100 * occlusion_grid[r, c]
                if np.isfinite(pp) and abs(pp) >= 0.05:
                    ax.text(
                        (c + 0.5) * w / gw - 0.5,
                        (r + 0.5) * h / gh - 0.5,
                        f"{pp:+.1f}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                    )
        ax.set_title("occlusion: delta change per cell (% of MSRP)", fontsize=8)
    else:
        ax.set_title("occlusion: no image", fontsize=8)
    if defect_box is not None:
        _box(ax, defect_box, h, w, "lime", "--")
    ax.set_axis_off()

    # words, coloured by attribution, wrapped at the right edge; then the statements
    ax = fig.add_subplot(gs[1, :])
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    wa = np.asarray(word_attr, dtype=float)[: len(words)]
    sw = _scale(wa) if len(wa) else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-sw, vmax=sw)
    cmap = colormaps[CMAP]
    ax.text(
        0.0,
        0.98,
        f"words, integrated gradients (red raises delta, blue lowers it; scale {sw:.1e}):",
        fontsize=8,
        va="top",
    )
    # monospace at 9 pt: one character is ~0.6 x 9 pt wide; as a fraction of the axes width
    char_w = 0.6 * 9 / 72 / (fig.get_figwidth() * 0.96)
    line_h, x, y = 0.12, 0.0, 0.85
    for word, a in zip(words, wa, strict=False):
        width = char_w * (len(word) + 1)
        if x + width > 1.0:
            x, y = 0.0, y - line_h
        ax.text(
            x,
            y,
            word,
            fontsize=9,
            family="monospace",
            va="top",
            # white letters on the dark ends of the colour map
            color="white" if abs(norm(a) - 0.5) > 0.35 else "black",
            bbox={"facecolor": cmap(norm(a)), "edgecolor": "none", "pad": 1.5},
        )
        x += width + 0.004
    y -= line_h + 0.03
    ax.text(0.0, y, "occlusion of the scene regions:", fontsize=8, va="top")
    for sentence in list(statements)[:4]:
        y -= 0.09
        ax.text(0.01, y, "- " + sentence, fontsize=8, va="top")
    return _png(fig, dpi)


def market_png(
    grid: np.ndarray,
    location_names: Sequence[str],
    *,
    title: str,
    mean_shift: np.ndarray | None = None,
    planted_shift: np.ndarray | None = None,
    n_listings: int = 0,
    dpi: int = 110,
) -> bytes:
    """PNG bytes of the market figure.

    Args:
        grid: (nL, nT) delta of one listing at every (location, period).
        location_names: nL names.  title: figure title.
        mean_shift: (nL, nT) market shift (delta minus its mean over cells) averaged over
            ``n_listings`` listings.  planted_shift: (nL, nT) the planted shift, same centring.
    """
    n_loc, n_per = grid.shape
    ncols = 2 if mean_shift is not None else 1
    fig = Figure(figsize=(5.6 * ncols, 4.6))
    fig.suptitle(title, fontsize=10)
    ax = fig.add_subplot(1, ncols, 1)
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(n_loc):
        for t in range(n_per):
            ax.text(
                t,
                i,
                f"{grid[i, t]:.3f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if grid[i, t] < grid.mean() else "black",
            )
    ax.set_yticks(range(n_loc), list(location_names), fontsize=8)
    ax.set_xticks(range(n_per), [str(t) for t in range(n_per)], fontsize=8)
    ax.set_xlabel("period")
    ax.set_title("predicted delta of this listing at each location x period", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    if mean_shift is not None:
        ax = fig.add_subplot(1, ncols, 2)
        colours = [colormaps["tab10"](i % 10) for i in range(n_loc)]
        periods = np.arange(n_per)
        for i in range(n_loc):
            ax.plot(
                periods,
                100 * mean_shift[i],
                color=colours[i],
                marker="o",
                ms=3,
                label=location_names[i],
            )
            if planted_shift is not None:
                ax.plot(periods, 100 * planted_shift[i], color=colours[i], ls="--", lw=1)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel("period")
        ax.set_ylabel("market shift of delta (% of MSRP)")
        note = "; dashed: planted" if planted_shift is not None else ""
        ax.set_title(f"mean over {n_listings} listings (solid: model{note})", fontsize=8)
        ax.legend(fontsize=6.5, ncol=2, loc="best")
    fig.tight_layout()
    return _png(fig, dpi)
