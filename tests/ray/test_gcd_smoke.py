"""experiments/category_discovery_ablation.py --smoke-test end to end on a local Ray, on
shards converted from the CUB-200-2011 fixture (exact published layout) by ``cub-gcd``.

One subprocess run (about 2.5 minutes on 2 cores): it must exit 0; every arm searched once
(on the same paired candidate of the shared parameters) and confirmed with All, Old, New
and Known; the margin and curvature sweeps' rows in their own stages, with their values
set; both sweep tables and the ladder in the report.
"""

import json
from pathlib import Path

import pytest

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.families.gcd.config import ARMS
from tests.ray.procs import ok_results, run_smoke

CUB = Path(__file__).resolve().parents[1] / "families" / "retrieval" / "fixtures" / "cub"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = root / "cub"
    assert formats_main([
        "cub-gcd", "--root", str(CUB / "CUB_200_2011"), "--old-classes", "2",
        "--val-share", "0.5", "--image-size", "32", "--out", str(data),
    ]) == 0  # fmt: skip
    return run_smoke("category_discovery_ablation.py", root, extra_args=("--data", str(data)))


@pytest.mark.ray
def test_smoke_run_on_converted_cub(smoke):
    run, experiment = smoke
    rows, meta = ok_results(run, experiment)
    search = {r["arm"]: json.loads(r["config_json"]) for r in rows if r["stage"] == "search"}
    assert sorted(search) == sorted(ARMS)
    assert len({(search[a]["lr"], search[a]["weight_decay"]) for a in ARMS}) == 1  # paired
    confirm = {r["arm"]: r for r in rows if r["stage"] == "confirm"}
    assert sorted(confirm) == sorted(ARMS)
    for arm, r in confirm.items():
        assert r["dataset"] == "cub-200-2011-gcd"
        for m in ("all", "old", "new", "known"):
            assert 0.0 <= r[f"test_{m}"] <= 100.0, (arm, m)
        assert 0.0 <= r["val_known"] <= 100.0
    for stage, param in (("sweep_delta", "delta"), ("sweep_c", "c")):
        sweep = [r for r in rows if r["stage"] == stage]
        assert {r["arm"] for r in sweep} == {"lhl"}, stage
        assert json.loads(sweep[0]["config_json"])[param] == 0.1
    assert meta["sweep"] == [{"param": "delta", "stage": "sweep_delta"},
                             {"param": "c", "stage": "sweep_c"}]  # fmt: skip
    report = experiment / "report"
    for name in ("ladder.tex", "ladder.md", "sweep-delta.tex", "sweep-c.png"):
        assert (report / name).stat().st_size > 0, name
