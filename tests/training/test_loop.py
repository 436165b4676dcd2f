"""The Ray-independent training loop: it learns, evaluates exactly, and is reproducible."""

import numpy as np
import pytest
import torch

from hmgray.families.valuation.model import HMGNetConfig
from hmgray.families.valuation.task import build_model, compute_metrics
from hmgray.task import get_task
from hmgray.training.loop import (
    evaluate,
    make_optimizer,
    seed_everything,
    to_device,
    train_epoch,
)
from tests.fakes import fake_batch, fake_market

# hidden size 24: the loop is under test, not the model's capacity
CFG = {"arm": "micro", "d_model": 24, "text_heads": 2, "vocab_size": 1000, "dropout": 0.0}
SCALE = 1000.0
TASK = get_task("valuation")  # the loop takes its loss and evaluator from the task
RUN = {"task": TASK, "config": HMGNetConfig(**CFG, price_scale=SCALE)}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(arm="micro", seed=0):
    seed_everything(seed)
    return build_model({**CFG, "arm": arm}, fake_market())


@pytest.mark.parametrize("arm", ["global", "full"])
def test_loss_decreases_on_a_fixed_batch(arm):
    model = _model(arm)
    batch = fake_batch(8, market=fake_market(), seed=1)
    opt = make_optimizer(model, lr=3e-3, weight_decay=0.0)
    losses = [train_epoch(model, [batch], opt, **RUN, device="cpu")["loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_train_epoch_reports_row_weighted_loss_and_rows():
    model = _model()
    opt = make_optimizer(model, lr=0.0, weight_decay=0.0)  # lr 0: parameters do not move
    batches = [fake_batch(5, seed=1), fake_batch(3, seed=2)]
    out = train_epoch(model, batches, opt, **RUN, device="cpu")
    assert out["rows"] == 8 and out["seconds"] > 0
    # dropout is 0, so train-mode predictions equal eval-mode ones: recompute independently
    model.eval()
    with torch.no_grad():
        # the task loss is in depreciation units: (pred - price) / MSRP
        sq = [((model(b)["price"] - b["price"]) / b["msrp"]).pow(2).sum().item() for b in batches]
    assert out["loss"] == pytest.approx(sum(sq) / 8, rel=1e-5)


def test_evaluate_equals_compute_metrics_on_concatenated_predictions():
    model = _model("full")
    batches = [fake_batch(4, seed=s) for s in (3, 4, 5)]
    got = evaluate(model, batches, **RUN, device="cpu")
    with torch.no_grad():
        pred = np.concatenate([model(b)["price"].numpy() for b in batches])
    target = np.concatenate([b["price"].numpy() for b in batches])
    subtle = np.concatenate([b["subtle"].numpy() for b in batches])
    want = compute_metrics(pred, target, subtle)
    assert got["rows"] == 12
    assert set(want) <= set(got)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k
    # and the MSE is not an average of per-batch MSEs of unequal batches by accident
    assert got["mse"] == pytest.approx(float(np.mean((pred - target) ** 2)), rel=1e-6)


def test_evaluate_no_batches_gives_nan():
    out = evaluate(_model(), [], **RUN, device="cpu")
    assert out["rows"] == 0 and np.isnan(out["mse"])


def test_seeding_gives_identical_runs():
    def run(seed):
        seed_everything(seed)
        model = build_model({**CFG, "dropout": 0.1}, fake_market())
        opt = make_optimizer(model, lr=1e-3, weight_decay=0.01)
        batches = [fake_batch(6, seed=s) for s in range(3)]
        tr = train_epoch(model, batches, opt, **RUN, device="cpu")
        return tr["loss"], evaluate(model, batches, **RUN, device="cpu")["mse"]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_weight_decay_skips_biases_norms_and_embeddings():
    model = _model()
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.05)
    by_wd = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert sum(len(s) for s in by_wd.values()) == len(list(model.parameters()))
    emb = model.text_enc.bert.embeddings.word_embeddings.weight
    assert id(emb) in by_wd[0.0]
    assert id(model.feat_norms[0].weight) in by_wd[0.0]  # LayerNorm gain
    assert id(model.f_E[0].weight) in by_wd[0.05]  # a Linear weight


def test_to_device_converts_numpy():
    b = to_device(fake_batch(2, as_numpy=True), "cpu")
    assert all(isinstance(v, torch.Tensor) for v in b.values())


def test_after_step_runs_after_every_step_and_train_mode_comes_back():
    model = _model()
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.0)
    seen = []

    def hook():
        seen.append(model.training)
        evaluate(model, [fake_batch(2, seed=9)], **RUN, device="cpu")  # leaves eval mode on

    batches = [fake_batch(3, seed=s) for s in range(4)]
    train_epoch(model, batches, opt, **RUN, device="cpu", after_step=hook)
    assert seen == [True] * 4  # each step trained in train mode, hook ran once per step
    assert model.training


def test_evaluate_loss_is_the_training_loss_over_all_rows():
    model = _model("full")
    batches = [fake_batch(4, seed=s) for s in (3, 4, 5)]
    got = evaluate(model, batches, **RUN, device="cpu", with_loss=True)
    with torch.no_grad():
        rel = torch.cat([(model(b)["price"] - b["price"]) / b["msrp"] for b in batches])
    assert got["loss"] == pytest.approx(float(rel.pow(2).mean()), rel=1e-5)
    assert "loss" not in evaluate(model, batches, **RUN, device="cpu")  # only when asked


def test_evaluate_groups_are_metrics_over_their_item_models():
    model = _model("full")
    batches = [fake_batch(6, seed=s) for s in (3, 4)]
    got = evaluate(model, batches, **RUN, device="cpu", groups={"rare": [0, 1], "none": [99]})
    with torch.no_grad():
        pred = np.concatenate([model(b)["price"].numpy() for b in batches])
    target = np.concatenate([b["price"].numpy() for b in batches])
    subtle = np.concatenate([b["subtle"].numpy() for b in batches])
    item = np.concatenate([b["item_model_id"].numpy() for b in batches])
    keep = np.isin(item, [0, 1])
    assert 0 < keep.sum() < keep.size  # the fixture has rows in and out of the group
    want = compute_metrics(pred[keep], target[keep], subtle[keep])
    for k, v in want.items():
        if np.isnan(v):
            assert np.isnan(got[f"rare_{k}"])
        else:
            assert got[f"rare_{k}"] == pytest.approx(v, rel=1e-6), k
    assert np.isnan(got["none_mse"])  # a group without rows
