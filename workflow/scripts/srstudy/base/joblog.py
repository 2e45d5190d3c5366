"""Glue for Snakemake ``script:`` jobs and the Snakefile: a failure reads as one or two
lines that say what is wrong; the full traceback goes to the job's log, and to the
terminal too when ``SRSTUDY_DEBUG=1`` is set."""

import os
import sys
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout

from tqdm import tqdm

DEBUG_ENV = "SRSTUDY_DEBUG"


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def summary(error: BaseException) -> str:
    """The message of ``error``: the package's own errors are written to be read as they
    are; any other gets its type and first line (the rest is in the log)."""
    text = str(error).strip()
    if type(error).__module__.split(".")[0] == "srstudy" and text:
        return text
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextmanager
def short_errors(log=None):
    """Turn an exception into ``error: <message>`` on stderr and exit status 1 (a
    failed job for Snakemake); with ``SRSTUDY_DEBUG=1`` it propagates, traceback and all."""
    try:
        yield
    except Exception as error:
        if debug():
            raise
        print(f"error: {summary(error)}", file=sys.stderr)
        if log:
            print(f"  (full traceback in {log}; set {DEBUG_ENV}=1 to print it here too)", file=sys.stderr)
        raise SystemExit(1) from None


@contextmanager
def logged(path):
    """Send a job's output, and the traceback of a failure, to its log file; the failure
    itself reaches the terminal as a short message (:func:`short_errors`) and the job
    exits with status 1, so Snakemake reports it as failed and removes its outputs."""
    with short_errors(path), open(path, "w") as log:
        try:
            with redirect_stdout(log), redirect_stderr(log):
                yield
        except BaseException:
            traceback.print_exc(file=log)
            raise


# Seconds between two progress lines in a log file (a terminal refreshes in place, often).
LOG_INTERVAL = 10.0


class _LogLines:
    """A log file as a progress bar's output: each refresh becomes a line of its own.
    (On a terminal a bar rewrites one line with carriage returns; in a file they pile
    up into a single line of hundreds of megabytes.)"""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        if text.startswith("\r"):
            text = text.lstrip("\r")
            if text.strip():
                self.stream.write(text.rstrip() + "\n")
        elif text.strip():
            self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


class _Bar(tqdm):
    """tqdm whose ``set_postfix`` waits for the next timed refresh (tqdm's own refreshes
    at once: once per training step, whatever the interval)."""

    def set_postfix(self, ordered_dict=None, refresh=False, **kwargs):
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)


def progress_bar(iterable=None, file=None, **options) -> tqdm:
    """A progress bar on ``file`` (default: stderr, which a job sends to its log): on a
    terminal it refreshes in place; elsewhere it writes one line at most every
    ``LOG_INTERVAL`` seconds (and the last state), so logs stay small."""
    file = file if file is not None else sys.stderr
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        return _Bar(iterable, file=file, **options)
    return _Bar(iterable, file=_LogLines(file), mininterval=LOG_INTERVAL, ncols=100, ascii=True, **options)
