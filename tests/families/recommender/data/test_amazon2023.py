"""The Amazon Reviews 2023 converter on fixture files in the exact format (real keys,
gzipped and plain, malformed lines included)."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.data.shards import load_manifest
from hmgray.task import get_task

FIXTURES = Path(__file__).parent / "fixtures"
REVIEWS = FIXTURES / "Baby_Products.jsonl"
META = FIXTURES / "meta_Baby_Products.jsonl"
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(d / "71img0.jpg")  # the MAIN URL's name
    Image.new("RGB", (20, 20), (10, 200, 10)).save(d / "B0AAA00002.png")  # the item's name
    (d / "71img3.jpg").write_bytes(b"not an image")  # undecodable: reported, image missing
    return d


def _convert(tmp_path, images=None, *extra):
    out = tmp_path / "out"
    argv = ["amazon2023", "--reviews", str(REVIEWS), "--meta", str(META), "--out", str(out)]
    argv += ["--image-size", "16", *extra] + (["--images", str(images)] if images else [])
    return formats_main(argv), out


def test_converts_with_every_problem_reported_by_file_and_line(tmp_path, images, capsys):
    rc, out = _convert(tmp_path, images)
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "conversion_report.json").read_text())
    problems = {(Path(p["file"]).name, p["line"], p["field"]) for p in report["problems"]}
    assert ("Baby_Products.jsonl", 4, "line") in problems  # truncated JSON
    assert ("Baby_Products.jsonl", 42, "user_id") in problems
    assert ("Baby_Products.jsonl", 43, "timestamp") in problems
    assert ("Baby_Products.jsonl", 44, "parent_asin") in problems  # no metadata
    assert ("Baby_Products.jsonl", 45, "rating") in problems
    assert ("meta_Baby_Products.jsonl", 3, "line") in problems
    for line in (2, 4, 6):  # prices null, "None", "call for price"
        assert ("meta_Baby_Products.jsonl", line, "price") in problems
    assert report["problem_counts"]["parent_asin: first kept"] == 1  # repeated metadata

    manifest = load_manifest(str(out), verify=True, task="recommender")
    ctx = get_task("recommender").load_context(manifest)
    items = manifest.read_table("items").to_pylist()
    row = {i["item_key"]: i["item"] for i in items}  # numbered by first review
    assert set(row) == {f"B0AAA0000{k}" for k in range(1, 7)}  # not the never-reviewed one
    assert items[row["B0AAA00003"]]["description"] is None  # empty list: title only
    with_image = {k for k, r in row.items() if ctx["item_has_image"][r]}
    assert with_image == {"B0AAA00001", "B0AAA00002"}  # 71img3.jpg is not an image
    assert ctx["item_images"][row["B0AAA00001"], 0].mean() > 150  # red, resized to 16x16
    assert manifest.context["graph"].startswith("bought_together")
    edges = manifest.read_table("item_edges").to_pylist()
    pair = sorted([row["B0AAA00001"], row["B0AAA00002"]])
    assert edges == [{"src": pair[0], "dst": pair[1], "weight": 1.0}]
    users = manifest.read_table("users").to_pylist()
    assert manifest.rows("test") == manifest.context["evaluated_users"] < len(users)


def test_gzipped_files_and_k_core_and_the_co_purchase_fallback(tmp_path):
    gz = tmp_path / "Baby_Products.jsonl.gz"
    gz.write_bytes(gzip.compress(REVIEWS.read_bytes()))
    meta_lines = [
        json.dumps({**json.loads(line), "bought_together": None})
        for line in META.read_text().splitlines()
        if line.startswith("{") and line.endswith("}")
    ]
    meta = tmp_path / "meta_Baby_Products.jsonl.gz"
    meta.write_bytes(gzip.compress(("\n".join(meta_lines) + "\n").encode()))
    out = tmp_path / "core"
    rc = formats_main(
        [
            "amazon2023",
            "--reviews",
            str(gz),
            "--meta",
            str(meta),
            "--out",
            str(out),
            "--k-core",
            "2",
        ]
    )
    assert rc == 0
    manifest = load_manifest(str(out), verify=True, task="recommender")
    assert manifest.context["graph"].startswith("co-purchase")
    # every kept user and item has at least 2 interactions over all splits
    from hmgray import storage

    rows = [storage.read_parquet(u) for s in manifest.splits for u in manifest.files_for(s)]
    users = np.concatenate([r.column("user").to_numpy() for r in rows])
    items = np.concatenate([r.column("item").to_numpy() for r in rows])
    assert np.bincount(users).min() >= 2 and np.bincount(items).min() >= 2


def test_missing_input_names_the_file_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    rc = formats_main(
        [
            "amazon2023",
            "--reviews",
            str(tmp_path / "nope.jsonl"),
            "--meta",
            str(META),
            "--out",
            str(out),
        ]
    )
    assert rc == 1 and "nope.jsonl" in capsys.readouterr().err and not out.exists()


def test_no_usable_review_is_an_error_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "Bad.jsonl"
    bad.write_text('{"rating": 5.0, "user_id": "A1"\n{"parent_asin": "X"}\n')
    out = tmp_path / "out"
    rc = formats_main(["amazon2023", "--reviews", str(bad), "--meta", str(META), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "no review left" in err and "Bad.jsonl:1" in err and not out.exists()


def test_one_entry_point_lists_every_converter(capsys):
    assert formats_main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("craigslist", "mercari", "amazon2023"))
    assert formats_main(["parquet-of-dreams"]) == 2


@pytest.mark.ray
@pytest.mark.slow  # ~7 min on 2 cores: make test-slow (the synthetic smoke run stays in make test)
def test_converted_shards_train_through_the_runner(tmp_path, images):
    rc, out = _convert(tmp_path, images)
    assert rc == 0
    run = subprocess.run(
        [sys.executable, "-m", "tests.contract_run", "recommender", "--data", str(out)]
        + ["--storage", str(tmp_path / "runs"), "--name", "amazon"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "runs" / "amazon" / "results.parquet").exists()
    shutil.rmtree(tmp_path / "runs")


def test_a_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path):
    lines = REVIEWS.read_text().splitlines()
    big = "\n".join(
        line.replace('"user_id": "AG', f'"user_id": "R{r}AG') for r in range(60) for line in lines
    )
    data = gzip.compress(big.encode())
    cut = tmp_path / "Baby_Products.jsonl.gz"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    out = tmp_path / "out"
    assert (
        formats_main(["amazon2023", "--reviews", str(cut), "--meta", str(META), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["problem_counts"]["file: rest skipped"] == 1
    assert 0.3 * len(lines) * 60 < report["reviews_read"] < len(lines) * 60
