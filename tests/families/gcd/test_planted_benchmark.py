"""``benchmarks/gcd_planted.py`` (the arms at one fixed configuration, in process) runs at a
tiny size and prints what the README quotes from it: per arm All / Old / New on the
unlabelled training images and validation Known, after every epoch with ``--per-epoch``;
its ``--nn-batches`` batches are the released code's neighbourhood batches."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks import gcd_planted


def test_prints_each_arms_all_old_new(capsys):
    gcd_planted.main("--n 200 --seeds 0 --epochs 2 --per-epoch --arms euclidean lhl".split())
    out = capsys.readouterr().out
    figure = r"(\d+\.\d) \+-\s+\d+\.\d"
    for arm in ("euclidean", "lhl"):
        line = re.search(
            rf"^{arm}\s+test all\s+{figure}\s+old\s+{figure}\s+new\s+{figure}\s+val Known\s+(\S+)",
            out, re.M,
        )  # fmt: skip
        assert line, out
        assert all(0.0 <= float(v) <= 100.0 for v in line.groups())
        assert re.search(rf"^{arm}\s+after epoch 1: all ", out, re.M)
    assert "after epoch 2" not in out  # the last epoch is the final line


class _Points(torch.nn.Module):
    """A stand-in model whose projection is the batch's ``x``."""

    def forward(self, batch):
        return {"proj": batch["x"]}


def test_nn_batches_are_queries_with_their_nearest_neighbours():
    # points on a circle: on the unit sphere (normalised) neighbours are angular neighbours
    n, k, batch = 60, 5, 20
    angle = torch.arange(n) * (2 * torch.pi / n)
    data = {"x": torch.stack([angle.cos(), angle.sin()], 1) * 3.0, "id": torch.arange(n)}
    batches = list(
        gcd_planted._nn_batches(_Points(), data, batch, k, torch.Generator().manual_seed(0))
    )
    assert len(batches) == n // batch
    for b in batches:
        assert len(b["id"]) == (batch // k) * k
        for group in b["id"].view(-1, k):
            query = int(group[0])  # itself first (distance 0), then the 4 nearest
            ring = {(query + s) % n for s in (-2, -1, 0, 1, 2)}
            assert set(group.tolist()) == ring


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--arms", "bogus"], "--arms"),
        (["--synth", "NOPE=1"], "--synth"),
        (["--config", "delta"], "--config"),
        (["--config", "nope=1"], "--config"),
        (["--n", "10"], "--n"),
        (["--nn-batches", "129"], "--nn-batches"),
    ],  # fmt: skip
)
def test_bad_flags_are_refused_by_name(argv, flag):
    with pytest.raises(SystemExit, match=flag):
        gcd_planted.main(argv)
