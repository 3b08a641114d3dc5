"""The hub's contract: Avro schemas, the single-object codec, report models, rules and reference data."""

from schemas.codec import Decoded, decode, encode, schema_json
from schemas.errors import CodecError, CshubError, Problem, ValidationFailed

__all__ = [
    "CodecError",
    "CshubError",
    "Decoded",
    "Problem",
    "ValidationFailed",
    "decode",
    "encode",
    "schema_json",
]
