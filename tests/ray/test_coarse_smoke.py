"""experiments/coarse_loss_ablation.py --smoke-test end to end on a local Ray, on shards
converted from the Taobao fixture files (exact published format): the converter's output
is what the experiment trains on.

One subprocess run (about 3-4 minutes on 2 cores): it must exit 0; every arm searched
once (on the same paired candidate of the shared parameters) and confirmed on test with
the four metrics; the sweep rows of the first mgipf arm
at each --sweep value; the report holds the ladder (each backbone's steps, fine -> hard ->
mgipf, compared within the backbone, never across) and the w_coarse sweep table and plot.
"""

import json
import math
from pathlib import Path

import pytest

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.families.ctr.config import ARMS
from tests.ray.procs import ok_results, run_smoke

FIX = Path(__file__).resolve().parents[1] / "families" / "ctr" / "fixtures" / "taobao"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = root / "taobao"
    assert formats_main([
        "taobao", "--raw-sample", str(FIX / "raw_sample.csv"),
        "--ad-feature", str(FIX / "ad_feature.csv"),
        "--user-profile", str(FIX / "user_profile.csv"),
        "--behavior-log", str(FIX / "behavior_log.csv"), "--out", str(data),
    ]) == 0  # fmt: skip
    return run_smoke("coarse_loss_ablation.py", root, extra_args=("--data", str(data)))


@pytest.mark.ray
def test_smoke_run_on_converted_taobao_data(smoke):
    run, experiment = smoke
    rows, meta = ok_results(run, experiment)
    assert sorted(r["arm"] for r in rows if r["stage"] == "search") == sorted(ARMS)
    search = {r["arm"]: json.loads(r["config_json"]) for r in rows if r["stage"] == "search"}
    shared = ("lr", "embedding_dim", "l2")  # paired candidates: drawn alike in every arm
    assert len({tuple(search[a][k] for k in shared) for a in ARMS}) == 1, search
    assert search["din_hard"]["w_coarse"] == search["din_mgipf"]["w_coarse"]
    confirm = [r for r in rows if r["stage"] == "confirm"]
    assert sorted(r["arm"] for r in confirm) == sorted(ARMS)
    for r in confirm:
        assert r["dataset"] == "taobao-ad"
        assert 0.0 < r["test_logloss"] and math.isfinite(r["test_logloss"])
        for m in ("auc", "gauc", "auc_tail"):  # NaN only when a slice has one class
            assert math.isnan(r[f"test_{m}"]) or 0.0 <= r[f"test_{m}"] <= 1.0
    sweep = [r for r in rows if r["stage"] == "sweep"]
    assert {r["arm"] for r in sweep} == {"din_mgipf"}
    assert sorted(json.loads(r["config_json"])["w_coarse"] for r in sweep) == [0.1, 1.0]
    assert meta["arm_references"]["deepfm_fine"] == "deepfm_mgipf"
    report = experiment / "report"
    for name in ("ladder.tex", "ladder.md", "sweep-w_coarse.tex", "sweep-w_coarse.png"):
        assert (report / name).stat().st_size > 0, name
    ladder = (report / "ladder.md").read_text()
    for backbone in ("din", "deepfm"):  # the steps of the cumulative ladder, per backbone
        assert f"{backbone}_fine → {backbone}_hard" in ladder, ladder
        assert f"{backbone}_hard → {backbone}_mgipf" in ladder, ladder
    assert "mgipf → din" not in ladder and "mgipf → deepfm" not in ladder, ladder
