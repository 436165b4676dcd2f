"""Occlusion on a hand-built model whose answer is pixel arithmetic."""

import pytest
import torch

from hmgray.families.valuation.explain.occlusion import (
    fill_box,
    grid_boxes,
    occlusion_effects,
    patch_occlusion_map,
    region_statements,
)
from tests.families.valuation.explain.toys import RegionMean


def scene(b=2):
    """16 x 16 images, background 0.2; a 4 x 4 'defect' of 1.0 at rows 2:6, cols 2:6 in
    channel 0 of listing 0; listing 1 is plain background."""
    img = torch.full((b, 3, 16, 16), 0.2)
    img[0, 0, 2:6, 2:6] = 1.0
    return {"image": img, "has_image": torch.ones(b), "msrp": torch.full((b,), 200.0)}


def test_local_fill_copies_the_median_of_the_ring_around_the_box():
    img = torch.full((3, 16, 16), 0.5)
    img[:, 4:8, 4:8] = 0.9  # the region
    img[:, 3, :] = 0.1  # a line through the ring's top row: a minority of the ring
    out = fill_box(img, [4 / 16, 4 / 16, 8 / 16, 8 / 16], "local", ring_px=2)
    assert torch.equal(out[:, 4:8, 4:8], torch.full((3, 4, 4), 0.5))  # median ignores the line
    keep = torch.ones(16, 16, dtype=torch.bool)
    keep[4:8, 4:8] = False
    assert torch.equal(out[:, keep], img[:, keep])  # nothing outside the box changes
    assert torch.equal(img[:, 4:8, 4:8], torch.full((3, 4, 4), 0.9))  # input untouched
    mean = fill_box(img, [4 / 16, 4 / 16, 8 / 16, 8 / 16], "mean")
    torch.testing.assert_close(mean[:, 5, 5], img.flatten(1).mean(1))
    with pytest.raises(ValueError, match="fill"):
        fill_box(img, [0, 0, 0.5, 0.5], "noise")


def test_occlusion_effects_equal_the_pixel_arithmetic_of_the_model():
    model = RegionMean(0, 8, 0, 8)  # delta = mean of channel 0 over the top-left 8 x 8
    batch = scene()
    boxes = torch.tensor(
        [
            [2 / 16, 2 / 16, 6 / 16, 6 / 16],  # the defect: masked with background 0.2
            [10 / 16, 10 / 16, 14 / 16, 14 / 16],  # outside the window the model reads
            # the left half of the defect (cols 2:4); the other half is a minority of the ring
            [2 / 16, 2 / 16, 4 / 16, 6 / 16],
        ]
    )
    delta, eff = occlusion_effects(model, batch, boxes, max_rows=2)  # several passes
    torch.testing.assert_close(delta, torch.tensor([0.2 + 16 * 0.8 / 64, 0.2]))
    expected = torch.tensor([[16 * 0.8 / 64, 0.0, 8 * 0.8 / 64], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(eff, expected)
    valid = torch.tensor([[True, False, True], [False, False, False]])
    _, eff = occlusion_effects(model, batch, boxes, valid)
    assert torch.isnan(eff[~valid]).all() and torch.isfinite(eff[valid]).all()


def test_patch_occlusion_map_lights_up_the_cell_that_holds_the_defect():
    model = RegionMean(0, 8, 0, 8)
    batch = scene()
    batch["has_image"][1] = 0.0
    grid = patch_occlusion_map(model, batch, (2, 2))  # 8 x 8 cells
    assert grid.shape == (2, 2, 2)
    # cell (0, 0) holds the whole defect; its ring lies outside it (background 0.2)
    torch.testing.assert_close(grid[0, 0, 0], torch.tensor(16 * 0.8 / 64))
    assert torch.equal(grid[0].flatten()[1:], torch.zeros(3))
    assert torch.isnan(grid[1]).all()  # no image, nothing to mask
    assert grid_boxes((2, 3)).tolist()[4] == pytest.approx([1 / 3, 0.5, 2 / 3, 1.0])  # row-major


def test_region_statements_state_the_sign_the_size_and_sort_by_size():
    out = region_statements(
        ["case", "item body", "strap"],
        [[0, 0, 0.1, 0.1], [0.2, 0.2, 0.5, 0.5], [0.6, 0.6, 0.7, 0.7]],
        delta=0.40,
        effects=[0.031, -0.05, float("nan")],
        msrp=500.0,
    )
    assert [r["name"] for r in out] == ["item body", "case"]  # NaN dropped, |effect| order
    body, case = out
    assert body["statement"].startswith("the item body lowers depreciation by 5.00% of the MSRP")
    assert "delta 0.400 -> 0.450 when masked" in body["statement"]
    assert case["statement"].startswith("the case raises depreciation by 3.10% of the MSRP")
    assert case["effect_pp"] == pytest.approx(3.1) and case["effect_price"] == pytest.approx(15.5)
    assert "-15.50 in price" in case["statement"]
