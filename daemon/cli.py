"""`segue serve` (the live player) and `segue ports` (what MIDI ports there are)."""
from __future__ import annotations

import argparse

from segue.cli.main import add_config_args, config_from_args

# The sections of config.yaml this room owns (segue/config.py sections(): loaded only when a config is read).
SETTINGS = {"daemon": "daemon.settings:DaemonConfig"}

SERVE_HELP = """\
Listen on a MIDI port and answer: play a phrase, stop, and segue continues it; play again and it yields.
Route your keyboard into segue's input port and segue's output port into a synth or a DAW track.
Examples:
  segue serve                                  # virtual ports segue:in / segue:out, the shipped model
  segue serve --in "Digital Piano" --out "FluidSynth" --backend alsa
  segue serve --backend jack --model models/x.onnx --mode continuous --record sessions/ --stats
"""


def add_parser(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="answer a MIDI keyboard live", description=SERVE_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(serve)
    serve.add_argument("--model", help="ONNX model (default: the model shipped with segue)")
    serve.add_argument("--backend", choices=["auto", "alsa", "jack", "coremidi", "winmm"])
    serve.add_argument("--in", dest="input", metavar="NAME", help="read from this port (exact name or substring) "
                       "instead of opening a virtual input")
    serve.add_argument("--out", dest="output", metavar="NAME", help="play to this port instead of a virtual output")
    serve.add_argument("--client-name", help="client name of the virtual ports (default segue)")
    serve.add_argument("--channel", type=int, dest="in_channel", help="listen to this channel only (1-16)")
    serve.add_argument("--out-channel", type=int, help="play on this channel (1-16)")
    serve.add_argument("--thru", action="store_true", default=None, help="pass the player's notes to the output")
    serve.add_argument("--mode", choices=["call-response", "takeover", "continuous"])
    serve.add_argument("--silence-ms", type=float, help="call-response: answer after this much silence")
    serve.add_argument("--takeover-cc", type=int, help="takeover: the CC that hands segue the turn (67 = soft pedal)")
    serve.add_argument("--length", type=float, dest="response_seconds", help="answer length in seconds")
    serve.add_argument("--bars", type=int, dest="response_bars", help="answer length in bars (needs MIDI clock)")
    serve.add_argument("--until-barge-in", action="store_true", default=None,
                       help="answer until the player plays again (capped by daemon.max_response_seconds)")
    serve.add_argument("--on-beat", choices=["auto", "clock", "off"],
                       help="where answers start: auto (default) on a MIDI clock's next beat, else on the player's "
                            "next beat when segue hears a steady pulse; clock: only on a clock's beat; off: at once")
    serve.add_argument("--lead-in-ms", type=float, help="silence allowed before the first note (default 0)")
    serve.add_argument("--lookahead-ms", type=float, help="how far ahead the generator samples")
    serve.add_argument("--key", help='pin the key instead of following the player, e.g. "D minor"')
    serve.add_argument("--density", type=float, help="pin the note density (notes per second)")
    serve.add_argument("--memory", choices=["off", "player", "session"],
                       help="session memory: answers reuse what you played (player), what both of you played "
                            "(session), or not (off); default player")
    serve.add_argument("--temperature", type=float)
    serve.add_argument("--top-k", type=int)
    serve.add_argument("--top-p", type=float)
    serve.add_argument("--min-p", type=float)
    serve.add_argument("--seed", type=int)
    serve.add_argument("--record", metavar="DIR", help="write each session to DIR as a MIDI file (player + segue)")
    serve.add_argument("--learn", action="store_true", help="bind live-control CCs by wiggling knobs, then serve")
    serve.add_argument("--stats", action="store_true", help="on exit, print turns, notes and how long answers took to reach the synth "
                       "(each figure says what it measures)")
    serve.add_argument("--verbose", "-v", action="store_true", help="log every message in and every turn detail")
    serve.add_argument("--turn-log", metavar="FILE", help="append one JSON line per turn (trigger and first-note "
                       "times on the perf_counter clock; for benchmarks and tests)")
    serve.set_defaults(func=serve_command)

    ports = subparsers.add_parser("ports", help="list MIDI input and output ports",
                                  description="List the MIDI ports segue can read from and play to, per backend.")
    ports.add_argument("--backend", choices=["auto", "alsa", "jack", "coremidi", "winmm"],
                       help="only this backend (default: every backend this python-rtmidi has)")
    ports.set_defaults(func=ports_command)

    panic = subparsers.add_parser(
        "panic", help="silence a synth: sustain off, all sound off, all notes off on all 16 channels",
        description="Send sustain off (CC64 0), all sound off (CC120) and all notes off (CC123) on all 16 channels "
                    "to --out, or to every MIDI destination there is. For notes left sounding by a segue that was "
                    "killed (segue serve also does this itself when it starts).")
    panic.add_argument("--out", dest="output", metavar="NAME",
                       help="this destination port only (exact name or substring; default: every destination)")
    panic.add_argument("--backend", choices=["auto", "alsa", "jack", "coremidi", "winmm"], default="auto")
    panic.set_defaults(func=panic_command)


def ports_command(args) -> int:
    from daemon.backends import describe_ports
    from daemon.ports import compiled_backends, quiet_backend_libraries, resolve_backend
    from segue.errors import SegueError

    quiet_backend_libraries()            # a backend with no server says so in one line below, not in ten
    backends = [resolve_backend(args.backend)] if args.backend else compiled_backends()
    for backend in backends:
        try:
            print(describe_ports(backend))
        except SegueError as exc:
            print(f"{backend}: unavailable ({exc})")
    return 0


def panic_command(args) -> int:
    from daemon.backends import list_ports, open_output
    from daemon.ports import own_jack_client, quiet_backend_libraries, resolve_backend
    from daemon.safety import all_channels_off

    quiet_backend_libraries()
    backend = resolve_backend(args.backend)
    targets = [args.output] if args.output else list_ports(backend)[1]
    for target in targets:
        output = open_output(backend, "segue-panic", "out", connect_to=target,
                             own_jack=own_jack_client(backend, True))
        try:
            for data in all_channels_off():
                output.send(data)
        finally:
            output.close()
        print(f"panic sent to {output.name}")
    if not targets:
        print(f"no MIDI destinations on {backend}")
    return 0


CLI_TO_CONFIG = ("model", "backend", "input", "output", "client_name", "in_channel", "out_channel", "thru", "mode",
                 "silence_ms", "takeover_cc", "response_seconds", "response_bars", "until_barge_in", "on_beat",
                 "lead_in_ms", "lookahead_ms", "key", "density", "memory", "temperature", "top_k", "top_p", "min_p",
                 "seed", "record")


def serve_command(args) -> int:
    import dataclasses

    from daemon.serve import serve

    config = config_from_args(args)
    given = {name: getattr(args, name) for name in CLI_TO_CONFIG if getattr(args, name) is not None}
    cfg = dataclasses.replace(config.daemon, **given)
    return serve(cfg, grammar=config.sampling, learn=args.learn, stats=args.stats, verbose=args.verbose,
                 turn_log=args.turn_log)
