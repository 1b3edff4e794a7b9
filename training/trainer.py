"""The training loop, top to bottom: set-up, the loop (batch, loss, step), eval + decisions, checkpoints, logging.

    segue train --data data/bach --out runs/exp1 [--set train.lr=0.002 ...]
    segue train --resume runs/exp1                       # continues exactly where last.pt left off
    segue train --init-from runs/base/best.pt --data data/mine --out runs/ft
    torchrun --standalone --nproc_per_node=2 -m training --data data/bach --out runs/ddp

Stages (train.stages) change seq_len / batch size; moving on keeps weights, optimizer and LR schedule. A stage
ends when eval loss drops below its advance_below, after its max_steps, or when early stopping fires; the last
stage ending ends the run. Eval runs on fixed unaugmented eval windows, with the unigram baseline beside it.
Exact resume: batches are a pure function of (seed, step, row) and the checkpoint holds the RNG, optimizer,
scheduler, stage and early-stopping state, so interrupt + resume gives the same weights as one straight run.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path

import torch

from segue.config import Config, load_config
from segue.errors import SegueError
from training import distributed
from training.batches import CONTROL_MODES, TrainBatches, eval_batches, train_event_counts
from training.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from training.dataset import EventDataset
from training.early_stop import EarlyStopping
from training.evaluation import evaluate, to_tensors, unigram_loss
from training.losses import total_loss
from training.metrics import MetricsLog
from training.models import build_model, count_parameters
from training.rendering import RenderParams
from training.schedule import make_scheduler

ALL_KEYS = list(range(-5, 7))       # data.all_keys: every key once, as seed 000 (-5..+6)


def run_from_args(args) -> int:
    """`segue train` handler: work out config, data and run folder from the flags, then train."""
    if args.resume:
        run = Path(args.resume)
        if not (run / "last.pt").is_file():
            raise SegueError(f"{run}: nothing to resume (no last.pt); start a run with --data and --out")
        # The run's own config, then any --set on top (e.g. raise train.max_steps to train longer).
        cfg = load_config(run / "config.json", args.overrides)
        data = args.data or json.loads((run / "run.json").read_text())["data"]
        train(cfg, data, run, resume=True, device=args.device, progress=not args.no_progress)
        return 0
    if not args.data or not args.out:
        raise SegueError("segue train needs --data DATASET and --out RUN (or --resume RUN)")
    cfg = load_config(args.config, args.overrides)
    if (Path(args.out) / "last.pt").is_file():
        raise SegueError(f"{args.out} already holds a run (last.pt); use --resume {args.out} or another --out")
    train(cfg, args.data, args.out, init_from=args.init_from, device=args.device, progress=not args.no_progress)
    return 0


def train(cfg: Config, data: str | Path, out: str | Path, resume: bool = False, init_from: str | None = None,
          device: str = "auto", progress: bool = True, on_step=None) -> dict:
    """Train and return {"best_eval_loss", "unigram_loss", "steps", "end_reason", ...}.

    on_step(step) -> bool is a hook for tests: returning True requests a stop, exactly as Ctrl-C does.
    """
    tc = cfg.train
    if not tc.stages:
        raise SegueError("train.stages is empty; give at least one {seq_len, batch_size} stage")
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    dev = distributed.pick_device(device)
    dist = distributed.setup(dev)
    dev = distributed.pick_device(device, dist)
    run = Path(out)
    for stage in tc.stages:
        if stage.batch_size % dist.world_size:
            raise SegueError(f"train.stages batch_size {stage.batch_size} must divide by the {dist.world_size} processes")

    # --- model, optimizer, schedule, state -------------------------------------------------------------------
    ckpt = load_checkpoint(run / "last.pt") if resume else None
    if init_from and not resume:
        base = load_checkpoint(init_from)
        cfg.model = type(cfg.model)(**base["model_config"])   # fine-tuning keeps the base model's shape
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model).to(dev)
    if init_from and not resume:
        model.load_state_dict(base["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = make_scheduler(optimizer, tc)
    early = EarlyStopping(tc.patience, tc.min_delta, tc.gl_alpha)
    step, stage, stage_start, elapsed = 0, 0, 0, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        state = ckpt["train_state"]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        early.load_state_dict(state["early_stop"])
        step, stage, stage_start, elapsed = state["step"], state["stage"], state["stage_start"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        if dev.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        still_room = "max_steps" in (state.get("ended") or "") and step < tc.max_steps
        if state.get("ended") and not still_room:
            raise SegueError(f"{run}: this run already ended ({state['ended']}); "
                             "raise train.max_steps with --set or start a new run with --init-from")
    trained = torch.nn.parallel.DistributedDataParallel(model) if dist.enabled else model

    # --- data ------------------------------------------------------------------------------------------------
    dataset = EventDataset(data)
    shifts = ALL_KEYS if cfg.data.all_keys else cfg.data.transpositions
    conditioned = model.control_dim > 0
    if cfg.data.controls not in CONTROL_MODES:
        raise SegueError(f"config: 'data.controls' is {cfg.data.controls!r}; use one of {', '.join(CONTROL_MODES)}")
    render_params = RenderParams.from_config(cfg.data.render) if cfg.data.rendered_share > 0 else None
    batches = TrainBatches(dataset, conditioned, shifts, cfg.data.time_stretches, tc.seed, cfg.data.controls,
                           render_params, cfg.data.rendered_share, cfg.data.performance_weight)
    # Eval: the plain eval split, and (when training renders scores) the same pieces as one fixed rendition each.
    # Early stopping watches their mean: the model must serve quantized input (a DAW) and a pianist alike.
    eval_sets, unigram = {}, math.nan
    if dist.is_main:
        if not dataset.split_indices("eval"):
            raise SegueError(f"{data}: dataset has no eval pieces; rebuild with a larger data.eval_fraction")
        eval_sets["plain"] = eval_batches(dataset, conditioned, tc.eval_seq_len, tc.eval_batch_size,
                                          tc.eval_max_windows)
        if render_params is not None:
            eval_sets["rendered"] = eval_batches(dataset, conditioned, tc.eval_seq_len, tc.eval_batch_size,
                                                 tc.eval_max_windows, render_params, seed=tc.seed)
        unigram = unigram_loss(train_event_counts(dataset), eval_sets["plain"])
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        (run / "run.json").write_text(json.dumps({"data": str(Path(data).resolve()), "world_size": dist.world_size}))
    log = MetricsLog(run, resume_step=step if resume else None) if dist.is_main else None
    data_summary = {"folder": str(Path(data).resolve()), **dataset.summary()}

    def checkpoint(path: Path, eval_metrics: dict | None = None, ended: str | None = None) -> None:
        train_state = {"step": step, "stage": stage, "stage_start": stage_start, "elapsed": elapsed_now(),
                       "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "early_stop": early.state_dict(), "torch_rng": torch.get_rng_state(),
                       "cuda_rng": torch.cuda.get_rng_state_all() if dev.type == "cuda" else [],
                       "config": cfg.to_dict(), "ended": ended}
        save_checkpoint(make_checkpoint(model, cfg.model, train_state, eval_metrics or last_eval, data_summary), path)

    started = time.monotonic()

    def elapsed_now() -> float:
        return elapsed + time.monotonic() - started

    # Ctrl-C / SIGTERM: finish the current step, write last.pt, exit cleanly (a second Ctrl-C aborts at once).
    stop_requested = {"flag": False}
    previous_handlers = _install_stop_handlers(stop_requested)
    if dist.is_main:
        print(f"model {cfg.model.kind} {count_parameters(model):,} parameters on {dev}"
              f"{f' x{dist.world_size} processes' if dist.enabled else ''}; "
              f"train {len(batches.pieces)} pieces, eval {len(dataset.split_indices('eval'))} pieces "
              f"({sum(b.labels.size for b in eval_sets['plain']):,} eval positions"
              f"{', plain and rendered' if len(eval_sets) > 1 else ''}); unigram baseline {unigram:.4f}", flush=True)
    def evaluate_now() -> tuple[dict, bool]:
        """Rank 0: score the eval sets at this step, log them, and keep best.pt if they improved."""
        scores = evaluate_sets(model, eval_sets, dev)
        improved = early.update(scores["loss"], step)
        if improved:
            checkpoint(run / "best.pt", scores)
        log.write("eval", step, stage=stage, seq_len=tc.eval_seq_len, **scores, unigram=unigram,
                  elapsed_s=elapsed_now())
        return scores, improved

    bar = _progress_bar(tc.max_steps, step, enabled=progress and dist.is_main)
    last_eval, last_save, end_reason = {}, time.monotonic(), None
    if init_from and not resume and dist.is_main:
        # A fine-tune is judged against where it started: the initial weights are eval step 0 and best.pt until a
        # step beats them, so early stopping never hands back a model worse on the eval split than the one it was
        # given (measured: two 35 s sessions, the shipped model, lr 3e-4: every eval after the start was worse).
        last_eval, _ = evaluate_now()
        bar.write(f"eval step 0 (the weights it starts from): loss {last_eval['loss']:.4f}")
    window_tokens, window_start = 0, time.monotonic()
    try:
        while end_reason is None:
            current = tc.stages[stage]
            local_batch = current.batch_size // dist.world_size
            rows = range(dist.rank * local_batch, (dist.rank + 1) * local_batch)

            # --- one optimizer step -------------------------------------------------------------------------
            inputs, labels, controls = to_tensors(batches.batch(step, current.seq_len, rows, current.batch_size), dev)
            trained.train()
            logits, _ = trained(inputs, controls, None)
            loss, parts = total_loss(logits, labels, inputs, model, tc.l1, tc.rhythm_weight, tc.harmony_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip if tc.grad_clip > 0 else math.inf)
            optimizer.step()
            scheduler.step()          # per batch: CLR's step_size counts batches
            step += 1
            window_tokens += int((labels != -100).sum()) * dist.world_size

            if step % tc.log_every == 0 or step == 1:
                loss_value = distributed.mean_over_ranks(loss, dist)   # the global batch's loss, on every rank
            if dist.is_main and (step % tc.log_every == 0 or step == 1):
                lr = optimizer.param_groups[0]["lr"]
                rate = window_tokens / max(time.monotonic() - window_start, 1e-9)
                log.write("train", step, stage=stage, seq_len=current.seq_len, lr=lr, loss=loss_value, **parts,
                          grad_norm=float(grad_norm), tokens_per_s=rate, elapsed_s=elapsed_now())
                window_tokens, window_start = 0, time.monotonic()
                bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", stage=f"{stage + 1}/{len(tc.stages)}",
                                refresh=False)
                if bar.disable:
                    print(f"step {step} stage {stage + 1} loss {loss_value:.4f} lr {lr:.2e} {rate:,.0f} tok/s",
                          flush=True)
            bar.update()


            # --- eval and decisions (rank 0 decides, everyone follows) --------------------------------------
            stage_done_by_steps = current.max_steps is not None and step - stage_start >= current.max_steps
            if step % tc.eval_every == 0 or stage_done_by_steps or step >= tc.max_steps:
                decision = [0.0, float(stage), float(stage_start)]
                if dist.is_main:
                    last_eval, improved = evaluate_now()
                    reason = _stage_end_reason(current, last_eval["loss"], stage_done_by_steps, early)
                    parts_text = "".join(f" {name} {last_eval[name + '_loss']:.4f}" for name in eval_sets
                                         if len(eval_sets) > 1)
                    bar.write(f"eval step {step}: loss {last_eval['loss']:.4f}{parts_text} (unigram {unigram:.4f}) "
                              f"acc {last_eval['accuracy']:.3f} event-acc {last_eval['event_accuracy']:.3f}"
                              f"{' *best' if improved else ''}{f' -> {reason}' if reason else ''}")
                    if step >= tc.max_steps:
                        decision[0] = 1.0
                        reason = reason or "train.max_steps reached"
                    elif reason and stage + 1 < len(tc.stages):
                        decision[1:] = [stage + 1.0, float(step)]
                        early.reset_patience()
                        log.write("stage", step, stage=stage + 1, seq_len=tc.stages[stage + 1].seq_len)
                        bar.write(f"stage {stage + 2}/{len(tc.stages)}: seq_len {tc.stages[stage + 1].seq_len}, "
                                  f"batch {tc.stages[stage + 1].batch_size} ({reason})")
                    elif reason:
                        decision[0] = 1.0
                    final_reason = reason
                decision = distributed.broadcast_values(decision, dist)
                stage, stage_start = int(decision[1]), int(decision[2])
                if decision[0]:
                    end_reason = final_reason if dist.is_main else "stopped by rank 0"
                if dist.is_main:
                    checkpoint(run / "last.pt", ended=end_reason)
                    last_save = time.monotonic()
            elif dist.is_main and time.monotonic() - last_save > tc.checkpoint_minutes * 60:
                checkpoint(run / "last.pt")
                last_save = time.monotonic()

            # A stop request is honoured only here, after this step's eval and decisions, so the resumed run
            # never skips an eval (and the early-stopping or stage decision it would have made).
            if on_step is not None and on_step(step):
                stop_requested["flag"] = True
            if distributed.any_rank(stop_requested["flag"], dist) and end_reason is None:
                end_reason = "interrupted"
    finally:
        bar.close()
        _restore_handlers(previous_handlers)
        if dist.is_main:
            if end_reason == "interrupted":
                checkpoint(run / "last.pt")
            log.close()
        distributed.cleanup(dist)

    result = {"steps": step, "stage": stage, "end_reason": end_reason, "best_eval_loss": early.best,
              "best_step": early.best_step, "unigram_loss": unigram, "last_eval": last_eval,
              "run": str(run), "elapsed_s": elapsed_now(), "model": model}
    if dist.is_main:
        # The unigram is fitted and scored on the plain eval split, so the verdict compares the plain loss.
        best_eval = load_checkpoint(run / "best.pt")["eval"] if (run / "best.pt").is_file() else {}
        plain = best_eval.get("plain_loss", early.best)
        sets = (f" = mean of plain {plain:.4f} and rendered {best_eval['rendered_loss']:.4f}"
                if "rendered_loss" in best_eval else "")
        verdict = "below" if plain < unigram else "NOT below"
        kept = ("; no step beat the weights it started from, which best.pt holds"
                if init_from and not resume and early.best_step == 0 else "")
        print(f"run ended at step {step} ({end_reason}); best eval loss {early.best:.4f}{sets} at step "
              f"{early.best_step} (plain {verdict} the unigram baseline {unigram:.4f}){kept}; best.pt and last.pt in "
              f"{run}", flush=True)
        if end_reason != "interrupted":
            _plot_quietly(run)
    return result


def evaluate_sets(model, eval_sets: dict, device) -> dict:
    """The plain set's metrics, each set's loss as `<name>_loss`, and `loss` = the mean loss over the sets."""
    results = {name: evaluate(model, batches, device) for name, batches in eval_sets.items()}
    merged = dict(results["plain"])
    for name, result in results.items():
        merged[f"{name}_loss"] = result["loss"]
    merged["loss"] = sum(r["loss"] for r in results.values()) / len(results)
    merged["perplexity"] = math.exp(min(merged["loss"], 50.0))
    return merged


def _stage_end_reason(stage_cfg, eval_loss: float, done_by_steps: bool, early: EarlyStopping) -> str | None:
    if stage_cfg.advance_below is not None and eval_loss < stage_cfg.advance_below:
        return f"eval loss {eval_loss:.4f} < advance_below {stage_cfg.advance_below}"
    if done_by_steps:
        return f"stage max_steps {stage_cfg.max_steps} reached"
    return early.should_stop(eval_loss)


def _install_stop_handlers(flag: dict):
    def request_stop(signum, frame):
        if flag["flag"]:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        flag["flag"] = True
        print("\nstopping after this step (writing last.pt); Ctrl-C again to abort", file=sys.stderr, flush=True)
    try:
        return {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (e.g. called from a test runner thread): no handlers
        return {}


def _restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not enabled, dynamic_ncols=True,
                file=sys.stderr)


def _plot_quietly(run: Path) -> None:
    try:
        from training.plots import plot_run
        print(f"curves: {plot_run(run)}")
    except Exception as exc:  # a plotting problem must not turn a finished run into a failure
        print(f"(could not draw curves: {exc})", file=sys.stderr)
