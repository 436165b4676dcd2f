"""The category discovery model: two augmented views in training, one clean view in
evaluation; the augmentation keeps what tells a synthetic class (colour, quadrant); a few
epochs on the synthetic data learn the known classes."""

import math

import numpy as np
import torch

from hmgray.families.gcd.config import GcdConfig
from hmgray.families.gcd.data.synth import synthetic_tables
from hmgray.families.gcd.model import SHIFT, GcdModel, augment
from hmgray.families.gcd.task import GcdTask
from hmgray.training.loop import (
    evaluate,
    in_memory_batches,
    make_optimizer,
    seed_everything,
    train_epoch,
)


def test_views_in_training_one_view_in_evaluation():
    model = GcdModel(GcdConfig(width=8, hidden_dim=32, proj_dim=16), {"num_classes": 5})
    batch = {"image": torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)}
    out = model.train()(batch)
    assert out["views"] == 2 and out["logits"].shape == (6, 5) and out["proj"].shape == (6, 16)
    assert not torch.allclose(out["proj"][:3], out["proj"][3:])  # two different views
    model.eval()
    a, b = model(batch), model(batch)
    assert a["views"] == 1 and a["logits"].shape == (3, 5)
    assert torch.equal(a["logits"], b["logits"])  # no augmentation in evaluation
    assert a["logits"].abs().max() <= 1 + 1e-6  # cosine scores


def test_augmentation_keeps_colour_and_quadrant():
    x = torch.zeros(64, 3, 32, 32)
    x[:, 0, 2:14, 2:14] = 1.0  # a red glyph in the top-left quadrant
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    red = y[:, 0] - y[:, 1:].mean(1)  # redness map
    rows = (red.mean(2) > 0.3).float()
    top = rows.argmax(1)
    assert (top <= 2 + SHIFT + 2).all()  # still in the top-left quadrant
    assert (red[:, 20:, 20:].mean((1, 2)) < 0.1).all()  # nothing moved to the opposite one
    assert (y[:, 0, 4:12, 4:12].mean((1, 2)) > y[:, 1, 4:12, 4:12].mean((1, 2)) + 0.3).all()


def test_a_few_epochs_learn_the_known_classes():
    splits, ctx = synthetic_tables(480, 0)
    task = GcdTask()
    dec = task.decoder(ctx, task.fixed_settings(None))
    data = {k: {n: torch.from_numpy(v) for n, v in dec(t).items()} for k, t in splits.items()}
    seed_everything(0)
    cfg = GcdConfig(arm="lhl", width=16, hidden_dim=64, proj_dim=32)
    model = task.build_model(cfg, ctx)
    opt = make_optimizer(model, 2e-3, 1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        train_epoch(model, in_memory_batches(data["train"], 64, gen), opt, task=task,
                    config=cfg, device="cpu")  # fmt: skip
    val = evaluate(model, in_memory_batches(data["val"], 256), task=task, config=cfg,
                   device="cpu", with_loss=True)  # fmt: skip
    chance = 100 / ctx["num_classes"]
    assert val["known"] > 3 * chance, val
    assert math.isfinite(val["loss"])
    test = evaluate(model, in_memory_batches(data["test"], 256), task=task, config=cfg,
                    device="cpu")  # fmt: skip
    assert not np.isnan(test["new"]) and 0 <= test["all"] <= 100
