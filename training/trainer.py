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
from dataclasses import dataclass
from pathlib import Path

import torch

from segue.config import Config, load_config
from segue.errors import SegueError
from segue.rhythm.pulse_controls import hears_pulse
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
    run = _Run(cfg, data, out, resume, init_from, device)
    # Ctrl-C / SIGTERM: finish the current step, write last.pt, exit cleanly (a second Ctrl-C aborts at once).
    stop_requested = {"flag": False}
    previous_handlers = _install_stop_handlers(stop_requested)
    run.announce()
    run.bar = _progress_bar(run.tc.max_steps, run.step, enabled=progress and run.dist.is_main)
    if run.fine_tune and run.dist.is_main:
        # A fine-tune is judged against where it started: the initial weights are eval step 0 and best.pt until a
        # step beats them, so early stopping never hands back a model worse on the eval split than the one it was
        # given (measured: two 35 s sessions, the shipped model, lr 3e-4: every eval after the start was worse).
        run.last_eval, _ = run.evaluate_now()
        run.bar.write(f"eval step 0 (the weights it starts from): loss {run.last_eval['loss']:.4f}")
    run.window_start = time.monotonic()
    try:
        while run.end_reason is None:
            run.optimizer_step()
            run.evaluate_or_save()
            # A stop request is honoured only here, after this step's eval and decisions, so the resumed run
            # never skips an eval (and the early-stopping or stage decision it would have made).
            if on_step is not None and on_step(run.step):
                stop_requested["flag"] = True
            if distributed.any_rank(stop_requested["flag"], run.dist) and run.end_reason is None:
                run.end_reason = "interrupted"
    finally:
        run.bar.close()
        _restore_handlers(previous_handlers)
        run.close()
    return run.finish()


@dataclass
class _Decision:
    """What rank 0 decides after an eval; every rank follows it (broadcast as floats)."""
    end: bool
    stage: int
    stage_start: int

    def broadcast(self, dist) -> "_Decision":
        end, stage, stage_start = distributed.broadcast_values(
            [float(self.end), float(self.stage), float(self.stage_start)], dist)
        return _Decision(bool(end), int(stage), int(stage_start))


