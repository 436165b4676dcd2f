"""The CPU proxies of the performance benchmarks run and measure what they say.

``benchmarks/compute_step.py`` (hmgray's step against a tuned one, MFU) and
``benchmarks/trials_per_device.py`` (k training processes on one device) at tiny sizes;
their GPU figures are in ``benchmarks/README.md``. ``tests/ray/test_data_path.py`` runs
the ingest benchmark, which needs Ray.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import compute_step, trials_per_device

# ResNet-50 at 224 x 224: 4.09 G multiply-adds forward (He et al. 2016, Table 1's 3.8 G
# without the classifier and with the stride on the 1x1 convolution; torchvision's v1.5
# puts it on the 3x3, 4.09 G). A training step is forward + backward = 3 x forward.
RESNET50_GMACS_224 = 4.09


def test_flops_of_a_resnet50_training_step_match_the_published_count():
    make, task, cfg, _, _, _ = compute_step.resnet_setup(
        type("A", (), {"batch": 1, "image_size": 64})()
    )
    batch = {"image": torch.randn(1, 3, 64, 64), "label": torch.tensor([3])}
    flops = compute_step.step_flops(make, task, cfg, batch, torch.device("cpu"))
    expected = 3 * 2 * RESNET50_GMACS_224 * 1e9 * (64 / 224) ** 2  # all stages scale alike
    assert flops == pytest.approx(expected, rel=0.03)


def test_compute_benchmark_reports_a_ratio_and_mfu(capsys):
    out = compute_step.main(
        ["--task", "retrieval", "--rows", "200", "--batch", "16", "--steps", "2",
         "--rounds", "2", "--warmup", "1", "--no-compile"]
    )  # fmt: skip
    assert out["hmgray_rows_s"] > 0 and out["tuned_rows_s"] > 0
    assert math.isclose(out["ratio"], out["hmgray_rows_s"] / out["tuned_rows_s"])
    assert 0 < out["mfu_hmgray"] < 2 and out["flops_per_row"] > 0
    assert "compute ratio (hmgray / tuned)" in capsys.readouterr().out


def test_compute_benchmark_refuses_bad_flags():
    with pytest.raises(SystemExit, match="--steps"):
        compute_step.main(["--steps", "0"])


def test_trials_per_device_measures_each_k(capsys):
    rates = trials_per_device.main(
        ["--task", "retrieval", "--rows", "200", "--batch", "16", "--k", "2", "--steps", "3"]
    )
    assert set(rates) == {1, 2} and all(r > 0 for r in rates.values())
    assert "speed-up" in capsys.readouterr().out
