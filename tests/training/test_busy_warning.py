"""`segue train` warns when the machine is busy: on a shared 2-core machine a run beside another job was 5x slower."""
from __future__ import annotations

import os

import pytest

import training.trainer
from segue.cli.main import main


@pytest.mark.parametrize("load, warned", [(1.6, True), (0.2, False)])
def test_train_warns_on_a_busy_machine_and_names_train_threads(monkeypatch, capsys, load, warned):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(training.trainer, "run_from_args", lambda args: 0)   # the warning comes before any work
    assert main(["train", "--data", "nowhere", "--out", "nothing", "--set", "train.threads=1"]) == 0
    err = capsys.readouterr().err
    assert ("machine is busy (load average 1.6 on 2 cores)" in err and "train.threads" in err
            and "It uses 1 thread " in err) == warned
