"""A generated table compiles inside a minimal paper with pdflatex and renders to PNG.

The preamble is built from the table's own "% Requires in the preamble:" comment, so the
test also checks that the comment lists every package the table needs. Without pdflatex
the test is skipped on a workstation but fails on CI (the CI variable set), where
``.ci/run`` installs texlive and poppler-utils.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.load import from_table
from analysis.report import render_table
from analysis.sweep import sweep_table
from analysis.tables import datasets_table, ladder_table
from tests.analysis.conftest import make_results_table

TOOLS = ("pdflatex", "pdftoppm")


def _need_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install texlive-latex-base ...)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _compile(tmp_path: Path, name: str, tex: str) -> Path:
    (tmp_path / f"{name}.tex").write_text(tex)
    required = next(
        line for line in tex.splitlines() if line.startswith("% Requires in the preamble:")
    )
    preamble = required.split(":", 1)[1].strip()
    paper = "\n".join(
        [
            r"\documentclass{article}",
            preamble,
            r"\begin{document}",
            r"\section{Results}",
            rf"Table~\ref{{tab:granularity_ablation-{name}}} shows the ablation.",
            rf"\input{{{name}.tex}}",
            r"\end{document}",
        ]
    )
    (tmp_path / f"paper-{name}.tex").write_text(paper)
    for _ in range(2):  # second pass resolves \ref
        run = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"paper-{name}.tex"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout[-3000:]
    log = (tmp_path / f"paper-{name}.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "undefined references" not in log
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", f"paper-{name}.pdf", f"paper-{name}"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    png = tmp_path / f"paper-{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    return png


@pytest.mark.parametrize("siunitx", [False, True], ids=["plain", "siunitx"])
def test_tables_compile_in_a_paper(tmp_path, siunitx):
    _need_tools()
    table = make_results_table(
        arms=("full", "no_market", "no_text", "odd&arm_#1"),
        datasets=("synthetic-valuation", "real_b"),
        drop=[("no_text", 1)],
        nan=[("odd&arm_#1", 2, "test_mae")],
        sweep={"param": "gamma", "values": [0.1, 0.5, 1.0]},
        search_trials=0,
    )
    results = from_table(table, str(tmp_path / "results.parquet"), sha256="0" * 64)
    for t in (
        ladder_table(results, "synthetic-valuation"),
        datasets_table(results),
        sweep_table(results, "gamma"),
    ):
        files = render_table(t, results, "python -m analysis results.parquet", siunitx=siunitx)
        _compile(tmp_path, t.name, files[f"{t.name}.tex"].decode())
