"""experiments/depreciation_attribution.py: the smoke run end to end, flag errors, bad data.

The script is loaded as a module and ``main(argv)`` called in this process (no Ray is
involved, so there is nothing to gain from a subprocess but start-up time).
"""

import importlib.util
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from hmgray.families.valuation.data.synth import write_synthetic_valuation

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "depreciation_attribution.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("depreciation_attribution", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_smoke_run_writes_figures_summary_and_prints_the_table(script, tmp_path, capsys):
    rc = script.main(["--smoke-test", "--storage", str(tmp_path), "--name", "smoke"])
    out = capsys.readouterr().out
    assert rc == 0, out
    root = tmp_path / "smoke"
    pngs = sorted((root / "listings").glob("*.png"))
    assert len(pngs) == 6  # 3 listings drawn, each with its market figure
    for p in [*pngs, root / "market.png"]:
        with Image.open(io.BytesIO(p.read_bytes())) as img:
            assert img.format == "PNG" and img.size[0] > 500
    summary = json.loads((root / "summary.json").read_text())
    assert summary["dataset"] == "synthetic-valuation" and summary["listings_explained"] > 0
    assert summary["command"].startswith("python experiments/depreciation_attribution.py")
    rows = {(r["method"], r["model"], r["group"]): r for r in summary["localization"]}
    assert len(rows) == 2 * 2 * 3
    for r in rows.values():
        assert 0 < r["random_mass_share"] < r["body_mass_share"] < 1
    assert summary["ig_completeness_gap"]["max"] < 1e-2
    assert set(summary["planted_effect_recovery"]) >= {"obvious defect", "subtle defect", "market"}
    assert len(summary["listings"][0]["regions"]) == 3  # body + two parts, by occlusion
    assert (root / "summary.md").read_text().startswith("# Depreciation attribution")
    assert (root / "model.pt").stat().st_size > 0
    assert "Localisation of the true defect box" in out and str(root / "summary.json") in out
    assert not [p for p in _files(root) if ".tmp-" in p.name]  # atomic writes only

    again = script.main(["--smoke-test", "--storage", str(tmp_path), "--name", "smoke"])
    assert again == 1
    assert "already holds" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--epochs", "0"], "--epochs"),
        (["--n-listings", "many"], "--n-listings"),
        (["--ig-steps", "0"], "--ig-steps"),
        (["--num-listings-to-draw", "-1"], "--num-listings-to-draw"),
        (["--baseline", "noise"], "--baseline"),
        (["--split", "train"], "--split"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_flag_value_exits_2_naming_the_flag(script, tmp_path, capsys, args, flag):
    with pytest.raises(SystemExit) as exc:
        script.main([*args, "--storage", str(tmp_path)])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in last
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_bad_data_fails_naming_the_file_and_writes_nothing(script, tmp_path, capsys):
    data = tmp_path / "shards"
    manifest = write_synthetic_valuation(str(data), n=60, seed=0)
    shard = data / manifest.files[0].path
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, other bytes: only the sha256 can tell
    shard.write_bytes(bytes(raw))
    runs = tmp_path / "runs"
    rc = script.main(["--smoke-test", "--data", str(data), "--storage", str(runs), "--name", "x"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 1 and err.startswith("error: ") and shard.name in err and "sha256" in err
    assert _files(runs) == []

    rc = script.main(["--data", str(tmp_path / "nowhere"), "--storage", str(runs), "--name", "x"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 1 and "nowhere" in err
    assert _files(runs) == []
