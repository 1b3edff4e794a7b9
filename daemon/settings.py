"""The live daemon's section of config.yaml, `daemon:` (`segue serve`). Registered by daemon/cli.py (SETTINGS)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from segue.codec.midi import SOFT_PEDAL_CC
from segue.config import CC, CC_OR_OFF, NON_NEGATIVE, POSITIVE, Range, SEED


@dataclass
class DaemonConfig:
    """The live daemon (daemon/): `segue serve`. Each key is documented in config.yaml."""
    # ports
    backend: str = "auto"
    client_name: str = "segue"
    in_port_name: str = "in"
    out_port_name: str = "out"
    input: str = ""
    output: str = ""
    in_channel: int = 0
    out_channel: int = 1
    thru: bool = False
    ignore_echo: bool = True
    own_jack_client: bool = True          # JACK: both ports on one client of segue's own (daemon/jack_client.py)
    sysex_probe: bool = True              # rtmidi JACK clients: a probe ends an unfinished sysex (backends/sysex_probe.py)
    echo_window_ms: float = 1500.0
    # model and sampling
    model: str = ""
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    key: str = ""
    density: float = -1.0
    memory: str = "player"
    # turn-taking
    mode: str = "call-response"
    silence_ms: float = 400.0
    takeover_cc: int = SOFT_PEDAL_CC
    response_seconds: float = 8.0
    response_bars: int = 0
    beats_per_bar: int = 4
    until_barge_in: bool = False
    max_response_seconds: float = 60.0
    on_beat: str = "auto"
    lead_in_ms: float = 0.0
    # timing and safety
    lookahead_ms: float = 200.0
    spin_ms: float = 1.0
    realtime_priority: int = 60
    stale_key_seconds: float = 10.0
    # live controls
    cc_map: dict[str, int] = field(default_factory=dict)
    state_cc: int = -1
    # output
    record: str = ""

    RANGES: ClassVar[dict[str, Range]] = {
        "in_channel": Range(0, 16),
        "out_channel": Range(1, 16),
        "echo_window_ms": Range(0, 10_000),
        "temperature": Range(0, 100),
        "top_k": Range(0, 388),
        "top_p": Range(0, 1, low_open=True),
        "min_p": Range(0, 1, high_open=True),
        "seed": SEED,
        "density": Range(None, 1000),            # negative = follow the player
        "silence_ms": POSITIVE,
        "takeover_cc": CC,
        "response_seconds": POSITIVE,
        "response_bars": NON_NEGATIVE,
        "beats_per_bar": Range(1, 64),
        "max_response_seconds": POSITIVE,
        "lead_in_ms": NON_NEGATIVE,
        "lookahead_ms": POSITIVE,
        "spin_ms": NON_NEGATIVE,
        "realtime_priority": Range(0, 99),
        "stale_key_seconds": POSITIVE,
        "cc_map.*": CC_OR_OFF,
        "state_cc": CC_OR_OFF,
    }

