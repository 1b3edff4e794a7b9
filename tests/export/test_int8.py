import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from export import metadata, parity
from export.pipeline import export_model, int8_path_for
from segue.inference.engine import Engine
from segue.errors import SegueError


def test_int8_lstm_is_quantized_and_agrees_with_fp32(tmp_path, make_trained_model, trained_phrase):
    result = export_model(make_trained_model("performance_rnn"), tmp_path / "m.onnx", int8=True, parity_steps=300,
                          held_out=np.tile(trained_phrase, 30))
    assert result.int8_path == tmp_path / "m.int8.onnx"
    proto = onnx.load(str(result.int8_path))
    ops = {node.op_type for node in proto.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert metadata.read(proto)["quantization"].startswith("int8")
    assert result.agreement.events == 300
    assert result.agreement.confident_events >= 150  # peaked: agreement measures quantization, not ties
    assert result.agreement.mean_kl < 0.01 and result.agreement.confident_agreement > 0.95
    # the int8 model is a valid segue model for the engine
    engine = Engine.load(result.int8_path)
    assert engine.step(60, [0.0] * 20).shape == (388,)


def test_int8_model_that_disagrees_is_refused_with_its_figures(tmp_path, make_model):
    with pytest.raises(SegueError, match=r"int8 model rejected: .*mean KL .*top-1 agreement"):
        export_model(make_model("gru_attention"), tmp_path / "m.onnx", int8=True, parity_steps=50,
                     int8_max_kl=-1.0)
    assert not int8_path_for(tmp_path / "m.onnx").exists()
    assert (tmp_path / "m.onnx").exists()  # the fp32 model stays


# An x86 CPU with AVX2 but no VNNI (the AMD EPYC machines this project runs on; Intel Haswell..Skylake), emulated
# so the test means the same on every machine: ORT picks its int8 kernels from the CPU it runs on.
AVX2_ONLY_CPU = "Haswell"
_COMPARE_UNDER_EMULATION = """
import json, sys, numpy as np
from export.quantize import compare
saved = np.load(sys.argv[3])
agreement = compare(sys.argv[1], sys.argv[2], saved["events"], saved["controls"])
print(json.dumps(agreement.__dict__))
"""


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
                    reason="needs qemu-x86_64 (Debian's qemu-user, installed by .ci/run) on an x86_64 machine")
def test_int8_agrees_with_fp32_on_a_cpu_without_vnni(tmp_path, make_trained_model, trained_phrase):
    model = make_trained_model("performance_rnn")
    events = np.tile(trained_phrase, 20)
    result = export_model(model, tmp_path / "m.onnx", int8=True, parity_steps=200, held_out=events)
    np.savez(tmp_path / "stream.npz", events=events, controls=parity.music_controls(events, model.control_dim))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(["qemu-x86_64", "-cpu", AVX2_ONLY_CPU, sys.executable, "-c", _COMPARE_UNDER_EMULATION,
                           str(result.path), str(result.int8_path), str(tmp_path / "stream.npz")],
                          capture_output=True, text=True, timeout=600, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr[-2000:]
    emulated = json.loads(done.stdout.strip().splitlines()[-1])
    assert emulated["confident_events"] >= 100  # the model is peaked, so agreement measures quantization, not ties
    assert emulated["mean_kl"] < 0.01 and emulated["confident_agreement"] > 0.95
