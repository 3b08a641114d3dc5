"""The contract's error types: the leaf of the package, imported by everything else.

`CodecError` and `ValidationFailed` are `ValueError`s so that callers that only know "bad
input" can catch that; callers that route failures (the streams worker, the auditor) read the
stable `reason` codes instead of parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.display import show_value  # a leaf too: values as a person writes them, never a repr

CodecReason = Literal["bad_magic", "truncated", "unknown_fingerprint", "bad_body", "encode_failed"]
CODEC_REASONS: tuple[CodecReason, ...] = ("bad_magic", "truncated", "unknown_fingerprint", "bad_body", "encode_failed")


class CshubError(Exception):
    """Base of every error the hub raises on purpose: the one root the `cshub` command catches.

    The message says what went wrong and where; `advice` says what a person should do about it;
    `exit_code` is what `cshub` exits with (2: the job could not run; see `cshub/cli.py`).
    """

    exit_code: int = 2

    def __init__(self, message: str, advice: str | None = None) -> None:
        super().__init__(message)
        self.advice = advice

    def line(self) -> str:
        """The message and the advice on one line, as `cshub` prints it."""
        text = str(self)
        return f"{text}; {self.advice}" if self.advice else text


class ReferenceDataError(CshubError, ValueError):
    """A reference data file (provinces, policy items, obligations) cannot be used."""


class CodecError(CshubError, ValueError):
    """Bytes that cannot be decoded, or a record that cannot be encoded.

    `reason` is one of `CODEC_REASONS`; the message says what was wrong and where.
    """

    def __init__(self, reason: CodecReason, message: str) -> None:
        super().__init__(message, "check that the producer encodes with the schemas in schemas/avro (Avro"
                                  " single-object encoding)")
        self.reason: CodecReason = reason


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken business rule, in words a provincial clerk can act on.

    `field` is a path such as `county_code` or `items[2].status_date`; `reason` is a stable
    code for machines (e.g. `bad_province_code`); `rule` says in plain words what is expected.
    """

    field: str
    value: object
    reason: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}={show_value(self.field, self.value)}: {self.rule} [{self.reason}]"


class ValidationFailed(CshubError, ValueError):
    """A report broke one or more business rules; `problems` lists each one."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        self.kind = kind
        self.problems = list(problems)
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{kind} report rejected, {len(self.problems)} problem(s): {lines}")
