"""One-event step latency, side by side: ORT fp32, ORT int8 and torch eager, against the machine's floor.

    python bench/step.py [--checkpoint runs/exp1/best.pt] [--data data/classical] [--steps 2000]

Models: a 3x512 conditioned LSTM (Performance RNN size, random weights: latency does not depend on their values),
the model shipped in segue/models/default.onnx when it exists (an fp32 default is quantized here, an int8 one is
measured beside the fp32 export of default.pt; torch eager only for its source checkpoint, same sha256), and
--checkpoint when given (all three runtimes).
The floor of one step at batch 1 is max(FLOPs / matmul FLOP/s, weight bytes / copy bandwidth), both measured here
on one thread; a step reads every weight once, so on a memory-bound step the second term rules. Because the
machine's L3 may hold the weights, the bench also prints a second floor: the measured time of one float32
matrix-vector product over as many weights as the model has, repeated (so it gets the same cache reuse as steps).
Generation speed = events/s of engine.step + the sampling loop's draw (default grammar) on one core, ÷ events/s of real music (the eval split
of --data; without --data only "seconds of its own music per second" is shown, which for an untrained model
says little because its event mix is not music's).
Goals (issue 4): ORT fp32 <= 1.5x the floor; ORT int8 below the fp32 floor; >= 100x real time on one core.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy/torch/onnxruntime load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segue.errors import SegueError  # noqa: E402

GOAL_FP32_VS_FLOOR = 1.5
GOAL_REAL_TIME = 100.0


# --- the machine ---------------------------------------------------------------------------------------------------
def matmul_flops(size: int = 1024, repeats: int = 10) -> float:
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best


def copy_bandwidth(nbytes: int, repeats: int = 20) -> float:
    """Bytes copied per second for a buffer of `nbytes` (best of `repeats`, after one warm copy)."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return src.nbytes / min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))


