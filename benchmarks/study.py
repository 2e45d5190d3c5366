"""Speed, memory and size of the workflow, each against a baseline measured in the same
run (ratios: absolute times on shared machines are not comparable). One module per
measure in benchmarks/measures/, each with its own options; this script runs a chosen
set of them and writes one table.

    .venv/bin/python benchmarks/study.py                  # every measure; e2e runs the demo (~10 min)
    .venv/bin/python benchmarks/study.py --skip e2e       # the rest: ~3 min on 2 cores
    .venv/bin/python benchmarks/study.py --only inference,memory,vram --device cuda

The table goes to stdout and to results/benchmarks/study.{md,json}.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from common import REPO, run_header, write_table
from measures import Context, dag, e2e, h5, inference, loader, memory, precision, uhd, vram
from srstudy.nets.device import select_device

MEASURES = {
    module.__name__.rsplit(".", 1)[-1]: module
    for module in (inference, memory, loader, h5, dag, e2e, precision, uhd, vram)
}


def parser_and_options() -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    """The command line, and per measure the names of its own options."""
    listing = "\n".join(f"  {name:10} {module.__doc__.splitlines()[0]}" for name, module in MEASURES.items())
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"measures (each module's docstring says more):\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(MEASURES)}")
    parser.add_argument("--skip", default="", help="comma-separated measures to leave out")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/study")
    owned = {}
    for name, module in MEASURES.items():
        group = parser.add_argument_group(f"{name} measure")
        owned[name] = [group.add_argument(*flags, **settings).dest for flags, settings in module.OPTIONS]
    return parser, owned


def own_options(args: argparse.Namespace, dests: list[str]) -> argparse.Namespace:
    """A measure's options and nothing else: no measure can read, or set, another's."""
    return argparse.Namespace(**{dest: getattr(args, dest) for dest in dests})


def chosen(parser, only: str | None, skip: str) -> list[str]:
    names = only.split(",") if only else list(MEASURES)
    names = [n for n in names if n not in skip.split(",")]
    if unknown := set(names) - set(MEASURES):
        parser.error(f"unknown measures {sorted(unknown)}; choose from {', '.join(MEASURES)}")
    return names


def main() -> None:
    parser, owned = parser_and_options()
    args = parser.parse_args()
    names = chosen(parser, args.only, args.skip)
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="srstudy-bench-") as tmp:
        for name in names:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            context = Context(device, args.threads, args.repeat, Path(tmp) / name, args.out.parent)
            context.work.mkdir()
            rows += MEASURES[name].run(context, own_options(args, owned[name]))
    print(write_table(args.out, "srstudy benchmarks", run_header(device, args.threads), rows))


if __name__ == "__main__":
    main()
