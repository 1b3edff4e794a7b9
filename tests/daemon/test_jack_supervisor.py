"""The JACK supervisor (daemon/jack_supervisor.py): a lost server is heard from JACK itself where segue's own client
runs (its shutdown flag), from the server's socket where python-rtmidi's clients run; ports asleep on a departed
client's semaphore mid-session are reopened."""
from __future__ import annotations

import socket

import pytest

import daemon.jack_semaphores as js
from daemon.jack_connections import NotKept
from daemon.jack_supervisor import JackServerWatch, JackSupervisor


class FakeJackPort:
    """What the supervisor asks of a port: a virtual port (connect_to None) that can leave, be abandoned and join
    again. `gone`: JACK's shutdown flag as segue's own client reports it (None: python-rtmidi's cannot say)."""

    def __init__(self, name, gone=None):
        self.name, self.connect_to, self.lost, self.joins, self.abandoned = name, None, False, 0, 0
        self.gone = gone

    def join(self):
        self.lost, self.joins = False, self.joins + 1
        if self.gone is not None:
            self.gone = False            # a new client on the server that runs now

    def leave(self):
        self.lost = True

    def abandon(self):
        self.lost, self.abandoned = True, self.abandoned + 1

    def close(self):
        self.lost = True

    def check(self):
        return None

    def server_gone(self):
        return self.gone


@pytest.fixture
def server(tmp_path):
    """A stand-in for jackd2's socket in /dev/shm: a listening UNIX socket, its path."""
    path = tmp_path / "jack_default_0_0"
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(path))
    listening.listen()
    yield path
    listening.close()


def supervised(path, gone):
    supervisor = JackSupervisor(NotKept(), JackServerWatch(str(path)))
    return supervisor, supervisor.open_ports(lambda: (FakeJackPort("s:in", gone), FakeJackPort("s:out", gone)))


@pytest.fixture(autouse=True)
def no_race(monkeypatch):
    monkeypatch.setattr("daemon.jack_supervisor.JACK_SETTLE_S", 0)
    monkeypatch.setattr(js, "departed_semaphore_waits", lambda: 0)


def test_on_segues_own_client_jacks_shutdown_flag_says_the_server_left_whatever_its_socket_shows(server):
    supervisor, (port_in, output) = supervised(server, gone=False)
    assert supervisor.look() is None
    port_in.gone = output.gone = True        # JACK dropped segue's client; the server's socket is untouched
    line = supervisor.look()
    assert "went away" in line and "is back; segue rejoined it" in line
    assert (port_in.abandoned, output.abandoned, port_in.joins, output.joins) == (1, 1, 1, 1)
    assert supervisor.look() is None


def test_on_segues_own_client_a_server_that_keeps_it_is_there_though_its_socket_file_is_gone(server):
    supervisor, (port_in, output) = supervised(server, gone=False)
    server.unlink()                          # a client named like the server deleted the socket file
    assert supervisor.look() is None and not port_in.lost and port_in.abandoned == 0


def test_on_python_rtmidis_clients_the_servers_socket_says_it_left_and_came_back(server, tmp_path):
    supervisor, (port_in, output) = supervised(server, gone=None)
    server.unlink()                          # stopped: python-rtmidi's ports go on looking alive
    assert "went away" in supervisor.look() and port_in.abandoned == output.abandoned == 1
    assert supervisor.look() is None and port_in.joins == 0           # no server: waits
    again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    again.bind(str(server))
    again.listen()
    try:
        assert "is back; segue rejoined it" in supervisor.look() and port_in.joins == output.joins == 1
    finally:
        again.close()


def test_mid_session_a_port_asleep_on_a_departed_semaphore_at_two_looks_running_is_reopened(monkeypatch, server):
    asleep = iter([0, 1, 0, 1, 1, 0])    # the check at start, looks 1-4, then the check after the reopen
    monkeypatch.setattr(js, "departed_semaphore_waits", lambda: next(asleep))
    supervisor, (port_in, output) = supervised(server, gone=None)
    assert [supervisor.look(), supervisor.look(), supervisor.look()] == [None, None, None]   # once, then twice
    line = supervisor.look()
    assert "departed client's semaphore" in line and "connect s:in and s:out again" in line
    assert (port_in.joins, output.joins, port_in.lost, output.lost) == (1, 1, False, False)
