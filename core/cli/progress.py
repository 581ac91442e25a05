"""Progress of long commands on the terminal: tqdm bars on stderr, off when stderr is not a tty.

Scripts and tests therefore see exactly the command's output on stdout, with no bar codes;
``disable=None`` is tqdm's own "only on a terminal" switch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from tqdm import tqdm


def counter(description: str, unit: str, total: int | None = None) -> tqdm:
    """A bar (``total`` known) or a running count of ``unit``s, on stderr."""
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, file=sys.stderr, disable=None)


@contextmanager
def step_lines(description: str) -> Iterator[Callable[[str], None]]:
    """A ``progress(message)`` callback for :func:`core.speed.install.install`.

    Each message is printed on stdout with the time, as ``init-db`` always did; on a terminal
    a status line below counts the steps and shows the elapsed time and the current step.
    """
    shape = f"{description}: {{desc}} ({{n}} steps, {{elapsed}})"
    with tqdm(desc="starting", unit="step", file=sys.stderr, disable=None, bar_format=shape) as bar:

        def progress(message: str) -> None:
            tqdm.write(f"  {datetime.now().strftime('%H:%M:%S')} {message}", file=sys.stdout)
            bar.set_description_str(message.strip()[:60], refresh=False)
            bar.update()

        yield progress
