"""The ablation plan without Ray: arms defined by config overrides, confirmation grids."""

from types import SimpleNamespace

import pytest

from hmgray.errors import ConfigError, HmgrayError
from hmgray.families.valuation.space import hmgnet_space
from hmgray.search.ablation import AblationPlan, Condition, confirmation_runs
from hmgray.task import get_task, task_names
from hmgray.training.driver import Resources


def _plan(**over) -> AblationPlan:
    kw = dict(
        task=get_task("valuation"),
        experiment="e",
        dataset="d",
        arms=("direct", "anchor"),
        num_samples=2,
        seeds=(0, 1),
        epochs=3,
        grace_period=1,
        reduction_factor=2,
        search_seed=0,
        max_concurrent=1,
        resources=Resources(),
        fixed={"d_model": 16},
        arm_overrides={
            "direct": {"arm": "full", "head": "direct"},
            "anchor": {"arm": "full", "head": "depreciation"},
        },
    )
    return AblationPlan(**{**kw, **over})


def test_model_arms_are_unchanged():
    plan = _plan(arms=("global", "full"), arm_overrides={})
    assert plan.arm_config("global") == {"arm": "global"}  # no extra key: old configs hash alike
    assert plan.space("meso") == hmgnet_space("meso")


def test_an_override_arm_is_labelled_and_searched_over_its_model_arm():
    plan = _plan()
    assert plan.arm_config("direct") == {"arm": "full", "head": "direct", "ablation_arm": "direct"}
    assert plan.space("anchor") == hmgnet_space("full")
    with pytest.raises(HmgrayError, match="must name the model 'arm'"):
        _plan(arm_overrides={"x": {"head": "direct"}}).arm_config("x")


def test_default_confirmation_is_arm_x_seed_on_the_full_split():
    plan = _plan()
    best = {a: {**plan.arm_config(a), "lr": 1e-3} for a in plan.arms}
    runs, stages = confirmation_runs(plan, best)
    assert [(r["ablation_arm"], r["seed"]) for r in runs] == [
        ("direct", 0),
        ("direct", 1),
        ("anchor", 0),
        ("anchor", 1),
    ]
    assert all(r["eval_test"] and r["epochs"] == 3 and "train_split" not in r for r in runs)
    assert set(stages.values()) == {"confirm"}


def test_conditions_add_their_keys_per_seed_and_label_the_stage():
    plan = _plan()
    best = {a: plan.arm_config(a) for a in plan.arms}
    few = Condition(
        "fewshot", {"fewshot_k": 5}, {s: {"train_split": f"train-k5-s{s}"} for s in (0, 1)}
    )
    runs, stages = confirmation_runs(plan, best, [Condition(), few])
    assert len(runs) == 8 and sorted(stages.values()).count("fewshot") == 4
    few_runs = [r for r in runs if r.get("fewshot_k") == 5]
    assert {(r["ablation_arm"], r["train_split"]) for r in few_runs} == {
        (a, f"train-k5-s{s}") for a in plan.arms for s in (0, 1)
    }
    with pytest.raises(HmgrayError, match="same run"):
        confirmation_runs(plan, best, [Condition(), Condition("again")])


def test_check_refuses_a_key_that_no_part_of_the_run_consumes():
    _plan().check()  # the model's, the training's and the run's keys pass
    with pytest.raises(ConfigError, match="'d_modle'"):
        _plan(fixed={"d_modle": 16}).check()


def test_check_refuses_a_misspelt_searched_key(monkeypatch):
    task = get_task("valuation")
    space = {**hmgnet_space("full"), "gama": {"type": "float", "low": 0.1, "high": 1.0}}
    monkeypatch.setattr(type(task), "space", lambda self, arm: space)
    with pytest.raises(ConfigError, match="arm 'direct'.*'gama'"):
        _plan().check()


def test_condition_labels_are_allowed_and_other_condition_keys_are_not():
    labelled = Condition(
        "fewshot", {"train_set": "k=5", "fewshot_k": 5}, labels=("train_set", "fewshot_k")
    )
    _plan().check([labelled])
    with pytest.raises(ConfigError, match="stage 'fewshot'.*'fewshot_k'"):
        _plan().check([Condition("fewshot", {"fewshot_k": 5})])


