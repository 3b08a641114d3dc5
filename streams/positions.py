"""Input positions kept in the state itself: which offset of each source partition the state has folded up to.

Faust's committed offset is not enough to know that. Its stream skips a message delivered while the flow is
suspended (a recovery, a rebalance) or from another consumer generation, and acks it as if it had been
processed (faust streams.py `_py_aiter`: "We want to ack the filtered out message"). Its next commit then
passes envelopes nobody folded. Seen in tests/streams/test_two_workers.py: a worker that took over
partitions got envelopes 165 and then 204 of one partition, and the 38 envelopes in between were never folded.

So each batch's state writes end with the next input offset of every source partition it took from, in the
same changelog partition (co-partitioned), written changelog-first like the rest (streams/state.py). A rebuild
reads them back. An event below the position was folded before: it is skipped. An event above it means Faust
skipped some: it is not folded, and the consumer is sought back to the position, so the skipped envelopes come
again, in order. When Faust skipped a partition's last envelopes no later event shows it: a partition behind its
high water with no event for a while is sought back too. Pure bookkeeping here; the seek and the store are the
caller's (streams/app.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TypeVar

POSITION_PREFIX = b"in|"
RESEEK_AFTER_S = 1.0
"""Events queued before a seek still arrive above the position: seek again only if this long passed. But seek again
while the gap stays: a seek can be undone. Faust's fetch loop, half-way through the records of one fetch, sets its
read offset past the position again, and then drops the records the seek brings back as already read."""
IDLE_S = 10.0
"""A partition with envelopes beyond its position and no event for this long: Faust skipped all its last ones."""

Item = TypeVar("Item")
TopicPartition = tuple[str, int]
"""(topic, partition): Faust's TP and aiokafka's TopicPartition are NamedTuples of these, so they look up as is."""


def position_key(topic: str, partition: int) -> bytes:
    return POSITION_PREFIX + f"{topic}|{partition}".encode()


def split_stored(items: Iterable[tuple[bytes, bytes]]) -> tuple[dict[TopicPartition, int], list[tuple[bytes, bytes]]]:
    """A state table's entries: the input positions it holds, and every other entry as it was."""
    positions: dict[TopicPartition, int] = {}
    rest: list[tuple[bytes, bytes]] = []
    for key, value in items:
        if key.startswith(POSITION_PREFIX):
            topic, _, partition = key[len(POSITION_PREFIX):].decode().rpartition("|")
            positions[(topic, int(partition))] = int(value)
        else:
            rest.append((key, value))
    return positions, rest


class InputPositions:
    """The next offset to fold per source partition held; `admit` filters a batch's events against it."""

    def __init__(self, what: str) -> None:
        self.what = what  # what one input is, for messages: "envelope", "parts record"
        self.next: dict[TopicPartition, int] = {}
        self.sought: dict[TopicPartition, tuple[int, float]] = {}
        self.last_event: dict[TopicPartition, float] = {}  # when an event of the partition last came (monotonic)
        self.gaps = 0  # how many times an event came above its partition's position
        self.repeats = 0  # events below the position (folded before), skipped

    def reset(self, stored: dict[TopicPartition, int], held: Iterable[TopicPartition],
              now: float | None = None) -> list[TopicPartition]:
        """The positions of the partitions now held, from the rebuilt state; returns the held ones without any."""
        now = time.monotonic() if now is None else now
        held = list(held)
        self.next = {tp: stored[tp] for tp in held if tp in stored}
        self.sought = {}
        self.last_event = dict.fromkeys(held, now)
        return [tp for tp in held if tp not in self.next]

    def start_at(self, tp: TopicPartition, offset: int) -> None:
        """A partition the state has never folded from starts at its first offset still in the log."""
        self.next.setdefault(tp, offset)

    def skip_to(self, tp: TopicPartition, offset: int) -> None:
        """Retention deleted the inputs below `offset` before they were folded: go on from there."""
        self.next[tp] = offset

    def admit(self, events: Iterable[tuple[TopicPartition, int, Item]], now: float | None = None,
              ) -> tuple[list[Item], dict[TopicPartition, tuple[int, int]]]:
        """The events to fold (each at its partition's position, which moves past it), and for every partition
        whose events came above its position, (the position, the offset that came): that partition's later
        events in this batch are not folded."""
        admitted: list[Item] = []
        gaps: dict[TopicPartition, tuple[int, int]] = {}
        following = self.next
        last_event = self.last_event
        now = time.monotonic() if now is None else now
        for tp, offset, item in events:
            last_event[tp] = now
            if tp in gaps:
                continue
            want = following.get(tp)
            if want is None or offset == want:
                admitted.append(item)
                following[tp] = offset + 1
            elif offset < want:
                self.repeats += 1
            else:
                gaps[tp] = (want, offset)
                self.gaps += 1
        return admitted, gaps

    def idle_behind(self, tp: TopicPartition, highwater: int | None, now: float | None = None) -> int | None:
        """The position to seek back to when `tp` has envelopes beyond it and nothing moves it: no event came for
        `IDLE_S` (Faust skipped, and acked, the last ones, so no later event shows the gap), or a seek to it brought
        nothing back within `RESEEK_AFTER_S` (undone by Faust's fetch loop). None otherwise."""
        want = self.next.get(tp)
        if want is None or highwater is None or want >= highwater:
            return None
        now = time.monotonic() if now is None else now
        sought = self.sought.get(tp)
        if sought is not None and sought[0] == want:  # sought to here and nothing folded since
            return want if now - sought[1] >= RESEEK_AFTER_S else None
        if now - self.last_event.get(tp, now) < IDLE_S:
            return None
        return want

    def should_seek(self, tp: TopicPartition, offset: int, now: float | None = None) -> bool:
        """Seek once per gap, again only after `RESEEK_AFTER_S` (the events queued before the seek drain first)."""
        now = time.monotonic() if now is None else now
        last = self.sought.get(tp)
        if last is not None and last[0] == offset and now - last[1] < RESEEK_AFTER_S:
            return False
        self.sought[tp] = (offset, now)
        return True

    def writes(self, tps: Iterable[TopicPartition]) -> list[tuple[int, bytes, bytes]]:
        """(state partition, key, value) recording the position of each of `tps` (co-partitioned: its partition)."""
        return [(tp[1], position_key(tp[0], tp[1]), str(self.next[tp]).encode()) for tp in tps if tp in self.next]
