"""Torch-free inference engine: one ONNX step graph, its recurrent state, one event at a time.

The exported graph (see export/graph.py) takes
    events   int64   [B, T]
    controls float32 [B, T, C]      only when the model is conditioned: the 20 density and key values the caller
                                    gives, then, for a model that hears the pulse, the PULSE_DIM the engine adds
    <name>_in                       one input per recurrent state tensor
and returns
    logits   float32 [B, T, 388]
    <name>_out                      the state after the last of the T events.
The engine runs it at B = 1 and keeps the state between calls, so the whole session is context. A model that hears
the pulse (segue/rhythm/pulse_controls.py) gets it from the engine itself, which follows every event it consumes
with a beat tracker: the pulse is a reading of the stream the network reads, so its follower lives beside the
network's state, in its snapshots, and no caller computes it.
Everything the engine needs to know about the model lives in the file's metadata (keys below).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM
from segue.errors import SegueError
from segue.rhythm.pulse_controls import PULSE_DIM, PulseControls

# Bump when the graph's inputs/outputs or the metadata change in a way old engines cannot read.
FORMAT_VERSION = 1
# Metadata keys (values are strings; the structured ones are JSON).
META_FORMAT = "segue.format_version"
META_BODY = "segue.meta"

EVENTS_INPUT = "events"
CONTROLS_INPUT = "controls"
LOGITS_OUTPUT = "logits"


def state_input_name(name: str) -> str:
    return f"{name}_in"


def state_output_name(name: str) -> str:
    return f"{name}_out"


_ORT_TO_NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def session_options():
    """One thread, sequential, no spinning: spinning threads burn the core the MIDI thread needs."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # warnings about unused initializers are noise for users
    return opts


def default_model_path() -> Path:
    return Path(str(importlib.resources.files("segue") / "models" / "default.onnx"))


def open_session(path: Path):
    """InferenceSession for a file, or a SegueError saying why it cannot be one."""
    import onnxruntime as ort

    if not path.is_file():
        raise SegueError(f"model file {path} does not exist; export one with `segue export CHECKPOINT -o {path}`")
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several private exception types for unreadable files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegueError(
            f"{path} is not a readable ONNX model (truncated or corrupt?): {first_line[:160]}; re-export it with `segue export`"
        ) from None


def read_meta(path: Path, custom: Mapping[str, str]) -> dict:
    """Parse and check the segue metadata embedded by the exporter."""
    if META_FORMAT not in custom or META_BODY not in custom:
        raise SegueError(f"{path} is an ONNX model but not a segue model (no segue metadata); export it with `segue export`")
    try:
        version = int(custom[META_FORMAT])
        meta = json.loads(custom[META_BODY])
    except (ValueError, json.JSONDecodeError):
        raise SegueError(f"{path} has damaged segue metadata; re-export it with `segue export`") from None
    if version > FORMAT_VERSION:
        raise SegueError(
            f"{path} uses model format {version} but this segue reads format {FORMAT_VERSION} or older; upgrade segue"
        )
    if version < 1:
        raise SegueError(f"{path} has an invalid model format version {version}; re-export it with `segue export`")
    if meta.get("codec", {}).get("num_classes") != codec.NUM_CLASSES:
        raise SegueError(
            f"{path} was trained on {meta.get('codec', {}).get('num_classes')} event classes, this segue's codec has "
            f"{codec.NUM_CLASSES}; re-export from a matching checkpoint"
        )
    meta["format_version"] = version
    # short names the rest of segue uses
    meta["kind"] = meta.get("model_kind")
    meta["state_names"] = [spec["name"] for spec in meta.get("state", [])]
    return meta


def _shapes_differ(graph_shape, meta_shape) -> bool:
    """Named (symbolic) dims in the graph match anything; fixed ones must equal the metadata's."""
    if len(graph_shape) != len(meta_shape):
        return True
    return any(isinstance(g, int) and m is not None and g != m for g, m in zip(graph_shape, meta_shape))


def _shape_text(shape) -> str:
    return "[" + ", ".join("*" if d is None or isinstance(d, str) else str(d) for d in shape) + "]"


