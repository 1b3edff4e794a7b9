import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "step.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_step", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_prints_every_ratio_against_its_goal(capsys):
    bench = load_bench()
    assert bench.main(["--lstm", "1x32", "--steps", "30", "--torch-steps", "5"]) == 0
    out = capsys.readouterr().out
    for row in ("floor ms (DRAM copy bandwidth)", "ORT fp32 ms p50 / p99", "ORT int8 ms p50 / p99",
                "torch eager ms p50 / p99", "fp32 p50 / floor (goal <= 1.5)", "int8 p50 / fp32 floor (goal < 1)",
                "fp32: x real time (goal >= 100)", "int8: generated events/s (1 core)"):
        line = next(line for line in out.splitlines() if line.startswith(row))
        first_column = line[len(row):].split()[0]
        assert first_column[0].isdigit() or first_column == "needs", line  # the LSTM column is always measured


def test_a_bad_checkpoint_is_one_line_not_a_traceback(capsys, tmp_path):
    assert load_bench().main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pt" in err and "Traceback" not in err
