"""The compare layout: arms side by side per condition value, paired tests, Holm, Δ, files."""

import csv
import io
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from analysis import build_report, markdown
from analysis.compare import compare_figure, compare_table
from analysis.errors import AnalysisError
from analysis.load import from_table
from analysis.plots import save
from analysis.report import render_table
from analysis.stats import holm
from tests.analysis.anchor_results import K, make_anchor_table, metadata, value
from tests.analysis.conftest import write_results


def _fewshot(table=None, **kw):
    results = from_table(table or make_anchor_table(), "mem://results.parquet")
    return compare_table(
        results, "fewshot_k", name="fewshot", stages=["fewshot"],
        metrics=["test_mse", "test_mape"], row_header="k", **kw,
    )  # fmt: skip


def test_rows_are_k_and_columns_are_arm_groups():
    t = _fewshot()
    assert [r.key for r in t.rows] == ["5", "20", "80"]  # numeric order, not text order
    assert [(c.group, c.metric.name) for c in t.columns] == [
        ("direct", "test_mse"),
        ("direct", "test_mape"),
        ("anchor", "test_mse"),
        ("anchor", "test_mape"),
    ]
    # Δ is shown next to the arm compared with the reference, not next to the reference
    assert [c.show_delta for c in t.columns] == [True, True, False, False]


def test_cells_equal_independent_statistics_and_delta():
    t = _fewshot()
    for i, k in enumerate(K):
        direct = [value("test_mse", "direct", f"k={k}", s) for s in (0, 1, 2)]
        anchor = [value("test_mse", "anchor", f"k={k}", s) for s in (0, 1, 2)]
        d_cell, a_cell = t.rows[i].cells[0], t.rows[i].cells[2]
        assert d_cell.stats.mean == pytest.approx(np.mean(direct))
        assert a_cell.stats.std == pytest.approx(np.std(anchor, ddof=1))
        assert d_cell.delta_pct == pytest.approx(
            (np.mean(direct) - np.mean(anchor)) / np.mean(anchor) * 100
        )
        # the paired t-test, computed here independently
        p = sps.ttest_rel(direct, anchor).pvalue
        assert d_cell.test.p == pytest.approx(p)
        assert a_cell.test is None


def test_planted_effects_are_found_and_holm_corrected():
    t = _fewshot()
    tested = [(i, j) for i, r in enumerate(t.rows) for j, c in enumerate(r.cells) if c.test]
    raw = [t.rows[i].cells[j].test.p for i, j in tested]
    want = holm(raw)
    assert len(tested) == 6  # 3 k values x 2 metrics, direct vs anchor
    for (i, j), p in zip(tested, want, strict=True):
        assert t.rows[i].cells[j].p_holm == pytest.approx(p)
    # the planted +60% at k=5 is significant and the anchor is bold; +0.1% at k=80 is not
    k5, k80 = t.rows[0], t.rows[2]
    assert k5.cells[0].significant and k5.cells[2].rank == "best" and k5.cells[0].rank is None
    assert not k80.cells[0].significant


def test_markdown_latex_and_csv_render(tmp_path):
    t = _fewshot()
    md = markdown.render(t)
    assert "| k | direct: MSE ↓ | Δ MSE | direct: MAPE (%) ↓ | Δ MAPE (%) |" in md
    assert "anchor: MSE ↓" in md and "\\*" in md  # significance marker, escaped
    results = from_table(make_anchor_table(), "mem://results.parquet")
    files = render_table(t, results, "python -m analysis x")
    rows = list(csv.reader(io.StringIO(files["fewshot.csv"].decode())))
    assert rows[0][:3] == ["k", "reference", "direct/test_mse:mean"]
    assert [r[0] for r in rows[1:]] == ["5", "20", "80"]
    side = json.loads(files["fewshot.json"])
    assert side["kind"] == "compare" and len(side["cells"]) == 12
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex missing on CI")
        pytest.skip("pdflatex not installed")
    (tmp_path / "fewshot.tex").write_bytes(files["fewshot.tex"])
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}"
        "\\begin{document}\\input{fewshot.tex}\\end{document}"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]