def gemv_seconds(weights: int, repeats: int = 30) -> float:
    """Best time of one float32 matrix-vector product over `weights` values: streaming the weights through the
    core once, with whatever cache reuse repeated steps get (the model's weights may fit in L3)."""
    rows = max(1, weights // 1024)
    matrix = np.random.default_rng(0).standard_normal((rows, 1024), dtype=np.float32)
    vector = np.ones(1024, dtype=np.float32)
    matrix @ vector
    return min(_timed(lambda: matrix @ vector) for _ in range(repeats))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- the model -----------------------------------------------------------------------------------------------------
def weight_count_and_flops(onnx_path: Path) -> tuple[int, int]:
    """(weights, FLOPs per one-event step): every weight is one multiply-add per step at batch 1."""
    import onnx

    proto = onnx.load(str(onnx_path))
    weights = sum(int(np.prod(init.dims)) for init in proto.graph.initializer if len(init.dims) >= 2)
    return weights, 2 * weights


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_engine(path: Path, steps: int, controls: np.ndarray | None) -> list[float]:
    from segue.inference.engine import Engine

    engine = Engine.load(path)
    if engine.conditioned:
        engine.set_controls(controls)
    events = np.random.default_rng(1).integers(0, 388, steps + 50)
    times = []
    for i, event in enumerate(events):
        start = time.perf_counter()
        engine.step(int(event))
        if i >= 50:  # warm-up: first runs allocate
            times.append(time.perf_counter() - start)
    return times


def bench_generation(path: Path, steps: int, controls: np.ndarray | None) -> tuple[float, float]:
    """(events per second, seconds of music per second of compute) for sampling from the model."""
    from segue.codec import codec
    from segue.inference.engine import Engine
    from segue.inference.grammar_settings import GrammarSettings
    from segue.inference.grammar import build_shapers
    from segue.inference.sampling import Sampler
    from segue.inference.sampling_loop import SamplingLoop

    engine = Engine.load(path)
    if engine.conditioned:
        engine.set_controls(controls)
    loop = SamplingLoop(Sampler(temperature=1.0, seed=0), build_shapers(GrammarSettings()))
    logits = engine.step(codec.NO_EVENT)
    music_steps = 0
    start = time.perf_counter()
    for _ in range(steps):
        event = loop.next_event(logits)
        loop.observe(event)
        music_steps += codec.shift_steps(event)
        logits = engine.step(event)
    elapsed = time.perf_counter() - start
    return steps / elapsed, music_steps / codec.STEPS_PER_SECOND / elapsed


def bench_torch(model, steps: int, controls: np.ndarray | None) -> list[float]:
    import torch

    state = model.initial_state(1)
    if controls is not None:   # a model that hears the pulse reads it after the 20 (the engine's follower adds it)
        controls = np.r_[controls, np.zeros(model.control_dim - len(controls), dtype=np.float32)]
    step_controls = None if controls is None else torch.from_numpy(controls).view(1, 1, -1)
    events = torch.from_numpy(np.random.default_rng(1).integers(0, 388, steps + 20)).view(-1, 1, 1)
    times = []
    with torch.no_grad():
        for i in range(len(events)):
            start = time.perf_counter()
            _, state = model(events[i], step_controls, state)
            if i >= 20:
                times.append(time.perf_counter() - start)
    return times


def real_music_rate(data_dir: Path | None) -> float | None:
    """Events per second of real music in the eval split (events ÷ seconds of TIME_SHIFT)."""
    if data_dir is None:
        return None
    from segue.codec import codec
    from segue.codec.dataset_reader import read_split

    events = np.concatenate([e for _, e in read_split(data_dir, "eval")])
    seconds = int(codec.shift_steps_of(events).sum()) / codec.STEPS_PER_SECOND
    return len(events) / seconds


# --- one column of the table ----------------------------------------------------------------------------------------
def measure(name: str, fp32: Path, int8: Path | None, torch_model, args, machine: dict, real_rate) -> dict:
    from segue.inference.engine import Engine

    conditioned = Engine.load(fp32).conditioned
    controls = np.r_[np.eye(8)[3], np.full(12, 1 / 12)].astype(np.float32) if conditioned else None
    weights, flops = weight_count_and_flops(fp32)
    col = {"name": name, "weights": weights, "flops": flops, "bytes": 4 * weights}
    col["floor_dram"] = max(flops / machine["flops"], col["bytes"] / machine["copy_dram"])
    col["floor_hot"] = max(flops / machine["flops"], gemv_seconds(weights))
    col["fp32"] = percentiles(bench_engine(fp32, args.steps, controls))
    col["int8"] = percentiles(bench_engine(int8, args.steps, controls)) if int8 else None
    col["torch"] = percentiles(bench_torch(torch_model, args.torch_steps, controls)) if torch_model else None
    col["gen"] = {}
    for runtime, path in (("fp32", fp32), ("int8", int8)):
        if path is not None:
            events_per_s, music_x = bench_generation(path, args.steps, controls)
            col["gen"][runtime] = {"events_per_s": events_per_s, "music_x": music_x,
                                   "real_time_x": events_per_s / real_rate if real_rate else None}
    return col


def export_both(model, folder: Path, name: str) -> tuple[Path, Path]:
    from export.pipeline import export_model

    result = export_model(model, folder / f"{name}.onnx", int8=True, parity_steps=20, int8_min_agreement=0.0,
                          int8_max_kl=float("inf"))
    return result.path, result.int8_path


def shipped_runtimes(shipped: Path, folder: Path, checkpoint: Path | None, checkpoint_model):
    """(fp32 graph, int8 graph, torch model or None) of the shipped model. An fp32 default is quantized here; an
    int8 default is measured as shipped, beside the fp32 export of the checkpoint shipped with it (default.pt)."""
    from export.metadata import exported_from, quantized
    from segue.inference.engine import Engine

    meta = Engine.load(shipped).meta
    if not quantized(meta):
        from export.quantize import quantize

        int8 = folder / "shipped.int8.onnx"
        quantize(shipped, int8)
        torch_model = checkpoint_model if checkpoint is not None and exported_from(meta, checkpoint) else None
        return shipped, int8, torch_model
    from export.pipeline import export_model
    from training.checkpoint import load_model_from_checkpoint

    source = shipped.with_suffix(".pt")
    model = load_model_from_checkpoint(source)[0].eval()
    fp32 = export_model(model, folder / "shipped.fp32.onnx", parity_steps=20).path
    return fp32, shipped, model if exported_from(meta, source) else None


def report(columns: list[dict], machine: dict, real_rate) -> str:
    width = 26
    head = f"{'':34}" + "".join(f"{c['name']:>{width}}" for c in columns)
    rows = [head]

    def row(label, fn):
        rows.append(f"{label:34}" + "".join(f"{fn(c):>{width}}" for c in columns))

    def pair(v):
        return "n/a" if v is None else f"{v[0]:.3f} / {v[1]:.3f}"

    row("weights (M)", lambda c: f"{c['weights'] / 1e6:.2f}")
    row("FLOPs per step (M)", lambda c: f"{c['flops'] / 1e6:.1f}")
    row("floor ms (DRAM copy bandwidth)", lambda c: f"{1e3 * c['floor_dram']:.3f}")
    row("floor ms (hot weights-size GEMV)", lambda c: f"{1e3 * c['floor_hot']:.3f}")
    row("ORT fp32 ms p50 / p99", lambda c: pair(c["fp32"]))
    row("ORT int8 ms p50 / p99", lambda c: pair(c["int8"]))
    row("torch eager ms p50 / p99", lambda c: pair(c["torch"]))
    row("fp32 p50 / floor (goal <= 1.5)", lambda c: f"{c['fp32'][0] / 1e3 / c['floor_dram']:.2f} (hot {c['fp32'][0] / 1e3 / c['floor_hot']:.2f})")
    row("int8 p50 / fp32 floor (goal < 1)",
        lambda c: "n/a" if c["int8"] is None else f"{c['int8'][0] / 1e3 / c['floor_dram']:.2f} (hot {c['int8'][0] / 1e3 / c['floor_hot']:.2f})")
    row("torch p50 / ORT fp32 p50", lambda c: "n/a" if c["torch"] is None else f"{c['torch'][0] / c['fp32'][0]:.1f}x")
    for runtime in ("fp32", "int8"):
        def gen(c, key, fmt, runtime=runtime):
            value = c["gen"].get(runtime, {}).get(key)
            return "n/a" if value is None else fmt.format(value)

        row(f"{runtime}: generated events/s (1 core)", lambda c: gen(c, "events_per_s", "{:.0f}"))
        row(f"{runtime}: x real time (goal >= 100)",
            lambda c: "needs --data" if real_rate is None else gen(c, "real_time_x", "{:.0f}x"))
        row(f"{runtime}: s of its own music per s", lambda c: gen(c, "music_x", "{:.0f}x"))
    lines = [f"machine: matmul {machine['flops'] / 1e9:.1f} GFLOP/s (1 thread), copy {machine['copy_dram'] / 1e9:.1f} "
             f"GB/s (256 MiB buffer)" + (f"; real music {real_rate:.1f} events/s" if real_rate else ""), *rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="also bench this trained checkpoint")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder: real music events/s for x real time")
    parser.add_argument("--steps", type=int, default=2000, help="timed ORT steps per runtime")
    parser.add_argument("--torch-steps", type=int, default=300, help="timed torch eager steps (slow)")
    parser.add_argument("--lstm", default="3x512", help="LAYERSxHIDDEN of the reference LSTM (default Performance RNN's)")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SegueError as e:   # a bad --checkpoint or --data is the user's to fix: one line, as the segue CLI does
        print(f"bench/step.py: {e}", file=sys.stderr)
        return 2


def run(args) -> int:
    import torch

    from training.checkpoint import load_model_from_checkpoint
    from training.models import build_model

    try:
        layers, hidden = (int(x) for x in args.lstm.lower().split("x"))
    except ValueError:
        raise SegueError(f"--lstm {args.lstm!r}: expected LAYERSxHIDDEN, e.g. 3x512") from None
    # Inputs the user named are read before minutes of measuring, so a typo fails at once.
    checkpoint_model = load_model_from_checkpoint(args.checkpoint)[0] if args.checkpoint is not None else None
    real_rate = real_music_rate(args.data)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    machine = {"flops": matmul_flops(), "copy_dram": copy_bandwidth(256 * 2**20)}
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        lstm = build_model(dict(kind="performance_rnn", hidden_size=hidden, num_layers=layers, conditioned=True)).eval()
        fp32, int8 = export_both(lstm, Path(tmp), "lstm")
        columns.append(measure(f"LSTM {args.lstm}", fp32, int8, lstm, args, machine, real_rate))
        shipped = Path(__file__).resolve().parent.parent / "segue" / "models" / "default.onnx"
        if shipped.is_file():
            shipped_fp32, shipped_int8, shipped_torch = shipped_runtimes(shipped, Path(tmp), args.checkpoint,
                                                                         checkpoint_model)
            columns.append(measure("shipped", shipped_fp32, shipped_int8, shipped_torch, args, machine, real_rate))
        if checkpoint_model is not None:
            model = checkpoint_model
            fp32, int8 = export_both(model, Path(tmp), "checkpoint")
            columns.append(measure(f"{model.kind} {args.checkpoint.parent.name}", fp32, int8, model, args, machine,
                                   real_rate))
    print(report(columns, machine, real_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
