"""The JACK server's lifetime, as segue's two ports live it: opening them clear of the libjack race, noticing the
server go, joining it again when it is back, and making again the connections other programs had made.

Who says the server went away: segue's own JACK client hears it from JACK itself (its shutdown notification, a flag
the C cycle sets: daemon/jack_process.c `sj_on_shutdown`). python-rtmidi's clients do not say (their ports go on
looking alive), so for them, and to see a server come back, segue looks at the server's socket (JackServerWatch).
When the server goes the ports are dead (python-rtmidi's clients never recover) and segue waits; when a server of
that name runs again, segue joins it with new clients under the same port names.
"""
from __future__ import annotations

import logging
import os

import rtmidi

from segue.errors import SegueError

from daemon import jack_semaphores
from daemon.jack_client import NoJackServer
from daemon.ports import jack_server_name, jack_server_socket, rtmidi_libjack, socket_answers

log = logging.getLogger("segue.daemon")

# The ports are checked for the libjack race (daemon/jack_semaphores.py) after a few periods.
JACK_SETTLE_S = 0.2
# A port seen asleep on a departed client's semaphore at this many looks in a row is stuck (a thread merely passing
# through a futex call is not seen twice).
ASLEEP_LOOKS = 2


class JackServerWatch:
    """The server's socket, which jackd2 keeps in /dev/shm: a new server makes a new socket file (a new inode and
    change time, even when it restarted between two looks), and connecting to it and hanging up tells a running
    server from a killed one's leftover file at no cost to it."""

    def __init__(self, path: str | None = None) -> None:
        self.name = jack_server_name()
        self.path = path or jack_server_socket(self.name)
        self.joined = self._identity()
        self.checkable = self.joined is not None       # another JACK (jack1, other tmpdir): not checked

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, st.st_ctime_ns     # a freed inode number can come back; its ctime cannot

    def running(self) -> bool:
        """Whether a server of this name answers (one not checkable is taken to: joining it tells)."""
        return not self.checkable or (self._identity() is not None and socket_answers(self.path))

    def state(self) -> str:
        """'joined' (the server segue's clients are on runs), 'gone' (no server), or 'new' (another server of
        the same name runs: segue's clients died with the old one); after 'new', `rejoined()` once segue is on it."""
        if not self.checkable:
            return "joined"
        if not self.running():
            return "gone"
        return "joined" if self._identity() == self.joined else "new"

    def rejoined(self) -> None:
        self.joined = self._identity()


