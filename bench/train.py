"""Training throughput and MFU, measured side by side in one run.

    python bench/train.py [--threads 1] [--steps 5]

For each config (config.yaml's default 3x512 conditioned Performance RNN, the 2x256 of the default-model recipe
and a small 1x256 one) it times full training steps
(forward, backward, clip, AdamW) on random events and reports tokens/s. MFU = achieved model FLOP/s divided by the
matmul FLOP/s this machine reaches in this same process and thread count (the best float32 torch.mm over square and
LSTM-shaped operands), so the ratio does not depend on a number remembered from elsewhere.

Model FLOPs per token (training ~ 3x forward: forward + backward for inputs and weights), counting the dense
matmuls torch really runs: the input projection of the one-hot (+controls) input is a dense [388+20, 4H] matmul.
    LSTM layer l:  2 * 4H * (in_l + H)        in_1 = 388 + 20, in_l = H after the first layer
    head:          2 * H * 388
Elementwise gate math and the softmax are left out (they are not matmuls and are small at these sizes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from segue.codec.codec import NUM_CLASSES  # noqa: E402
from training.losses import total_loss  # noqa: E402
from training.models import build_model, count_parameters  # noqa: E402

CONFIGS = {
    "default 3x512 conditioned": dict(kind="performance_rnn", hidden_size=512, num_layers=3, dropout=0.1,
                                      conditioned=True),
    "recipe 2x256 conditioned": dict(kind="performance_rnn", hidden_size=256, num_layers=2, dropout=0.2,
                                     conditioned=True),   # training/recipes/default_model.sh
    "small 1x256 conditioned": dict(kind="performance_rnn", hidden_size=256, num_layers=1, dropout=0.0,
                                    conditioned=True),
}


MATMUL_SHAPES = [(1024, 1024, 1024), (2048, 2048, 2048), (8192, 512, 2048), (8192, 1024, 2048)]


def matmul_flops(seconds_each: float = 1.0) -> tuple[float, str]:
    """Best float32 torch.mm FLOP/s over square and LSTM-like shapes ([tokens, in] x [in, 4H]), and which."""
    best, best_shape = 0.0, ""
    for m, k, n in MATMUL_SHAPES:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds_each:
            torch.mm(a, b)
            reps += 1
        rate = 2 * m * k * n * reps / (time.perf_counter() - start)
        if rate > best:
            best, best_shape = rate, f"{m}x{k} @ {k}x{n}"
    return best, best_shape


def flops_per_token(model) -> float:
    h, layers = model.hidden_size, model.num_layers
    forward = 0
    for layer in range(layers):
        inputs = NUM_CLASSES + model.control_dim if layer == 0 else h
        forward += 2 * 4 * h * (inputs + h)
    forward += 2 * h * NUM_CLASSES
    # backward = gradients for inputs and for weights (2x forward), except that nothing needs the gradient of the
    # one-hot + controls input, so the first layer's input projection is differentiated for its weights only.
    first_input = 2 * 4 * h * (NUM_CLASSES + model.control_dim)
    return 3 * forward - first_input


def train_tokens_per_second(cfg: dict, batch: int, seq_len: int, steps: int) -> tuple[float, object]:
    torch.manual_seed(0)
    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    events = torch.randint(0, NUM_CLASSES, (batch, seq_len + 1))
    controls = torch.rand(batch, seq_len, model.control_dim) if model.control_dim else None
    inputs, labels = events[:, :-1], events[:, 1:]

    def step():
        logits, _ = model(inputs, controls, None)
        loss, _ = total_loss(logits, labels, inputs, model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        optimizer.step()

    step()  # warm-up: allocator, AdamW state
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * seq_len * steps / (time.perf_counter() - start), model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the shared-machine setting)")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per config")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    # The machine is shared: measure the matmul peak before and after the training runs and divide by the larger,
    # so a dip in the peak measurement cannot inflate the MFU.
    peak_before, shape = matmul_flops()
    rows = []
    for name, cfg in CONFIGS.items():
        rate, model = train_tokens_per_second(cfg, args.batch, args.seq_len, args.steps)
        rows.append((name, count_parameters(model), rate, rate * flops_per_token(model)))
    peak_after, _ = matmul_flops(seconds_each=0.5)
    peak = max(peak_before, peak_after)
    print(f"torch {torch.__version__}, {args.threads} thread(s); matmul peak {peak / 1e9:.1f} GFLOP/s (fp32 mm, best "
          f"of {len(MATMUL_SHAPES)} shapes, {shape}; measured {peak_before / 1e9:.1f} before and "
          f"{peak_after / 1e9:.1f} after the runs)")
    print(f"{'config':28s} {'params':>10s} {'tokens/s':>10s} {'GFLOP/s':>9s} {'MFU':>6s}   batch {args.batch} x seq {args.seq_len}")
    for name, params, rate, achieved in rows:
        print(f"{name:28s} {params:>10,d} {rate:>10,.0f} {achieved / 1e9:>9.1f} {achieved / peak:>6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
