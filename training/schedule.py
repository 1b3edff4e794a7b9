"""Learning-rate schedules, all stepped once per optimizer step (per batch).

constant  lr
cosine    lr -> min_lr along a half cosine over max_steps
cyclical  CLR (Smith 2017) between min_lr and lr with torch's CyclicLR, modes triangular / triangular2 /
          exp_range. cycle_momentum=False: with Adam(W), CyclicLR would otherwise cycle beta1 as "momentum".
"""

from __future__ import annotations

import math

import torch

from segue.errors import SegueError

SCHEDULES = ("constant", "cosine", "cyclical")
CLR_MODES = ("triangular", "triangular2", "exp_range")


def make_scheduler(optimizer: torch.optim.Optimizer, train_cfg) -> torch.optim.lr_scheduler.LRScheduler:
    if train_cfg.schedule not in SCHEDULES:
        raise SegueError(f"train.schedule: {train_cfg.schedule!r} is not one of {list(SCHEDULES)}")
    if train_cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if train_cfg.schedule == "cosine":
        floor = train_cfg.min_lr / train_cfg.lr
        total = max(1, train_cfg.max_steps)

        def cosine(step: int) -> float:
            progress = min(step, total) / total
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    if train_cfg.clr_mode not in CLR_MODES:
        raise SegueError(f"train.clr_mode: {train_cfg.clr_mode!r} is not one of {list(CLR_MODES)}")
    if not train_cfg.min_lr < train_cfg.lr:
        raise SegueError(f"train.min_lr ({train_cfg.min_lr}) must be below train.lr ({train_cfg.lr}) for a cyclical schedule")
    return torch.optim.lr_scheduler.CyclicLR(
        optimizer, base_lr=train_cfg.min_lr, max_lr=train_cfg.lr, step_size_up=train_cfg.clr_step_size,
        mode=train_cfg.clr_mode, gamma=train_cfg.clr_gamma, cycle_momentum=False)
