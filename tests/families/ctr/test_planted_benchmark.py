"""``benchmarks/ctr_planted.py`` (the arms at one fixed configuration, in process) runs at a
tiny size and prints what the README quotes from it: the planted ceilings, among them
placement alone, and per arm test AUC, tail AUC and group AUC, after every epoch
with ``--per-epoch``."""

from __future__ import annotations

import re

import pytest

from benchmarks import ctr_planted


def test_prints_the_ceilings_and_each_arms_aucs(capsys):
    ctr_planted.main("--n 2000 --seeds 0 --epochs 2 --per-epoch --arms din_fine din_mgipf".split())
    out = capsys.readouterr().out
    for name in ("true interests and placement", "pseudo-labels and placement",
                 "placement alone"):  # fmt: skip
        assert re.search(rf"test AUC of {name}\s+0\.\d{{4}}  tail 0\.\d{{4}}  gAUC", out)
    for arm in ("din_fine", "din_mgipf"):
        line = re.search(rf"^{arm}\s+test AUC (\S+) .* gAUC (\S+)\s+val AUC (\S+)", out, re.M)
        assert line, out
        assert all(0.0 < float(v) < 1.0 for v in line.groups())
        assert re.search(rf"^{arm}\s+after epoch 1: test AUC 0\.\d{{4}}", out, re.M)
    assert "after epoch 2" not in out  # the last epoch is the final line


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--arms", "din_bogus"], "--arms"),
        (["--synth", "NOPE=1"], "--synth"),
        (["--config", "w_coarse"], "--config"),
        (["--config", "nope=1"], "--config"),
    ],  # fmt: skip
)
def test_bad_flags_are_refused_by_name(argv, flag):
    with pytest.raises(SystemExit, match=flag):
        ctr_planted.main(argv)
