import csv

import pytest
import torch

from training.checkpoint import load_checkpoint, load_model_from_checkpoint
from training.cli import main as cli_main
from training.trainer import train

from training_fixtures import build_tiny_dataset, tiny_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_tiny_dataset(tmp_path_factory.mktemp("trainer"))


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("stop_at", [9, 6], ids=["mid-stage", "at-the-stage-changing-eval"])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(data, tmp_path, stop_at):
    # dropout on, cyclical LR and two stages, so every piece of state (RNG, schedule, stage) must survive the stop
    cfg = lambda: tiny_config(max_steps=14, **{"stages": "[{seq_len: 16, batch_size: 4, max_steps: 6}, "
                                                          "{seq_len: 24, batch_size: 2}]"})
    straight = train(_with_dropout(cfg()), data, tmp_path / "straight", progress=False)

    first = train(_with_dropout(cfg()), data, tmp_path / "resumed", progress=False, on_step=lambda s: s == stop_at)
    assert first["end_reason"] == "interrupted" and first["steps"] == stop_at
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["train_state"]["step"] == stop_at
    resumed = train(_with_dropout(cfg()), data, tmp_path / "resumed", resume=True, progress=False)
    assert resumed["steps"] == straight["steps"] == 14
    assert resumed["best_eval_loss"] == straight["best_eval_loss"]
    a, b = _weights(straight["model"]), _weights(resumed["model"])
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # the resumed metrics.csv has the same rows as the straight run's, without duplicates
    assert _rows(tmp_path / "resumed") == _rows(tmp_path / "straight")


def _rows(run):
    with open(run / "metrics.csv") as handle:
        return [(r["kind"], r["step"], r["stage"], r["loss"]) for r in csv.DictReader(handle)]


def _with_dropout(cfg):
    cfg.model.dropout = 0.3
    cfg.model.num_layers = 2
    return cfg


def test_stage_change_keeps_optimizer_state_and_schedule(data, tmp_path):
    cfg = tiny_config(max_steps=8, eval_every=100, **{"stages": "[{seq_len: 16, batch_size: 4, max_steps: 4}, "
                                                                "{seq_len: 32, batch_size: 2}]"})
    result = train(cfg, data, tmp_path / "run", progress=False)
    assert result["stage"] == 1
    state = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]
    # AdamW's per-parameter step counter ran through the transition instead of restarting at it
    steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert steps == {8}
    assert state["scheduler"]["last_epoch"] == 8
    with open(tmp_path / "run" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["step"], r["stage"]) for r in rows if r["kind"] == "stage"] == [("4", "1")]
    assert {r["seq_len"] for r in rows if r["kind"] == "train" and int(r["step"]) > 4} == {"32"}


def test_early_stopping_watches_eval_loss_and_keeps_best_checkpoint(data, tmp_path):
    # lr so high the model diverges after the first evals: patience must end the run and best.pt hold the best
    cfg = tiny_config(max_steps=200, eval_every=2, patience=2, min_delta=0.0, schedule="constant", lr=0.5,
                      grad_clip=0.0)
    result = train(cfg, data, tmp_path / "run", progress=False)
    assert result["end_reason"].startswith("no eval improvement")
    assert result["steps"] < 200
    model, ckpt = load_model_from_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["eval"]["loss"] == pytest.approx(result["best_eval_loss"])
    with open(tmp_path / "run" / "metrics.csv") as handle:
        evals = [float(r["loss"]) for r in csv.DictReader(handle) if r["kind"] == "eval"]
    assert min(evals) == pytest.approx(result["best_eval_loss"], rel=1e-5)


def test_gl_alpha_stops_when_eval_rises_above_best(data, tmp_path):
    cfg = tiny_config(max_steps=200, eval_every=2, patience=0, gl_alpha=1.0, schedule="constant", lr=0.5,
                      grad_clip=0.0)
    result = train(cfg, data, tmp_path / "run", progress=False)
    assert result["end_reason"].startswith("GL")


