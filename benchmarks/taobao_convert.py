"""Taobao display-ads converter: rows per second and peak memory on generated files in
the exact published format, and how the peak grows with the input (it must not: the
rows are spilled to hash buckets on disk, so a bucket's worth is in memory at a time).

Writes ``raw_sample.csv`` with N rows (the real header, ``pid`` strings, 0.1 % malformed
rows), ``ad_feature.csv`` (``NULL`` brands), ``user_profile.csv`` (the trailing space in
its header, empty fields, users missing) and ``behavior_log.csv`` with N behaviours
(pv, cart, fav, buy), then runs the converter in a child process per size with a fixed
``--bucket-mb`` and reports sample rows per second (behaviours are read as well), the
child's peak RSS, and the ratio of the peaks. Usage::

    python benchmarks/taobao_convert.py [--rows 5000000] [--small 500000] [--bucket-mb 64]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DAY0 = 1494028800  # 2017-05-06 00:00 UTC


def _write_csv(path: Path, header: str, columns: list[np.ndarray], chunk: int = 1_000_000):
    with open(path, "w") as f:
        f.write(header + "\n")
        n = len(columns[0])
        for start in range(0, n, chunk):
            parts = [c[start : start + chunk].astype(str) for c in columns]
            rows = parts[0]
            for p in parts[1:]:
                rows = np.char.add(np.char.add(rows, ","), p)
            f.write("\n".join(rows.tolist()) + "\n")


def write_files(folder: Path, n: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    n_users, n_ads = max(100, n // 25), max(100, n // 30)
    users = rng.integers(1, n_users * 2, size=n)
    ads = rng.integers(1, n_ads + 1, size=n)
    clk = (rng.random(n) < 0.05).astype(int)
    pid = np.where(rng.random(n) < 0.5, "430548_1007", "430539_1007")
    t = DAY0 + rng.integers(0, 8 * 86400, size=n)
    paths = {k: folder / f"{k}.csv" for k in ("raw_sample", "ad_feature", "user_profile",
                                               "behavior_log")}  # fmt: skip
    _write_csv(paths["raw_sample"], "user,time_stamp,adgroup_id,pid,nonclk,clk",
               [users, t, ads, pid, 1 - clk, clk])  # fmt: skip
    with open(paths["raw_sample"], "a") as f:  # malformed rows
        f.writelines(f"{u},{DAY0}\n" for u in range(n // 1000))
    brand = np.where(rng.random(n_ads) < 0.3, "NULL", rng.integers(1, 5000, n_ads).astype(str))
    _write_csv(paths["ad_feature"], "adgroup_id,cate_id,campaign_id,customer,brand,price",
               [np.arange(1, n_ads + 1), rng.integers(1, 800, n_ads), rng.integers(1, 10**5, n_ads),
                rng.integers(1, 10**5, n_ads), brand, np.round(rng.random(n_ads) * 500, 2)])  # fmt: skip
    pu = np.arange(1, n_users * 2, 2)  # half the users have a profile
    empty = np.where(rng.random(len(pu)) < 0.3, "", rng.integers(1, 4, len(pu)).astype(str))
    _write_csv(paths["user_profile"],
               "userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,"
               "shopping_level,occupation,new_user_class_level ",
               [pu, *(rng.integers(0, 13, len(pu)) for _ in range(4)), empty,
                rng.integers(1, 4, len(pu)), rng.integers(0, 2, len(pu)), empty])  # fmt: skip
    bt = DAY0 - 14 * 86400 + rng.integers(0, 22 * 86400, size=n)
    tags = rng.choice(np.array(["pv", "pv", "pv", "cart", "fav", "buy"]), size=n)
    bbrand = np.where(rng.random(n) < 0.1, "NULL", rng.integers(1, 5000, n).astype(str))
    _write_csv(paths["behavior_log"], "user,time_stamp,btag,cate,brand",
               [rng.integers(1, n_users * 2, size=n), bt, tags, rng.integers(1, 800, n), bbrand])  # fmt: skip
    return paths


def convert(paths: dict[str, Path], out: Path, bucket_mb: int) -> tuple[float, int, str]:
    """(seconds, peak RSS bytes of the child, the summary's first line)."""
    # VmHWM: the peak RSS of the child's own address space. (ru_maxrss would not do: Linux
    # carries the parent's RSS at fork over the exec, and this parent holds the generated
    # columns.)
    code = (
        "import sys; from hmgray.data.formats.__main__ import main; "
        "rc = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print('PEAK', hwm.split()[1]); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", code, "taobao", "--raw-sample", str(paths["raw_sample"]),
         "--ad-feature", str(paths["ad_feature"]), "--user-profile", str(paths["user_profile"]),
         "--behavior-log", str(paths["behavior_log"]), "--out", str(out),
         "--bucket-mb", str(bucket_mb)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    peak = int(run.stdout.split("PEAK")[-1].split()[0]) * 1024  # VmHWM is in kB
    summary = next(line for line in run.stdout.splitlines() if line.startswith("taobao:"))
    return seconds, peak, summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--small", type=int, default=500_000)
    p.add_argument("--bucket-mb", type=int, default=64)
    p.add_argument("--keep", default=None, help="folder for the generated files (default: temp)")
    args = p.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="hmgray-taobao-bench-"))
    peaks = {}
    for n in (args.small, args.rows):
        sub = folder / str(n)
        sub.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = write_files(sub, n)
        size = sum(os.path.getsize(q) for q in paths.values())
        print(
            f"{n} sample rows: wrote {size / 2**20:.0f} MiB of CSV in {time.perf_counter() - t0:.0f}s"
        )
        seconds, peak, summary = convert(paths, sub / "out", args.bucket_mb)
        peaks[n] = peak
        print(f"  {summary.strip()}")
        print(f"  converted in {seconds:.1f}s: {n / seconds:,.0f} sample rows/s "
              f"(+ as many behaviours); peak RSS {peak / 2**20:.0f} MiB")  # fmt: skip
    print(
        f"peak RSS ratio {args.rows} / {args.small} rows: "
        f"{peaks[args.rows] / peaks[args.small]:.2f} for {args.rows / args.small:.0f}x the input"
    )


if __name__ == "__main__":
    main()
