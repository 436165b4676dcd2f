"""The hyperbolic retrieval family's geometry cost, as ratios measured in one run:

1. **logits**: the B x B logits of a training batch, hyperbolic (``-d_L`` on the Lorentz
   model, ``hmgray.nn.hyperbolic.lorentz.pairwise_distance``) against cosine (a matrix
   product of unit vectors), forward and backward, for several batch sizes;
2. **gallery**: evaluating a whole split, every caption against every gallery image
   (similarity, then ranking and R@K / mAP / mINP by identity,
   ``hmgray.families.retrieval.metrics.rank_metrics``), hyperbolic against cosine, and
   the share of the time the ranking takes.

Usage::

    python benchmarks/hyperbolic_geometry.py [--dim 64] [--queries 6000] [--gallery 3000]
        [--threads 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from hmgray.families.retrieval.metrics import rank_metrics
from hmgray.nn.hyperbolic import lorentz


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def logits_cost(b: int, d: int, repeat: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    img = torch.randn(b, d, generator=g).requires_grad_()
    txt = torch.randn(b, d, generator=g).requires_grad_()
    c = torch.tensor(1.0, requires_grad=True)
    labels = torch.arange(b)

    def cosine():
        logits = 14.3 * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
        F.cross_entropy(logits, labels).backward()

    def hyperbolic():
        x, y = lorentz.exp_map0(img * 0.125, c), lorentz.exp_map0(txt * 0.125, c)
        logits = -14.3 * lorentz.pairwise_distance(x, y, c)
        F.cross_entropy(logits, labels).backward()

    return best_of(cosine, repeat), best_of(hyperbolic, repeat)


def gallery_cost(q: int, n_img: int, d: int, repeat: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, n_img // 4, (n_img,), generator=g)
    ids[: n_img // 4] = torch.arange(n_img // 4)  # every identity in the gallery
    qids = ids[torch.randint(0, n_img, (q,), generator=g)]
    text, image = torch.randn(q, d, generator=g), torch.randn(n_img, d, generator=g)
    tu, iu = F.normalize(text, dim=-1), F.normalize(image, dim=-1)
    th, ih = lorentz.exp_map0(text * 0.125, 1.0), lorentz.exp_map0(image * 0.125, 1.0)
    sim_cos = tu @ iu.T
    return {
        "cosine similarity": best_of(lambda: tu @ iu.T, repeat),
        "hyperbolic similarity": best_of(lambda: -lorentz.pairwise_distance(th, ih, 1.0), repeat),
        "ranking + metrics": best_of(lambda: rank_metrics(sim_cos, qids, ids), repeat),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=6000)
    p.add_argument("--gallery", type=int, default=3000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), dim {args.dim}")
    print("1. batch logits, forward + backward (best of repeats):")
    for b in (64, 256, 1024):
        cos, hyp = logits_cost(b, args.dim, args.repeat)
        print(f"   B={b:5d}: cosine {cos * 1e3:8.2f} ms, hyperbolic {hyp * 1e3:8.2f} ms, "
              f"hyperbolic / cosine = {hyp / cos:5.2f}")  # fmt: skip
    t = gallery_cost(args.queries, args.gallery, args.dim, args.repeat)
    cos_total = t["cosine similarity"] + t["ranking + metrics"]
    hyp_total = t["hyperbolic similarity"] + t["ranking + metrics"]
    print(f"2. whole-gallery evaluation, {args.queries} captions x {args.gallery} images:")
    for k, v in t.items():
        print(f"   {k:22s} {v * 1e3:9.1f} ms")
    print(f"   total: cosine {cos_total:.2f} s, hyperbolic {hyp_total:.2f} s, "
          f"hyperbolic / cosine = {hyp_total / cos_total:.2f}; ranking is "
          f"{t['ranking + metrics'] / hyp_total:.0%} of the hyperbolic total")  # fmt: skip


if __name__ == "__main__":
    main()
