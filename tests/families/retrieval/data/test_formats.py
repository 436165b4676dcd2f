"""The retrieval converters on fixture files in the exact published layouts (edge records
included): what is kept matches the files read again here by hand, what is dropped is
reported, bad input fails with the file named and nothing written."""

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.data.shards import load_manifest
from hmgray.families.retrieval.data.formats.cub import convert_cub
from hmgray.families.retrieval.data.formats.pedes import convert_pedes

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PEDES = {
    "cuhk-pedes": ("cuhk_pedes", "reid_raw.json", "file_path"),
    "icfg-pedes": ("icfg_pedes", "ICFG-PEDES.json", "file_path"),
    "rstpreid": ("rstpreid", "data_captions.json", "img_path"),
}


def _rows(out):
    manifest = load_manifest(str(out), verify=True, task="retrieval")
    tables = {s: pq.read_table([str(f) for f in manifest.files_for(s)]) for s in manifest.splits}
    return manifest, {s: t.to_pandas() for s, t in tables.items()}


def _expected(folder, name, key):
    """The records a correct converter keeps, read by hand: an object with every key, an
    integer id, a known split, at least one non-blank caption, an image PIL can open."""
    doc = json.loads((FIX / folder / name).read_text())
    out = []
    for rec in doc:
        if not isinstance(rec, dict) or not {"id", "captions", key, "split"} <= set(rec):
            continue
        if not isinstance(rec["id"], int) or rec["split"] not in ("train", "val", "test"):
            continue
        caps = [c for c in rec["captions"] if isinstance(c, str) and c.strip()]
        try:
            Image.open(FIX / folder / "imgs" / rec[key]).verify()
        except (OSError, ValueError):
            continue
        if caps:
            out.append((rec["id"], rec[key], rec["split"], caps))
    return out


@pytest.mark.parametrize("fmt", sorted(PEDES))
def test_person_search_converters_keep_what_the_files_hold(fmt, tmp_path):
    folder, name, key = PEDES[fmt]
    manifest, report = convert_pedes(fmt, str(FIX / folder / name), str(FIX / folder / "imgs"),
                                     str(tmp_path / "out"), image_size=(32, 16))  # fmt: skip
    _, frames = _rows(tmp_path / "out")
    expected = _expected(folder, name, key)
    rows = sum(len(f) for f in frames.values())
    assert rows == sum(len(c) for *_, c in expected)
    allrows = [r for f in frames.values() for r in f.itertuples()]
    assert sorted(r.caption for r in allrows) == sorted(c for *_, caps in expected for c in caps)
    # one identity per data-set id, the same across splits and rows
    by_caption = {c: pid for pid, _, _, caps in expected for c in caps}
    pairs = {(by_caption[r.caption], r.identity) for r in allrows}
    assert len(pairs) == len({p for p, _ in pairs}) == len({i for _, i in pairs})
    assert manifest.context["num_identities"] >= len(pairs)
    img = Image.open(io.BytesIO(allrows[0].image))
    assert img.size == (16, 32) and img.format == "PNG"  # resized, re-encoded
    if fmt == "icfg-pedes":  # its own file has no val: drawn from training identities
        ids = {s: set(f.identity) for s, f in frames.items()}
        assert ids["val"] and not ids["val"] & ids["train"] and not ids["val"] & ids["test"]
        assert "val: 10% of the training identities" in manifest.context["split"]
    else:
        want = {
            s: sum(len(c) for _, _, sp, c in expected if sp == s) for s in ("train", "val", "test")
        }
        assert {s: len(f) for s, f in frames.items()} == want
    doc = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert doc["problems_total"] == sum(report.counts.values())


def test_cuhk_pedes_reports_every_edge_record(tmp_path):
    _, report = convert_pedes("cuhk-pedes", str(FIX / "cuhk_pedes/reid_raw.json"),
                              str(FIX / "cuhk_pedes/imgs"), str(tmp_path / "o"))  # fmt: skip
    fields = {(p["field"], p["action"]) for p in report.problems}
    assert fields == {
        ("record", "record dropped"), ("captions", "record dropped"),
        ("id", "record dropped"), ("split", "record dropped"),
        ("captions", "caption dropped"), ("image", "record dropped"),
    }  # fmt: skip
    messages = " ".join(p["message"] for p in report.problems)
    assert "Market/missing.jpg: cannot be read" in messages
    assert "CUHK03/broken.jpg: not an image" in messages
    assert all(p["row"] >= 1 for p in report.problems)


def test_cub_keeps_classes_and_ten_captions(tmp_path):
    manifest, report = convert_cub(str(FIX / "cub/CUB_200_2011"), str(FIX / "cub/text_c10"),
                                   str(tmp_path / "cub"), image_size=(16, 16))  # fmt: skip
    _, frames = _rows(tmp_path / "cub")
    images = {s: f.drop_duplicates("image_id") for s, f in frames.items()}
    # 16 listed images with a known class, one without a caption file
    assert sum(len(f) for f in images.values()) == 15
    assert all((f.groupby("image_id").size() == 10).all() for f in frames.values())
    assert len(images["test"]) == 4 and len(images["val"]) == 1  # 10 % of 11 train images
    assert manifest.context["num_identities"] == 4
    lines = (FIX / "cub/CUB_200_2011/image_class_labels.txt").read_text().split()
    assert "eighteen" in lines  # the fixture's unparsable line is there, and reported:
    assert any(p["field"] == "line" for p in report.problems)
    assert any(p["field"] == "class" for p in report.problems)
    assert any(p["field"] == "captions" for p in report.problems)


def test_bad_input_names_the_file_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "reid_raw.json"
    bad.write_text('[{"split": "train", ')  # truncated
    out = tmp_path / "out"
    code = formats_main(["cuhk-pedes", "--json", str(bad), "--images", str(FIX / "cuhk_pedes/imgs"),
                         "--out", str(out)])  # fmt: skip
    assert code == 1 and "reid_raw.json: not valid JSON" in capsys.readouterr().err
    assert not out.exists()
    bad.write_text(json.dumps({"not": "a list"}))
    assert formats_main(["rstpreid", "--json", str(bad), "--images", str(tmp_path),
                         "--out", str(out)]) == 1  # fmt: skip
    assert "expected a JSON array" in capsys.readouterr().err
    # every record's image missing: nothing usable, nothing left behind
    code = formats_main(["cuhk-pedes", "--json", str(FIX / "cuhk_pedes/reid_raw.json"),
                         "--images", str(tmp_path), "--out", str(out)])  # fmt: skip
    assert code == 1 and "no image could be read" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SystemExit) as e:
        formats_main(["cub", "--root", "x"])  # --text and --out missing
    assert e.value.code == 2


def test_the_decoder_reads_converted_shards(tmp_path):
    from hmgray.families.retrieval.task import RowDecoder

    convert_pedes("rstpreid", str(FIX / "rstpreid/data_captions.json"),
                  str(FIX / "rstpreid/imgs"), str(tmp_path / "r"), image_size=(32, 16))  # fmt: skip
    manifest = load_manifest(str(tmp_path / "r"), verify=True, task="retrieval")
    table = pq.read_table(str(manifest.files_for("train")[0]))
    batch = RowDecoder(tuple(manifest.context["image_size"]), 4096, 8)(table)
    assert batch["image"].shape == (table.num_rows, 32, 16, 3) and batch["image"].dtype == np.uint8
    assert batch["tokens"].shape == (table.num_rows, 8) and (batch["tokens"][:, 0] > 0).all()
