"""Count-based baselines over event indices: a unigram model and a variable-order Markov model.

The Markov model is the Continuator's idea (Pachet 2003: predict the next event from the longest recent context
that was seen before, falling back to shorter ones) turned into a proper distribution by interpolation: every
order's estimate keeps some mass for the next shorter context,

    P_{-1}(x | h)  = 1 / 388                                          uniform: every event keeps some mass
    P_k(x | h)     = own_k(h, x) + escape_k(h) * P_{k-1}(x | h)        if the order-k context occurred
    P_k(x | h)     = P_{k-1}(x | h)                                   if it never did

where h_k is the last k events before x, c_k(h, x) counts how often x followed h_k in training, n_k(h) = sum_x c_k
and u_k(h) = the number of distinct events that followed h_k. Three estimates (`escape`):

  "C"   PPM-C (Moffat's escape method C; interpolated it is Witten-Bell): own = c / (n + u), escape = u / (n + u).
  "D"   PPM-D (Howard 1993; interpolated absolute discounting with D = 1/2): own = (c - 1/2) / n, escape = u/2n.
  "KN"  interpolated modified Kneser-Ney (Chen & Goodman 1998), the strongest of the three here: own =
        (c - D(c)) / n with three discounts D1, D2, D3+ per order estimated from the counts of counts, escape =
        sum of the discounts / n; and every order but the highest uses *continuation* counts: in how many distinct
        contexts (one event longer) the n-gram occurred, a piece start counting as one. An event that follows many
        different contexts is a better guess in an unseen context than one frequent only after a single context.

Each P_k sums to 1 by induction, so the blend is a distribution for every context. There is no PPM "exclusion":
blending keeps scoring vectorised. The unigram model is the order-0 case (counts blended with uniform).
Near a sequence start only the orders the available history allows are used.

Contexts are packed into uint64 codes (9 bits per event, exact up to order 6; a 64-bit multiplicative hash above
that — collisions are negligible at these sizes); each order is a sorted table of (context << 9 | event) keys and
counts, looked up with np.searchsorted. Training and distributions are vectorised numpy over the whole corpus.
Measured on this project's 2-core machine: KN order 10 fitted on the default train split in 12 keys (9.0 M
events) in about 90 s; dense [388] distributions for the 52 k eval events in a few seconds. Scoring itself is
segue.evaluation.scoring's (`piece_distributions` gives what it needs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from segue.codec.codec import NUM_CLASSES
from segue.errors import SegueError

EVENT_BITS = 9  # 2**9 = 512 > 388, so an event fits in 9 bits of a context code
EVENT_MASK = np.uint64((1 << EVENT_BITS) - 1)
EXACT_MAX_ORDER = 6  # 6 events * 9 bits = 54 bits of context, plus 9 for the event: 63 bits, fits uint64
HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant: spreads bits in multiplicative hashing
ESCAPE_METHODS = {"C", "D", "KN"}  # PPM-C (Witten-Bell), PPM-D (absolute discount 1/2), modified Kneser-Ney
PPM_D_DISCOUNT = 0.5
ALL_KEYS = tuple(range(-5, 7))  # transpositions into every key (the trainer's data.all_keys)
SCORE_CHUNK = 4096  # positions per dense [chunk, 388] probability block (~12 MB of float64)


@dataclass
class _OrderTable:
    """Counts for one context length k: sorted (context << 9 | event) keys and their cumulative counts.

    A context's entries are contiguous (the context sits in the high bits), so two binary searches give its run
    [first, end): u = end - first distinct successors, n = cumulative[end] - cumulative[first] occurrences.
    `continuation` holds Kneser-Ney's continuation counts of the same keys (how many distinct events preceded the
    context + event; a piece start counts as one), used when the order is not the highest one blended.
    About 16 bytes per distinct (context, event) pair (24 with continuation counts), which bounds memory."""

    keys: np.ndarray  # uint64, sorted, unique
    cumulative: np.ndarray  # int64 [len(keys) + 1]: counts of keys[:i]
    continuation: np.ndarray | None = None  # int64 [len(keys) + 1], cumulative like `cumulative`

    @classmethod
    def from_joint(cls, joint: np.ndarray) -> "_OrderTable":
        """Table from one key per training position; sorts `joint` in place (callers pass a temporary)."""
        joint.sort()
        if not len(joint):
            return cls(joint, np.zeros(1, np.int64))
        starts = np.flatnonzero(np.concatenate([[True], joint[1:] != joint[:-1]]))
        cumulative = np.append(starts, len(joint)).astype(np.int64)  # counts of keys[:i] = position of key i's run
        return cls(joint[starts], cumulative)

    def add_continuation(self, predecessors: np.ndarray) -> None:
        """Continuation counts from one key per distinct (preceding event, key) pair."""
        other = _OrderTable.from_joint(predecessors)
        counts = np.zeros(len(self.keys), np.int64)
        counts[np.searchsorted(self.keys, other.keys)] = np.diff(other.cumulative)
        self.continuation = np.concatenate([[0], np.cumsum(counts)])

    def runs(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[first, end) of each context's entries; first == end when the context never occurred."""
        low = codes << np.uint64(EVENT_BITS)
        return np.searchsorted(self.keys, low, "left"), np.searchsorted(self.keys, low | EVENT_MASK, "right")

    def counts(self, entries: np.ndarray, continuation: bool = False) -> np.ndarray:
        cumulative = self.continuation if continuation else self.cumulative
        return (cumulative[entries + 1] - cumulative[entries]).astype(np.float64)

    def discounts(self, continuation: bool) -> np.ndarray:
        """Modified Kneser-Ney discounts D1, D2, D3+ from the counts of counts (Chen & Goodman 1998, eq. 26)."""
        counts = np.diff(self.continuation if continuation else self.cumulative)
        n1, n2, n3, n4 = (np.count_nonzero(counts == c) for c in (1, 2, 3, 4))
        if min(n1, n2, n3, n4) == 0:  # too few counts to estimate: the plain absolute discount 1/2
            return np.full(3, PPM_D_DISCOUNT)
        y = n1 / (n1 + 2 * n2)
        return np.clip(np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]), 0.05, None)


