import numpy as np
import pytest
import torch

from training.models import build_model

# Small but real models of both kinds. The weights are drawn wider than the default init so the logits span
# several units: parity on near-zero logits from a fresh init would prove little.
SMALL_MODELS = {
    "performance_rnn": dict(kind="performance_rnn", hidden_size=96, num_layers=2, conditioned=True),
    "gru_attention": dict(kind="gru_attention", hidden_size=96, num_layers=2, embed_dim=48, attention_window=16,
                          conditioned=False),
    "gru_attention_conditioned": dict(kind="gru_attention", hidden_size=64, num_layers=1, embed_dim=32,
                                      attention_window=8, conditioned=True),
    "performance_rnn_pulse": dict(kind="performance_rnn", hidden_size=64, num_layers=1, conditioned=True, pulse=True),
}


def _make_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(SMALL_MODELS[name])
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.25)
    return model.eval()


# What _make_trained_model learns (a velocity, three notes, time shifts): held-out music the model is sure about.
TRAINED_PHRASE = np.array([356 + 20, 60, 256 + 24, 188, 64, 256 + 24, 192, 67, 256 + 49, 195], dtype=np.int64)


def _make_trained_model(name: str, steps: int = 200, seed: int = 0) -> torch.nn.Module:
    """A model trained on a repeating phrase until it is confident the way a real model is (median top probability
    0.98 on the phrase at 200 steps; at 60 it had learned only the phrase's unigram, top probability 0.2): int8
    agreement on a flat model measures ties, not quantization error."""
    torch.manual_seed(seed)
    model = build_model(SMALL_MODELS[name])
    sequence = torch.from_numpy(TRAINED_PHRASE).repeat(13)[None, :]
    controls = torch.zeros(1, sequence.shape[1] - 1, model.control_dim) if model.control_dim else None
    if controls is not None:
        controls[..., 3] = 1.0
        controls[..., 8:] = 1.0 / 12
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        logits, _ = model(sequence[:, :-1], controls, None)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequence[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    yield


# Factories as fixtures (not imports): several test folders have a conftest.py, so `from conftest import` is ambiguous.
@pytest.fixture
def make_model():
    return _make_model


@pytest.fixture
def make_trained_model():
    return _make_trained_model


@pytest.fixture
def small_models():
    return SMALL_MODELS


@pytest.fixture
def trained_phrase():
    return TRAINED_PHRASE
