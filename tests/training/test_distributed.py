"""Two CPU processes with DDP (gloo): ranks stay identical and match one process on the combined batch."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from training.trainer import train

from training_fixtures import build_tiny_dataset, tiny_config

STAGES = "[{seq_len: 16, batch_size: 8, max_steps: 4}, {seq_len: 24, batch_size: 4}]"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_worker(rank, world, port, data, out, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train(tiny_config(max_steps=10, eval_every=4, stages=STAGES), data, out, progress=False)
    torch.save(result["model"].state_dict(), Path(result_dir) / f"rank{rank}.pt")


def _losses(run: Path, kind: str) -> dict[int, float]:
    with open(run / "metrics.csv") as handle:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(handle) if r["kind"] == kind}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_tiny_dataset(tmp_path_factory.mktemp("ddp"))


def test_two_ranks_stay_identical_and_follow_the_single_process_curve(data, tmp_path):
    mp.spawn(_rank_worker, args=(2, _free_port(), str(data), str(tmp_path / "ddp"), str(tmp_path)), nprocs=2)
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name

    single = train(tiny_config(max_steps=10, eval_every=4, stages=STAGES), data, tmp_path / "single", progress=False)
    for name, tensor in single["model"].state_dict().items():
        torch.testing.assert_close(rank0[name], tensor, atol=1e-4, rtol=1e-3)
    for kind in ("train", "eval"):
        ddp_curve, one_curve = _losses(tmp_path / "ddp", kind), _losses(tmp_path / "single", kind)
        assert ddp_curve.keys() == one_curve.keys() and len(ddp_curve) >= 3
        for step in one_curve:
            assert ddp_curve[step] == pytest.approx(one_curve[step], abs=1e-4), (kind, step)
    with open(tmp_path / "ddp" / "metrics.csv") as handle:   # the stage decision reached both ranks together
        assert [r["step"] for r in csv.DictReader(handle) if r["kind"] == "stage"] == ["4"]


def test_torchrun_command_trains_and_writes_checkpoints(data, tmp_path):
    out = tmp_path / "run"
    sets = [f"--set=model.{k}={v}" for k, v in dict(hidden_size=16, num_layers=1, dropout=0.0).items()]
    sets += ["--set=train.threads=1", "--set=train.max_steps=6", "--set=train.eval_every=3",
             "--set=train.eval_seq_len=16", "--set=train.eval_max_windows=4", f"--set=train.stages={STAGES}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "training", "--data", str(data), "--out", str(out), "--no-progress", *sets],
                          capture_output=True, text=True, timeout=300, env=env)
    # the head of stderr holds what the failing rank printed before it died; the tail only torchrun's summary
    assert proc.returncode == 0, proc.stderr[:4000] + "\n...\n" + proc.stderr[-1500:]
    assert "x2 processes" in proc.stdout
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
