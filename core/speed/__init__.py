"""The speed layer: what makes a million sessions answer at interactive speed.

Invariant: an absent, stale or partly built accelerator changes speed, never a result. Every
query the dashboard runs gives the same answer on the platform's bare tables (the plain path)
and on the dashboard's copy with its derived structures; the layer only decides which one
answers, and falls back to the plain path, saying why at debug level (logger ``core.speed``),
whenever the copy is missing, of another format, of another database or behind by more than
a few seconds.

Where things live, so the platform's database stays the platform's:

* in the platform's database, one index on ``updated_at`` and Alembic's version record
  (:mod:`core.speed.platform`); nothing that rewrites or locks its tables for more than a
  moment, and nothing that runs inside the platform's writes;
* everything else in the dashboard's copy (:mod:`core.speed.mirror`): a SQLite file of its
  own, or a schema of its own on PostgreSQL, holding the platform's rows and the generated
  columns, indexes, rollups, search and export tables that :mod:`core.speed.build` adds, kept by
  triggers that fire when the dashboard syncs, never when the platform writes.

Readers ask :func:`speed_layer` for :meth:`~core.speed.layer.SpeedLayer.plan` (or just
``reader()``) and never name the copy's tables; :mod:`core.speed.capabilities` then probes, once
per engine, which structures that database has (:func:`core.speed.capabilities.capabilities`).
"""

from core.speed.layer import ReadPlan, SpeedLayer, dispose_layers, speed_layer
from core.speed.location import MirrorConfigError, MirrorLocation, mirror_location
from core.speed.mirror import Mirror
from core.speed.state import MIRROR_FORMAT, SyncReport

__all__ = [
    "MIRROR_FORMAT",
    "Mirror",
    "MirrorConfigError",
    "MirrorLocation",
    "ReadPlan",
    "SpeedLayer",
    "SyncReport",
    "dispose_layers",
    "mirror_location",
    "speed_layer",
]
