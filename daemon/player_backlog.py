"""The player's notes the generator has not heard yet; in a flood the model cannot keep up with, only the latest.

While the generator is behind, the session holds the player's note edges back here, keeping at most AT_MOST of them
(the oldest notes go first), so the model hears the latest of a flood and is ready to answer as soon as it ends
(instead of after minutes of backlog).
"""
from __future__ import annotations

import collections
import logging

log = logging.getLogger("segue.daemon")

# At an answer's opening after a flood the generator may still have to hear a few such batches (the one it hears,
# those waiting: session.GENERATOR_BEHIND, the last), and the answer's first note waits for them: measured with the
# shipped model on a loaded machine, 256 dense edges take it 66 ms, 512 took 141 ms (a 30 s flood's answer was handed
# over 264 ms late at 512).
AT_MOST = 256


class PlayerBacklog:
    def __init__(self, at_most: int = AT_MOST):
        self.at_most = at_most
        self.edges: list = []        # codec.NoteEdge rows, as the streaming encoder wrote them
        self.shed = 0                # notes the generator never heard

    def add(self, edges: list) -> None:
        self.edges += edges

    def trim(self) -> None:
        """Shed the oldest notes past AT_MOST edges (said once; counted)."""
        if len(self.edges) <= self.at_most:
            return
        self.edges, shed = shed_oldest_notes(self.edges, self.at_most)
        if shed and not self.shed:
            log.warning("input: the model cannot keep up with what comes in (a flood?); it hears only the latest "
                        "notes. Said once; counted.")
        self.shed += shed

    def take(self) -> list:
        edges, self.edges = self.edges, []
        return edges

    def summaries(self) -> list[str]:
        """The line said at the end of the session, if any notes were shed."""
        return [f"input: {self.shed} notes of a flood never reached the model"] if self.shed else []


def shed_oldest_notes(edges: list, limit: int) -> tuple[list, int]:
    """(`edges` cut to about `limit`, how many notes were shed): the oldest note starts go first, each with its end
    when that is among the edges; an end whose start the model already heard stays (it must hear the note end)."""
    excess = len(edges) - limit
    kept, ends_to_shed, shed = [], collections.Counter(), 0
    for edge in edges:
        if edge.is_end and ends_to_shed[edge.pitch]:
            ends_to_shed[edge.pitch] -= 1
            excess -= 1
        elif not edge.is_end and excess > 0:
            ends_to_shed[edge.pitch] += 1
            excess -= 1
            shed += 1
        else:
            kept.append(edge)
    return kept, shed