def test_cli_end_to_end_two_stages_clr_early_stop_beats_unigram(data, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(["train", "--data", str(data), "--out", str(out), "--no-progress",
                     *sum((["--set", f"model.{k}={v}"] for k, v in
                           dict(hidden_size=32, num_layers=1, dropout=0.0, conditioned="true").items()), []),
                     "--set", "train.threads=1", "--set", "train.max_steps=300", "--set", "train.eval_every=25",
                     "--set", "train.schedule=cyclical", "--set", "train.lr=0.01", "--set", "train.min_lr=0.001",
                     "--set", "train.clr_step_size=25", "--set", "train.patience=2", "--set", "train.eval_seq_len=32",
                     "--set", "train.stages=[{seq_len: 16, batch_size: 16, max_steps: 50}, {seq_len: 32, batch_size: 8}]",
                     "--set", "data.rendered_share=0.0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "below the unigram baseline" in printed and "NOT below" not in printed
    assert (out / "best.pt").is_file() and (out / "curves.png").stat().st_size > 10_000
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["data_summary"]["files_encoded"] > 0 and ckpt["train_state"]["stage"] in (0, 1)


def test_config_typo_names_the_key(data, tmp_path, capsys):
    code = cli_main(["train", "--data", str(data), "--out", str(tmp_path / "x"), "--set", "train.paitence=3"])
    assert code == 2
    assert "train.paitence" in capsys.readouterr().err


def test_resume_without_a_run_and_unrelated_init_checkpoint_are_clear_errors(data, tmp_path, capsys):
    assert cli_main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    bogus = tmp_path / "bogus.pt"
    torch.save({"weights": torch.zeros(3)}, bogus)
    assert cli_main(["train", "--data", str(data), "--out", str(tmp_path / "ft"), "--init-from", str(bogus)]) == 2
    assert "not a segue checkpoint" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_given_weights(data, tmp_path):
    base = train(tiny_config(max_steps=4), data, tmp_path / "base", progress=False)
    cfg = tiny_config(max_steps=1, lr="1.0e-12", schedule="constant")
    cfg.model.hidden_size = 99  # ignored: fine-tuning keeps the base model's shape
    tuned = train(cfg, data, tmp_path / "ft", init_from=str(tmp_path / "base" / "last.pt"), progress=False)
    for name, tensor in base["model"].state_dict().items():
        torch.testing.assert_close(tuned["model"].state_dict()[name], tensor, atol=1e-6, rtol=0)


def test_a_fine_tune_that_only_gets_worse_keeps_the_weights_it_started_from(data, tmp_path, capsys):
    base = train(tiny_config(max_steps=40, schedule="constant", lr=0.01), data, tmp_path / "base", progress=False)
    # lr so high every step makes the model worse: step 0, the given weights, must stay the best
    cfg = tiny_config(max_steps=200, eval_every=2, patience=2, min_delta=0.0, schedule="constant", lr=0.5,
                      grad_clip=0.0)
    tuned = train(cfg, data, tmp_path / "ft", init_from=str(tmp_path / "base" / "last.pt"), progress=False)
    assert tuned["best_step"] == 0 and tuned["end_reason"].startswith("no eval improvement")
    assert tuned["best_eval_loss"] == pytest.approx(base["last_eval"]["loss"], rel=1e-5)
    best, _ = load_model_from_checkpoint(tmp_path / "ft" / "best.pt")
    for name, tensor in base["model"].state_dict().items():
        torch.testing.assert_close(best.state_dict()[name], tensor, atol=0, rtol=0)
    assert "no step beat the weights it started from" in capsys.readouterr().out


def test_gru_attention_model_trains_and_reloads(data, tmp_path):
    cfg = tiny_config(max_steps=4)
    cfg.model.kind, cfg.model.conditioned, cfg.model.attention_window, cfg.model.embed_dim = "gru_attention", False, 8, 8
    result = train(cfg, data, tmp_path / "gru", progress=False)
    model, ckpt = load_model_from_checkpoint(tmp_path / "gru" / "last.pt")
    assert model.kind == "gru_attention" and model.control_dim == 0
    assert ckpt["model_config"]["attention_window"] == 8 and result["steps"] == 4


def test_rendering_runs_evaluate_plain_and_rendered_and_stop_on_their_mean(data, tmp_path):
    cfg = tiny_config(max_steps=6, eval_every=3)
    cfg.data.rendered_share = 1.0
    result = train(cfg, data, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.csv") as handle:
        evals = [r for r in csv.DictReader(handle) if r["kind"] == "eval"]
    assert len(evals) == 2
    for row in evals:
        plain, rendered = float(row["plain_loss"]), float(row["rendered_loss"])
        assert plain != rendered and float(row["loss"]) == pytest.approx((plain + rendered) / 2, rel=1e-5)
    assert result["best_eval_loss"] == pytest.approx(min(float(r["loss"]) for r in evals), rel=1e-5)


def test_an_unknown_controls_mode_is_a_config_error(data, tmp_path):
    from segue.errors import SegueError

    cfg = tiny_config(max_steps=2)
    cfg.data.controls = "sideways"
    with pytest.raises(SegueError, match="data.controls"):
        train(cfg, data, tmp_path / "run", progress=False)
