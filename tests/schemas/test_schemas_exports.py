"""The package's public names (httpx tests/test_exported_members.py): each exported name exists and is documented."""

from __future__ import annotations

import schemas


def test_all_names_exist_and_have_docstrings() -> None:
    assert sorted(schemas.__all__) == schemas.__all__
    for name in schemas.__all__:
        member = getattr(schemas, name)
        assert member.__doc__, name
        assert member.__module__.startswith("schemas"), name


def test_the_codec_api_is_exported() -> None:
    assert {"encode", "decode", "Decoded", "CodecError", "ValidationFailed", "Problem"} <= set(schemas.__all__)
    assert issubclass(schemas.CodecError, ValueError)
    assert issubclass(schemas.ValidationFailed, ValueError)
