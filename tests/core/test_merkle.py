"""RFC 9162 Merkle tree: the RFC 6962 test vector, brute-force proofs for every small tree, and tampering."""

from __future__ import annotations

import hashlib
import mmap
from pathlib import Path

import pytest

from core.merkle import (
    EMPTY_ROOT,
    CompactState,
    CompactTree,
    LeafHashes,
    MerkleError,
    PackedLeafHashes,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The eight entries of the RFC 6962 / Certificate Transparency reference test (merkle_tree_test.cc).
RFC6962_ENTRIES = [bytes.fromhex(h) for h in
                   ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
MAX_SIZE = 64


def entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def naive_root(hashes: list[bytes]) -> bytes:
    """MTH written straight from the RFC's definition, recursion and all: the oracle for everything else."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(naive_root(hashes[:k]), naive_root(hashes[k:]))


LEAVES = [leaf_hash(e) for e in entries(MAX_SIZE)]
TREE = LeafHashes(LEAVES, cache_from_height=2)
ROOTS = [naive_root(LEAVES[:n]) for n in range(MAX_SIZE + 1)]


def test_rfc6962_vector_every_prefix() -> None:
    hashes = [leaf_hash(e) for e in RFC6962_ENTRIES]
    compact = CompactTree()
    for n, expected in enumerate(RFC6962_ROOTS, start=1):
        compact.append(RFC6962_ENTRIES[n - 1])
        assert root_of(hashes[:n]).hex() == expected
        assert compact.root().hex() == expected
    assert compact.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_rfc6962_vector_leaf_and_empty() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == RFC6962_ROOTS[0]
    assert CompactTree().root() == EMPTY_ROOT == root_of([])


def test_rfc6962_vector_proofs() -> None:
    """The reference test's audit path for leaf 0 of 8 and 5 of 8, consistency 1->8, 2->5, 6->8 (CT's test)."""
    tree = LeafHashes([leaf_hash(e) for e in RFC6962_ENTRIES])
    assert [p.hex() for p in tree.inclusion_proof(0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert tree.consistency_proof(1, 8) == tree.inclusion_proof(0, 8)
    assert [p.hex() for p in tree.consistency_proof(2, 5)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
    assert [p.hex() for p in tree.inclusion_proof(5, 8)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [p.hex() for p in tree.consistency_proof(6, 8)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


def test_roots_of_every_size_agree_with_the_definition() -> None:
    compact = CompactTree()
    for n in range(MAX_SIZE + 1):
        assert TREE.root(n) == ROOTS[n] == root_of(LEAVES[:n])
        assert compact.size == n and compact.root() == ROOTS[n]
        if n < MAX_SIZE:
            assert compact.append_leaf_hash(LEAVES[n]) == n


def test_every_inclusion_proof_verifies_and_tampering_fails() -> None:
    checked = 0
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
            assert not verify_inclusion(leaf_hash(b"changed"), index, size, proof, ROOTS[size])
            assert not verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size - 1] if size > 1 else EMPTY_ROOT)
            if size > 1:
                other = (index + 1) % size
                assert not verify_inclusion(LEAVES[index], other, size, proof, ROOTS[size]) or \
                    LEAVES[index] == LEAVES[other]
                assert not verify_inclusion(LEAVES[index], index, size, proof[:-1], ROOTS[size])
                assert not verify_inclusion(LEAVES[index], index, size, [*proof, proof[0]], ROOTS[size])
                flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not verify_inclusion(LEAVES[index], index, size, flipped, ROOTS[size])
            checked += 1
    assert checked == MAX_SIZE * (MAX_SIZE + 1) // 2


def test_every_consistency_proof_verifies_and_tampering_fails() -> None:
    checked = 0
    for new in range(1, MAX_SIZE + 1):
        for old in range(1, new + 1):
            proof = TREE.consistency_proof(old, new)
            assert verify_consistency(old, new, proof, ROOTS[old], ROOTS[new]), (old, new)
            if old == new:
                assert proof == []
                continue
            forked_old = node_hash(ROOTS[old], ROOTS[old])  # any other head of the old size: a fork
            assert not verify_consistency(old, new, proof, forked_old, ROOTS[new])
            assert not verify_consistency(old, new, proof, ROOTS[old], ROOTS[new - 1])
            assert not verify_consistency(old, new, proof[:-1], ROOTS[old], ROOTS[new])
            assert not verify_consistency(old, new, [*proof, proof[-1]], ROOTS[old], ROOTS[new])
            for i in range(len(proof)):
                flipped = list(proof)
                flipped[i] = bytes([flipped[i][0] ^ 0x80]) + flipped[i][1:]
                assert not verify_consistency(old, new, flipped, ROOTS[old], ROOTS[new])
            checked += 1
    assert checked == MAX_SIZE * (MAX_SIZE - 1) // 2


def test_a_changed_leaf_changes_the_root_and_breaks_old_proofs() -> None:
    for size in (1, 2, 7, 8, 33, 64):
        for index in range(size):
            changed = list(LEAVES[:size])
            changed[index] = leaf_hash(b"altered in the archive")
            assert root_of(changed) != ROOTS[size]
            proof = TREE.inclusion_proof(index, size)
            assert not verify_inclusion(changed[index], index, size, proof, ROOTS[size])
            if index > 0:  # a consistency proof from before the change to the changed tree fails
                proof_c = LeafHashes(changed).consistency_proof(index, size)
                assert verify_consistency(index, size, proof_c, ROOTS[index], root_of(changed))
                assert not verify_consistency(index + 1, size, LeafHashes(changed).consistency_proof(index + 1, size),
                                              ROOTS[index + 1], root_of(changed))


def test_empty_and_equal_sizes() -> None:
    assert TREE.consistency_proof(0, 10) == []
    assert verify_consistency(0, 10, [], EMPTY_ROOT, ROOTS[10])
    assert not verify_consistency(0, 10, [ROOTS[1]], EMPTY_ROOT, ROOTS[10])
    assert verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    assert not verify_consistency(5, 5, [], ROOTS[5], ROOTS[6])
    assert not verify_consistency(6, 5, [], ROOTS[6], ROOTS[5])
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(LEAVES[3], 3, 3, TREE.inclusion_proof(2, 3), ROOTS[3])


def test_out_of_range_requests_say_what() -> None:
    with pytest.raises(MerkleError, match="leaf index 5 is not in a tree of size 5"):
        TREE.inclusion_proof(5, 5)
    with pytest.raises(MerkleError, match="tree size 65 is out of range: 64 leaves"):
        TREE.root(65)
    with pytest.raises(MerkleError, match="cannot be a prefix"):
        TREE.consistency_proof(9, 8)
    with pytest.raises(MerkleError, match="32 bytes"):
        CompactTree().append_leaf_hash(b"short")


def test_compact_tree_state_is_log_size_and_resumes() -> None:
    tree = CompactTree()
    for e in entries(1000):
        tree.append(e)
    state = tree.state()
    assert state.size == 1000 and len(state.peaks) == bin(1000).count("1") == 6
    resumed = CompactTree(state)
    for e in entries(1000)[:24]:
        tree.append(e)
        resumed.append(e)
    assert resumed.root() == tree.root() and resumed.size == 1024
    assert len(resumed.state().peaks) == 1
    with pytest.raises(MerkleError, match="has 6 peaks, not 5"):
        CompactTree(CompactState(1000, state.peaks[:5]))


def test_cache_gives_the_same_proofs_as_no_cache() -> None:
    hashes = [leaf_hash(e) for e in entries(300)]
    cached, uncached = LeafHashes(hashes, cache_from_height=0), LeafHashes(hashes, cache_from_height=64)
    for size in (1, 2, 3, 127, 128, 129, 255, 256, 300):
        assert cached.root(size) == uncached.root(size)
        for index in (0, size // 2, size - 1):
            assert cached.inclusion_proof(index, size) == uncached.inclusion_proof(index, size)
        for old in (1, size // 3 or 1, size - 1 or 1):
            assert cached.consistency_proof(old, size) == uncached.consistency_proof(old, size)


def test_packed_leaf_hashes_read_a_file_of_hashes(tmp_path: Path) -> None:
    path = tmp_path / "leaves.bin"
    path.write_bytes(b"".join(LEAVES))
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        packed = PackedLeafHashes(mapped)
        assert len(packed) == MAX_SIZE and packed[5] == LEAVES[5] and packed[-1] == LEAVES[-1]
        assert list(packed[2:4]) == LEAVES[2:4]
        tree = LeafHashes(packed)
        assert tree.root() == ROOTS[MAX_SIZE]
        assert verify_inclusion(LEAVES[40], 40, 50, tree.inclusion_proof(40, 50), ROOTS[50])
        del packed, tree  # release the mmap's exported buffer before it closes
    with pytest.raises(IndexError):
        PackedLeafHashes(b"".join(LEAVES))[MAX_SIZE]
    with pytest.raises(MerkleError, match="not a whole number of 32-byte hashes"):
        PackedLeafHashes(b"".join(LEAVES)[:-1])


def test_larger_trees_agree_and_a_growing_store_keeps_its_cache_valid() -> None:
    """A log's store grows while proofs are served: cached perfect subtrees never go stale."""
    growing: list[bytes] = []
    store = LeafHashes(growing, cache_from_height=0)
    compact = CompactTree()
    for n in (1000, 1023, 1024, 1025, 2049, 3000):
        while len(growing) < n:
            compact.append_leaf_hash(leaf_hash(len(growing).to_bytes(4, "big")))
            growing.append(leaf_hash(len(growing).to_bytes(4, "big")))
        root = store.root(n)
        assert root == compact.root() == naive_root(growing)
        for index in (0, 1, n // 3, n - 2, n - 1):
            assert verify_inclusion(growing[index], index, n, store.inclusion_proof(index, n), root)
        for old in (1, 512, 1000, n - 1):
            old_root = LeafHashes(growing[:old], cache_from_height=64).root()
            assert verify_consistency(old, n, store.consistency_proof(old, n), old_root, root)
