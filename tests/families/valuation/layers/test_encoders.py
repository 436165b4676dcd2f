"""Patch encoder locality / bag-of-patches / no position; text encoder masking."""

import pytest
import torch

from hmgray.families.valuation.layers.encoders import PatchEncoder, TextEncoder, unfold_patches


def test_unfold_patches_equals_cropping_in_row_major_order():
    img = torch.rand(2, 3, 16, 24)
    x = unfold_patches(img, 8)  # (2 * 6, 3, 8, 8)
    assert x.shape == (12, 3, 8, 8)
    for b in range(2):
        for k in range(6):
            r, c = divmod(k, 3)
            torch.testing.assert_close(
                x[b * 6 + k], img[b, :, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
            )


def test_patch_features_do_not_depend_on_where_the_patch_is():
    """The same pixels at two grid positions give the same V row (no position anywhere)."""
    torch.manual_seed(0)
    enc = PatchEncoder((16, 16), patch_size=8, d_model=16).eval()
    img = torch.rand(1, 3, 16, 16)
    img[0, :, 8:, 8:] = img[0, :, :8, :8]
    v, _, _ = enc(img, torch.ones(1))
    torch.testing.assert_close(v[0, 3], v[0, 0])


def test_receptive_field_stays_inside_the_patch():
    torch.manual_seed(0)
    enc = PatchEncoder((16, 24), patch_size=8, d_model=16).eval()
    img = torch.rand(1, 3, 16, 24)
    v0, _, _ = enc(img, torch.ones(1))
    img2 = img.clone()
    img2[0, :, 8:16, 8:16] = torch.rand(3, 8, 8)  # patch (row 1, col 1) -> index 1 * 3 + 1
    v1, _, _ = enc(img2, torch.ones(1))
    changed = (v0 - v1).abs().amax(-1)[0] > 1e-6
    assert changed.tolist() == [False, False, False, False, True, False]


@pytest.mark.parametrize(
    "orientation, channel",
    [("horizontal", 0), ("vertical", 1), ("diagonal", 2), ("anti-diagonal", 3)],
)
def test_line_channels_respond_to_their_orientation(orientation, channel):
    """A 1 px line of contrast c excites its own channel with 2c at the line; the other
    orientations respond less, and a uniform patch gives 0 away from the zero-padded border."""
    enc = PatchEncoder((8, 8), patch_size=8, d_model=16)
    c = 0.15
    x = torch.zeros(1, 3, 8, 8)
    idx = torch.arange(1, 7)
    if orientation == "horizontal":
        x[0, :, 4, 1:7] = c
    elif orientation == "vertical":
        x[0, :, 1:7, 4] = c
    elif orientation == "diagonal":
        x[0, :, idx, idx] = c
    else:
        x[0, :, idx, 7 - idx] = c
    r = enc.line_responses(x)[0]  # (4, 8, 8)
    inner = r[:, 2:6, 2:6]  # away from the line's ends and the patch border
    peak = inner.amax(dim=(1, 2))
    torch.testing.assert_close(peak[channel], torch.tensor(2 * c))
    assert (peak[channel] > peak[[k for k in range(4) if k != channel]] + 0.05).all()
    flat = enc.line_responses(torch.full((1, 3, 8, 8), 0.2))[0]
    assert flat[:, 1:7, 1:7].abs().max() < 1e-6


def test_global_feature_is_a_bag_of_patches():
    """Shuffling whole patches permutes V and leaves g_img unchanged (no position)."""
    torch.manual_seed(0)
    enc = PatchEncoder((16, 16), patch_size=8, d_model=16).eval()
    img = torch.rand(2, 3, 16, 16)
    swapped = img.clone()
    swapped[:, :, :8, :8], swapped[:, :, 8:, 8:] = img[:, :, 8:, 8:], img[:, :, :8, :8]
    v0, _, g0 = enc(img, torch.ones(2))
    v1, _, g1 = enc(swapped, torch.ones(2))
    torch.testing.assert_close(v1[:, [3, 1, 2, 0]], v0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g1, g0, atol=1e-5, rtol=1e-5)


def test_missing_image_is_masked():
    enc = PatchEncoder((16, 16), patch_size=8, d_model=16)
    v, mask, g = enc(torch.rand(2, 3, 16, 16), torch.tensor([1.0, 0.0]))
    assert v.shape == (2, 4, 16)
    assert mask.tolist() == [[True] * 4, [False] * 4]
    assert (g[1] == 0).all() and (g[0] != 0).any()


def test_bad_patch_size():
    with pytest.raises(ValueError, match="divisible"):
        PatchEncoder((48, 48), patch_size=5, d_model=16)


def test_text_feature_is_masked_mean_and_empty_text_is_zero():
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=50, max_words=6, d_model=16, heads=2).eval()
    tokens = torch.tensor([[3, 7, 9, 0, 0, 0], [0, 0, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    t, mask, g = enc(tokens)
    assert t.shape == (3, 6, 16) and mask.tolist()[0] == [True] * 3 + [False] * 3
    torch.testing.assert_close(g[0], t[0, :3].mean(0))
    torch.testing.assert_close(g[2], t[2].mean(0))
    assert (g[1] == 0).all() and torch.isfinite(t).all()


def test_text_folds_ids_beyond_the_vocabulary():
    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=50, max_words=6, d_model=16, heads=2).eval()
    _, _, g_small = enc(torch.tensor([[3, 7, 9, 0, 0, 0]]))
    # ids beyond the table are folded: 1 + (id - 1) mod 49, so 52 -> 3, 105 -> 7
    _, _, g_big = enc(torch.tensor([[52, 105, 9, 0, 0, 0]]))
    torch.testing.assert_close(g_big, g_small)
