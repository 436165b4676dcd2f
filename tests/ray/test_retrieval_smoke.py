"""experiments/hyperbolic_retrieval_ablation.py --smoke-test end to end on a local Ray, on
shards converted from the CUHK-PEDES fixture (exact published format): the converter's
output is what the experiment trains on.

One subprocess run (about 3 minutes on 2 cores): it must exit 0; every arm searched once
(on the same paired candidate of the shared parameters) and confirmed on test with the
five ranking metrics; the hyperbolic runs report the curvature they ended with; the
curvature sweep's rows with the curvature fixed; the ladder and sweep in the report.
"""

import json
import math
from pathlib import Path

import pytest

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.families.retrieval.config import ARMS
from tests.ray.procs import ok_results, run_smoke

FIX = Path(__file__).resolve().parents[1] / "families" / "retrieval" / "fixtures" / "cuhk_pedes"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = root / "cuhk"
    assert formats_main([
        "cuhk-pedes", "--json", str(FIX / "reid_raw.json"), "--images", str(FIX / "imgs"),
        "--image-size", "32x16", "--out", str(data),
    ]) == 0  # fmt: skip
    return run_smoke("hyperbolic_retrieval_ablation.py", root, extra_args=("--data", str(data)))


@pytest.mark.ray
def test_smoke_run_on_converted_cuhk_pedes(smoke):
    run, experiment = smoke
    rows, meta = ok_results(run, experiment)
    assert sorted(r["arm"] for r in rows if r["stage"] == "search") == sorted(ARMS)
    search = {r["arm"]: json.loads(r["config_json"]) for r in rows if r["stage"] == "search"}
    assert len({(search[a]["lr"], search[a]["tau"]) for a in ARMS}) == 1, search  # paired
    confirm = {r["arm"]: r for r in rows if r["stage"] == "confirm"}
    assert sorted(confirm) == sorted(ARMS)
    for arm, r in confirm.items():
        assert r["dataset"] == "cuhk-pedes"
        for m in ("r1", "r5", "r10", "map", "minp"):
            assert 0.0 <= r[f"test_{m}"] <= 100.0, (arm, m)
        assert r["test_r1"] <= r["test_r5"] <= r["test_r10"]
        assert math.isnan(r["test_c"]) if arm == "clip" else r["test_c"] > 0
    sweep = [r for r in rows if r["stage"] == "sweep"]
    assert {r["arm"] for r in sweep} == {"sms"}
    cfg = json.loads(sweep[0]["config_json"])
    assert cfg["c"] == 1.0 and cfg["learn_c"] is False
    assert sweep[0]["test_c"] == pytest.approx(1.0)
    assert meta["sweep"] == {"param": "c", "stage": "sweep"}
    assert "test_c (confirm): mean" in run.stdout  # the learned curvature, apart from the sweep
    report = experiment / "report"
    for name in ("ladder.tex", "ladder.md", "sweep-c.tex", "sweep-c.png"):
        assert (report / name).stat().st_size > 0, name