def _concatenate(sequences: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All sequences end to end, plus each position's index within its own sequence."""
    arrays = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    events = np.concatenate(arrays)
    if events.min() < 0 or events.max() >= NUM_CLASSES:
        raise SegueError(f"event indices must be in 0..{NUM_CLASSES - 1}; got {events.min()}..{events.max()}")
    lengths = np.array([len(a) for a in arrays])
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return events, np.arange(len(events)) - starts


def _context_codes(events: np.ndarray, max_order: int):
    """Yield (k, codes) for k = 1..max_order: codes[t] encodes events[t-k .. t-1] (garbage where t < k)."""
    events = events.astype(np.uint64)
    acc = np.zeros(len(events), np.uint64)
    for k in range(1, max_order + 1):
        previous = events[:-k] if k < len(events) else events[:0]
        if k <= EXACT_MAX_ORDER:
            acc[k:] |= previous << np.uint64(EVENT_BITS * (k - 1))
            yield k, acc
        else:
            if k == EXACT_MAX_ORDER + 1:
                acc = acc * HASH_MULTIPLIER  # switch to hashing; the exact code so far seeds the hash
            acc[k:] = (acc[k:] ^ (previous + np.uint64(1))) * HASH_MULTIPLIER
            yield k, acc >> np.uint64(EVENT_BITS + 1)  # 54 bits, leaving room for the event


def _joint(codes: np.ndarray, events: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(context << 9 | event) keys of the valid positions (a new array)."""
    joint = codes[valid] << np.uint64(EVENT_BITS)
    joint |= events[valid]
    return joint


class MarkovModel:
    """Variable-order Markov model over event indices: PPM-C, PPM-D or modified Kneser-Ney blending."""

    def __init__(self, max_order: int = 8, escape: str = "C"):
        if max_order < 0:
            raise SegueError(f"max_order must be >= 0, got {max_order}")
        if escape not in ESCAPE_METHODS:
            raise SegueError(f"escape must be one of {sorted(ESCAPE_METHODS)}, got {escape!r}")
        self.max_order = max_order
        self.escape = escape
        self.tables: list[_OrderTable] = []  # index k = order k
        self.trained_events = 0
        self._discounts: dict[tuple[int, bool], np.ndarray] = {}
        # KN: every estimated discount is multiplied by this (1 = Chen & Goodman's estimates; tuned on held-out data)
        self.discount_scale = 1.0

    @property
    def name(self) -> str:
        return f"{'KN' if self.escape == 'KN' else 'PPM-' + self.escape} order {self.max_order}"

    # ---- training -------------------------------------------------------------------------------------------
    def fit(self, sequences: Iterable[np.ndarray]) -> "MarkovModel":
        events, position = _concatenate(sequences)
        if len(events) == 0:
            raise SegueError("no training events: the train split is empty")
        self.trained_events = len(events)
        events = events.astype(np.uint64)
        self.tables = [_OrderTable.from_joint(events.copy())]  # order 0: one empty context, code 0
        previous_codes = np.zeros(len(events), np.uint64)  # order-0 context code of every position
        for k, codes in _context_codes(events, self.max_order):
            self.tables.append(_OrderTable.from_joint(_joint(codes, events, position >= k)))
            if self.escape == "KN":
                # Order k-1's continuation counts: each distinct order-k key is one distinct (preceding event,
                # order-(k-1) key) pair; a piece start (nothing before) is one more distinct predecessor.
                valid = position >= k
                _, first_seen = np.unique(_joint(codes, events, valid), return_index=True)
                lower = _joint(previous_codes, events, position >= k - 1)
                lower_position = position[position >= k - 1]
                extended = lower[lower_position >= k][first_seen]
                self.tables[k - 1].add_continuation(
                    np.concatenate([extended, np.unique(lower[lower_position == k - 1])]))
                del first_seen, lower, extended
            previous_codes = codes.copy()
        self._discounts = {}
        return self

    def _discount(self, k: int, continuation: bool) -> np.ndarray:
        if (k, continuation) not in self._discounts:
            self._discounts[k, continuation] = self.tables[k].discounts(continuation)
        return np.minimum(self._discounts[k, continuation] * self.discount_scale, [1.0, 2.0, 3.0])

    # ---- probabilities --------------------------------------------------------------------------------------
    def _blend(self, k: int, first: np.ndarray, end: np.ndarray, entries: np.ndarray, owner: np.ndarray):
        """(escape weight per context, own-count term per entry): P_k = own + escape * P_{k-1}."""
        table = self.tables[k]
        continuation = self.escape == "KN" and k < self.max_order  # lower orders of KN use continuation counts
        cumulative = table.continuation if continuation else table.cumulative
        n = (cumulative[end] - cumulative[first]).astype(np.float64)
        u = (end - first).astype(np.float64)
        counts = table.counts(entries, continuation)
        if self.escape == "C":
            return u / (n + u), counts / (n + u)[owner]
        if self.escape == "D":
            return PPM_D_DISCOUNT * u / n, (counts - PPM_D_DISCOUNT) / n[owner]
        discount = self._discount(k, continuation)[np.minimum(counts, 3).astype(np.int64) - 1]
        return np.bincount(owner, weights=discount, minlength=len(n)) / n, (counts - discount) / n[owner]

    def _order0(self) -> np.ndarray:
        table = self.tables[0]
        entries = np.arange(len(table.keys))
        escape, own = self._blend(0, np.zeros(1, np.int64), np.array([len(entries)]), entries,
                                  np.zeros(len(entries), np.int64))
        p = np.full(NUM_CLASSES, escape[0] / NUM_CLASSES)
        p[(table.keys & EVENT_MASK).astype(np.int64)] += own
        return p

    def _distributions(self, codes_by_order: list[np.ndarray], position: np.ndarray) -> np.ndarray:
        """Dense [B, 388] next-event distributions; codes_by_order[k-1][i] is row i's order-k context code."""
        if not self.tables:
            raise SegueError("the Markov model is not trained: call fit() first")
        probs = np.tile(self._order0(), (len(position), 1))
        for k in range(1, self.max_order + 1):
            table = self.tables[k]
            rows = np.flatnonzero(position >= k)
            first, end = table.runs(codes_by_order[k - 1][rows])
            seen = end > first
            rows, first, end = rows[seen], first[seen], end[seen]
            if not len(rows):
                continue
            u = end - first
            # Expand each context's run of entries [first, end) into flat index arrays.
            run_offsets = np.cumsum(u) - u
            entries = np.repeat(first - run_offsets, u) + np.arange(u.sum())
            owner = np.repeat(np.arange(len(rows)), u)
            escape, own = self._blend(k, first, end, entries, owner)
            probs[rows] *= escape[:, None]
            next_events = (table.keys[entries] & EVENT_MASK).astype(np.int64)
            probs[rows[owner], next_events] += own
        return probs

    def next_distribution(self, history: Sequence[int]) -> np.ndarray:
        """P(next event | history) as a [388] array (uses the last max_order events)."""
        history = np.asarray(history, dtype=np.int64)[-self.max_order:] if self.max_order else np.zeros(0, np.int64)
        padded = np.append(history, 0)  # the position being predicted
        codes = [c[-1:].copy() for _, c in _context_codes(padded, self.max_order)]
        return self._distributions(codes, np.array([len(history)]))[0]

    def piece_distributions(self, events: np.ndarray) -> np.ndarray:
        """[T-1, 388] for one piece: row t is P(events[t+1] | events[..t]), aligned like a network's logits."""
        events = np.asarray(events, dtype=np.int64)
        codes = [c.copy() for _, c in _context_codes(events, self.max_order)]
        targets = np.arange(1, len(events))
        out = np.empty((len(targets), NUM_CLASSES))
        for start in range(0, len(targets), SCORE_CHUNK):
            chunk = targets[start:start + SCORE_CHUNK]
            out[start:start + len(chunk)] = self._distributions([c[chunk] for c in codes], chunk)
        return out

    # ---- generation -----------------------------------------------------------------------------------------
    def sample(self, history: Sequence[int], steps: int, temperature: float = 1.0,
               seed: int | None = None) -> np.ndarray:
        """Continue `history` by `steps` events, drawn by the one sampling loop from the blended distribution."""
        from segue.inference.sampling import Sampler
        from segue.inference.sampling_loop import Length, SamplingLoop

        source = MarkovSource(self)
        logits = source.prime(history)
        loop = SamplingLoop(Sampler(temperature, seed=seed))
        loop.start(history)
        return loop.run(source.step, logits, Length(steps=steps))


class MarkovSource:
    """A MarkovModel as a next-event source for the sampling loop (`prime(primer)`, then `step(event)`, each giving
    log-probabilities, so the same Sampler applies to it as to a network's logits). It keeps only the last
    max_order events: the model reads no further back."""

    def __init__(self, model: MarkovModel):
        self.model = model
        self.history: list[int] = []

    def prime(self, primer: Sequence[int]) -> np.ndarray:
        order = self.model.max_order
        self.history = [int(e) for e in primer[-order:]] if order else []
        return np.log(self.model.next_distribution(self.history))

    def step(self, event: int) -> np.ndarray:
        self.history.append(int(event))
        if len(self.history) > self.model.max_order:
            del self.history[0]
        return np.log(self.model.next_distribution(self.history))


class UnigramModel(MarkovModel):
    """Event frequencies only: the order-0 PPM-C estimate (counts blended with uniform)."""

    def __init__(self):
        super().__init__(max_order=0)


def truncated(model: MarkovModel, order: int) -> MarkovModel:
    """The same counts used only up to `order` (no refit: the tables of lower orders are shared)."""
    if order > model.max_order:
        raise SegueError(f"order {order} exceeds the trained max_order {model.max_order}")
    view = MarkovModel(order, model.escape)
    view.tables = model.tables[:order + 1]
    view.discount_scale = model.discount_scale
    view.trained_events = model.trained_events
    return view


def augment_transpositions(sequences: list[np.ndarray], semitones: Sequence[int]) -> list[np.ndarray]:
    """Each sequence transposed by each shift (0 = the original); shifts that leave 0..127 are skipped, as in training."""
    from segue.codec.codec import transpose_events

    out = []
    for events in sequences:
        for shift in semitones:
            moved = events if shift == 0 else transpose_events(events, shift)
            if moved is not None:
                out.append(np.asarray(moved, dtype=np.int64))
    return out
