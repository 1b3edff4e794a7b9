"""A wider copy of a Performance RNN checkpoint that computes exactly what the narrow one did.

    python -m training.widen segue/models/default.pt runs/wide/init.pt --hidden 512
    python -m training.widen segue/models/default.pt runs/pulse/init.pt --pulse    # hears the tracked pulse too
    segue train --init-from runs/wide/init.pt --data data/mix6 --out runs/wide

Why: a larger network trained from scratch cannot catch up on this machine with the hours of music the shipped
one has heard, but a widened one starts where it stands. The new units get PyTorch's usual random weights on
everything that feeds them, and zeros on everything they feed (the next layer, the recurrent weights of the old
units, the output head): their activity is then invisible, so the logits are the narrow model's to rounding, while
the gradient on those zero weights (activity x error) is not zero, so training puts the new units to work.
With --pulse the first layer gets PULSE_DIM more inputs (segue/rhythm/pulse_controls.py) with zero weights, the
same way: the model computes what it did until training teaches it to listen to them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from segue.errors import SegueError
from training.checkpoint import load_checkpoint, save_checkpoint
from segue.rhythm.pulse_controls import PULSE_DIM
from training.models import build_model

GATES = 4   # an LSTM stacks its input, forget, cell and output gates in one weight matrix


def widen_state(state: dict, hidden: int, new_hidden: int, num_layers: int, seed: int = 0) -> dict:
    """The wide model's weights from the narrow one's (see the module docstring for why this preserves the function)."""
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(new_hidden)   # nn.LSTM's own initial range for the new weights

    def fresh(*shape):
        return (torch.rand(*shape, generator=generator) * 2 - 1) * bound

    def gate_rows(old: torch.Tensor, columns: int) -> torch.Tensor:
        """Each gate's block of rows grown from `hidden` to `new_hidden`; old rows keep their first columns."""
        wide = fresh(GATES * new_hidden, columns) if old.dim() == 2 else fresh(GATES * new_hidden)
        for gate in range(GATES):
            rows = slice(gate * new_hidden, gate * new_hidden + hidden)
            old_rows = old[gate * hidden:(gate + 1) * hidden]
            if old.dim() == 2:
                wide[rows] = 0.0                     # an old unit hears no new unit
                wide[rows, :old.shape[1]] = old_rows
            else:
                wide[rows] = old_rows
        return wide

    out = {}
    for layer in range(num_layers):
        w_ih, w_hh = state[f"lstm.weight_ih_l{layer}"], state[f"lstm.weight_hh_l{layer}"]
        in_columns = w_ih.shape[1] if layer == 0 else new_hidden
        out[f"lstm.weight_ih_l{layer}"] = gate_rows(w_ih, in_columns)
        out[f"lstm.weight_hh_l{layer}"] = gate_rows(w_hh, new_hidden)
        for kind in ("ih", "hh"):
            out[f"lstm.bias_{kind}_l{layer}"] = gate_rows(state[f"lstm.bias_{kind}_l{layer}"], 0)
    head = state["head.weight"]
    out["head.weight"] = torch.cat([head, torch.zeros(head.shape[0], new_hidden - hidden)], dim=1)
    out["head.bias"] = state["head.bias"].clone()
    return out


def with_pulse_inputs(state: dict) -> dict:
    """The first layer's input weights with PULSE_DIM zero columns after the controls."""
    w_ih = state["lstm.weight_ih_l0"]
    return {**state, "lstm.weight_ih_l0": torch.cat([w_ih, w_ih.new_zeros(w_ih.shape[0], PULSE_DIM)], dim=1)}


def widen_checkpoint(source: str | Path, target: str | Path, new_hidden: int | None, seed: int = 0,
                     pulse: bool = False) -> float:
    """Write the widened checkpoint; returns the largest logit difference to the narrow model on a random sequence."""
    checkpoint = load_checkpoint(source)
    config = dict(checkpoint["model_config"])
    if config.get("kind") != "performance_rnn":
        raise SegueError(f"{source}: only a performance_rnn checkpoint can be widened (this one is {config.get('kind')})")
    hidden, layers = int(config["hidden_size"]), int(config["num_layers"])
    new_hidden = new_hidden or hidden
    if new_hidden < hidden or (new_hidden == hidden and not pulse):
        raise SegueError(f"--hidden {new_hidden}: the checkpoint already has {hidden} units per layer")
    if pulse and (config.get("pulse") or not config.get("conditioned", True)):
        raise SegueError(f"{source}: --pulse needs a conditioned model that does not hear the pulse yet")
    wide_config = {**config, "hidden_size": new_hidden, "pulse": bool(config.get("pulse")) or pulse}
    narrow, wide = build_model(config).eval(), build_model(wide_config).eval()
    narrow.load_state_dict(checkpoint["model"])
    state = checkpoint["model"]
    if new_hidden > hidden:
        state = widen_state(state, hidden, new_hidden, layers, seed)
    wide.load_state_dict(with_pulse_inputs(state) if pulse else state)
    events = torch.randint(0, 388, (2, 300), generator=torch.Generator().manual_seed(seed))
    controls = torch.rand(2, 300, wide.control_dim)
    with torch.no_grad():
        difference = (narrow(events, controls[..., :narrow.control_dim])[0]
                      - wide(events, controls)[0]).abs().max().item()
    checkpoint = {**checkpoint, "model_config": wide_config, "model": wide.state_dict()}
    checkpoint.pop("train_state", None)   # a fine-tune starts its own run; the narrow run's state does not apply
    save_checkpoint(checkpoint, target)
    return difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a performance_rnn checkpoint (e.g. segue/models/default.pt)")
    parser.add_argument("target", help="where to write the wider checkpoint")
    parser.add_argument("--hidden", type=int, help="units per layer of the wider model (default: as it is)")
    parser.add_argument("--pulse", action="store_true", help="add the tracked pulse's inputs (zero weights)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new units' random weights")
    args = parser.parse_args()
    try:
        difference = widen_checkpoint(args.source, args.target, args.hidden, args.seed, args.pulse)
    except SegueError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"{args.target}: {args.hidden or 'the same'} units per layer{', hears the pulse' if args.pulse else ''}; "
          f"max |logit difference| to {args.source}: {difference:.2e}")


if __name__ == "__main__":
    main()
