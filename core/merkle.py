"""RFC 9162 (Certificate Transparency 2.0) Merkle trees: hashes, tree heads, proofs and their verification.

No library does this well (see docs/evidence.md), so it is written here from RFC 9162 §2.1, algorithm for
algorithm, and tested against the RFC 6962 test vector and by brute force. SHA-256 throughout:

- leaf hash  ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)``;
- the head of the empty tree is ``SHA-256("")``; a tree of n > 1 leaves splits at the largest power of two
  k < n: ``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))``.

Two ways to hold a tree:

- `CompactTree`: the running head of a log of millions of entries in O(log n) memory (one hash per 1-bit of
  the size, the roots of its perfect subtrees); append, read the head, save and restore that state.
- `LeafHashes`: proofs from the stored leaf hashes (any sequence: a list, or `PackedLeafHashes` over the bytes
  or an mmap of a file of them), with a cache of the perfect subtrees already hashed, so that repeated proofs
  over a large log cost O(log n) hashes, not O(n).

Verification (`verify_inclusion`, `verify_consistency`) needs only the proof, the sizes and the roots: that is
what an auditor runs, offline.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from schemas.errors import CshubError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the head of the tree with no leaves."""


class MerkleError(CshubError, ValueError):
    """A proof or a tree head asked for something the tree does not have (an index or a size out of range)."""


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 9162 hash of one log entry: SHA-256(0x00 || entry)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the tree whose leaves have these hashes (O(n); for a running log use `CompactTree`)."""
    return LeafHashes(leaf_hashes, cache_from_height=64).root(len(leaf_hashes))


@dataclass(frozen=True, slots=True)
class CompactState:
    """What a `CompactTree` needs to resume: its size and the roots of its perfect subtrees, largest first."""

    size: int
    peaks: tuple[bytes, ...]


class CompactTree:
    """An append-only tree head in O(log n) memory: the roots of the perfect subtrees that make up the tree.

    A tree of size n is, left to right, one perfect subtree per 1-bit of n (largest first); appending a leaf
    merges equal-sized subtrees like a binary counter. The head folds the peaks right to left, which is
    exactly RFC 9162's split at the largest power of two.
    """

    def __init__(self, state: CompactState | None = None) -> None:
        self._size = 0
        self._peaks: list[bytes] = []
        if state is not None:
            if state.size < 0 or len(state.peaks) != state.size.bit_count():
                raise MerkleError(f"a compact tree of size {state.size} has {state.size.bit_count()} peaks, not"
                                  f" {len(state.peaks)}", "restore the state saved by CompactTree.state()")
            if any(len(p) != HASH_SIZE for p in state.peaks):
                raise MerkleError("a compact tree peak is not a 32-byte SHA-256 hash",
                                  "restore the state saved by CompactTree.state()")
            self._size = state.size
            self._peaks = list(state.peaks)

    @property
    def size(self) -> int:
        """How many leaves the tree has."""
        return self._size

    def append(self, entry: bytes) -> int:
        """Add one log entry (hashed as a leaf); returns its index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, hashed: bytes) -> int:
        """Add one leaf whose hash is already known; returns its index."""
        if len(hashed) != HASH_SIZE:
            raise MerkleError(f"a leaf hash has {HASH_SIZE} bytes, not {len(hashed)}", "pass leaf_hash(entry)")
        index = self._size
        merged = hashed
        size = index
        while size & 1:  # each trailing 1-bit of the old size is a peak of the same height: merge it in
            merged = node_hash(self._peaks.pop(), merged)
            size >>= 1
        self._peaks.append(merged)
        self._size = index + 1
        return index

    def root(self) -> bytes:
        """The tree head MTH(D[size])."""
        if not self._peaks:
            return EMPTY_ROOT
        head = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            head = node_hash(peak, head)
        return head

    def state(self) -> CompactState:
        """The state to store beside the log, to resume without rehashing it."""
        return CompactState(self._size, tuple(self._peaks))


class PackedLeafHashes(Sequence[bytes]):
    """Leaf hashes stored back to back, 32 bytes each (a bytes object, or an mmap of the log's leaf-hash file)."""

    def __init__(self, packed: bytes | bytearray | memoryview | mmap.mmap) -> None:
        if len(packed) % HASH_SIZE:
            raise MerkleError(f"{len(packed)} bytes of leaf hashes is not a whole number of {HASH_SIZE}-byte hashes",
                              "truncate the file to the last whole hash (a torn write) and re-append from the log")
        self._packed = memoryview(packed)

    def __len__(self) -> int:
        return len(self._packed) // HASH_SIZE

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return bytes(self._packed[index * HASH_SIZE:(index + 1) * HASH_SIZE])


class LeafHashes:
    """Subtree hashes and proofs over stored leaf hashes, caching each perfect subtree once it is hashed.

    `leaves` is any sequence of 32-byte leaf hashes (a list, or an object reading a file of them). Perfect,
    aligned subtrees never change once complete, so their hashes are kept (from `cache_from_height` up, to bound
    memory: 2^h leaves per cached node); a proof then costs O(log n) hashes plus at most 2^h leaf reads per level.
    """

    def __init__(self, leaves: Sequence[bytes], cache_from_height: int = 6) -> None:
        self._leaves = leaves
        self._cache_from = cache_from_height
        self._cache: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self._leaves)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self._leaves):
            raise MerkleError(f"tree size {size} is out of range: {len(self._leaves)} leaves are stored",
                              "ask for a size between 0 and the number of stored leaves")

    def _hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end."""
        n = end - start
        if n == 1:
            return self._leaves[start]
        perfect = n & (n - 1) == 0 and start % n == 0
        key = (start, n)
        if perfect and (cached := self._cache.get(key)) is not None:
            return cached
        k = _split(n)
        value = node_hash(self._hash(start, start + k), self._hash(start + k, end))
        if perfect and n.bit_length() - 1 >= self._cache_from:
            self._cache[key] = value
        return value

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[size]), the head of the first `size` leaves (all of them by default)."""
        size = len(self._leaves) if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of `size`."""
        self._check_size(size)
        if not 0 <= index < size:
            raise MerkleError(f"leaf index {index} is not in a tree of size {size}",
                              "ask for an index smaller than the tree size")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._hash(start + k, end)]
        return [*self._path(m - k, start + k, end), self._hash(start, start + k)]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty when old_size is 0 or equals new_size)."""
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise MerkleError(f"a tree of size {old_size} cannot be a prefix of one of size {new_size}",
                              "ask for old_size <= new_size")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self._hash(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self._hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._hash(start, start + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether `proof` puts the leaf hash `leaf` (= `leaf_hash(entry)`) at `index` under `root`."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # a right edge: climb to where this subtree is a right child
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> bool:
    """RFC 9162 §2.1.4.2: whether `proof` shows the tree `old_root` of `old_size` is a prefix of `new_root`."""
    if not 0 <= old_size <= new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree; RFC 9162 sends no proof for it
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old tree is a subtree, its root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
