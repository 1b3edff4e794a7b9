"""The probe that keeps a JACK input live after an unfinished sysex (daemon/backends/sysex_probe.py), with a fake
client."""
from __future__ import annotations

from daemon.backends.sysex_probe import PROBE, PROBE_LOST_S, PROBE_PERIOD_S, Probe


class FakeProbeClient:
    """What Probe uses of a python-rtmidi MidiOut: its destinations, one port, sends."""

    def __init__(self, destinations):
        self.destinations, self.opened, self.sent = list(destinations), None, []

    def get_ports(self):
        return self.destinations

    def is_port_open(self):
        return self.opened is not None

    def open_port(self, index, name):
        self.opened = self.destinations[index]

    def close_port(self):
        self.opened = None

    def send_message(self, data):
        self.sent.append(list(data))


def probe():
    made = Probe(FakeProbeClient(["synth:in", "segue:in", "segue-01:in"]))
    made.link("segue-01:in")
    return made


def test_the_probe_links_to_the_input_it_was_given_and_again_when_asked():
    made = probe()
    assert made.rt.opened == "segue-01:in"
    made.link("segue-01:in")                     # check() made the input port anew: the old link is gone
    assert made.rt.opened == "segue-01:in"


def test_an_unlinked_probe_sends_nothing():
    made = Probe(FakeProbeClient(["segue:in"]))     # a followed source is away: segue's input has no port yet
    made.send_if_due(10.0)
    assert made.rt.sent == []


def test_the_probe_alone_is_dropped_and_everything_else_passes_whole():
    made = probe()
    assert made.heard(list(PROBE)) == ([], False)
    for message in ([0x90, 60, 90], [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0xF8]):
        assert made.heard(message) == ([message], False)


def test_a_sysex_the_probe_ended_gives_back_its_head_and_the_notes_it_swallowed_in_order():
    made = probe()
    glued = [0xF0, 0x01, 0x02, 0x90, 60, 90, 0x80, 60, 0, *PROBE]
    assert made.heard(glued) == ([[0xF0, 0x01, 0x02], [0x90, 60, 90], [0x80, 60, 0]], True)
    ended_by_the_player = [0xF0, 0x01, 0x90, 60, 90, 0xF0, 0x7E, 0xF7]
    assert made.heard(ended_by_the_player) == ([[0xF0, 0x01], [0x90, 60, 90], [0xF0, 0x7E, 0xF7]], True)


def test_the_rest_of_a_sysex_the_probe_cut_short_is_dropped():
    assert probe().heard([0x10, 0x20, 0xF7]) == ([], False)


def test_one_probe_at_a_time_every_period_while_they_come_back():
    made = probe()
    made.send_if_due(10.0)
    made.send_if_due(10.0 + PROBE_PERIOD_S)          # the first is not back yet
    assert made.rt.sent == [PROBE]
    made.heard(list(PROBE))
    made.send_if_due(10.0 + PROBE_PERIOD_S)
    assert len(made.rt.sent) == 2
    made.send_if_due(10.0 + PROBE_PERIOD_S + PROBE_LOST_S - 0.01)
    assert len(made.rt.sent) == 2
    made.send_if_due(10.0 + PROBE_PERIOD_S + PROBE_LOST_S)   # lost: sent again
    assert len(made.rt.sent) == 3
    made.heard([0xF0, 0x01, *PROBE])                  # back at the end of an unfinished sysex counts too
    made.send_if_due(10.0 + 2 * PROBE_PERIOD_S + PROBE_LOST_S)
    assert len(made.rt.sent) == 4
