"""Progress reporting: a tqdm bar on a terminal, plain periodic lines otherwise.

tqdm is an optional extra (``pip install 'rnnkit[cli]'``); without it, or when stderr is not
a terminal (CI logs, pipes), :class:`Progress` prints one line every ``every`` steps.

Example:
    >>> with Progress(total=3, initial=0, every=2, use_tqdm=False) as bar:
    ...     for step in range(1, 4):
    ...         bar.update(step, {"loss": "1.00"})
    step 2/3 loss 1.00
    step 3/3 loss 1.00
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``83`` -> ``'1m23s'``."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """A progress bar over steps ``initial+1 .. total`` (``total`` None: unknown).

    Args:
        total: the last step, or None.
        initial: the step already reached (when resuming).
        every: steps between plain lines (when not using tqdm).
        use_tqdm: None: tqdm when it is installed and stderr is a terminal.
    """

    def __init__(self, total: int | None, initial: int = 0, every: int = 10, use_tqdm: bool | None = None):
        self.total, self.every, self.bar = total, every, None
        if use_tqdm is None:
            use_tqdm = sys.stderr.isatty()
        if use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr)
        self.start = time.perf_counter()

    def update(self, step: int, fields: dict[str, str]) -> None:
        """Report that ``step`` finished, with ``fields`` such as loss and tokens/s."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(fields, refresh=False)
        elif step % self.every == 0 or step == self.total:
            of = f"/{self.total}" if self.total else ""
            print(f"step {step}{of} " + " ".join(f"{k} {v}" for k, v in fields.items()), flush=True)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stdout)
        else:
            print(message, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
