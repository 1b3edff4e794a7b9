"""`segue serve`: check the config, load the model, open the ports, run the session, leave nothing sounding.

Whatever ends the session — Ctrl-C, SIGTERM, a closed terminal's SIGHUP and the other stop signals
(daemon/stop_signals.py), the panic CC, an exception in any thread — goes through
Session.close(): note-offs for every sounding note, sustain off and all-notes-off on every channel used.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import signal
import sys
import threading
import time

from segue.codec.midi import SUSTAIN_CC
from segue.config import check_ranges
from segue.errors import SegueError
from segue.inference.memory import MEMORY_MODES, memory_settings_path, player_memory

from daemon.live_controls import CCMap, learn
from daemon.policy import MODES, ON_BEAT
from daemon.realtime import lift_threads, scheduler_priority
from daemon.stop_signals import STOP_SIGNALS

log = logging.getLogger("segue.daemon")


def check_config(cfg) -> None:
    """User mistakes in the daemon section, as one-line errors naming the key. Numbers are checked against
    the sections' ranges again here because command-line flags replace config values after load."""
    check_ranges(cfg, "daemon")
    if cfg.mode not in MODES:
        raise SegueError(f"daemon.mode {cfg.mode!r} is not a mode: use one of {', '.join(MODES)}")
    if cfg.memory not in MEMORY_MODES:
        raise SegueError(f"daemon.memory {cfg.memory!r}: use one of {', '.join(MEMORY_MODES)}")
    if cfg.on_beat not in ON_BEAT:
        raise SegueError(f"daemon.on_beat {cfg.on_beat!r}: use one of {', '.join(ON_BEAT)}")
    CCMap(cfg.cc_map)


def memory_setup(cfg, engine):
    """The session memory's settings for this model (NAME.memory.json beside it), or None when it is off."""
    settings = player_memory(engine.path, cfg.memory)
    if settings is None and cfg.memory != "off":
        log.info("session memory off: %s has no fitted memory settings (%s; `segue evaluate --model MODEL --data "
                 "DATA --memory --save-memory` writes them)", engine.path.name, memory_settings_path(engine.path).name)
    return settings


def controls_setup(cfg, engine):
    """The live control follower and any pinned parts (key, density) the user asked for."""
    if not engine.conditioned:
        return None, {}
    from segue.codec.controls import ControlFollower, density_one_hot, key_histogram

    pinned = {}
    if cfg.key:
        try:
            pinned["key"] = key_histogram(cfg.key)
        except (ValueError, KeyError) as exc:
            raise SegueError(f'daemon.key {cfg.key!r} is not a key: write e.g. "D minor" or "F# major" ({exc})') from None
    if cfg.density >= 0:
        pinned["density"] = density_one_hot(cfg.density)
    return ControlFollower(), pinned