def test_explicit_values_order_and_labels():
    results = from_table(make_anchor_table(), "mem://r")
    t = compare_table(
        results,
        "train_set",
        name="longtail",
        values=["k=20", "long-tail"],
        labels={'"k=20"': "uniform (k=20)"},
        metrics=["test_tail_mape", "test_head_mape"],
    )
    assert [r.label for r in t.rows] == ["uniform (k=20)", "long-tail"]
    assert t.rows[1].cells[0].stats.mean == pytest.approx(
        np.mean([value("test_tail_mape", "direct", "long-tail", s) for s in (0, 1, 2)])
    )


def test_a_missing_seed_is_flagged_and_said():
    t = _fewshot(make_anchor_table(drop=[("direct", "k=20", 2)]))
    cell = t.rows[1].cells[0]
    assert cell.stats.n == 2 and cell.fewer
    assert any("k = 20, direct: no run for seed 2" in n for n in t.notes)
    assert not cell.test.testable  # 2 pairs: a t-test needs 3


def test_duplicate_runs_are_an_error():
    table = make_anchor_table()
    doubled = pa.concat_tables([table, table.slice(6, 1)])
    with pytest.raises(AnalysisError, match="2 runs of fewshot_k = 5"):
        _fewshot(doubled)


def test_no_rows_with_the_param_names_it():
    results = from_table(make_anchor_table(), "mem://r")
    with pytest.raises(AnalysisError, match="'bogus'"):
        compare_table(results, "bogus", name="x")


def test_build_report_writes_the_comparison_and_curves(tmp_path):
    uri = write_results(make_anchor_table(), tmp_path / "exp" / "results.parquet")
    report = build_report(uri)
    names = {os.path.basename(f) for f in report.files}
    assert {f"fewshot.{e}" for e in ("tex", "md", "csv", "json", "png", "pdf")} <= names
    assert {"curves.png", "curves.pdf", "curves.csv", "ladder.md"} <= names
    assert report.markdown["fewshot"].startswith("**anchor_effectiveness: fewshot**")
    assert report.markdown["ladder"] == report.ladder_markdown


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"name": "x"}, r"comparisons\[0\]\.param"),
        ({"name": "x", "param": "k", "bogus": 1}, "unknown field"),
        ({"name": "x", "param": "k", "stages": "fewshot"}, r"\.stages must be"),
    ],
)
def test_bad_comparison_metadata_names_the_field(tmp_path, bad, message):
    meta = {**metadata(), "comparisons": [bad]}
    uri = write_results(make_anchor_table(meta=meta), tmp_path / "exp" / "results.parquet")
    with pytest.raises(AnalysisError, match=message):
        build_report(uri)
    assert not (tmp_path / "exp" / "report").exists()  # nothing written


def test_figure_is_deterministic():
    t = _fewshot()
    a, b = save(compare_figure, t), save(compare_figure, t)
    assert a == b and a["png"][:4] == b"\x89PNG"
    assert math.isfinite(t.rows[0].cells[0].stats.ci_low)


def test_variants_make_rows_of_column_variants_of_the_same_runs():
    # rows: the same confirm runs' MAPE over all items, the rare and the frequent ones
    results = from_table(make_anchor_table(), "mem://results.parquet")
    t = compare_table(
        results, "subset", name="variants", stages=["confirm"], metrics=["test_mape"],
        variants={"all": "", "rare": "tail_", "frequent": "head_"}, arms=["anchor"],
    )  # fmt: skip
    assert [r.label for r in t.rows] == ["all", "rare", "frequent"]
    assert [c.group for c in t.columns] == ["anchor"]
    for row, metric in zip(t.rows, ("test_mape", "test_tail_mape", "test_head_mape"), strict=True):
        expected = np.mean([value(metric, "anchor", "full", s) for s in (0, 1, 2)])
        assert row.cells[0].stats.mean == pytest.approx(expected)


def test_variants_name_a_missing_column():
    results = from_table(make_anchor_table(), "mem://results.parquet")
    with pytest.raises(AnalysisError, match="test_nope_mape"):
        compare_table(
            results, "subset", name="v", stages=["confirm"], metrics=["test_mape"],
            variants={"x": "nope_"},
        )  # fmt: skip