def test_progress_lines_count_runs_and_keep_the_best_validation_value(capsys):
    from types import SimpleNamespace

    from hmgray.search.progress import Progress

    bar = Progress("search micro", 3, "val_mse", "min", "MSE")
    for value in (5000.0, 4000.0, float("nan")):
        bar.on_trial_complete(0, [], SimpleNamespace(last_result={"val_mse": value}))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[search micro] [") and "1/3 runs; best val MSE 5000" in lines[0]
    assert "2/3 runs; best val MSE 4000" in lines[1] and "3/3 runs" in lines[2]
    assert lines[2].endswith("~0s left")


def test_the_journal_mirrors_complete_pruned_and_failed_trials(tmp_path):
    from types import SimpleNamespace

    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from hmgray.search.progress import OptunaJournal

    space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    journal = OptunaJournal(str(tmp_path), "search-micro", space, "val_mse", "min", max_t=4)
    for tid, epochs, fail in (("a", 4, False), ("b", 2, False), ("c", 1, True)):
        trial = SimpleNamespace(trial_id=tid, config={"lr": 1e-3, "seed": 0}, last_result=None)
        for epoch in range(1, epochs + 1):
            result = {"val_mse": 100.0 / epoch, "training_iteration": epoch}
            journal.on_trial_result(0, [], trial, result)
            trial.last_result = result
        (journal.on_trial_error if fail else journal.on_trial_complete)(0, [], trial)

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "search-micro.journal")))
    study = optuna.load_study(study_name="search-micro", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL"]
    assert study.best_value == 25.0 and study.trials[0].params == {"lr": 1e-3}
    assert study.trials[1].intermediate_values == {1: 100.0, 2: 50.0}


def test_a_storage_failure_in_tune_names_the_stage_storage_and_a_run_error_passes():
    from hmgray.errors import StorageError
    from hmgray.search.ablation import _fit

    class Tuner:
        def __init__(self, exc):
            self.exc = exc

        def fit(self):
            raise self.exc

    refused = OSError("AWS Error NETWORK_CONNECTION during ListObjectsV2 operation")
    with pytest.raises(StorageError, match=r"'s3://b/runs/e/search-full': AWS Error") as err:
        _fit(lambda: Tuner(refused), "s3://b/runs/e/search-full")
    assert err.value.__cause__ is refused
    with pytest.raises(ZeroDivisionError):  # anything else is not called a storage failure
        _fit(lambda: Tuner(ZeroDivisionError()), "s3://b/runs/e/search-full")
    assert _fit(lambda: type("T", (), {"fit": lambda self: "grid"})(), "p") == "grid"


def _ctr_plan(**over) -> AblationPlan:
    task = get_task("ctr")
    kw = dict(
        task=task,
        experiment="e",
        dataset="d",
        arms=("din_fine", "din_hard", "din_mgipf"),
        num_samples=6,
        seeds=(0,),
        epochs=2,
        grace_period=1,
        reduction_factor=2,
        search_seed=0,
        max_concurrent=1,
        resources=Resources(),
        fixed=task.fixed_settings(SimpleNamespace(context={"max_history": 20})),
        start_from_default=True,
    )
    return AblationPlan(**{**kw, **over})


def test_every_arm_starts_from_the_task_default_with_the_arm_own_fixed_weights():
    plan = _ctr_plan()
    fine, hard, mgipf = (plan.default_point(a) for a in plan.arms)
    shared = {"embedding_dim": 16, "l2": 1e-6, "lr": 2e-3}
    assert fine == shared  # nothing of the coarse loss is searched in the fine arm
    assert hard == {**shared, "w_coarse": 0.05, "w_main": 1.0}  # w_pn = w_nn = 1 are fixed
    # the authors' Taobao DIN loss weights, the config's defaults
    assert mgipf == {**shared, "w_coarse": 0.05, "w_main": 1.0, "w_pn": 0.2, "w_nn": 0.1}


def test_a_fixed_setting_of_a_searched_key_is_the_default_and_must_lie_in_the_space():
    plan = _ctr_plan(fixed={**_ctr_plan().fixed, "embedding_dim": 32})
    assert plan.default_point("din_fine")["embedding_dim"] == 32
    bad = _ctr_plan(fixed={**_ctr_plan().fixed, "embedding_dim": 12})
    with pytest.raises(
        ConfigError, match=r"default configuration of arm 'din_fine'.*embedding_dim=12"
    ):
        bad.check()


def test_the_default_is_the_first_trial_and_tpe_start_up_is_sized_to_the_budget():
    from ray.tune.search.optuna import OptunaSearch

    from hmgray.search.ablation import search_start
    from hmgray.search.spaces import to_tune

    plan = _ctr_plan(num_samples=9, paired_starts=1)
    points, sampler, start = search_start(plan, "din_mgipf")
    assert points[0] == plan.default_point("din_mgipf") and len(points) == 2
    assert sampler._n_startup_trials == 3
    assert start == "start-up 3: the default configuration + 1 paired candidates + 1 random"
    alg = OptunaSearch(
        space=to_tune(plan.space("din_mgipf")),
        metric="val_auc",
        mode="max",
        sampler=sampler,
        points_to_evaluate=points,
    )
    first = alg.suggest("t0")
    assert first == pytest.approx(plan.default_point("din_mgipf"))
    assert alg.suggest("t1") == pytest.approx(points[1])
    assert alg.suggest("t2") != first  # TPE's own draws after the enqueued points


def test_without_the_flag_the_earlier_start_is_kept():
    from hmgray.search.ablation import search_start

    plan = _ctr_plan(start_from_default=False, paired_starts=2)
    points, sampler, start = search_start(plan, "din_fine")
    assert len(points) == 2 and points[0] != plan.default_point("din_fine")
    assert sampler._n_startup_trials == 10 and start == "2 paired starting candidates"
    assert search_start(_ctr_plan(start_from_default=False), "din_fine")[0] is None


_MANIFEST = SimpleNamespace(
    context={"max_history": 20, "image_size": [32, 32], "market": {"item_model_msrp": [1.0]}}
)


@pytest.mark.parametrize("name", task_names())
def test_every_task_default_lies_in_every_arm_space(name):
    task = get_task(name)
    plan = _plan(
        task=task,
        arms=tuple(task.arms),
        fixed=task.fixed_settings(_MANIFEST),
        arm_overrides={},
        start_from_default=True,
    )
    for arm in task.arms:
        point = plan.default_point(arm)
        assert set(point) == set(plan.space(arm))
