import math

import pytest
import torch

from segue.config import load_config
from segue.errors import SegueError
from training.early_stop import EarlyStopping
from training.schedule import make_scheduler


def _run(schedule, steps, **train):
    cfg = load_config(None, [f"train.schedule={schedule}", *[f"train.{k}={v}" for k, v in train.items()]]).train
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=cfg.lr)
    scheduler = make_scheduler(optimizer, cfg)
    lrs, betas = [], []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        betas.append(optimizer.param_groups[0]["betas"])
        optimizer.step()
        scheduler.step()
    return lrs, betas


def test_cyclical_lr_is_triangular_per_batch_and_leaves_adam_betas_alone():
    lrs, betas = _run("cyclical", 9, lr=0.01, min_lr=0.002, clr_step_size=4, clr_mode="triangular")
    expected = [0.002, 0.004, 0.006, 0.008, 0.010, 0.008, 0.006, 0.004, 0.002]
    assert lrs == pytest.approx(expected)
    assert set(betas) == {(0.9, 0.999)}   # CyclicLR would cycle beta1 unless cycle_momentum=False


def test_triangular2_halves_the_amplitude_each_cycle():
    lrs, _ = _run("cyclical", 13, lr=0.01, min_lr=0.002, clr_step_size=4, clr_mode="triangular2")
    assert max(lrs[:8]) == pytest.approx(0.010) and max(lrs[8:]) == pytest.approx(0.006)


def test_cosine_goes_from_lr_to_min_lr_over_max_steps():
    lrs, _ = _run("cosine", 11, lr=0.01, min_lr=0.001, max_steps=10)
    assert lrs[0] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.0055) and lrs[10] == pytest.approx(0.001)


def test_unknown_schedule_names_the_key():
    with pytest.raises(SegueError, match="train.schedule"):
        _run("sawtooth", 1)


def test_early_stopping_patience_min_delta_and_gl_alpha():
    stop = EarlyStopping(patience=2, min_delta=0.1)
    assert stop.update(3.0, 1) and stop.should_stop(3.0) is None
    assert not stop.update(2.95, 2)            # better, but not by min_delta
    assert not stop.update(3.2, 3)
    assert "no eval improvement in 2" in stop.should_stop(3.2)
    assert stop.best == 3.0 and stop.best_step == 1
    gl = EarlyStopping(patience=0, gl_alpha=5.0)
    gl.update(2.0, 1)
    gl.update(2.08, 2)
    assert gl.should_stop(2.08) is None        # GL = 4
    gl.update(2.2, 3)
    assert gl.should_stop(2.2).startswith("GL 10.0")
    fresh = EarlyStopping(patience=3)
    assert math.isinf(fresh.best)