class Engine:
    """A loaded model plus its recurrent state at batch 1."""

    def __init__(self, session, meta: dict, path: Path):
        self.session = session
        self.meta = meta
        self.path = path
        self.conditioned: bool = bool(meta["conditioned"])
        self.input_control_dim: int = int(meta["control_dim"])           # what the graph reads
        hears_pulse = self.conditioned and "pulse" in (meta.get("control_layout") or {})
        self.control_dim: int = self.input_control_dim - (PULSE_DIM if hears_pulse else 0)   # what callers give
        self.pulse: PulseControls | None = PulseControls() if hears_pulse else None
        self.state_specs: list[dict] = meta["state"]
        self._check_graph_matches_meta()
        self._output_names = [LOGITS_OUTPUT] + [state_output_name(s["name"]) for s in self.state_specs]
        self._state_inputs = [state_input_name(s["name"]) for s in self.state_specs]
        # Controls used when step()/feed() get none: the caller pins them with set_controls().
        self.set_controls(np.zeros(self.control_dim, dtype=np.float32))
        self.state: tuple[np.ndarray, ...] = self.initial_state(1)
        self._probe()

    @property
    def hears_pulse(self) -> bool:
        return self.pulse is not None

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Engine":
        """Open a segue ONNX model; None loads the model shipped with segue."""
        if path is None:
            path = default_model_path()
            if not path.is_file():
                raise SegueError("no default model is shipped with this segue install; pass --model FILE.onnx")
        path = Path(path)
        session = open_session(path)
        meta = read_meta(path, session.get_modelmeta().custom_metadata_map)
        return cls(session, meta, path)

    def _check_graph_matches_meta(self) -> None:
        """A model whose graph disagrees with its metadata would sample garbage (100 logits read as 388 classes
        blast notes) or fail deep inside ONNX Runtime, so refuse it at load: names, then the declared shapes of
        logits, controls and state, then one real step that proves the shapes hold at run time."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        expected = [EVENTS_INPUT] + ([CONTROLS_INPUT] if self.conditioned else [])
        expected += [state_input_name(s["name"]) for s in self.state_specs]
        if sorted(inputs) != sorted(expected):
            raise SegueError(
                f"{self.path}: graph inputs {sorted(inputs)} do not match its metadata {sorted(expected)}; re-export it"
            )
        expected_out = [LOGITS_OUTPUT] + [state_output_name(s["name"]) for s in self.state_specs]
        if not set(expected_out) <= set(outputs):
            raise SegueError(f"{self.path}: graph outputs {sorted(outputs)} do not match its metadata "
                             f"{sorted(expected_out)}; re-export it")
        problems = []
        if self.conditioned and self.control_dim != CONTROL_DIM:
            problems.append(f"metadata control_dim is {self.input_control_dim}, segue computes {CONTROL_DIM} controls"
                            + (f" and {PULSE_DIM} of the pulse" if self.hears_pulse else ""))
        wanted = {LOGITS_OUTPUT: (outputs[LOGITS_OUTPUT].shape, [None, None, codec.NUM_CLASSES])}
        if self.conditioned:
            wanted[CONTROLS_INPUT] = (inputs[CONTROLS_INPUT].shape, [None, None, self.input_control_dim])
        for spec in self.state_specs:
            shape = [None if axis == spec["batch_axis"] else dim for axis, dim in enumerate(spec["shape"])]
            wanted[state_input_name(spec["name"])] = (inputs[state_input_name(spec["name"])].shape, shape)
            wanted[state_output_name(spec["name"])] = (outputs[state_output_name(spec["name"])].shape, shape)
        for name, (graph_shape, meta_shape) in wanted.items():
            if _shapes_differ(graph_shape, meta_shape):
                problems.append(f"{name} is {_shape_text(graph_shape)} in the graph, {_shape_text(meta_shape)} "
                                "by its metadata")
        if problems:
            raise SegueError(f"{self.path}: graph and metadata disagree: {'; '.join(problems)}; re-export it")
        self._state_dtypes = [_ORT_TO_NUMPY.get(inputs[state_input_name(s["name"])].type, np.float32)
                              for s in self.state_specs]

    def _probe(self) -> None:
        """One step from the zero state: the graph must run and return the shapes its metadata promises."""
        try:
            logits = self.step(codec.NO_EVENT)
        except SegueError:
            raise
        except Exception as exc:  # ORT's shape errors are many lines of private types
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise SegueError(f"{self.path}: the graph does not run with the shapes its metadata gives ({first}); "
                             "re-export it") from None
        problems = [] if logits.shape == (codec.NUM_CLASSES,) else [
            f"logits have {logits.shape[-1] if logits.ndim else 0} classes, segue's codec has {codec.NUM_CLASSES}"]
        for spec, state, initial in zip(self.state_specs, self.state, self.initial_state(1)):
            if state.shape != initial.shape:
                problems.append(f"state {spec['name']} comes back as {list(state.shape)}, metadata says "
                                f"{list(initial.shape)}")
        if problems:
            raise SegueError(f"{self.path}: graph and metadata disagree: {'; '.join(problems)}; re-export it")
        self.reset()

    # --- state -------------------------------------------------------------------------------------------------
    def initial_state(self, batch: int) -> tuple[np.ndarray, ...]:
        """Zero state for `batch` sequences (the metadata stores each shape with its batch axis)."""
        states = []
        for spec, dtype in zip(self.state_specs, self._state_dtypes):
            shape = list(spec["shape"])
            shape[spec["batch_axis"]] = batch
            states.append(np.zeros(shape, dtype=dtype))
        return tuple(states)

    def reset(self, pulse: PulseControls | None = None) -> None:
        """The zero state. A model that hears the pulse starts with `pulse` (a follower that has heard what came
        before, as the trainer's windows have it) or a fresh follower."""
        self.state = self.initial_state(1)
        if self.pulse is not None:
            self.pulse = pulse.copy() if pulse is not None else PulseControls()

    def snapshot(self):
        """Opaque copy of the state (and the pulse follower's). Cheap: state arrays are replaced by each run, never
        written in place."""
        return self.state, None if self.pulse is None else self.pulse.copy()

    def restore(self, snap) -> None:
        if not (isinstance(snap, tuple) and len(snap) == 2 and isinstance(snap[0], tuple)
                and len(snap[0]) == len(self.state_specs) and (snap[1] is None) == (self.pulse is None)):
            raise SegueError("restore() needs a snapshot taken from an engine with the same model")
        self.state = snap[0]
        if snap[1] is not None:
            self.pulse = snap[1].copy()

    def set_controls(self, controls: np.ndarray | Sequence[float]) -> None:
        """Pin the control vector used when step()/feed() are called without controls."""
        self.controls = self._check_controls(np.asarray(controls, dtype=np.float32), 1).reshape(self.control_dim).copy()
        self._pinned_row = self.controls.reshape(1, 1, self.control_dim)

    # --- running -----------------------------------------------------------------------------------------------
    def step(self, event: int, controls: np.ndarray | None = None) -> np.ndarray:
        """Consume one event; return logits [388] for the next one.

        `controls` are those of the position being predicted (input at t = controls[t+1] + event t).
        This is the live path, so it skips run()'s general checks and builds only what one event needs."""
        if not 0 <= event < codec.NUM_CLASSES:
            raise SegueError(f"event indices must be in 0..{codec.NUM_CLASSES - 1}, got {event}")
        feeds = {EVENTS_INPUT: np.array([[event]], dtype=np.int64)}
        if self.conditioned:
            row = (self._pinned_row if controls is None
                   else self._check_controls(np.asarray(controls, dtype=np.float32), 1)[None])
            if self.pulse is not None:
                self.pulse.push(event)
                row = np.concatenate([row, self.pulse.current()[None, None]], axis=-1)
            feeds[CONTROLS_INPUT] = row
        for name, value in zip(self._state_inputs, self.state):
            feeds[name] = value
        logits, *state = self.session.run(self._output_names, feeds)
        self.state = tuple(state)
        return logits[0, 0]

    def feed(self, events: Sequence[int] | np.ndarray, controls: np.ndarray | None = None) -> np.ndarray:
        """Consume N events in one call; return the logits after the last one."""
        return self.run(events, controls)[-1]

    def run(self, events: Sequence[int] | np.ndarray, controls: np.ndarray | None = None) -> np.ndarray:
        """Consume N events in one call; return logits [N, 388] (row t predicts event t+1)."""
        events = np.asarray(events, dtype=np.int64).reshape(-1)
        if events.size == 0:
            raise SegueError("feed() needs at least one event")
        if events.min() < 0 or events.max() >= codec.NUM_CLASSES:
            raise SegueError(f"event indices must be in 0..{codec.NUM_CLASSES - 1}, got {int(events.min())}..{int(events.max())}")
        feeds = {EVENTS_INPUT: events[None, :]}
        if self.conditioned:
            if controls is None:
                controls = np.broadcast_to(self.controls, (events.size, self.control_dim))
            rows = self._check_controls(np.asarray(controls, dtype=np.float32), events.size)
            if self.pulse is not None:
                rows = np.concatenate([rows, self.pulse.rows(events)], axis=1)
            feeds[CONTROLS_INPUT] = rows[None]
        for name, value in zip(self._state_inputs, self.state):
            feeds[name] = value
        logits, *state = self.session.run(self._output_names, feeds)
        self.state = tuple(state)
        return logits[0]

    def _check_controls(self, controls: np.ndarray, n: int) -> np.ndarray:
        if controls.size != n * self.control_dim:
            raise SegueError(
                f"controls must have {self.control_dim} values per event ({n} events), got shape {tuple(controls.shape)}"
            )
        return controls.reshape(n, self.control_dim)
