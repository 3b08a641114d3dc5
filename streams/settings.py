"""The worker's settings are the hub's one settings object (`schemas.settings.Settings`).

`WorkerSettings` stays the name `streams/` uses; every field (bootstrap, topic_root, app_id, data_dir,
partitions, batch sizes, intervals, ...) and its CSHUB_* variable is defined once, there.
"""

from __future__ import annotations

from schemas.settings import Settings

WorkerSettings = Settings
