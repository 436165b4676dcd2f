"""A trained HMG-Net's attributions find the planted defects better than chance.

One small full-arm model (2000 synthetic listings, 6 epochs, seed 0, one thread; ~20 s of
CPU) is trained once for the module with the in-process loop that the experiment uses,
then explained on the test listings that have a defect (108 obvious, 89 subtle). The
thresholds sit well under what this set-up measures (obvious defects; the models learn
subtle ones less reliably, so those are printed with ``-s``, not asserted):

=======================  ================  ============  =================
obvious defects          mass share        hit rate      asserted
=======================  ================  ============  =================
integrated gradients     0.390 (28x rnd)   0.56 (21x)    >= 3x, >= 4x rnd
gradient x input         0.173 (12x rnd)   0.38 (15x)    >= 3x, >= 4x rnd
gxi, untrained model     0.018 (1.3x rnd)  0.05          trained >= 2x it
random map               0.014             0.026
=======================  ================  ============  =================

(all defects: integrated gradients 0.270 / 0.39, gradient x input 0.130 / 0.30 against a
random 0.010 / 0.019; asserted >= 2x). The untrained row is the model-randomisation
sanity check (Adebayo et al. 2018): the same method on the same architecture at its
initial weights does not find the defects, so the localisation comes from training.
"""

import numpy as np
import pytest
import torch

from hmgray.data.shards import load_manifest
from hmgray.families.valuation.data.synth import write_synthetic_valuation
from hmgray.families.valuation.explain.gradients import gradient_x_input, integrated_gradients
from hmgray.families.valuation.explain.inprocess import TrainRecipe, load_split, train_model
from hmgray.families.valuation.explain.localization import localization_summary, relevance
from hmgray.families.valuation.model import HMGNetConfig
from hmgray.families.valuation.task import build_model
from hmgray.training.loop import seed_everything

N_LISTINGS, EPOCHS, SEED = 2000, 6, 0


@pytest.fixture(scope="module")
def localisation(tmp_path_factory):
    # one thread: the numbers below do not depend on the machine's core count (the
    # reduction order of a multi-threaded kernel does), and small batches gain nothing
    # from a second thread (measured: a loaded 2-core machine made 2 threads ~10x slower)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = tmp_path_factory.mktemp("attr") / "shards"
        manifest = write_synthetic_valuation(str(folder), N_LISTINGS, seed=0)
        manifest = load_manifest(str(folder), verify=False)
        train, test = load_split(manifest, "train"), load_split(manifest, "test")
        msrp = manifest.context["market"]["item_model_msrp"]
        cfg = HMGNetConfig(arm="full", dropout=0.0, price_scale=float(np.mean(msrp)))
        model, _ = train_model(
            cfg,
            manifest.context["market"],
            train.batch,
            None,
            TrainRecipe(epochs=EPOCHS, seed=SEED),
            log=None,
        )
        sel = [
            i
            for i in range(len(test))
            if test.gt["gt_defect_box"][i] is not None and test.batch["has_image"][i] > 0
        ]
        sub = test.take(sel)
        boxes = sub.gt["gt_defect_box"]
        subtle = sub.gt["gt_defect_subtle"]
        bodies = sub.batch["scene_boxes"][:, 0].tolist()
        seed_everything(SEED)
        untrained = build_model(cfg, manifest.context["market"]).eval()
        maps = {
            "ig": integrated_gradients(model, sub.batch, steps=16).pixel_map(),
            "gxi": gradient_x_input(model, sub.batch).pixel_map(),
            "gxi_untrained": gradient_x_input(untrained, sub.batch).pixel_map(),
        }
        out = {
            k: localization_summary(relevance(m.numpy()), boxes, subtle, bodies)
            for k, m in maps.items()
        }
        for k, s in out.items():
            for g, r in s.items():
                print(
                    f"{k:14s} {g:8s} n={r['n']:3d} mass {r['mass_share']:.3f} "
                    f"(random {r['random_mass_share']:.3f}, body {r['body_mass_share']:.3f}) "
                    f"hit {r['hit_rate']:.2f} (random {r['random_hit_rate']:.3f}, "
                    f"body {r['body_hit_rate']:.2f})"
                )
        return out
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("method", ["ig", "gxi"])
def test_trained_attribution_puts_its_mass_on_obvious_defects(localisation, method):
    r = localisation[method]["obvious"]
    assert r["n"] >= 50
    assert r["mass_share"] >= 3 * r["random_mass_share"], r


@pytest.mark.parametrize("method", ["ig", "gxi"])
def test_trained_attribution_points_at_obvious_defects(localisation, method):
    r = localisation[method]["obvious"]
    assert r["hit_rate"] >= 4 * r["random_hit_rate"], r


@pytest.mark.parametrize("method", ["ig", "gxi"])
def test_trained_attribution_beats_a_random_map_on_all_defects(localisation, method):
    r = localisation[method]["all"]
    assert r["mass_share"] >= 2 * r["random_mass_share"], r
    assert r["hit_rate"] >= 2 * r["random_hit_rate"], r


def test_localisation_comes_from_training_not_from_the_method(localisation):
    trained = localisation["gxi"]["obvious"]
    untrained = localisation["gxi_untrained"]["obvious"]
    assert trained["mass_share"] >= 2 * untrained["mass_share"], (trained, untrained)
