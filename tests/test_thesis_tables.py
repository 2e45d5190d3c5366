"""config/thesis.yaml's tables on a small stand-in: its 30 test frames (64x64 crops of
real Big Buck Bunny frames), real bicubic degradations, real upscales by every variant's
model (not trained: near-identity weights with a little seeded noise, which is all the
tables need) with the thesis-code output beside the corrected one, real score files, and
the tables the workflow writes from them: thesis-code columns, the thesis's published
numbers, seed-level tests."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import BBB_FRAMES, REPO, SCHEMA
from srstudy.base.frames import THESIS_CODE_DIR, frame_name, read_rgb, write_png
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.plan.config import validate_schema
from srstudy.plan.frames import frame_ids
from srstudy.plan.variants import variant_spec
from srstudy.report import layout, published, tables
from srstudy.stages.degrade import degrade
from srstudy.stages.inference import thesis_code_frame, upscale_frame, upscale_test_sets
from srstudy.stages.metrics import score_folder, thesis_code_names

THESIS = REPO / "config/thesis.yaml"
SCALES = [2, 8]
SIDE = 64
SEEDED = ("default", "elu")  # three seeds (as configured); the other variants one, to save time


def near_identity(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every conv passes channel 0 through its centre tap, plus seeded noise."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
            conv.weight.copy_(0.01 * torch.randn(conv.weight.shape, generator=generator))
            conv.weight[0, 0, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = 1.0
            conv.bias.zero_()
    return model


def thesis_config() -> dict:
    return validate_schema(yaml.safe_load(THESIS.read_text()), SCHEMA)


@pytest.fixture(scope="module")
def standin(tmp_path_factory, bbb_frames_dir):
    """Score files and comparison tables of the thesis config on 64x64 test frames."""
    config = thesis_config()
    for variant in config["variants"]:
        if variant not in SEEDED:
            config["variants"][variant]["seeds"] = [123]
    root = tmp_path_factory.mktemp("thesis_tables") / "results"
    frames = frame_ids(config["frames"]["test"])
    sources = [read_rgb(bbb_frames_dir / frame_name(i)) for i in BBB_FRAMES]
    for n, frame in enumerate(frames):  # consecutive frames: neighbouring crops of one picture
        source = sources[n // 10]
        top, left = 200 + 4 * (n % 10), 400 + 6 * (n % 10)
        write_png(root / "frames" / frame_name(frame), source[top : top + SIDE, left : left + SIDE])
    score_paths = []
    for scale in SCALES:
        for frame in frames:
            _, _, bicubic = degrade(read_rgb(root / "frames" / frame_name(frame)), scale)
            write_png(root / f"degraded/x{scale}/bicubic" / frame_name(frame), bicubic)
        path = root / f"scores/x{scale}/bicubic.csv"
        score_folder(
            root / "frames",
            {None: root / f"degraded/x{scale}/bicubic"},
            frames=frames,
            scale=scale,
            out_csv=path,
            method="bicubic",
            test_set="study",
        )
        score_paths.append(path)
        for variant in config["variants"]:
            spec = variant_spec(config, variant)
            folders = {}
            for seed in spec["seeds"]:
                checkpoint = root / f"models/x{scale}/{variant}/seed{seed}/model.pt"
                checkpoint.parent.mkdir(parents=True)
                weights = near_identity(build_model(spec), seed).state_dict()
                torch.save({"state_dict": weights, "spec": spec, "scale": scale, "variant": variant}, checkpoint)
                folders[seed] = root / f"upscaled/x{scale}/{variant}/seed{seed}"
                test_set = [(root / f"degraded/x{scale}/bicubic", frames, folders[seed])]
                upscale_test_sets(
                    checkpoint, test_set, spec=spec, scale=scale, device="cpu", threads=1, thesis_code=True
                )
            path = root / f"scores/x{scale}/{variant}.csv"
            score_folder(
                root / "frames",
                folders,
                frames=frames,
                scale=scale,
                out_csv=path,
                method=variant,
                test_set="study",
                thesis_code=True,
            )
            score_paths.append(path)
    out = root / "tables"
    report = config["report"]
    variants, baseline = list(config["variants"]), config["baseline_variant"]
    tables.write_summaries(
        score_paths,
        variants=variants,
        baseline=baseline,
        comparisons=report["comparisons"],
        out_dir=out,
        settings=report["statistics"],
    )
    for scale in SCALES:
        tables.write_scale_tables(
            comparisons_csv=out / "comparisons.csv",
            seeds_csv=out / "summary_seeds.csv",
            variants=variants,
            baseline=baseline,
            comparisons=report["comparisons"],
            scale=scale,
            test_set="study test set",
            markdown=out / f"x{scale}.md",
            html_path=out / f"x{scale}.html",
            thesis=published.thesis_columns(config),
            settings=report["statistics"],
        )
    return config, root


def cells_of(text: str, name: str, table: int) -> dict[str, str]:
    blocks = [b for b in text.split("\n\n") if b.startswith("| Variant")]
    lines = blocks[table].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == name:
            return dict(zip(header, cells, strict=True))
    raise AssertionError(f"no row {name}")


def test_published_cells_are_the_thesis_tables():
    assert published.reported(2, "Default") == (42.910, 0.985)
    assert published.reported(8, "Additional layer") == (35.124, 0.898)
    assert published.reported(4, "TANH") == (38.863, 0.951)
    assert len(published.results()) == 5 * 6  # every scale x variant
    assert published.reported(5, "Default") is None


def test_thesis_columns_need_the_thesis_setup():
    config = thesis_config()
    config["variants"]["elu"]["epochs"] = 2
    columns = published.thesis_columns(config)
    assert "elu" not in columns["variants"] and "default" in columns["variants"]
    assert any("elu is not the thesis's ELU: epochs 2 (thesis: 40)" in r for r in columns["excluded"])
    config["frames"]["test"] = {"start": 156, "stop": 446, "step": 10}
    assert published.thesis_columns(config)["variants"] == {}
    demo = validate_schema(yaml.safe_load((REPO / "config/config.yaml").read_text()), SCHEMA)
    assert published.thesis_columns(demo) == {"variants": {}, "scales": [], "excluded": []}


def test_thesis_config_tables_show_thesis_code_and_published_numbers(standin):
    config, root = standin
    methods = pd.read_csv(root / "tables/summary_seeds.csv").set_index(["scale", "variant"])
    x2, x8 = (root / "tables/x2.md").read_text(), (root / "tables/x8.md").read_text()
    # table 0: all variants vs Default, thesis convention; table 1: the same, field convention
    default = cells_of(x2, "**default** (reference)", 0)
    assert (default["thesis reported PSNR"], default["thesis reported SSIM"]) == ("42.910", "0.985")
    assert default["PSNR thesis code"] == layout.fmt(methods.loc[(2, "default"), "psnr_rgb_thesis_code"])
    extra = cells_of(x8, "additional_layer", 0)
    assert (extra["thesis reported PSNR"], extra["thesis reported SSIM"]) == ("35.124", "0.898")
    full = cells_of(x8, "additional_layer_full", 0)
    assert full["thesis reported PSNR"] == "–" and full["PSNR thesis code"] != "–"
    assert cells_of(x2, "bicubic", 0)["PSNR thesis code"] == "–"
    field = cells_of(x2, "**default** (reference)", 1)
    assert "thesis reported PSNR" not in field and "PSNR thesis code" not in field
    assert "Thesis reported: the thesis's published means" in x2 and "64.738" in x2
    # three seeds on both sides: seeds and frame blocks are the units, and a p-value can be printed
    compared_x2 = pd.read_csv(root / "tables/comparisons.csv").query("scale == 2 and variant == 'elu'")
    assert "seed sd" in default and set(compared_x2["test"]) == {"t on seeds and frame blocks"}
    elu = cells_of(x2, "elu", 0)
    assert elu["p PSNR (Holm)"] not in ("n/a", "–")
    compared = pd.read_csv(root / "tables/comparisons.csv")
    assert set(compared[(compared["variant"] == "elu") & (compared["comparison"] == "all_variants")]["unit"]) == {
        "seeds x blocks"
    }


def test_thesis_code_scores_are_of_the_thesis_code_frames(standin):
    config, root = standin
    scores = pd.read_csv(root / "scores/x2/default.csv")
    assert all(m in scores for m in thesis_code_names())
    assert "psnr_rgb_thesis_code" not in pd.read_csv(root / "scores/x2/bicubic.csv")
    folder = root / "upscaled/x2/default/seed123"
    frame = frame_ids(config["frames"]["test"])[0]
    corrected = read_rgb(folder / frame_name(frame))
    thesis_code = read_rgb(folder / THESIS_CODE_DIR / frame_name(frame))
    assert not np.array_equal(corrected, thesis_code)
    # the typo darkens Y on the way in and truncation rounds down: a darker frame
    assert thesis_code.mean() < corrected.mean() - 0.3
    assert not np.allclose(scores["psnr_rgb_thesis_code"], scores["psnr_rgb"])


def reference_test_script(model, bicubic: np.ndarray) -> np.ndarray:
    """The thesis's test script's output path, written out step by step (float32, the
    64.738 typo in, the correct inverse out, whole plane, truncation to uint8)."""
    image = bicubic.astype(np.float32)
    y = 16.0 + (64.738 * image[..., 0] + 129.057 * image[..., 1] + 25.064 * image[..., 2]) / 256.0
    cb = 128.0 + (-37.945 * image[..., 0] - 74.494 * image[..., 1] + 112.439 * image[..., 2]) / 256.0
    cr = 128.0 + (112.439 * image[..., 0] - 94.154 * image[..., 1] - 18.285 * image[..., 2]) / 256.0
    with torch.no_grad():
        preds = model(torch.from_numpy(y / 255.0)[None, None]).clamp(0.0, 1.0)
    preds = preds.mul(255.0).numpy()[0, 0]
    out = np.array([preds, cb, cr]).transpose([1, 2, 0])
    r = 298.082 * out[..., 0] / 256.0 + 408.583 * out[..., 2] / 256.0 - 222.921
    g = 298.082 * out[..., 0] / 256.0 - 100.291 * out[..., 1] / 256.0 - 208.120 * out[..., 2] / 256.0 + 135.576
    b = 298.082 * out[..., 0] / 256.0 + 516.412 * out[..., 1] / 256.0 - 276.836
    return np.clip(np.array([r, g, b]).transpose([1, 2, 0]), 0.0, 255.0).astype(np.uint8)


def test_thesis_code_frame_is_the_reference_test_scripts_output(bbb_frames_dir):
    spec = {"layers": [{"kernel": 9, "channels": 16}, {"kernel": 5, "channels": 8}, {"kernel": 5, "channels": 1}]}
    torch.manual_seed(0)
    model = build_model(spec | {"activation": "relu"}).eval()
    _, _, bicubic = degrade(read_rgb(bbb_frames_dir / frame_name(BBB_FRAMES[1]))[:96, :128], 2)
    halo = receptive_radius(spec["layers"])
    ours = thesis_code_frame(model, bicubic, halo, tile=48)
    expected = reference_test_script(model, bicubic)
    difference = np.abs(ours.astype(int) - expected.astype(int))
    # truncation turns a last-bit float difference (tiled vs whole-plane convolution)
    # into at most one grey level, on very few pixels
    assert difference.max() <= 1 and (difference > 0).mean() < 0.001
    assert not np.array_equal(ours, upscale_frame(model, bicubic, halo, tile=48))


def test_thesis_reported_must_name_variants_and_thesis_columns(test_config):
    from srstudy.plan.errors import ConfigError
    from srstudy.plan.preflight import check_semantics

    test_config["report"]["thesis_reported"] = {"default": "Default", "prelu": "ELU"}
    config = validate_schema(test_config, SCHEMA)
    with pytest.raises(ConfigError, match=r"report\.thesis_reported: 'prelu' is not among the variants"):
        check_semantics(config)
    test_config["report"]["thesis_reported"] = {"default": "Defualt"}
    with pytest.raises(ConfigError, match=r"report\.thesis_reported\.default: 'Defualt' is not one of"):
        validate_schema(test_config, SCHEMA)
