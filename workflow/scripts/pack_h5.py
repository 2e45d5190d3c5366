from srstudy.base.joblog import logged
from srstudy.stages.dataset import pack
from srstudy.stages.video import read_manifest

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    for frame_set in ("train", "eval"):
        frames = sm.input[f"{frame_set}_frames"]
        manifest = read_manifest(frames)
        pack(
            frames,
            sm.input[f"{frame_set}_degraded"],
            sm.params[frame_set],
            int(sm.wildcards.scale),
            sm.output[frame_set],
            attrs={"video": manifest["path"], "video_sha256": manifest["sha256"], "frame_set": frame_set},
            grid=sm.params.grid,
        )
