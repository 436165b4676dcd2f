"""build_report / python -m analysis: files, provenance, byte-identical regeneration, bad input."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import build_report, plots
from analysis.__main__ import main
from analysis.errors import AnalysisError
from tests.analysis.conftest import make_results_table, write_results

REPO = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_report_files_and_provenance(tmp_path):
    uri = write_results(
        make_results_table(
            drop=[("no_scene", 2)], sweep={"param": "gamma", "values": [0.1, 0.5, 1.0]}
        ),
        tmp_path / "exp" / "results.parquet",
    )
    report = build_report(uri)
    out = tmp_path / "exp" / "report"
    assert report.out_dir == str(out)
    names = sorted(Path(f).name for f in report.files)
    assert names == sorted(
        [f"ladder.{e}" for e in ("tex", "md", "csv", "json")]
        + [f"sweep-gamma.{e}" for e in ("tex", "md", "csv", "json", "png", "pdf")]
        + [f"{n}.{e}" for n in ("arms", "search-history", "importance") for e in ("png", "pdf")]
    )
    assert sorted(p.name for p in out.iterdir()) == names  # no temporary files left behind
    assert report.ladder_markdown.startswith("**granularity_ablation: ladder**")
    assert report.command == f"python -m analysis {uri}"

    doc = json.loads((out / "ladder.json").read_text())
    assert doc["regenerate"] == report.command
    assert doc["git_commits"] == ["0123456789abcdef0123456789abcdef01234567"]
    assert list(doc["data_manifest_hashes"]) == ["synthetic-valuation"]
    assert (
        doc["results"]["sha256"] == __import__("hashlib").sha256(Path(uri).read_bytes()).hexdigest()
    )
    cell = next(c for c in doc["cells"] if c["row"] == "no_scene" and c["column"] == "test_mse")
    assert cell["seeds"] == [0, 1] and cell["n"] == 2 and cell["fewer_seeds"] is True
    assert len(cell["trial_ids"]) == len(cell["config_hashes"]) == 2
    assert cell["test"]["method"] == "t" and cell["test"]["testable"] is False

    tex = (out / "ladder.tex").read_text()
    assert f"% Regenerate from the stored results: python -m analysis {uri}" in tex
    assert "% git commit: 0123456789abcdef0123456789abcdef01234567" in tex
    assert "%   no_scene: seeds 0,1;" in tex
    assert "no run for seed 2 (2 of 3 seeds" in tex  # the removed seed is said in the caption
    for p in out.glob("*.png"):
        assert p.read_bytes()[:4] == b"\x89PNG"
    for p in out.glob("*.pdf"):
        assert p.read_bytes()[:5] == b"%PDF-" and b"CreationDate" not in p.read_bytes()
    assert str(tmp_path / "exp" / "report") not in "".join(
        p.read_text() for p in out.glob("*.tex")
    )  # no output paths (or temp paths) inside the outputs


def test_printed_command_regenerates_identical_bytes(tmp_path):
    uri = write_results(
        make_results_table(nan=[("flat", 1, "test_mae")]), tmp_path / "results.parquet"
    )
    first = build_report(uri, out_dir=str(tmp_path / "paper"))
    before = _snapshot(tmp_path / "paper")
    assert "--out" in first.command
    args = shlex.split(first.command)
    assert args[:3] == ["python", "-m", "analysis"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, *args[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == list(first.files)
    assert "note: ladder: flat: MAE not finite (NaN) for seed 1" in run.stderr
    assert _snapshot(tmp_path / "paper") == before


def test_several_datasets_give_per_dataset_ladders_and_the_groups_table(tmp_path):
    uri = write_results(
        make_results_table(datasets=("a", "b"), search_trials=0), tmp_path / "r.parquet"
    )
    report = build_report(uri)
    names = {Path(f).name for f in report.files}
    assert {"ladder-a.tex", "ladder-b.tex", "arms-a.png", "arms-b.pdf", "datasets.tex"} <= names
    assert "search-history.png" not in names
    assert "no search rows: search history and importance plots skipped" in report.notes


def test_bad_input_exits_nonzero_and_writes_nothing(tmp_path, capsys):
    empty = write_results(make_results_table().slice(0, 0), tmp_path / "empty" / "results.parquet")
    assert main([empty]) == 2
    assert "results.parquet: the results table is empty" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "report").exists()
    assert main([str(tmp_path / "missing.parquet")]) == 2
    assert "missing.parquet" in capsys.readouterr().err
    with pytest.raises(AnalysisError, match="bad options"):
        build_report(empty, ci="normal")


def test_failure_midway_leaves_the_previous_report_untouched(tmp_path, monkeypatch):
    uri = write_results(make_results_table(), tmp_path / "results.parquet")
    build_report(uri)
    before = _snapshot(tmp_path / "report")
    changed = write_results(make_results_table(effects={"flat": 0.5}), tmp_path / "results.parquet")

    def broken(results):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(plots, "importance_figure", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        build_report(changed)
    assert _snapshot(tmp_path / "report") == before


def test_cli_prints_paths(tmp_path, capsys):
    uri = write_results(make_results_table(search_trials=0), tmp_path / "results.parquet")
    assert main([uri, "--out", str(tmp_path / "o"), "--ci", "bootstrap", "--siunitx"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == str(tmp_path / "o" / "ladder.tex")
    tex = (tmp_path / "o" / "ladder.tex").read_text()
    assert "--ci bootstrap --siunitx" in tex and r"\usepackage{siunitx}" in tex
    assert "percentile bootstrap" in tex


def test_plots_are_deterministic():
    from analysis.load import from_table
    from analysis.tables import ladder_table

    results = from_table(make_results_table(), "r.parquet")
    table = ladder_table(results)
    assert plots.save(plots.arms_figure, table) == plots.save(plots.arms_figure, table)
    assert plots.save(plots.importance_figure, results) == plots.save(
        plots.importance_figure, results
    )


def test_results_on_s3(moto_s3):
    """Read the results from and write the report to an object store (moto S3 server)."""
    from hmgray import storage

    root = f"s3://hmgray-test/exp?endpoint_override={moto_s3}&scheme=http"
    results_uri = storage.join(root, "results.parquet")
    storage.atomic_write_parquet(make_results_table(search_trials=0), results_uri)
    report = build_report(results_uri)
    assert report.out_dir == storage.join(root, "report")
    assert (
        storage.read_bytes(storage.join(root, "report", "ladder.md")).decode()
        == report.ladder_markdown
    )
    assert f"python -m analysis '{results_uri}'" == report.command


def test_two_sweeps_each_get_their_table(tmp_path):
    """Metadata 'sweep' as a list: one table and curve per (param, stage); the rows of one
    sweep never leak into the other's table."""
    import pyarrow as pa

    base = make_results_table(sweep={"param": "gamma", "values": [0.1, 0.5, 1.0]})
    rows = base.to_pylist()
    extra = []
    for r in rows:
        if r["stage"] == "sweep":
            cfg = json.loads(r["config_json"])
            cfg["delta"] = {0.1: 0.01, 0.5: 0.1, 1.0: 1.0}[cfg.pop("gamma")]
            extra.append({**r, "stage": "sweep_delta", "config_json": json.dumps(cfg),
                          "trial_id": r["trial_id"] + "-d"})  # fmt: skip
    table = pa.Table.from_pylist(rows + extra, schema=base.schema)
    meta = json.loads(base.schema.metadata[b"hmgray"])
    meta["sweep"] = [{"param": "gamma", "stage": "sweep"},
                     {"param": "delta", "stage": "sweep_delta"}]  # fmt: skip
    table = table.replace_schema_metadata({"hmgray": json.dumps(meta)})
    uri = write_results(table, tmp_path / "exp" / "results.parquet")
    report = build_report(uri)
    names = {Path(f).name for f in report.files}
    assert {"sweep-gamma.tex", "sweep-gamma.png", "sweep-delta.tex", "sweep-delta.png"} <= names
    delta = (tmp_path / "exp" / "report" / "sweep-delta.csv").read_text()
    assert "0.01" in delta and "gamma" not in delta
    meta["sweep"] = [{"stage": "sweep"}]
    bad = write_results(table.replace_schema_metadata({"hmgray": json.dumps(meta)}),
                        tmp_path / "bad" / "results.parquet")  # fmt: skip
    with pytest.raises(AnalysisError, match="metadata 'sweep'"):
        build_report(bad)
