"""The whole experiment, end to end, on a local Ray: `--smoke-test` as a user runs it.

One subprocess run (~2-3 minutes on 2 busy cores): it must exit 0, leave a results table
with search and confirmation rows for every arm, write the report (LaTeX + Markdown),
print the Markdown table, and the LaTeX table must compile in a minimal paper. Without
pdflatex that last check is skipped on a workstation but fails on CI (CI set), where
``.ci/run`` installs texlive.
"""

import os
import shutil
import subprocess
from itertools import pairwise

import pytest

from hmgray.results import read_results
from tests.ray.procs import run_smoke

ARMS = ("global", "micro", "meso", "full")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return run_smoke("granularity_ablation.py", tmp_path_factory.mktemp("runs"))


@pytest.mark.ray
def test_exits_0_and_prints_the_table(smoke):
    run, _ = smoke
    assert run.returncode == 0, run.stdout[-6000:]
    # the Markdown ladder: a header row naming the metrics, one row per arm
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("|") and "MSE" in line)
    table = []
    for line in lines[header:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert table[1].replace("|", "").replace(":", "").strip("- ") == ""  # the |---| rule
    for arm in ARMS:
        assert any(arm in row for row in table[2:]), arm
    assert "total wall time" in run.stdout
    # a console a person can read: Ray's own lines went to the experiment's logs/
    for ray_line in ("TrainingReport(", "(pid=", "PlacementGroupCleaner", "streaming_executor"):
        assert ray_line not in run.stdout, ray_line
    logs = smoke[1] / "logs"
    assert "Token authentication" in (logs / "driver.log").read_text()
    assert any(p.name.startswith("raylet") for p in (logs / "ray").iterdir())
    assert "[confirm] [" in run.stdout and "runs; best val MSE" in run.stdout


@pytest.mark.ray
def test_results_hold_search_and_confirm_rows_for_every_arm(smoke):
    run, experiment = smoke
    assert run.returncode == 0, run.stdout[-3000:]
    table, meta = read_results(str(experiment / "results.parquet"))
    rows = table.to_pylist()
    for stage in ("search", "confirm"):
        assert sorted(r["arm"] for r in rows if r["stage"] == stage) == sorted(ARMS), stage
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    confirm = [r for r in rows if r["stage"] == "confirm"]
    assert all(r["test_mse"] > 0 and r["val_mse"] > 0 for r in confirm)
    assert all(r["seed"] == 0 for r in confirm)  # --smoke-test: seeds "1" = one seed, 0
    assert meta["arm_order"] == list(ARMS) and meta["reference_arm"] == "full"
    assert meta["command"].startswith("python experiments/granularity_ablation.py --smoke-test")
    assert set(meta["search_space"]) == set(ARMS)


@pytest.mark.ray
def test_report_files_exist_and_the_latex_compiles(smoke, tmp_path):
    run, experiment = smoke
    assert run.returncode == 0, run.stdout[-3000:]
    report = experiment / "report"
    tex, md = report / "ladder.tex", report / "ladder.md"
    assert tex.is_file() and md.is_file()
    assert md.read_text().strip() in run.stdout  # the printed table is the written one

    if shutil.which("pdflatex") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pdflatex is not installed (CI must have texlive; see .ci/run)")
        pytest.skip("pdflatex is not installed")
    shutil.copy(tex, tmp_path / "ladder.tex")
    # the table says which packages it needs (booktabs at least)
    required = next(
        line.split(":", 1)[1].strip()
        for line in tex.read_text().splitlines()
        if line.startswith("% Requires in the preamble:")
    )
    assert r"\usepackage{booktabs}" in required
    (tmp_path / "paper.tex").write_text(
        "\n".join(
            [
                r"\documentclass{article}",
                required,
                r"\begin{document}",
                r"\input{ladder.tex}",
                r"\end{document}",
            ]
        )
    )
    latex = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert latex.returncode == 0, latex.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000


@pytest.mark.ray
def test_every_run_reports_its_start_up_marks_in_order(smoke):
    """What benchmarks/trial_startup.py cuts into phases: every run's first report holds
    the marks, in the order the start-up passes them, ending at its start-up time."""
    from benchmarks.trial_startup import run_marks

    run, experiment = smoke
    assert run.returncode == 0, run.stdout[-3000:]
    runs = run_marks(str(experiment))
    assert len(runs) == 2 * len(ARMS), runs  # one search and one confirmation run per arm
    table, _ = read_results(str(experiment / "results.parquet"))
    startup = sorted(r["startup_s"] for r in table.to_pylist())
    order = ("trial", "fit", "entry", "imported", "model", "shards", "first_batch")
    for _, marks in runs:
        assert tuple(marks) == order
        assert all(marks[a] <= marks[b] for a, b in pairwise(order)), marks
    elapsed = sorted(m["first_batch"] - m["trial"] for _, m in runs)
    assert elapsed == pytest.approx(startup, abs=1e-3)
