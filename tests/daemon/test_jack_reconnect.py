"""Connections other programs made to segue's own JACK ports (no --in/--out) come back after the JACK server
restarted, as soon as both ends are there again (daemon/jack_connections.py)."""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from daemon import jack_connections
from daemon.jack_connections import EEXIST, JackConnections
from daemon.testing import Daemon, JackServer, Listener, looping_note, restart_server, wait_until


class FakeJack:
    """libjack as JackConnections calls it: a graph of ports and connections (names, not pointers)."""

    def __init__(self):
        self.ports: set[str] = set()
        self.links: set[tuple[str, str]] = set()

    def jack_client_open(self, name, options, status):
        return 1

    def jack_get_ports(self, client, pattern, type_pattern, flags):
        return [port for port in self.ports if re.match(pattern.decode(), port)]

    def jack_port_by_name(self, client, name):
        return name.decode() if name.decode() in self.ports else None

    def jack_port_get_all_connections(self, client, port):
        return [b if a == port else a for a, b in self.links if port in (a, b)]

    def jack_connect(self, client, source, destination):
        pair = (source.decode(), destination.decode())
        if pair in self.links:
            return EEXIST
        self.links.add(pair)
        return 0

    def quit(self, port):
        self.ports.discard(port)
        self.links = {pair for pair in self.links if port not in pair}


def test_a_vanished_end_is_connected_again_and_an_undone_connection_is_forgotten(monkeypatch):
    monkeypatch.setattr(jack_connections, "port_names", lambda lib, array: array or [])
    jack = FakeJack()
    keeper = JackConnections(jack, "segue", "in", "out")
    keeper.open()
    jack.ports |= {"other:out", "synth:in", "keys:out", "segue-probe:probe"}
    keeper.before_ports()
    jack.ports |= {"segue:in", "segue-01:out"}
    keeper.ports_opened()
    assert keeper.own == {"in": "segue:in", "out": "segue-01:out"}
    jack.links |= {("segue-01:out", "synth:in"), ("keys:out", "segue:in"), ("segue-probe:probe", "segue:in"),
                   ("other:out", "segue:in")}
    assert keeper.look(set()) == []
    assert keeper.remembered == {("out", "synth:in"), ("keys:out", "in"), ("other:out", "in")}   # not the probe's
    jack.links.discard(("other:out", "segue:in"))            # undone by the user: forgotten
    jack.quit("synth:in")                                    # the synth quit: made again when it is back
    assert keeper.look(set()) == []
    jack.ports.add("synth:in")
    assert keeper.look(set()) == ["restored the connection synth:in <- segue-01:out"]
    assert keeper.look(set()) == []
    # the server went away and a new one runs: segue's new ports may have other names
    keeper.abandon()
    jack.ports, jack.links = {"keys:out"}, set()
    keeper.open()
    keeper.before_ports()
    jack.ports |= {"segue-02:in", "segue:out"}
    keeper.ports_opened()
    assert keeper.look(set()) == ["restored the connection segue-02:in <- keys:out"]
    jack.ports.add("synth:in")
    jack.links.add(("segue:out", "synth:in"))                # a patchbay was quicker: nothing to say
    assert keeper.look(set()) == []
    assert jack.links == {("keys:out", "segue-02:in"), ("segue:out", "synth:in")}


def connections(server: JackServer) -> dict[str, set[str]]:
    """`jack_lsp -c`: each port with the ports connected to it (listed indented under it)."""
    listing: dict[str, set[str]] = {}
    out = subprocess.run(["jack_lsp", "-c"], env=server.env, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith(" "):
            listing[port].add(line.strip())
        elif line.strip():
            port = line.strip()
            listing[port] = set()
    return listing


@pytest.mark.jack_server
def test_connections_made_by_others_to_segues_ports_are_made_again_after_a_server_restart(model, tmp_path):
    # Everything on this server lives in other processes, like in test_jack_live_rig's rejoin test: libjack frees
    # the clients of a dead server in every process that opens a new one.
    server = JackServer()
    seq = daemon = listener = None
    try:
        seq = looping_note(server, "keep-seq")
        seq_out = server.wait_port(r"keep-seq:.*")
        listener = Listener("keep-synth", jack=server)
        daemon = Daemon(server, model, tmp_path, "--silence-ms", "150", "--length", "0.5", client="keeper")
        # what a patchbay does: connect segue's own ports, which segue itself knows nothing about
        server.connect(seq_out, daemon.in_port)
        server.connect(daemon.out_port, "keep-synth:in")
        assert wait_until(lambda: listener.note_ons(), 10), daemon.output()
        time.sleep(2.5)                                        # segue looks at its connections once a second
        server = restart_server(server, daemon, seq, listener)
        assert wait_until(lambda: "is back; segue rejoined it" in daemon.output(), 10), daemon.output()
        assert "connect keeper" not in daemon.output()         # no need to tell the user to connect them again
        time.sleep(2.0)                                        # the other programs come back later than the server
        seq = looping_note(server, "keep-seq")
        listener = Listener("keep-synth", jack=server)
        restored = [f"restored the connection keep-synth:in <- {daemon.out_port}",
                    f"restored the connection {daemon.in_port} <- {seq_out}"]
        assert wait_until(lambda: all(line in daemon.output() for line in restored), 10), daemon.output()
        assert wait_until(lambda: listener.note_ons(), 10), daemon.output()     # the answer is heard again
        listing = connections(server)
        assert "keep-synth:in" in listing[daemon.out_port], listing
        assert seq_out in listing[daemon.in_port], listing
        for line in restored:
            assert daemon.output().count(line) == 1, daemon.output()
        # the never activated client that reads the connections is not in the graph: jackd never waits for it
        assert "keeper-links" not in server.log_path.read_text(errors="replace")
        assert daemon.stop() == 0, daemon.log_path.read_text()
        assert "Traceback" not in daemon.log_path.read_text()
    finally:
        for proc in (seq, daemon and daemon.proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
        if listener is not None:
            listener.close()
        server.stop()
