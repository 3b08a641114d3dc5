"""Errors of the connectors: each says what went wrong, where, and (`advice`) how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from schemas.errors import CshubError

if TYPE_CHECKING:
    from schemas.kafka_config import KafkaConnection
    from schemas.topics import TopicDifference


class ConnectorError(CshubError, RuntimeError):
    """A connector could not do its job (broker unreachable, bad file, bad archive)."""


class ReaderError(ConnectorError):
    """An input file cannot be read at all (missing, wrong format, wrong encoding, no header)."""


class ArchiveError(ConnectorError):
    """An audit archive is incomplete or does not match its manifest."""


class BrokerUnreachable(ConnectorError):
    """No Kafka broker answers at the configured bootstrap address."""

    def __init__(self, where: KafkaConnection | str, cause: BaseException | str) -> None:
        super().__init__(f"cannot reach Kafka at {where}: {cause}",
                         "is the broker running (`cshub broker status`), and is --bootstrap / CSHUB_BOOTSTRAP right?")


class TopicPlanMismatch(ConnectorError):
    """Topics on the broker differ from the topic plan in a way that would make the hub wrong."""

    def __init__(self, found: Sequence[TopicDifference]) -> None:
        self.differences = list(found)
        first = self.differences[0]
        more = f" (and {len(self.differences) - 1} more)" if len(self.differences) > 1 else ""
        super().__init__(f"the broker's topics differ from the topic plan: {first}{more}",
                         f"{first.advice} (`cshub topics list` shows every difference)")
