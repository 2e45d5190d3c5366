"""The measures of benchmarks/study.py, a module each. A measure module has

* a docstring: its first line is the one-line summary in ``study.py --help``, the rest
  says what is compared with what, and the target;
* ``OPTIONS``: its own command-line options (``option(...)``, as for
  ``ArgumentParser.add_argument``), with their defaults;
* ``run(context, options) -> list[dict]``: the rows (``common.row``). ``options`` holds
  this measure's options and nothing else, so no measure depends on another's, and
  each runs alone (``study.py --only NAME``).
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Context:
    """What the runner gives every measure: the device, the CPU threads, the timed runs
    per figure (median kept), an empty work folder of its own (removed afterwards) and
    the folder the results go to (for files worth keeping, such as a log)."""

    device: object  # torch.device
    threads: int
    repeat: int
    work: Path
    out_dir: Path


def option(*flags: str, **settings) -> tuple[tuple[str, ...], dict]:
    return flags, settings
