"""The cub-gcd converter on the CUB-200-2011 fixture (the exact published layout, shared
with the retrieval family's CUB converter): the GCD class split, the seeded labelled
share, the transductive test split, problems reported by file and line, errors that name
the file and leave nothing behind."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.data.shards import load_manifest
from hmgray.errors import DataError
from hmgray.families.gcd.data.formats.cub import convert_cub_gcd

CUB = Path(__file__).resolve().parents[2] / "retrieval" / "fixtures" / "cub" / "CUB_200_2011"


def _frame(out: Path, split: str):
    return pq.read_table(next(out.glob(f"{split}-*.parquet"))).to_pandas()


def test_cub_gcd_split(tmp_path):
    out = tmp_path / "cub"
    manifest, report = convert_cub_gcd(str(CUB), str(out), image_size=(16, 16),
                                       old_classes=2, val_share=0.5, seed=3)  # fmt: skip
    train, val, test = (_frame(out, s) for s in ("train", "val", "test"))
    # 12 training images of classes 1-4 (3 per class after the fixture's broken lines);
    # image 17 (class 9, unknown) and the malformed 'eighteen' line are reported
    assert len(train) + len(val) == 12
    assert set(train.label) | set(val.label) == {0, 1, 2, 3}  # class ids 1..4 -> 0..3
    all_rows = np.concatenate([train.old, val.old])
    assert (np.concatenate([train.label, val.label]) < 2).sum() == all_rows.sum()
    assert val.labelled.all() and val.old.all() and len(val) >= 1
    assert not train.labelled[~train.old].any()  # only old classes labelled
    n_old = int(all_rows.sum())
    assert int(train.labelled.sum() + len(val)) == round(0.5 * n_old)  # exact share, as GCD
    unlabelled = train[~train.labelled].sort_values("sample_id").reset_index(drop=True)
    assert test.sort_values("sample_id").reset_index(drop=True).equals(unlabelled)
    ctx = manifest.context
    assert ctx["num_classes"] == 4 and ctx["old_classes"] == [0, 1]
    assert "seed 3" in ctx["split"] and ctx["image_size"] == [16, 16]
    assert load_manifest(str(out)).hash == manifest.hash  # verified on reading
    doc = json.loads((out / "conversion_report.json").read_text())
    assert any("official test images not used" in n for n in doc["notes"])
    wheres = {(p["file"].rsplit("/", 1)[-1], p["line"]) for p in report.to_dict()["problems"]}
    assert ("image_class_labels.txt", 18) in wheres and ("images.txt", 17) in wheres
    # the draw is seeded: the same seed gives the same labelled images
    again, _ = convert_cub_gcd(str(CUB), str(tmp_path / "again"), image_size=(16, 16),
                               old_classes=2, val_share=0.5, seed=3)  # fmt: skip
    assert again.hash != "" and _frame(tmp_path / "again", "val").equals(val)


def test_cub_gcd_errors_name_the_file_and_write_nothing(tmp_path, capsys):
    broken = tmp_path / "CUB_200_2011"
    shutil.copytree(CUB, broken)
    (broken / "train_test_split.txt").unlink()
    out = tmp_path / "out"
    rc = formats_main(["cub-gcd", "--root", str(broken), "--out", str(out)])
    assert rc == 1
    assert "train_test_split.txt" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    rc = formats_main(["cub-gcd", "--root", str(CUB), "--old-classes", "4", "--out", str(out)])
    assert rc == 1 and "--old-classes 4 leaves no new class" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SystemExit) as e:
        formats_main(["cub-gcd", "--root", str(CUB), "--labelled", "1.5", "--out", str(out)])
    assert e.value.code == 2


def test_cli_converts_the_fixture(tmp_path):
    out = tmp_path / "cli"
    rc = formats_main(["cub-gcd", "--root", str(CUB), "--old-classes", "2", "--val-share",
                       "0.5", "--image-size", "16", "--out", str(out)])  # fmt: skip
    assert rc == 0 and (out / "manifest.json").exists()


def test_schema_refuses_a_labelled_new_class(tmp_path):
    from hmgray.families.gcd.data.schema import GCD_SHARDS

    table = pq.read_table(next((_convert(tmp_path)).glob("train-*.parquet")))
    ctx = {"num_classes": 4, "old_classes": [0, 1], "image_size": [16, 16]}
    frame = table.to_pandas()
    frame.loc[frame.label == 3, "labelled"] = True
    import pyarrow as pa

    bad = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
    with pytest.raises(DataError, match="column 'labelled' is true in row .* new class 3"):
        GCD_SHARDS.validate_values(bad, ctx, "train-00000.parquet")
    frame = table.to_pandas()
    frame.loc[0, "old"] = not frame.loc[0, "old"]
    bad = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
    with pytest.raises(DataError, match="column 'old'"):
        GCD_SHARDS.validate_values(bad, ctx, "train-00000.parquet")
    with pytest.raises(DataError, match="old_classes"):
        GCD_SHARDS.validate_context({**ctx, "old_classes": [0, 9]}, "manifest.json")


def _convert(tmp_path) -> Path:
    out = tmp_path / "conv"
    convert_cub_gcd(str(CUB), str(out), image_size=(16, 16), old_classes=2, val_share=0.5)
    return out
