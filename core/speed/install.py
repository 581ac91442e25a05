"""``init-db``: install, upgrade, describe and remove the speed layer, as one plan.

The plan has two parts: the numbered steps in the platform's database
(:mod:`core.speed.platform`) and the dashboard's copy (:mod:`core.speed.mirror`): built when
missing, of another format or of another database; otherwise only synced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, inspect, select

from core.config import Settings
from core.speed.build import init_db
from core.speed.location import MirrorLocation, mirror_location
from core.speed.mirror import Mirror
from core.speed.platform import (
    install_platform_objects,
    pending_steps,
    remove_platform_objects,
)
from core.speed.state import unusable_reason
from core.store.demo import create_demo_database
from core.store.engine import make_engine
from core.store.tables import metadata, optimization_sessions

Progress = Callable[[str], None]


@dataclass(frozen=True)
class InstallPlan:
    """What ``init-db`` will do, in words, before it does anything."""

    platform_steps: tuple[str, ...]
    copy_action: str  # "build", "rebuild", "sync" or "none"
    copy_reason: str
    location: MirrorLocation | None
    sessions: int

    def lines(self) -> list[str]:
        out = ["In the platform's database:"]
        out += [f"  {line}" for line in self.platform_steps] or ["  nothing: it is up to date"]
        if self.location is None:
            out.append("The dashboard's copy: switched off (SESSIONS_MIRROR=off); pages use the plain path.")
        else:
            out.append(f"The dashboard's copy ({self.location.description}):")
            out.append(f"  {self.copy_reason}")
        return out


_BUILD = "build it: copy the platform's rows, then add indexes, rollups and search tables there"


def _copy_status(mirror: Mirror, settings: Settings) -> tuple[str, str]:
    location = mirror.location
    if location.path is not None and not location.path.exists():
        return "build", _BUILD
    engine = location.read_engine()
    try:
        with engine.connect() as connection:
            state = mirror.state(connection)
    except Exception:
        state = None
    finally:
        engine.dispose()
    reason = unusable_reason(state, location)
    if state is None:
        return "build", _BUILD
    if reason:
        return "rebuild", f"build it again: {reason}"
    return "sync", (
        "of this format: add what this version derives, if anything, then compare "
        "every row with the platform once (a full sync)"
    )


def plan_install(settings: Settings) -> InstallPlan:
    """Describe, from the databases as they are, what :func:`install` would do."""
    engine = make_engine(settings, read_only=False, wal=False)
    try:
        with engine.connect() as connection:
            present = inspect(connection).has_table(optimization_sessions.name)
            sessions = (
                connection.execute(select(func.count()).select_from(optimization_sessions)).scalar_one()
                if present
                else 0
            )
            steps = pending_steps(connection)
    finally:
        engine.dispose()
    lines: list[str] = []
    if not present:
        lines.append("create the platform's tables (models, optimization_sessions), empty")
    for step in steps:
        lines.append(f"step {step.revision}: {step.title}")
        lines.extend(f"  {detail}" for detail in step.details)
    location = mirror_location(settings)
    if location is None:
        return InstallPlan(tuple(lines), "none", "", None, sessions)
    action, reason = _copy_status(Mirror(location), settings)
    if action in ("build", "rebuild"):
        reason += f" ({sessions:,} sessions)"
    return InstallPlan(tuple(lines), action, reason, location, sessions)


def install(settings: Settings, progress: Progress = print) -> InstallPlan:
    """Run the plan: the platform's steps, then build or sync the copy."""
    plan = plan_install(settings)
    engine = make_engine(settings, read_only=False, wal=False)
    try:
        metadata.create_all(engine)  # a brand-new database: the platform's tables, empty
        done = install_platform_objects(engine)
    finally:
        engine.dispose()
    for step in done:
        progress(f"platform: step {step.revision} done ({step.title})")
    if plan.location is not None:
        mirror = Mirror(plan.location)
        try:
            if plan.copy_action in ("build", "rebuild"):
                mirror.build(progress)
            else:
                # Idempotent: what a newer version derives is added to the copy in place.
                engine = plan.location.write_engine()
                try:
                    init_db(engine, progress=lambda step: progress(f"copy: {step}"))
                finally:
                    engine.dispose()
                report = mirror.sync(full=True)
                progress(
                    f"copy: synced ({report.sessions_written} sessions written, "
                    f"{report.sessions_deleted} deleted, {report.models_changed} models)"
                )
        finally:
            mirror.close()
    return plan


def remove(settings: Settings, progress: Progress = print) -> None:
    """Take away everything :func:`install` added, in both places, and nothing else."""
    engine = make_engine(settings, read_only=False, wal=False)
    try:
        with engine.connect() as connection:
            present = inspect(connection).has_table(optimization_sessions.name)
        removed = remove_platform_objects(engine) if present else False
    finally:
        engine.dispose()
    progress(
        "platform: removed the index and the version record" if removed else "platform: nothing installed"
    )
    location = mirror_location(settings)
    if location is not None:
        found = Mirror(location).remove()
        progress(f"copy: deleted {location.description}" if found else "copy: none to delete")


def ensure_demo_database(settings: Settings) -> bool:
    """The first start on the embedded default: the demo database, then its speed layer (its
    index on the demo's table and the dashboard's copy beside it), as ``init-db`` would add.
    Returns True when it created the database; a configured database is never written."""
    if not create_demo_database(settings):
        return False
    install(settings, progress=lambda _: None)
    return True
