"""Market re-placement against direct calls of the model; PNG figures decode."""

import io

import numpy as np
import torch
from PIL import Image

from hmgray.families.valuation.explain.market import market_grid, market_shift
from hmgray.families.valuation.explain.render import listing_png, market_png
from hmgray.families.valuation.model import HMGNet, HMGNetConfig
from tests.fakes import fake_batch, fake_market

SMALL = {"d_model": 16, "text_heads": 2, "vocab_size": 100, "max_words": 32, "max_regions": 4}


def test_market_grid_is_the_model_at_every_location_and_period():
    market = fake_market(num_locations=3, num_periods=4)
    torch.manual_seed(0)
    net = HMGNet(HMGNetConfig(arm="full", dropout=0.0, **SMALL), market).eval()
    # 2 listings per pass; listing 2 has an empty description and shares its pass with
    # listing 3 (a pass of only empty descriptions trips StructuralMatching, see the report)
    batch = fake_batch(4, market=market, vocab_size=100)
    grid = market_grid(net, batch, 3, 4, max_rows=24)
    assert grid.shape == (4, 3, 4)
    with torch.no_grad():
        for loc, per in [(0, 0), (2, 1), (1, 3)]:
            moved = {**batch, "location_id": torch.full((4,), loc), "period": torch.full((4,), per)}
            torch.testing.assert_close(grid[:, loc, per], net(moved)["delta"], rtol=1e-5, atol=1e-6)
        at_home = grid[torch.arange(4), batch["location_id"], batch["period"]]
        torch.testing.assert_close(at_home, net(batch)["delta"], rtol=1e-5, atol=1e-6)
    assert grid.std() > 0  # the market term moves delta: the comparison above is not vacuous
    shift = market_shift(grid)
    torch.testing.assert_close(shift.mean(dim=(1, 2)), torch.zeros(4), atol=1e-7, rtol=0)
    torch.testing.assert_close(shift[:, 0] - shift[:, 1], grid[:, 0] - grid[:, 1])


def _decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def test_listing_and_market_figures_are_valid_pngs():
    rng = np.random.default_rng(0)
    words = ["deep", "scratch", "near", "the", "top", "left", "corner"] * 4  # wraps
    png = listing_png(
        rng.random((3, 48, 48)),
        rng.normal(size=(48, 48)),
        words,
        rng.normal(size=32),
        title="listing x",
        regions=[("item body", [0.1, 0.1, 0.4, 0.4])],
        statements=["the item body raises depreciation by 3.10% of the MSRP"],
        occlusion_grid=rng.normal(size=(6, 6)) * 0.01,
        defect_box=[0.2, 0.2, 0.25, 0.22],
        gxi_map=rng.normal(size=(48, 48)),
    )
    w, h = _decode(png).size
    assert w > 800 and h > 400
    # no image (all-NaN occlusion), no words, no extra panel
    _decode(
        listing_png(
            np.zeros((3, 48, 48)),
            np.zeros((48, 48)),
            [],
            np.zeros(0),
            title="t",
            occlusion_grid=np.full((6, 6), np.nan),
        )
    )
    grid = rng.random((8, 6))
    m = market_png(
        grid,
        [f"loc{i}" for i in range(8)],
        title="m",
        mean_shift=grid - grid.mean(),
        planted_shift=grid - grid.mean(),
        n_listings=5,
    )
    assert _decode(m).size[0] > 800
