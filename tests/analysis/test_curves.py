"""Convergence curves: points read from curve_json, bands equal to independent formulas."""

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.curves import curve_bands, curve_points, curves_csv, curves_figure, spec_from_meta
from analysis.errors import AnalysisError
from analysis.load import from_table
from analysis.plots import save
from tests.analysis.anchor_results import CURVE_STEPS, curve, make_anchor_table, metadata


def _results(table=None):
    return from_table(table or make_anchor_table(), "mem://results.parquet")


def test_points_come_from_every_run_of_the_declared_stages():
    results = _results()
    spec = spec_from_meta(results)
    points = curve_points(results, spec)
    # 5 training sets x 2 arms x 3 seeds, one point per curve step each
    assert len(points) == 5 * 2 * 3 * len(CURVE_STEPS)
    assert set(points["panel"]) == {json.dumps(s) for s in spec["panels"]}
    got = points[(points["panel"] == '"k=5"') & (points["arm"] == "direct") & (points["seed"] == 1)]
    assert got["value"].tolist() == pytest.approx(curve("direct", "k=5", 1)["val_loss"])


def test_ci_band_is_the_student_t_interval_of_the_mean():
    results = _results()
    bands = curve_bands(curve_points(results, spec_from_meta(results)), "ci")
    row = bands[(bands["panel"] == '"full"') & (bands["arm"] == "anchor") & (bands["step"] == 30)]
    y = np.array([curve("anchor", "full", s)["val_loss"][3] for s in (0, 1, 2)])
    half = sps.t.ppf(0.975, 2) * y.std(ddof=1) / math.sqrt(3)
    assert row["n"].item() == 3
    assert row["mean"].item() == pytest.approx(y.mean())
    assert row["low"].item() == pytest.approx(y.mean() - half)
    assert row["high"].item() == pytest.approx(y.mean() + half)


def test_std_band_and_no_band_from_one_seed():
    results = _results(make_anchor_table(seeds=(0, 1, 2)))
    points = curve_points(results, spec_from_meta(results))
    bands = curve_bands(points, "std")
    row = bands[(bands["panel"] == '"k=5"') & (bands["arm"] == "direct") & (bands["step"] == 0)]
    y = np.array([curve("direct", "k=5", s)["val_loss"][0] for s in (0, 1, 2)])
    assert row["high"].item() - row["mean"].item() == pytest.approx(y.std(ddof=1))
    one = curve_bands(points[points["seed"] == 0], "ci")
    assert one["n"].eq(1).all() and one["low"].isna().all() and one["high"].isna().all()


def test_runs_without_a_curve_are_skipped_and_none_at_all_is_an_error():
    results = _results(make_anchor_table(curves=False))
    with pytest.raises(AnalysisError, match="no finite 'val_loss' curve points"):
        curve_points(results, spec_from_meta(results))


def test_an_unreadable_curve_names_the_trial():
    table = make_anchor_table()
    cj = table.column("curve_json").to_pylist()
    cj[4] = '{"step": [0, 1]}'  # no val_loss
    table = table.set_column(table.schema.get_field_index("curve_json"), "curve_json", [cj])
    results = _results(table)
    with pytest.raises(AnalysisError, match="trial t0004: curve_json"):
        curve_points(results, spec_from_meta(results))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"stages": []}, "stages must be"),
        ({"stages": ["confirm"], "band": "iqr"}, "band must be one of"),
        ({"stages": ["confirm"], "colour": 1}, "unknown field"),
    ],
)
def test_bad_spec_names_the_field(bad, message):
    meta = {**metadata(), "curves": bad}
    with pytest.raises(AnalysisError, match=message):
        spec_from_meta(_results(make_anchor_table(meta=meta)))


def test_figure_and_csv_are_deterministic():
    results = _results()
    spec = spec_from_meta(results)
    bands = curve_bands(curve_points(results, spec), spec["band"])
    a = save(curves_figure, results, spec, bands)
    assert a == save(curves_figure, results, spec, bands) and a["png"][:4] == b"\x89PNG"
    text = curves_csv(bands).decode()
    assert text.splitlines()[0] == "panel,arm,step,n,mean,low,high"
    assert len(text.splitlines()) == 1 + 5 * 2 * len(CURVE_STEPS)
