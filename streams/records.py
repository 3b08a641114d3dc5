"""What the worker's stages hand to the producer: plain (topic, key, value, partition) tuples."""

from __future__ import annotations

Record = tuple[str, bytes | None, bytes, int | None]  # topic, key, value, partition (None: the partitioner's)
