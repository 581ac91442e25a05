"""The one door every reader goes through: which database answers, and keeping the copy current.

:meth:`SpeedLayer.plan` returns a :class:`ReadPlan`: the copy's engine when the copy exists,
is of this version's format, copies this platform and was synced less than ``max_lag``
seconds ago; otherwise the platform's own engine (the plain path) and the reason, logged at
debug level when it changes. Both answer every query alike; the copy only answers faster.

One process keeps one layer per database (:func:`speed_layer`), whose thread syncs the copy
every ``sync_interval`` seconds while the process lives; a process without the thread (the
command line) syncs once before reading (:meth:`SpeedLayer.ensure_fresh`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from core.config import Settings
from core.speed.location import MirrorLocation, mirror_location
from core.speed.mirror import Mirror
from core.speed.state import MirrorState, SyncReport, unusable_reason
from core.store.engine import make_engine

log = logging.getLogger("core.speed")

MAX_LAG_S = 5.0
SYNC_INTERVAL_S = {"sqlite": 1.0, "postgresql": 2.0}
STATE_TTL_S = 0.5  # how long a read of the copy's recorded state is trusted
NO_COPY_RECHECK_S = 10.0  # how often a process without a copy looks whether one was built

EngineHook = Callable[[Engine], Engine]


@dataclass(frozen=True)
class ReadPlan:
    """Which engine answers, and why (``reason`` is empty when the copy answers)."""

    engine: Engine
    source: str  # "copy" or "platform"
    reason: str = ""

    @property
    def uses_copy(self) -> bool:
        return self.source == "copy"


class SpeedLayer:
    """The platform's engine, the copy's engine, and the choice between them."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine_hook: EngineHook | None = None,
        max_lag_s: float = MAX_LAG_S,
        sync_interval_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.location: MirrorLocation | None = mirror_location(settings)
        self.mirror = Mirror(self.location) if self.location is not None else None
        self.max_lag_s = max_lag_s
        self.sync_interval_s = sync_interval_s or SYNC_INTERVAL_S.get(
            self.location.dialect if self.location else "", 2.0
        )
        self._hook = engine_hook or (lambda engine: engine)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._platform_engine: Engine | None = None
        self._copy_engine: Engine | None = None
        self._state: tuple[float, MirrorState | None] | None = None
        self._fresh_at: datetime | None = None  # the start of the last sync seen to succeed
        self._last_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_error: str = ""

    # -- engines ------------------------------------------------------------------------------

    def platform_engine(self) -> Engine:
        with self._lock:
            if self._platform_engine is None:
                self._platform_engine = self._hook(make_engine(self.settings))
            return self._platform_engine

    def copy_engine(self) -> Engine | None:
        if self.location is None:
            return None
        with self._lock:
            if self._copy_engine is None:
                self._copy_engine = self._hook(self.location.read_engine())
            return self._copy_engine

    # -- the plan -----------------------------------------------------------------------------

    def plan(self) -> ReadPlan:
        reason = self._why_not_copy()
        if reason != self._last_reason:
            self._last_reason = reason
            if reason:
                log.debug("plain path for %s: %s", self.settings.masked_db_url, reason)
            else:
                log.debug("the copy answers for %s", self.settings.masked_db_url)
        if reason:
            return ReadPlan(self.platform_engine(), "platform", reason)
        engine = self.copy_engine()
        assert engine is not None
        return ReadPlan(engine, "copy")

    def reader(self) -> Engine:
        return self.plan().engine

    def _why_not_copy(self) -> str:
        if self.location is None or self.mirror is None:
            return "the speed layer is off for this database"
        if self.location.path is not None and not self.location.path.exists():
            return f"no copy at {self.location.path} (python -m core init-db builds it)"
        state = self._recorded_state()
        reason = unusable_reason(state, self.location)
        if reason or state is None:
            return f"{reason} (python -m core init-db builds it)"
        fresh = max(filter(None, (state.synced_at, self._fresh_at)), default=None)
        if fresh is None:
            return "the copy was never synced"
        lag = (datetime.now(UTC) - fresh).total_seconds()
        if lag > self.max_lag_s:
            return f"the copy is {lag:.1f} s behind the platform (limit {self.max_lag_s:g} s)"
        return ""

    def _recorded_state(self) -> MirrorState | None:
        now = time.monotonic()
        cached = self._state
        ttl = STATE_TTL_S if cached is None or cached[1] is not None else NO_COPY_RECHECK_S
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
        state = None
        if self.mirror is not None:
            try:
                engine = self.copy_engine()
                assert engine is not None
                with engine.connect() as connection:
                    state = self.mirror.state(connection)
            except Exception as error:  # no file, no schema, no permission: no copy
                log.debug("cannot read the copy's state: %r", error)
                state = None
        self._state = (now, state)
        return state

    def forget(self) -> None:
        """Read the copy's state again at the next plan (after a build or a removal)."""
        self._state = None
        with self._lock:
            if self._copy_engine is not None:
                self._copy_engine.dispose()
                self._copy_engine = None

    # -- syncing ------------------------------------------------------------------------------

    def sync(self, *, full: bool = False) -> SyncReport | None:
        """One sync of the copy (None when there is no copy of this format to sync)."""
        if self.mirror is None or (
            self.location is not None and self.location.path is not None and not self.location.path.exists()
        ):
            return None
        if unusable_reason(self._recorded_state(), self.mirror.location):
            return None
        with self._sync_lock:
            started = datetime.now(UTC)
            report = self.mirror.sync(full=full)
        if not report.skipped.startswith("another process"):
            self._fresh_at = started
        self._state = None
        return report

    def ensure_fresh(self) -> None:
        """Sync once if the copy is behind (the command line has no sync thread); never raises:
        a copy that cannot be synced is simply not used."""
        try:
            self.sync()
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.debug("sync failed, the plain path answers: %s", self.last_error)

    def start(self) -> None:
        """Keep the copy current from a daemon thread, for as long as the process lives."""
        if self.mirror is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="speed-layer-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            wait = self.sync_interval_s
            try:
                if self.sync() is None:
                    wait = NO_COPY_RECHECK_S
                failures = 0
                self.last_error = ""
            except Exception as error:
                failures += 1
                message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                if message != self.last_error:
                    log.warning(
                        "cannot sync the dashboard's copy of %s: %s", self.settings.masked_db_url, message
                    )
                self.last_error = message
                wait = min(60.0, self.sync_interval_s * 2 ** min(failures, 6))
            self._stop.wait(wait)

    def dispose(self) -> None:
        self.stop()
        if self.mirror is not None:
            self.mirror.close()
        with self._lock:
            for engine in (self._platform_engine, self._copy_engine):
                if engine is not None:
                    engine.dispose()
            self._platform_engine = self._copy_engine = None


_layers: dict[Settings, SpeedLayer] = {}
_layers_lock = threading.Lock()


def speed_layer(settings: Settings, *, engine_hook: EngineHook | None = None) -> SpeedLayer:
    """The process's layer for ``settings``, created (and its sync thread started) once."""
    with _layers_lock:
        layer = _layers.get(settings)
        if layer is None:
            layer = _layers[settings] = SpeedLayer(settings, engine_hook=engine_hook)
            layer.start()
        return layer


def dispose_layers() -> None:
    """Stop every layer's thread and close its engines (tests, the Retry button)."""
    with _layers_lock:
        layers = list(_layers.values())
        _layers.clear()
    for layer in layers:
        layer.dispose()
