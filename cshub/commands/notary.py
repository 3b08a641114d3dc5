"""`cshub notary`: the hub's transparency log, its signed checkpoints and the provinces' signed receipts.

Runs as the `hub-notary` principal, beside the worker (`cshub run` starts both). Exactly one notary writes a
hub's log: a second one fences the first, which exits with code 3. It refuses to start (exit 2) when the log
does not match its last signed checkpoint. SIGTERM or Ctrl-C stop it between two transactions; SIGKILL loses
nothing (the next start resumes after the last committed transaction). docs/evidence.md §5.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from cshub.options import add_settings, settings_from

if TYPE_CHECKING:
    from connectors.notary import Notary

SETTINGS = ("bootstrap", "principal", "password_file", "topic_root", "notary_key_file", "public_keys_file",
            "log_origin", "checkpoint_interval_s", "notary_batch_max", "log_level")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, *SETTINGS)


def run(args: argparse.Namespace) -> int:
    from connectors.notary import Notary
    from core.signing import SigningKey, SigningKeyError

    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("cshub.notary").setLevel(logging.INFO)
    try:
        key = SigningKey.load(settings.notary_key_path)
    except SigningKeyError as exc:
        exc.advice = (f"{exc.advice}; the notary's key is {settings.notary_key_path} (--notary-key-file,"
                      " CSHUB_NOTARY_KEY_FILE)")
        raise
    earlier: list[bytes] = []
    if settings.public_keys_path.exists():  # after a key rotation: the old key signed the last checkpoint
        from core.receipts import NOTARY_OWNER
        from core.signing import read_public_keys

        earlier = [k.public_key for k in read_public_keys(settings.public_keys_path).of_owner(NOTARY_OWNER)]
    notary = Notary(settings.kafka, settings.names, key, origin=settings.log_origin,
                    checkpoint_interval_s=settings.checkpoint_interval_s, batch_max=settings.notary_batch_max,
                    earlier_keys=earlier)
    print(f"cshub notary: broker {settings.kafka}, log {settings.names.log} ({settings.log_origin}), key"
          f" {key.kid}, checkpoints every {settings.checkpoint_interval_s:g} s", flush=True)
    return asyncio.run(_serve(notary))


async def _serve(notary: Notary) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await notary.run(stop)
    print(f"cshub notary: stopped at log size {notary.state.tree.size}", flush=True)
    return 0
