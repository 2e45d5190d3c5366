from srstudy.dataset import pack
from srstudy.jobs import logged
from srstudy.video import read_manifest

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    manifest = read_manifest(sm.input.frames)
    source = {"video": manifest["path"], "video_sha256": manifest["sha256"]}
    for frame_set in ("train", "eval"):
        pack(
            sm.input.frames,
            sm.input.degraded,
            sm.params[frame_set],
            int(sm.wildcards.scale),
            sm.output[frame_set],
            attrs={**source, "frame_set": frame_set},
        )
