"""Amazon Reviews 2023 converter: throughput and peak memory on generated files in the
exact format, and how the peak grows with the input (streaming: the compact per-review
arrays grow, the texts do not stay in memory).

Writes ``<Cat>.jsonl.gz`` with N reviews (the real review keys, texts of ~40 words,
1 % malformed lines) and ``meta_<Cat>.jsonl.gz`` for its items (the real meta keys, prices
null / "None" / numbers), then runs the converter in a child process per size and reports
reviews per second and the child's peak RSS, and the ratio of the peaks. Usage::

    python benchmarks/amazon2023_convert.py [--reviews 1000000] [--small 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = "soft warm baby blanket great quality washes well small size love color gift".split()


def write_files(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    n_users, n_items = max(10, n // 8), max(10, n // 20)
    reviews, meta = folder / f"Bench{n}.jsonl.gz", folder / f"meta_Bench{n}.jsonl.gz"
    with gzip.open(reviews, "wt", encoding="utf-8", compresslevel=1) as f:
        for k in range(n):
            if k % 100 == 99:
                f.write('{"rating": 5.0, "title": "cut off\n')  # a truncated line
                continue
            item = f"B{rng.randrange(n_items):09d}"
            row = {
                "rating": float(rng.randint(1, 5)),
                "title": " ".join(rng.choices(WORDS, k=4)),
                "text": " ".join(rng.choices(WORDS, k=40)),
                "images": [],
                "asin": item.replace("B", "C"),
                "parent_asin": item,
                "user_id": f"AE{rng.randrange(n_users):026d}",
                "timestamp": 1_500_000_000_000 + rng.randrange(10**11),
                "helpful_vote": rng.randrange(5),
                "verified_purchase": rng.random() < 0.9,
            }
            f.write(json.dumps(row) + "\n")
    with gzip.open(meta, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(n_items):
            row = {
                "main_category": "Baby", "title": " ".join(rng.choices(WORDS, k=6)),
                "average_rating": 4.2, "rating_number": 10, "features": ["Soft"],
                "description": [" ".join(rng.choices(WORDS, k=30))],
                "price": rng.choice([None, "None", 19.99, 7.5]), "images": [], "videos": [],
                "store": "S", "categories": [], "details": {}, "parent_asin": f"B{i:09d}",
                "bought_together": None,
            }  # fmt: skip
            f.write(json.dumps(row) + "\n")
    return reviews, meta


def convert(reviews: Path, meta: Path, out: Path, chunk_rows: int) -> tuple[float, int, str]:
    """(seconds, peak RSS bytes of the child, its first output line)."""
    code = (
        "import resource, sys; from hmgray.data.formats.__main__ import main; "
        "rc = main(sys.argv[1:]); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", code, "amazon2023", "--reviews", str(reviews), "--meta", str(meta),
         "--out", str(out), "--chunk-rows", str(chunk_rows)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    peak = int(run.stdout.split("PEAK")[-1].split()[0]) * 1024  # ru_maxrss is KiB on Linux
    return seconds, peak, run.stdout.splitlines()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reviews", type=int, default=1_000_000)
    p.add_argument("--small", type=int, default=100_000)
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument("--keep", default=None, help="folder for the generated files (default: temp)")
    args = p.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="hmgray-amazon-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    peaks = {}
    for n in (args.small, args.reviews):
        t0 = time.perf_counter()
        reviews, meta = write_files(folder, n)
        size = os.path.getsize(reviews)
        print(
            f"{n} reviews: wrote {size / 2**20:.0f} MiB gzipped in {time.perf_counter() - t0:.0f}s"
        )
        seconds, peak, summary = convert(reviews, meta, folder / f"out{n}", args.chunk_rows)
        peaks[n] = peak
        print(f"  {summary.strip()}")
        print(
            f"  converted in {seconds:.1f}s: {n / seconds:,.0f} reviews/s; peak RSS {peak / 2**20:.0f} MiB"
        )
    ratio = args.reviews / args.small
    print(
        f"peak RSS ratio {args.reviews} / {args.small} reviews: "
        f"{peaks[args.reviews] / peaks[args.small]:.2f} for {ratio:.0f}x the input"
    )


if __name__ == "__main__":
    main()
