"""Command-line flags made from the one settings object (`schemas.settings.Settings`).

A command names the settings it takes; each becomes a flag whose help says what it is, its CSHUB_*
variable and its default, all read from the field. An absent flag leaves no value behind
(`argparse.SUPPRESS`), so `settings_from(args)` gives flag > CSHUB_* variable > default.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any

from schemas.settings import Settings, SettingsError, env_name, load_settings

SPECIAL_DEFAULTS = {"data_dir": "<home>/worker", "broker_home": "<home>/broker", "instance_id": "the host name"}


def _flag_type(annotation: Any) -> tuple[Any, list[str] | None]:
    """(argparse type, choices) of a field's annotation: Path | None -> Path, Literal[...] -> choices."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in args if a is not type(None))
        args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return str, [str(a) for a in args]
    return (annotation if annotation in (int, float, str, Path) else str), None


def add_settings(parser: argparse.ArgumentParser, *fields: str, **renamed: str) -> None:
    """A flag per settings field: `--topic-root` for `topic_root`; `renamed` maps a flag name to a field
    (`port="broker_port"` gives `--port`)."""
    wanted = [(f.replace("_", "-"), f) for f in fields] + [(flag.replace("_", "-"), f) for flag, f in renamed.items()]
    for flag, name in wanted:
        info = Settings.model_fields[name]
        kind, choices = _flag_type(info.annotation)
        default = SPECIAL_DEFAULTS.get(name, info.default)
        help_text = f"{info.description or name} (env {env_name(name)}; default {default})"
        parser.add_argument(f"--{flag}", dest=name, type=kind, choices=choices, default=argparse.SUPPRESS,
                            metavar=None if choices else flag.upper().replace("-", "_"),
                            help=help_text)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: the flags given on the command line over CSHUB_* variables over the defaults."""
    given = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    return load_settings(**given)


__all__ = ["SettingsError", "add_settings", "settings_from"]