class JackSupervisor:
    """Owns the JACK server's lifetime for one input and one output port.

    The ports offer join() (new clients on the server that runs), leave() (close them; the server is alive),
    abandon() (the server went away: never touch them again), `lost`, `connect_to`, `name`, check() (follow a
    named port) and server_gone() (JACK's word on segue's own client; None where the client cannot say)."""

    def __init__(self, links, watch: JackServerWatch | None = None) -> None:
        self.links = links
        self._watch = watch
        self.port_in = self.output = None
        self._asleep_looks = 0

    @classmethod
    def for_ports(cls, client_name: str, in_port_name: str, out_port_name: str, own_jack: bool) -> JackSupervisor:
        return cls(_connections(client_name, in_port_name, out_port_name, own_jack))

    @property
    def name(self) -> str:
        return self.watch.name

    @property
    def watch(self) -> JackServerWatch:
        if self._watch is None:
            self._watch = JackServerWatch()
        return self._watch

    def open_ports(self, open_both):
        """open_both() -> (input, output), opened clear of the libjack race; their connections kept from then on."""
        self.links.before_ports()
        self.port_in, self.output = _both_awake(open_both, _close_both)
        self.links.ports_opened()
        self.watch                               # the server the ports are on now
        return self.port_in, self.output

    def close(self) -> None:
        """At the end of the session: the connections' client is closed on a server that is still there (closing a
        client of a server that went away can wait forever in libjack)."""
        if self.links.joined and self.watch.running():
            self.links.close()

    def _state(self) -> str:
        gone = self.port_in.server_gone()
        if gone is None:                         # python-rtmidi's clients cannot say: the socket tells
            return self.watch.state()
        if not gone:
            return "joined"                      # JACK's own word, whatever the files in /dev/shm say
        return "new" if self.watch.running() else "gone"

    def look(self) -> str | None:
        """About once a second (the session calls it): the server, the libjack race, the ports followed by name and
        the connections others made. Returns a log line when something changed."""
        state = self._state()
        if state != "joined" or self.port_in.lost:
            return self._follow_server(state)
        # The race checked at start can meet segue mid-session too, if a port is ever reopened while clients come
        # and go: a thread asleep on a departed client's semaphore never wakes, and the graph stands still.
        self._asleep_looks = self._asleep_looks + 1 if jack_semaphores.departed_semaphore_waits() else 0
        if self._asleep_looks >= ASLEEP_LOOKS:
            self._asleep_looks = 0
            _leave_both((self.port_in, self.output))
            self.links.ports_gone()
            return ("JACK: a port of segue slept on a departed client's semaphore (a libjack race; the graph stood "
                    "still); reopening both ports. " + (self._follow_server(state) or ""))
        # ports followed by name are reconnected by the ports themselves (check())
        followed = {port.name for port in (self.port_in, self.output) if port.connect_to is not None}
        restored = self.links.look(followed)
        return "; ".join(line for line in (self.port_in.check(), self.output.check(), *restored) if line) or None

    def _follow_server(self, state: str) -> str | None:
        """Abandon the ports of a server that went away; join the server that runs (again). Returns a log line."""
        ports = (self.port_in, self.output)
        lost_line = None
        if state != "joined" and not self.port_in.lost:
            for port in ports:
                port.abandon()
            self.links.abandon()                 # its client died with the server too (it may have restarted at once)
            lost_line = (f"the JACK server {self.name!r} went away; segue waits for it to come back (its ports are "
                         f"gone meanwhile; Ctrl-C to stop)")
        if state == "gone":
            return lost_line
        if not self.links.joined and not self.links.open():
            log.debug("JACK: no client to read the connections of segue's ports with; they are not made again")
        self.links.before_ports()                # segue's ports are the ones that are new after the join
        try:
            _both_awake(_join_both, _leave_both, ports)
        except (SegueError, rtmidi.RtMidiError, NoJackServer) as exc:
            log.debug("segue could not join the JACK server %r yet (%s); trying again", self.name, exc)
            # Abandoned, not closed: the server that took it may be gone by the next look, replaced by another one
            # without a look in between that saw none. An idle client left on a live server costs nothing.
            self.links.abandon()
            return lost_line                     # a server still starting up: the next look tries again
        back = f"the JACK server {self.name!r} is back; segue rejoined it" if state == "new" else "reopened"
        self.watch.rejoined()
        self.links.ports_opened()
        virtual = [port.name for port in ports if port.connect_to is None]
        again = (f"; connect {' and '.join(virtual)} again (your patchbay may do it)"
                 if virtual and not self.links.joined else "")
        return "; ".join(filter(None, [lost_line, back + again, self.port_in.check(), self.output.check()]))


def _connections(client_name: str, in_port_name: str, out_port_name: str, own_jack: bool):
    """What keeps the connections other programs make to segue's ports, on the server that runs now (NotKept: no
    libjack to ask). Its client is in a libjack segue's ports do not use: beside segue's own client in
    python-rtmidi's, so that the own client is alone in the system's and the libjack race of daemon/jack_semaphores.py
    cannot meet it (measured here with jack_lsp run 5 times a second: the two in one libjack met it at 2 of 20
    starts, apart at 0 of 100; python bench/jack_race.py)."""
    from daemon.jack_connections import JackConnections, NotKept

    links = JackConnections.load(client_name, in_port_name, out_port_name, rtmidi_libjack() if own_jack else None)
    if links is None:
        return NotKept()
    if not links.open():
        log.debug("JACK: no client to read the connections of segue's ports with; they are not kept")
    return links


def _both_awake(open_both, undo_both, *args):
    """open_both(*args) -> (input, output), done again (after undo_both) while a thread of theirs sleeps on a
    departed client's semaphore (daemon/jack_semaphores.py): at start and when segue rejoins a server."""

    def undo_logged(ports):
        log.info("JACK: a client that left as segue joined kept segue's port asleep (a libjack race); reopening")
        undo_both(ports)

    return jack_semaphores.open_awake(lambda: open_both(*args), undo_logged, JACK_SETTLE_S)


def _close_both(ports) -> None:
    for port in reversed(ports):
        port.close()


def _join_both(ports):
    """New clients for both ports on a server that came back."""
    port_in, output = ports
    port_in.join()
    try:
        output.join()
    except BaseException:
        port_in.leave()
        raise
    return ports


def _leave_both(ports) -> None:
    for port in reversed(ports):
        port.leave()