class _Run:
    """One training run: the model, its optimizer and schedule, the data, and where the loop stands (step, stage,
    elapsed), which is what a checkpoint's train_state holds. train() drives it."""

    def __init__(self, cfg: Config, data: str | Path, out: str | Path, resume: bool, init_from: str | None,
                 device: str):
        self.cfg, self.tc, self.run, self.data = cfg, cfg.train, Path(out), data
        self.resume, self.fine_tune = resume, bool(init_from) and not resume
        self.dev, self.dist = _process(self.tc, device)
        self._model(init_from)
        self._data()
        self.log = MetricsLog(self.run, resume_step=self.step if resume else None) if self.dist.is_main else None
        self.data_summary = {"folder": str(Path(data).resolve()), **self.dataset.summary()}
        self.started = time.monotonic()
        self.bar = None
        self.last_eval, self.last_save, self.end_reason = {}, time.monotonic(), None
        self.window_tokens, self.window_start = 0, time.monotonic()

    # --- set-up ------------------------------------------------------------------------------------------------------
    def _model(self, init_from: str | None) -> None:
        """Model, optimizer, schedule and early stopping: fresh, from a base model (fine-tune), or resumed."""
        cfg, tc = self.cfg, self.tc
        ckpt = load_checkpoint(self.run / "last.pt") if self.resume else None
        if self.fine_tune:
            base = load_checkpoint(init_from)
            cfg.model = type(cfg.model)(**base["model_config"])   # fine-tuning keeps the base model's shape
        torch.manual_seed(tc.seed)
        self.model = build_model(cfg.model).to(self.dev)
        if self.fine_tune:
            self.model.load_state_dict(base["model"])
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, tc)
        self.early = EarlyStopping(tc.patience, tc.min_delta, tc.gl_alpha)
        self.step, self.stage, self.stage_start, self.elapsed = 0, 0, 0, 0.0
        if ckpt is not None:
            self._resume_from(ckpt)
        self.trained = torch.nn.parallel.DistributedDataParallel(self.model) if self.dist.enabled else self.model

    def _resume_from(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        state = ckpt["train_state"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.early.load_state_dict(state["early_stop"])
        self.step, self.stage, self.stage_start, self.elapsed = (state["step"], state["stage"], state["stage_start"],
                                                                 state["elapsed"])
        torch.set_rng_state(state["torch_rng"])
        if self.dev.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        still_room = "max_steps" in (state.get("ended") or "") and self.step < self.tc.max_steps
        if state.get("ended") and not still_room:
            raise SegueError(f"{self.run}: this run already ended ({state['ended']}); "
                             "raise train.max_steps with --set or start a new run with --init-from")

    def _data(self) -> None:
        """Train batches; on rank 0 the eval sets, the unigram baseline and the run folder's config."""
        cfg, tc, data = self.cfg, self.tc, self.data
        self.dataset = dataset = EventDataset(data)
        shifts = ALL_KEYS if cfg.data.all_keys else cfg.data.transpositions
        conditioned = self.model.control_dim > 0
        pulse = hears_pulse(self.model.control_dim)          # model.pulse
        if cfg.data.controls not in CONTROL_MODES:
            raise SegueError(f"config: 'data.controls' is {cfg.data.controls!r}; use one of {', '.join(CONTROL_MODES)}")
        render_params = RenderParams.from_config(cfg.data.render) if cfg.data.rendered_share > 0 else None
        self.batches = TrainBatches(dataset, conditioned, shifts, cfg.data.time_stretches, tc.seed, cfg.data.controls,
                                    render_params, cfg.data.rendered_share, cfg.data.performance_weight, pulse)
        # Eval: the plain eval split, and (when training renders scores) the same pieces as one fixed rendition
        # each. Early stopping watches their mean: the model must serve quantized input (a DAW) and a pianist alike.
        self.eval_sets, self.unigram = {}, math.nan
        if not self.dist.is_main:
            return
        if not dataset.split_indices("eval"):
            raise SegueError(f"{data}: dataset has no eval pieces; rebuild with a larger data.eval_fraction")
        self.eval_sets["plain"] = eval_batches(dataset, conditioned, tc.eval_seq_len, tc.eval_batch_size,
                                               tc.eval_max_windows, pulse=pulse)
        if render_params is not None:
            self.eval_sets["rendered"] = eval_batches(dataset, conditioned, tc.eval_seq_len, tc.eval_batch_size,
                                                      tc.eval_max_windows, render_params, seed=tc.seed, pulse=pulse)
        self.unigram = unigram_loss(train_event_counts(dataset), self.eval_sets["plain"])
        self.run.mkdir(parents=True, exist_ok=True)
        (self.run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        (self.run / "run.json").write_text(json.dumps({"data": str(Path(data).resolve()),
                                                       "world_size": self.dist.world_size}))

    def announce(self) -> None:
        if not self.dist.is_main:
            return
        dist = self.dist
        print(f"model {self.cfg.model.kind} {count_parameters(self.model):,} parameters on {self.dev}"
              f"{f' x{dist.world_size} processes' if dist.enabled else ''}; "
              f"train {len(self.batches.pieces)} pieces, eval {len(self.dataset.split_indices('eval'))} pieces "
              f"({sum(b.labels.size for b in self.eval_sets['plain']):,} eval positions"
              f"{', plain and rendered' if len(self.eval_sets) > 1 else ''}); unigram baseline {self.unigram:.4f}",
              flush=True)

    # --- the loop: one optimizer step -------------------------------------------------------------------------------
    def optimizer_step(self) -> None:
        """One step on this rank's rows of the global batch, then (every log_every steps) the train log line."""
        tc, dist = self.tc, self.dist
        current = tc.stages[self.stage]
        local_batch = current.batch_size // dist.world_size
        rows = range(dist.rank * local_batch, (dist.rank + 1) * local_batch)
        batch = self.batches.batch(self.step, current.seq_len, rows, current.batch_size)
        inputs, labels, controls = to_tensors(batch, self.dev)
        self.trained.train()
        logits, _ = self.trained(inputs, controls, None)
        loss, parts = total_loss(logits, labels, inputs, self.model, tc.l1, tc.rhythm_weight, tc.harmony_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip if tc.grad_clip > 0 else math.inf)
        self.optimizer.step()
        self.scheduler.step()          # per batch: CLR's step_size counts batches
        self.step += 1
        self.window_tokens += int((labels != -100).sum()) * dist.world_size
        if self.step % tc.log_every == 0 or self.step == 1:
            self._log_train(current, loss, parts, grad_norm)
        self.bar.update()

    def _log_train(self, current, loss, parts: dict, grad_norm) -> None:
        loss_value = distributed.mean_over_ranks(loss, self.dist)   # the global batch's loss, on every rank
        if not self.dist.is_main:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        rate = self.window_tokens / max(time.monotonic() - self.window_start, 1e-9)
        self.log.write("train", self.step, stage=self.stage, seq_len=current.seq_len, lr=lr, loss=loss_value, **parts,
                       grad_norm=float(grad_norm), tokens_per_s=rate, elapsed_s=self.elapsed_now())
        self.window_tokens, self.window_start = 0, time.monotonic()
        self.bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", stage=f"{self.stage + 1}/{len(self.tc.stages)}",
                             refresh=False)
        if self.bar.disable:
            print(f"step {self.step} stage {self.stage + 1} loss {loss_value:.4f} lr {lr:.2e} {rate:,.0f} tok/s",
                  flush=True)

    # --- the loop: eval and decisions (rank 0 decides, everyone follows) --------------------------------------------
    def evaluate_or_save(self) -> None:
        """At an eval step: evaluate, decide (end, next stage, go on) and save last.pt; between them, save last.pt
        every checkpoint_minutes."""
        current = self.tc.stages[self.stage]
        stage_done_by_steps = current.max_steps is not None and self.step - self.stage_start >= current.max_steps
        if self.step % self.tc.eval_every == 0 or stage_done_by_steps or self.step >= self.tc.max_steps:
            decision, reason = _Decision(False, self.stage, self.stage_start), None
            if self.dist.is_main:
                decision, reason = self._decide(current, stage_done_by_steps)
            decision = decision.broadcast(self.dist)
            self.stage, self.stage_start = decision.stage, decision.stage_start
            if decision.end:
                self.end_reason = reason if self.dist.is_main else "stopped by rank 0"
            if self.dist.is_main:
                self.checkpoint(self.run / "last.pt", ended=self.end_reason)
                self.last_save = time.monotonic()
        elif self.dist.is_main and time.monotonic() - self.last_save > self.tc.checkpoint_minutes * 60:
            self.checkpoint(self.run / "last.pt")
            self.last_save = time.monotonic()

    def _decide(self, current, stage_done_by_steps: bool) -> tuple[_Decision, str | None]:
        """Rank 0: score this step, then end the run, move on to the next stage, or go on; and why."""
        self.last_eval, improved = self.evaluate_now()
        reason = _stage_end_reason(current, self.last_eval["loss"], stage_done_by_steps, self.early)
        parts_text = "".join(f" {name} {self.last_eval[name + '_loss']:.4f}" for name in self.eval_sets
                             if len(self.eval_sets) > 1)
        self.bar.write(f"eval step {self.step}: loss {self.last_eval['loss']:.4f}{parts_text} (unigram "
                       f"{self.unigram:.4f}) acc {self.last_eval['accuracy']:.3f} event-acc "
                       f"{self.last_eval['event_accuracy']:.3f}{' *best' if improved else ''}"
                       f"{f' -> {reason}' if reason else ''}")
        if self.step >= self.tc.max_steps:
            return _Decision(True, self.stage, self.stage_start), reason or "train.max_steps reached"
        if reason and self.stage + 1 < len(self.tc.stages):
            self._next_stage(reason)
            return _Decision(False, self.stage + 1, self.step), reason
        return _Decision(bool(reason), self.stage, self.stage_start), reason

    def _next_stage(self, reason: str) -> None:
        following = self.tc.stages[self.stage + 1]
        self.early.reset_patience()
        self.log.write("stage", self.step, stage=self.stage + 1, seq_len=following.seq_len)
        self.bar.write(f"stage {self.stage + 2}/{len(self.tc.stages)}: seq_len {following.seq_len}, "
                       f"batch {following.batch_size} ({reason})")

    def evaluate_now(self) -> tuple[dict, bool]:
        """Rank 0: score the eval sets at this step, log them, and keep best.pt if they improved."""
        scores = evaluate_sets(self.model, self.eval_sets, self.dev)
        improved = self.early.update(scores["loss"], self.step)
        if improved:
            self.checkpoint(self.run / "best.pt", scores)
        self.log.write("eval", self.step, stage=self.stage, seq_len=self.tc.eval_seq_len, **scores,
                       unigram=self.unigram, elapsed_s=self.elapsed_now())
        return scores, improved

    # --- checkpoints and the end -------------------------------------------------------------------------------------
    def elapsed_now(self) -> float:
        return self.elapsed + time.monotonic() - self.started

    def checkpoint(self, path: Path, eval_metrics: dict | None = None, ended: str | None = None) -> None:
        train_state = {"step": self.step, "stage": self.stage, "stage_start": self.stage_start,
                       "elapsed": self.elapsed_now(), "optimizer": self.optimizer.state_dict(),
                       "scheduler": self.scheduler.state_dict(), "early_stop": self.early.state_dict(),
                       "torch_rng": torch.get_rng_state(),
                       "cuda_rng": torch.cuda.get_rng_state_all() if self.dev.type == "cuda" else [],
                       "config": self.cfg.to_dict(), "ended": ended}
        save_checkpoint(make_checkpoint(self.model, self.cfg.model, train_state, eval_metrics or self.last_eval,
                                        self.data_summary), path)

    def close(self) -> None:
        if self.dist.is_main:
            if self.end_reason == "interrupted":
                self.checkpoint(self.run / "last.pt")
            self.log.close()
        distributed.cleanup(self.dist)

    def finish(self) -> dict:
        """The result, and on rank 0 the closing line and the curves."""
        early, unigram = self.early, self.unigram
        result = {"steps": self.step, "stage": self.stage, "end_reason": self.end_reason, "best_eval_loss": early.best,
                  "best_step": early.best_step, "unigram_loss": unigram, "last_eval": self.last_eval,
                  "run": str(self.run), "elapsed_s": self.elapsed_now(), "model": self.model}
        if not self.dist.is_main:
            return result
        # The unigram is fitted and scored on the plain eval split, so the verdict compares the plain loss.
        best_eval = load_checkpoint(self.run / "best.pt")["eval"] if (self.run / "best.pt").is_file() else {}
        plain = best_eval.get("plain_loss", early.best)
        sets = (f" = mean of plain {plain:.4f} and rendered {best_eval['rendered_loss']:.4f}"
                if "rendered_loss" in best_eval else "")
        verdict = "below" if plain < unigram else "NOT below"
        kept = ("; no step beat the weights it started from, which best.pt holds"
                if self.fine_tune and early.best_step == 0 else "")
        print(f"run ended at step {self.step} ({self.end_reason}); best eval loss {early.best:.4f}{sets} at step "
              f"{early.best_step} (plain {verdict} the unigram baseline {unigram:.4f}){kept}; best.pt and last.pt in "
              f"{self.run}", flush=True)
        if self.end_reason != "interrupted":
            _plot_quietly(self.run)
        return result


def _process(tc, device: str):
    """(device, distributed context) for this process, after the checks that need neither the model nor data."""
    if not tc.stages:
        raise SegueError("train.stages is empty; give at least one {seq_len, batch_size} stage")
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    dev = distributed.pick_device(device)
    dist = distributed.setup(dev)
    dev = distributed.pick_device(device, dist)
    for stage in tc.stages:
        if stage.batch_size % dist.world_size:
            raise SegueError(f"train.stages batch_size {stage.batch_size} must divide by the {dist.world_size} processes")
    return dev, dist


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
