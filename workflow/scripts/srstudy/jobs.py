"""Glue for Snakemake ``script:`` jobs."""

import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout


@contextmanager
def logged(path):
    """Send a job's output, and the traceback of a failure, to its log file; the
    exception still propagates, so Snakemake reports the job as failed."""
    with open(path, "w") as log:
        try:
            with redirect_stdout(log), redirect_stderr(log):
                yield
        except BaseException:
            traceback.print_exc(file=log)
            raise
