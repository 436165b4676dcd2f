"""experiments/modality_ablation.py --smoke-test end to end on a local Ray.

One subprocess run (about 4-5 minutes on 2 cores, most of it the start-up of its 14 runs):
it must exit 0; the results must hold one search row and one test-evaluated run per arm,
with the ranking metrics, the image-removal metrics and the full-ranking time; the report
must hold the ladder and the robustness tables, and the console the summary line.
"""

import json
import math

import pytest

from tests.ray.procs import ok_results, run_smoke

ARMS = ("graph", "text", "image", "concat", "fusion", "fusion_mean", "fusion_fm")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("modality_ablation.py", tmp_path_factory.mktemp("runs"))


@pytest.mark.ray
def test_smoke_run_ranks_every_arm_and_removes_images(smoke):
    run, experiment = smoke
    rows, meta = ok_results(run, experiment)
    assert sorted(r["arm"] for r in rows if r["stage"] == "search") == sorted(ARMS)
    confirm = [r for r in rows if r["stage"] == "confirm"]
    assert sorted(r["arm"] for r in confirm) == sorted(ARMS)
    for r in confirm:
        for m in ("recall_10", "recall_20", "ndcg_10", "ndcg_20"):
            for col in (f"test_{m}", f"test_drop25_{m}", f"test_drop50_{m}"):
                assert 0.0 <= r[col] <= 1.0, (r["arm"], col)
        assert r["test_ndcg_20"] <= r["test_recall_20"]  # one relevant item per user
        assert r["test_ranking_ms_per_user"] > 0
        config = json.loads(r["config_json"])
        assert config.get("missing_image", "mask") == (
            "mean" if r["arm"] == "fusion_mean" else "mask"
        )
    graph = next(r for r in confirm if r["arm"] == "graph")  # no image: removal changes nothing
    assert math.isclose(graph["test_drop50_recall_20"], graph["test_recall_20"])
    report = experiment / "report"
    for name in ("ladder.tex", "ladder.md", "robustness.tex", "robustness.md", "robustness.png"):
        assert (report / name).stat().st_size > 0, name
    assert "robustness" in run.stdout and "test_ranking_ms_per_user (confirm): mean" in run.stdout
    assert meta["task"] == "recommender" and meta["reference_arm"] == "fusion_fm"
