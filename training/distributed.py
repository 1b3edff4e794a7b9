"""torchrun / DistributedDataParallel plumbing, keyed on the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK).

    torchrun --standalone --nproc_per_node=2 -m training --data data/bach --out runs/ddp

Only rank 0 evaluates, logs and writes checkpoints; its decisions (stage change, stop) are broadcast, because
ranks that decide on their own can disagree and then hang in the next all-reduce.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info


def pick_device(name: str, info: DistInfo | None = None) -> torch.device:
    """auto -> cuda (this rank's GPU under torchrun), else mps, else cpu; nothing assumes a GPU."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda" and info is not None:
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device(name)


def broadcast_values(values: list[float], info: DistInfo) -> list[float]:
    """Rank 0's `values` on every rank."""
    if not info.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if any rank says so (e.g. one of them got Ctrl-C)."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def mean_over_ranks(value: torch.Tensor, info: DistInfo) -> float:
    """The mean of a scalar over all ranks (the global-batch loss for logging); every rank must call it."""
    if not info.enabled:
        return float(value.detach())
    tensor = value.detach().reshape(1).to(torch.float64).cpu()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item()) / info.world_size


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
