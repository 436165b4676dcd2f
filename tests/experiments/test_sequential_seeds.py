"""``--seeds auto[:MAX]``: the flag, and the runner's rounds of seeds without Ray (a fake
confirmation hands back rows of the analysis tests' planted results table)."""

import json

import pytest

from analysis.sequential import Design, default_looks
from hmgray import cli, experiment
from hmgray.experiment import Context, Experiment, parse_args, results_metadata
from hmgray.results import read_results
from hmgray.search.ablation import AblationPlan
from hmgray.task import get_task
from hmgray.training.driver import Resources
from tests.analysis.conftest import make_results_table

ARMS = ("global", "micro", "full")
EXP = Experiment(
    task="valuation",
    script="experiments/granularity_ablation.py",
    title="t",
    default=dict(n=10, epochs=1, num_samples=1, seeds="0,1,2", grace_period=1),
    smoke=dict(n=10, epochs=1, num_samples=1, seeds="1", grace_period=1),
)


def test_the_flag():
    assert cli.seeds("auto") == cli.AutoSeeds(cli.AUTO_SEEDS_MAX)
    assert cli.seeds("auto:6") == cli.AutoSeeds(6)
    for bad in ("auto:2", "auto:x", "autox"):
        with pytest.raises(Exception, match="--seeds"):
            cli.seeds(bad)
    args = parse_args(EXP, ["--seeds", "auto:6", "--practical-difference", "0.02"])
    assert args.sequential == 6 and args.seeds == tuple(range(6))
    assert args.practical_difference == 0.02
    assert parse_args(EXP, []).sequential is None


def test_the_flag_refuses_a_bad_practical_difference(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(EXP, ["--practical-difference", "1.5"])
    assert exc.value.code == 2 and "--practical-difference" in capsys.readouterr().err


def _plan(seeds) -> AblationPlan:
    return AblationPlan(
        task=get_task("valuation"),
        experiment="e",
        dataset="synthetic-valuation",
        arms=ARMS,
        num_samples=1,
        seeds=tuple(seeds),
        epochs=1,
        grace_period=1,
        reduction_factor=2,
        search_seed=0,
        max_concurrent=1,
        resources=Resources(),
        fixed={},
    )


def _run_rounds(tmp_path, effects, most, noise=0.03):
    """The runner's rounds over a fake confirmation; returns its calls and the table."""
    planted = make_results_table(
        arms=ARMS, effects=effects, seeds=range(most), search_trials=0, noise=noise
    )
    rows = planted.to_pylist()
    meta = json.loads(planted.schema.metadata[b"hmgray"])
    design = Design(default_looks(most), "test_mse")
    meta = {**meta, "ladder": "cumulative", "sequential": design.as_meta()}
    calls = []

    def confirm(plan, name):
        calls.append((name, plan.seeds))
        return [r for r in rows if r["seed"] in plan.seeds]

    uri = str(tmp_path / "results.parquet")
    plan = _plan(range(most))
    table = experiment._confirm_in_rounds(confirm, plan, design, uri, meta)
    return calls, table, uri


def test_rounds_stop_once_every_step_is_decided(tmp_path):
    calls, table, uri = _run_rounds(tmp_path, {"global": 0.6, "micro": 0.3, "full": 0.0}, 10)
    assert calls == [("confirm", (0, 1, 2))]
    _, meta = read_results(uri)
    assert meta["seeds"] == [0, 1, 2] and meta["sequential"]["looks"] == [3, 5, 7, 9, 10]
    assert sorted({r["seed"] for r in table.to_pylist()}) == [0, 1, 2]


def test_rounds_go_on_to_the_last_look_while_a_step_is_undecided(tmp_path):
    # micro equals global up to noise: the step is never significant, and with a per-run
    # spread of 6 % it is not measured precisely enough to be called negligible either
    effects = {"global": 0.3, "micro": 0.3, "full": 0.0}
    calls, table, uri = _run_rounds(tmp_path, effects, 7, noise=0.3)
    assert calls == [("confirm", (0, 1, 2)), ("confirm-2", (3, 4)), ("confirm-3", (5, 6))]
    _, meta = read_results(uri)
    assert meta["seeds"] == list(range(7))
    assert len(table) == 3 * 7  # every round's rows appended once


def test_the_metadata_of_a_sequential_run(tmp_path):
    args = parse_args(EXP, ["--seeds", "auto:5"])
    ctx = Context(args=args, task=get_task("valuation"))
    plan = _plan(args.seeds)
    meta = results_metadata(EXP, ctx, plan)
    assert meta["seeds"] == [0, 1, 2]  # the first look's, until the rounds write theirs
    assert meta["sequential"] == {
        "looks": [3, 5],
        "metric": "test_mse",
        "spending": "pocock",
        "practical": 0.01,
        "alpha": 0.05,
        "power": 0.8,
    }
    assert meta["ladder"] == "cumulative"
    fixed = parse_args(EXP, ["--seeds", "0,1,2,3"])
    meta = results_metadata(EXP, Context(args=fixed, task=ctx.task), plan)
    assert meta["seeds"] == [0, 1, 2, 3] and "sequential" not in meta


def test_a_step_measured_precisely_enough_to_be_negligible_ends_the_rounds(tmp_path):
    # the same equal step with a per-run spread of 0.6 %: at 5 seeds its test could find
    # 1 % of the baseline's mean, so it is decided negligible and the rounds stop
    calls, _, uri = _run_rounds(tmp_path, {"global": 0.3, "micro": 0.3, "full": 0.0}, 7)
    assert [name for name, _ in calls] == ["confirm", "confirm-2"]
    import analysis

    ladder = analysis.ladder_table(analysis.load_results(uri))
    micro = next(r for r in ladder.rows if r.key == "micro").cells[0]
    assert micro.decision.outcome == "negligible" and micro.decision.n_seeds == 5
