"""experiments/anchor_effectiveness.py --smoke-test end to end on a local Ray.

One subprocess run (about 2-3 minutes on 2 busy cores): it must exit 0; the results table
must hold search rows for both arms and one test-evaluated run per arm of every training
set (full, few-shot, long-tail), each with head/tail metrics and a validation curve; the
report must hold the ladder, few-shot and long-tail tables (LaTeX + Markdown, printed) and
the curves figure.
"""

import json

import pytest

from tests.ray.procs import ok_results, run_smoke

ARMS = ("direct", "anchor")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("anchor_effectiveness.py", tmp_path_factory.mktemp("runs"))


@pytest.mark.ray
def test_smoke_run_records_every_training_set_and_its_curves(smoke):
    run, experiment = smoke
    rows, meta = ok_results(run, experiment)
    assert sorted(r["arm"] for r in rows if r["stage"] == "search") == sorted(ARMS)
    runs = {
        (r["stage"], json.loads(r["config_json"])["train_set"], r["arm"])
        for r in rows
        if r["stage"] != "search"
    }
    assert runs == {
        (stage, train_set, arm)
        for stage, train_set in (("confirm", "full"), ("fewshot", "k=3"), ("longtail", "long-tail"))
        for arm in ARMS
    }
    for r in rows:
        if r["stage"] == "search":
            continue
        config = json.loads(r["config_json"])
        # the arms differ in the head only
        assert config["arm"] == "full"
        assert config["head"] == {"direct": "direct", "anchor": "depreciation"}[r["arm"]]
        assert r["test_mse"] > 0 and r["test_tail_mape"] > 0 and r["test_head_mape"] > 0
        curve = json.loads(r["curve_json"])
        every = config["eval_every_steps"]
        assert curve["step"][0] == 0 and len(curve["step"]) > config["epochs"] + 1
        # points every `every` steps, plus one at the end of every epoch
        assert all(
            s % every == 0 or float(e).is_integer()
            for s, e in zip(curve["step"], curve["epoch"], strict=True)
        )
        assert sum(float(e).is_integer() and e > 0 for e in curve["epoch"]) == config["epochs"]
        assert len(curve["val_loss"]) == len(curve["step"]) and curve["val_loss"][-1] > 0
    # the same subset for both arms of a seed: same listings, same head/tail groups
    few = [json.loads(r["config_json"]) for r in rows if r["stage"] == "fewshot"]
    assert few[0]["train_split"] == few[1]["train_split"]
    assert few[0]["eval_groups"] == few[1]["eval_groups"]
    assert meta["reference_arm"] == "anchor" and meta["arm_order"] == list(ARMS)


@pytest.mark.ray
def test_smoke_run_writes_and_prints_the_tables_and_plots(smoke):
    run, experiment = smoke
    assert run.returncode == 0, run.stdout[-3000:]
    report = experiment / "report"
    for name in ("ladder", "fewshot", "longtail"):
        for ext in ("tex", "md", "csv", "json"):
            assert (report / f"{name}.{ext}").is_file(), f"{name}.{ext}"
        assert (report / f"{name}.md").read_text().strip() in run.stdout
    for name in ("fewshot", "longtail", "curves", "arms"):
        assert (report / f"{name}.png").stat().st_size > 1000
        assert (report / f"{name}.pdf").stat().st_size > 1000
    assert (report / "curves.csv").read_text().startswith("panel,arm,step,n,mean,low,high")
    assert "total wall time" in run.stdout
