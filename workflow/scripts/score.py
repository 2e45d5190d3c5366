import time
from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.stages.metrics import score_folder

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    folders = {
        seed: Path(folder) / sm.params.subfolder for seed, folder in zip(sm.params.seeds, sm.input.scored, strict=True)
    }
    start = time.perf_counter()
    rows = score_folder(
        sm.input.hr,
        folders,
        frames=sm.params.frames,
        scale=int(sm.wildcards.scale),
        out_csv=sm.output[0],
        threads=sm.threads,
        method=sm.wildcards.method,
        test_set=sm.params.test_set,
        thesis_code=sm.params.thesis_code,
    )
    seconds = time.perf_counter() - start
    print(f"scored {len(rows)} frames in {seconds:.1f} s ({seconds / max(1, len(rows)):.2f} s per frame)")
