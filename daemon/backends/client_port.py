"""A port on one backend client (mixed into each backend's Input and Output, before daemon/port_base.py's base):
opened virtually or on a named port, following that port, and letting its client go in one of two ways when the
JACK server is left or lost (daemon/jack_supervisor.py). Everything that touches the client holds the port's lock.

A backend provides `_new_client()` (a daemon/backends Client for this port's kind), `_virtual(client)` (make our
port on it, connected to nothing; returns the name to show) and, where a client must outlive its server, `_keep`.
"""
from __future__ import annotations

import time

from daemon.ports import find_port

# time for the backend to deliver the last messages before an output port closes
CLOSE_GRACE_S = 0.1


class ClientPort:
    kind = ""                    # "input" or "output", in messages
    while_gone = ""              # what segue does while a followed port is away, in messages

    def _open(self, client_name: str, port_name: str, connect_to: str | None = None) -> None:
        self._client_name, self._port_name = client_name, port_name
        self.connect_to = connect_to
        self.connected = False
        self.lost = True
        self.join(must_find=True)

    def join(self, must_find: bool = False) -> None:
        """Open a new client and our port on it (at start, and when a JACK server is back)."""
        client = self._new_client()
        try:
            self._open_port(client, must_find)
        except BaseException:
            client.delete()
            raise
        with self._lock:
            self._rt, self.lost = client, False

    def _open_port(self, client, must_find: bool) -> None:
        """Our port, virtual or on a named one: `connect_to` at start (it must be there), the port found then when a
        server is rejoined. Not there yet: not connected, and check() opens it when it appears."""
        if self.connect_to is None:
            self.name = self._virtual(client)
            return
        names = list(client.get_ports())
        if must_find or self.name in names:
            index = find_port(names, self.connect_to if must_find else self.name, self.kind)
            client.open_port(index, self._port_name)
            self.name, self.connected = names[index], True
        else:
            self.connected = False

    def check(self) -> str | None:
        """Follow a port opened by name (`connect_to`): note when it vanishes, reopen ours on it when it is back.
        Returns a log line when something changed. The lock is held only while our port is reopened (an output's
        sends take it: listing ports takes milliseconds, and a send must not wait on that)."""
        if self.connect_to is None or self.lost:
            return None
        names = list(self._rt.get_ports())
        present = self.name in names
        if self.connected and not present:
            self.connected = False
            return f"{self.kind} {self.name!r} disappeared; {self.while_gone}"
        if not self.connected and present:
            with self._lock:
                self._rt.close_port()
                self._rt.open_port(names.index(self.name), self._port_name)
            self.connected = True
            return f"{self.kind} {self.name!r} is back; reconnected"
        return None

    def _clients(self) -> list:
        return [self._rt]

    def leave(self) -> None:
        """Close the port and its client (the server is alive)."""
        with self._lock:
            self.lost = True
            for client in self._clients():
                client.close_port()
                client.delete()

    def abandon(self) -> None:
        """The server went away: never touch this client again."""
        with self._lock:
            self.lost = True
            for client in self._clients():
                self._keep(client)

    def _keep(self, client) -> None:
        pass                     # dropped untouched

    def server_gone(self) -> bool | None:
        """Whether JACK said the server left this port's client; None where the backend cannot say."""
        return None

    def _close(self) -> None:
        if not self.lost:
            self.leave()


class ClientOutput(ClientPort):
    kind, while_gone = "output", "segue plays on and reconnects when it is back"

    def _close(self) -> None:
        if not self.lost:
            # Backends like JACK deliver queued messages at their next cycle; closing at once would drop the final
            # note-offs and all-notes-off. A few cycles' grace is cheap at shutdown.
            time.sleep(CLOSE_GRACE_S)
        super()._close()


class ClientInput(ClientPort):
    kind, while_gone = "input", "waiting for it to come back"

    def dropped(self) -> int | None:
        """How many messages the backend dropped before segue read them (a flood), so far; None where it cannot say.
        The session takes new drops as lost input, as its inbox's own: a note-off among them leaves a key down."""
        return None
