"""`segue evaluate` takes --config/--set: the trainer's-window figures of a model that stores no eval protocol use
the given config's train.eval_seq_len / eval_max_windows."""
import subprocess
import sys

import numpy as np

from training.settings import TrainConfig
from segue.inference.engine import Engine
from segue.evaluation.evaluate import trainer_windows


def test_trainer_windows_use_the_given_train_config(gru_path):
    engine = Engine.load(gru_path)
    assert not engine.meta.get("eval_protocol")
    pieces = [np.array([356 + 20, 60, 280, 188, 64, 280, 192] * 4, dtype=np.int64)]
    report = trainer_windows(engine, pieces, TrainConfig(eval_seq_len=7, eval_max_windows=2))
    assert report["seq_len"] == 7 and report["max_windows"] == 2


def test_evaluate_accepts_set_and_checks_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "segue", "evaluate", "--data", str(tmp_path),
                             "--set", "train.eval_seq_len=0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "'train.eval_seq_len' is 0, allowed: >= 1" in result.stderr
