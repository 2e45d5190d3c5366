"""Stopping and resuming: stop signals honoured after a step, progress saved
atomically, and only resumed by a run with the same settings and data."""

import io
import signal
import threading
import time
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

import torch

from srstudy.base.files import atomic_file

# Settings that may change between a killed run and its resumption without
# invalidating the saved progress (more epochs = train on).
RESUMABLE_CHANGES = ("epochs",)


# Signals that mean "stop soon": the scheduler's warning before a time limit (SIGUSR1 via
# sbatch --signal), scancel, a requeue or a terminated Snakemake (SIGTERM), Ctrl-C (SIGINT).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


# Version of the resume file; one without "format" holds epoch boundaries only (no mid-epoch step).
PROGRESS_FORMAT = 2


class Interrupted(RuntimeError):
    """A stop signal arrived; progress was saved and a rerun resumes from it."""


class StopFlag:
    """The first stop signal received while :func:`stop_signals` is active (or None)."""

    def __init__(self):
        self.signal: signal.Signals | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def set(self, number, _frame=None) -> None:
        self.signal = self.signal or signal.Signals(number)


# Signal handlers are per process, so the flag is too.
STOP = StopFlag()


@contextmanager
def stop_signals(signals=STOP_SIGNALS):
    """Catch ``signals`` into :data:`STOP` instead of dying, so the training loop can
    finish its step and save; the previous handlers come back on exit. Outside the main
    thread (where Python cannot install handlers) the flag is never set."""
    STOP.signal = None
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {number: signal.signal(number, STOP.set) for number in signals}
    try:
        yield STOP
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class SaveClock:
    """Says when mid-epoch progress is due: after ``every_steps`` steps or
    ``every_seconds`` seconds since the last save, whichever comes first (None: never)."""

    def __init__(self, every_steps: int | None, every_seconds: float | None, clock=time.monotonic):
        self.every_steps, self.every_seconds, self.clock = every_steps, every_seconds, clock
        self.saved()

    def saved(self) -> None:
        self.steps, self.since = 0, self.clock()

    def step(self) -> bool:
        """Count one step; True when a save is due."""
        self.steps += 1
        if self.every_steps and self.steps >= self.every_steps:
            return True
        return bool(self.every_seconds) and self.clock() - self.since >= self.every_seconds


def save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` to memory, then one atomic write through Python: a full disk gives a
    DiskFullError naming the file (torch's own writer reports no errno)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_file(path, ".pt") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def same_run(state: dict, spec: dict, scale: int, data: dict) -> bool:
    def fixed(s):
        return {k: v for k, v in s.items() if k not in RESUMABLE_CHANGES}

    return fixed(state["spec"]) == fixed(spec) and state["scale"] == scale and state["data"] == data


def load_state(path: Path) -> dict | None:
    """Saved progress, or None when there is none or it is unreadable (then training
    starts over instead of failing)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: not worth a failed job
        print(f"ignoring unreadable progress file {path}: {error}", flush=True)
        return None


def stopping_on_signals(function):
    @wraps(function)
    def wrapper(*args, **kwargs):
        with stop_signals():
            return function(*args, **kwargs)

    return wrapper
