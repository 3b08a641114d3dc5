"""Input positions (streams/positions.py): which events of a batch are folded, and when to seek back. No broker."""

from __future__ import annotations

from streams.positions import IDLE_S, RESEEK_AFTER_S, InputPositions, position_key, split_stored

A = ("root.validated-batches", 0)
B = ("root.validated-batches", 3)


def events(*pairs: tuple[tuple[str, int], int]) -> list[tuple[tuple[str, int], int, str]]:
    return [(tp, offset, f"{tp[1]}@{offset}") for tp, offset in pairs]


def test_positions_round_trip_through_the_state_entries_and_leave_the_others_alone() -> None:
    positions = InputPositions("envelope")
    assert positions.reset({}, [A, B]) == [A, B]
    positions.start_at(A, 7)
    positions.start_at(B, 0)
    positions.admit(events((A, 7), (A, 8), (B, 0)))
    stored = [(key, value) for _partition, key, value in positions.writes([A, B])]
    assert [p for p, _k, _v in positions.writes([A, B])] == [0, 3]  # each in its own (co-partitioned) partition
    entries = [(b"r|facility|110000|F-1", b"[1]"), *stored, (b"o|110000|facility|2026-05", b"[2]")]
    found, rest = split_stored(entries)
    assert found == {A: 9, B: 1}
    assert rest == [entries[0], entries[-1]]
    again = InputPositions("envelope")
    assert again.reset(found, [A]) == []  # B is not held any more: not kept
    assert again.next == {A: 9}


def test_an_event_at_the_position_is_folded_one_below_is_a_repeat_one_above_a_gap() -> None:
    positions = InputPositions("envelope")
    positions.reset({A: 10, B: 5}, [A, B])
    admitted, gaps = positions.admit(events((A, 9), (A, 10), (B, 7), (A, 11), (B, 8), (B, 5)))
    assert admitted == ["0@10", "0@11"]
    assert gaps == {B: (5, 7)}  # B's later events of the batch wait for the seek, even the one at the position
    assert positions.next == {A: 12, B: 5}
    assert (positions.repeats, positions.gaps) == (1, 1)
    admitted, gaps = positions.admit(events((B, 5), (B, 6), (A, 12)))  # after the seek: B again, in order
    assert admitted == ["3@5", "3@6", "0@12"] and gaps == {}
    assert positions.writes([A, B]) == [(0, position_key(*A), b"13"), (3, position_key(*B), b"7")]


def test_a_gap_is_sought_once_until_the_events_queued_before_the_seek_had_time_to_drain() -> None:
    positions = InputPositions("envelope")
    assert positions.should_seek(A, 10, now=100.0)
    assert not positions.should_seek(A, 10, now=100.0 + RESEEK_AFTER_S / 2)
    assert positions.should_seek(A, 12, now=100.0 + RESEEK_AFTER_S / 2)  # another position: at once
    assert positions.should_seek(A, 12, now=103.0 + RESEEK_AFTER_S)
    positions.reset({}, [A])
    assert positions.should_seek(A, 12, now=103.5 + RESEEK_AFTER_S)  # a new assignment forgets the seeks


def test_a_partition_behind_its_high_water_with_no_event_for_a_while_is_sought_back() -> None:
    positions = InputPositions("envelope")
    positions.reset({A: 10, B: 4}, [A, B], now=0.0)
    positions.admit(events((A, 10), (A, 11)), now=1.0)
    assert positions.idle_behind(A, 12, now=1.0 + IDLE_S) is None  # caught up with its high water
    assert positions.idle_behind(A, 20, now=IDLE_S) is None  # events came lately: they may still be on their way
    assert positions.idle_behind(A, 20, now=1.0 + IDLE_S) == 12  # Faust skipped 12..19 and nothing came since
    assert positions.idle_behind(B, 9, now=IDLE_S) == 4  # nothing at all since the assignment
    assert positions.idle_behind(B, None, now=IDLE_S) is None  # no high water known yet
    assert positions.idle_behind(("root.validated-batches", 1), 5, now=IDLE_S) is None  # not held


def test_a_seek_that_brought_nothing_back_is_repeated_soon_one_that_did_is_not() -> None:
    positions = InputPositions("envelope")
    positions.reset({A: 10}, [A], now=0.0)
    positions.admit(events((A, 12)), now=1.0)  # a gap: sought to 10
    assert positions.should_seek(A, 10, now=1.0)
    assert positions.idle_behind(A, 30, now=1.0 + RESEEK_AFTER_S / 2) is None  # give the seek its time
    assert positions.idle_behind(A, 30, now=1.0 + RESEEK_AFTER_S) == 10  # nothing came back: again, not after IDLE_S
    positions.admit(events((A, 10), (A, 11)), now=2.0 + RESEEK_AFTER_S)  # it came back
    assert positions.idle_behind(A, 30, now=3.0 + RESEEK_AFTER_S) is None


def test_retention_moves_the_position_to_the_first_input_left() -> None:
    positions = InputPositions("envelope")
    positions.reset({A: 10}, [A])
    positions.skip_to(A, 25)
    assert positions.admit(events((A, 25)))[0] == ["0@25"]