def serve(cfg, *, grammar=None, learn: bool = False, stats: bool = False, verbose: bool = False,
          turn_log: str | None = None) -> int:
    """`cfg` is config.yaml's daemon section, `grammar` its sampling section (None: the defaults)."""
    check_config(cfg)
    # The stop signals (SIGINT, SIGTERM, SIGHUP ...: daemon/stop_signals.py) must reach the main thread, which sleeps
    # on the input queue: a signal delivered to one of the many C threads (JACK, ONNX Runtime) would not wake it.
    # Threads inherit the mask, so block the signals while everything starts and unblock them in the main thread only.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return _serve(cfg, grammar=grammar, learn=learn, stats=stats, verbose=verbose, turn_log=turn_log)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _serve(cfg, *, grammar, learn: bool, stats: bool, verbose: bool, turn_log: str | None) -> int:
    from segue.inference.engine import Engine

    from daemon.inbox import Inbox
    from daemon.jack_supervisor import JackSupervisor
    from daemon.backends import wait_for_previous_instance
    from daemon.ports import own_jack_client, quiet_backend_libraries, resolve_backend
    from daemon.recorder import Recorder
    from daemon.session import Session

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="segue: %(message)s",
                        stream=sys.stderr)
    if not verbose:
        quiet_backend_libraries()
    engine = Engine.load(cfg.model or None)
    follower, pinned = controls_setup(cfg, engine)
    backend = resolve_backend(cfg.backend)
    # The scheduler's spin must get the GIL back quickly from the generator's Python code between model steps.
    sys.setswitchinterval(0.0005)

    waited = wait_for_previous_instance(backend, cfg.client_name)
    if waited:
        log.info(waited)
    inbox = Inbox()
    own_jack = own_jack_client(backend, cfg.own_jack_client)
    if backend == "jack":
        log.debug("JACK: %s", "both ports on segue's own client" if own_jack else "python-rtmidi's clients, one per "
                  "port" + (" (segue's own client was not built by pip here)" if cfg.own_jack_client else ""))
    supervisor = (JackSupervisor.for_ports(cfg.client_name, cfg.in_port_name, cfg.out_port_name, own_jack)
                  if backend == "jack" else None)
    port_in, output = _open_ports(cfg, backend, own_jack, lambda data, stamp: inbox.put_message(stamp, data),
                                  supervisor)
    session = None
    with contextlib.ExitStack() as ending:           # after the ports: the stop watch, the turn log, the supervisor
        # The watch first, so that it is closed last: its grace (stop_signals.GRACE_S) covers the whole shutdown,
        # the JACK clients' closing included. It hears nothing before the session runs: the signals are blocked
        # until then.
        ending.callback(_install_handlers(lambda: session).close)
        if supervisor is not None:
            ending.callback(supervisor.close)
        with output:                                 # closed after the session: its last note-offs go out through it
            try:
                with port_in:                        # closed first: from then on no input reaches the session
                    asked = cfg.realtime_priority
                    cfg = dataclasses.replace(cfg, realtime_priority=scheduler_priority(asked, backend))
                    log_file = ending.enter_context(open(turn_log, "a")) if turn_log else None
                    memory = memory_setup(cfg, engine)   # after the ports: a missing MIDI system is said first
                    origin = time.perf_counter()         # step 0 of the session and of the take
                    recorder = Recorder(cfg.record, origin) if cfg.record else None
                    # The session takes the input from here on (what came before waits in the inbox).
                    session = Session(cfg, engine, output, port_in, origin=origin, follower=follower, pinned=pinned,
                                      recorder=recorder, port_watch=_port_watch(port_in, output, supervisor),
                                      turn_log=log_file, verbose=verbose, inbox=inbox, grammar=grammar,
                                      memory=memory)
                    session.start()                      # its threads inherit the blocked signals
                    # this thread runs the session loop (session.run below)
                    threads = lift_threads(cfg.realtime_priority, light=[threading.get_native_id(), port_in.thread_id],
                                           heavy=[session.generator.thread_id])
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                    if learn:
                        _learn(session, cfg)
                    log.info("listening on %s, playing to %s (%s); model %s; mode %s; session memory %s. Ctrl-C to "
                             "stop.", port_in.name, output.name, backend, engine.path.name, cfg.mode,
                             cfg.memory if memory else "off")
                    if asked > 0:
                        log.debug("scheduler thread: %s; %s", _realtime_line(asked, cfg.realtime_priority,
                                                                              session.scheduler.realtime), threads)
                    if recorder is not None:
                        log.info("recording to %s", recorder.path)
                    session.run()
            finally:
                if session is not None:
                    session.close()
                    if stats:
                        print(session.stats.text(session.scheduler.send_errors, output.delays_after_due()),
                              file=sys.stderr)
    return 0


def _open_ports(cfg, backend: str, own_jack: bool, sink, supervisor):
    """The input, then the output (so that on python-rtmidi's JACK clients the input gets the plain client name:
    segue:in, then segue-01:out); under JACK through the supervisor, which keeps them clear of the libjack race."""
    from daemon.backends import open_input, open_output

    def open_both():
        port_in = open_input(backend, cfg.client_name, cfg.in_port_name, sink, connect_to=cfg.input or None,
                        probe=cfg.sysex_probe, own_jack=own_jack)
        try:
            return port_in, open_output(backend, cfg.client_name, cfg.out_port_name, connect_to=cfg.output or None,
                                   own_jack=own_jack)
        except BaseException:
            port_in.close()
            raise

    return open_both() if supervisor is None else supervisor.open_ports(open_both)


def _port_watch(port_in, output, supervisor):
    """Called about once a second by the session: under JACK the supervisor's look, else the ports followed by
    name."""
    if supervisor is not None:
        return supervisor.look
    return lambda: "; ".join(line for line in (port_in.check(), output.check()) if line) or None


def _realtime_line(asked: int, granted: int, realtime: bool) -> str:
    if granted == 0:
        return "not realtime: the JACK server's threads are not realtime, and segue never runs above them"
    if not realtime:
        return f"realtime priority {granted} refused by the OS (timing may suffer on a busy machine)"
    capped = f" (asked {asked}; one below the JACK server's client threads)" if granted < asked else ""
    return f"SCHED_FIFO {granted}{capped}"


def _install_handlers(current_session):
    """Stop signals and exceptions in any thread end the session (`current_session()`, None until it exists) through
    Session.close(); returns the StopWatch."""
    from daemon import stop_signals

    def stop(reason: str) -> None:
        session = current_session()
        if session is not None:
            session.request_stop(reason)

    watch = stop_signals.install(stop)
    previous = threading.excepthook

    def on_thread_exception(args):
        session = current_session()
        if session is not None:
            session.scheduler.panic()        # silence first, report second
        stop("exception")
        previous(args)

    threading.excepthook = on_thread_exception
    return watch


def _learn(session, cfg) -> None:
    from daemon.session import Stop

    def messages(timeout):
        try:
            stamp, data = session.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(data, Stop):
            raise KeyboardInterrupt
        return data, stamp

    bindings = learn(messages, taken={SUSTAIN_CC, cfg.takeover_cc})
    session.controls.cc_map = CCMap({**cfg.cc_map, **bindings})
    if bindings:
        pairs = ", ".join(f"{name}: {cc}" for name, cc in bindings.items())
        print(f"learned; to keep these, put in config.yaml under daemon:\n  cc_map: {{{pairs}}}", file=sys.stderr)
