"""``benchmarks/retrieval_planted.py`` (the arms at one fixed configuration, in process)
runs at a tiny size and prints what the README quotes from it: per arm test R@1, R@5,
mAP, mINP, validation R@1 and, for the hyperbolic arms, the curvature reached; test R@1
after every epoch with ``--per-epoch``."""

from __future__ import annotations

import re

import pytest

from benchmarks import retrieval_planted


def test_prints_each_arms_ranking_figures(capsys):
    retrieval_planted.main("--n 400 --seeds 0 --epochs 2 --per-epoch --arms clip sms".split())
    out = capsys.readouterr().out
    figure = r"(\d+\.\d) \+-\s+\d+\.\d"
    for arm in ("clip", "sms"):
        line = re.search(
            rf"^{arm}\s+test R@1\s+{figure}\s+R@5\s+{figure}\s+mAP\s+{figure}\s+mINP\s+{figure}"
            rf"\s+val R@1\s+(\S+)",
            out, re.M,
        )  # fmt: skip
        assert line, out
        assert all(0.0 <= float(v) <= 100.0 for v in line.groups())
        assert re.search(rf"^{arm}\s+after epoch 1: test R@1 ", out, re.M)
    assert re.search(r"^sms .* c \d+\.\d\d ", out, re.M)  # the Lorentz arm's curvature
    assert not re.search(r"^clip .* c \d", out, re.M)  # none for the Euclidean arm
    assert "after epoch 2" not in out


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--arms", "gahr"], "--arms"),
        (["--synth", "NOPE=1"], "--synth"),
        (["--config", "lam"], "--config"),
        (["--config", "nope=1"], "--config"),
        (["--n", "5"], "--n"),
    ],  # fmt: skip
)
def test_bad_flags_are_refused_by_name(argv, flag):
    with pytest.raises(SystemExit, match=flag):
        retrieval_planted.main(argv)
