import time
from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.report.crossval import score_fold

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    folders = {
        seed: Path(folder) / sm.params.subfolder for seed, folder in zip(sm.params.seeds, sm.input.scored, strict=True)
    }
    start = time.perf_counter()
    rows = score_fold(
        sm.input.hr,
        folders,
        sm.params.frames,
        int(sm.wildcards.scale),
        sm.output[0],
        sm.threads,
        method=sm.wildcards.method,
        fold=int(sm.wildcards.fold),
    )
    seconds = time.perf_counter() - start
    print(f"fold {sm.wildcards.fold}: scored {len(rows)} frames in {seconds:.1f} s")
