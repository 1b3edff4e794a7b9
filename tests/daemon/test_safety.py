"""Note tracking, panic messages and echo recognition."""
from daemon.safety import EchoFilter, NoteTracker


def test_panic_releases_every_sounding_note_then_pedal_and_all_notes_off():
    tracker = NoteTracker()
    tracker.sent([0x90, 60, 100], 0.0)
    tracker.sent([0x91, 64, 90], 0.1)
    tracker.sent([0x90, 67, 80], 0.2)
    tracker.sent([0x80, 67, 0], 0.3)              # released normally
    tracker.sent([0x90, 72, 0], 0.3)              # velocity-0 note-on is a note-off
    messages = tracker.panic_messages()
    assert messages[:2] == [[0x80, 60, 0], [0x81, 64, 0]]
    assert sorted(map(tuple, messages[2:])) == [(0xB0, 64, 0), (0xB0, 123, 0), (0xB1, 64, 0), (0xB1, 123, 0)]
    assert tracker.sounding == {}


def test_echo_of_our_own_output_is_recognised_once_and_only_recently():
    echo = EchoFilter(window_s=0.1)
    echo.sent([0x90, 60, 100], 1.0)
    assert echo.is_echo([0x90, 60, 100], 1.01)
    assert not echo.is_echo([0x90, 60, 100], 1.02)     # each send excuses one arrival
    echo.sent([0x90, 62, 100], 2.0)
    assert not echo.is_echo([0x90, 62, 100], 2.5)      # too late to be our echo: the player played it
    assert not echo.is_echo([0x90, 61, 100], 2.5)


def test_a_loop_a_second_long_is_learnt_from_its_echoes_and_then_recognised():
    echo = EchoFilter(window_s=1.5)
    for i in range(6):                                   # the first echoes teach the filter the loop's delay
        echo.sent([0x90, 60 + i, 65], i * 0.1)
        echo.is_echo([0x90, 60 + i, 65], i * 0.1 + 1.0 + 0.001 * i)
    assert abs(echo.loop_delay() - 1.003) < 0.003
    echo.sent([0x90, 70, 65], 10.0)
    assert echo.matches([0x90, 70, 65], 11.01)           # looking does not use it up
    assert echo.is_echo([0x90, 70, 65], 11.01)
    assert not echo.is_echo([0x90, 70, 65], 11.02)       # each send excuses one arrival


def test_a_player_repeating_segues_notes_at_no_steady_delay_is_not_an_echo():
    echo = EchoFilter(window_s=1.5)
    for i, delay in enumerate((0.3, 0.9, 0.5, 1.2, 0.2, 0.7, 1.4, 0.45)):
        echo.sent([0x90, 60, 65], i * 2.0)
        assert not echo.is_echo([0x90, 60, 65], i * 2.0 + delay)
    assert echo.loop_delay() is None


def test_a_player_repeating_a_riff_passed_thru_at_a_steady_tempo_is_not_taken_for_a_loop():
    echo = EchoFilter(window_s=1.5)
    for i in range(12):                                  # the same three notes every 0.71 s, each passed thru
        for k, pitch in enumerate((60, 64, 67)):
            t = i * 0.71 + k * 0.05
            assert not echo.is_echo([0x90, pitch, 90], t), (i, pitch)
            echo.sent([0x90, pitch, 90], t + 0.002, thru=True)
    assert echo.loop_delay() is None
    assert echo.is_echo([0x90, 72, 90], 20.0) is False
    echo.sent([0x90, 72, 90], 20.0, thru=True)
    assert echo.is_echo([0x90, 72, 90], 20.01)           # thru come straight back is still an echo
