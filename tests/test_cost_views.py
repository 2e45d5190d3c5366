"""What each model costs, in the comparison tables (parameters, GFLOPs per 4K frame,
measured ms per frame) and the Pareto figure (Y-PSNR gain over bicubic against GFLOPs)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from srstudy.report import figures, tables
from srstudy.stages.metrics import write_scores

GAINS = {"bicubic": 0.0, "default": 0.8, "fsrcnn": 0.5, "espcn": 0.2, "slow_bad": 0.1}
GFLOPS = {"default": 948.6, "fsrcnn": 23.0, "espcn": 41.7, "slow_bad": 1154.3}
ARCH = {"default": "srcnn", "fsrcnn": "fsrcnn", "espcn": "espcn", "slow_bad": "srcnn"}


def score_files(root, scales=(2, 3)):
    rng = np.random.default_rng(3)
    paths = []
    for scale in scales:
        for method, gain in GAINS.items():
            rows = [
                {
                    "scale": scale,
                    "method": method,
                    "seed": None if method == "bicubic" else 123,
                    "test_set": "study",
                    "frame": f,
                    "psnr_rgb": 40 - scale + gain + rng.normal(0, 0.05),
                    "ssim_rgb": 0.9,
                    "psnr_y": 41 - scale + gain + 0.1 * f + rng.normal(0, 0.05),
                    "ssim_y": 0.9,
                    "hr_path": "",
                    "sr_path": "",
                }
                for f in range(6)
            ]
            path = root / f"scores/x{scale}/{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_scores(path, rows)
            paths.append(path)
    return paths


def training_csv(root, scales=(2, 3)):
    rows = [
        {
            "scale": scale,
            "variant": v,
            "seed": 123,
            "arch": ARCH[v],
            "parameters": 1000 + i,
            "gflops_4k": g,
            # the run summary's verdict columns (srstudy.train.convergence)
            "verdict": "still rising",
            "converged": False,
            "drift_db": 0.2,
            "remaining_drift_db": 0.2,
        }
        for scale in scales
        for i, (v, g) in enumerate(GFLOPS.items())
    ]
    path = root / "training.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def timing_files(root, scale=2):
    paths = []
    for i, variant in enumerate(GFLOPS):
        path = root / f"upscaled/x{scale}/{variant}/seed123.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        timing = {"scale": scale, "variant": variant, "seed": 123, "ms_per_frame": 10.0 * (i + 1)}
        path.write_text(json.dumps(timing | {"width": 320, "height": 180, "device": "cpu", "ms": [1.0]}))
        paths.append(path)
    return paths


def test_pareto_front():
    # (cost, gain): b is cheaper and better than d; c is the cheapest; a the best.
    front = figures.pareto_front([100, 20, 5, 200], [0.8, 0.5, 0.2, 0.1])
    assert front == [True, True, True, False]
    assert figures.pareto_front([1, 1], [0.5, 0.5]) == [True, True]  # ties dominate neither


def test_pareto_figure_per_scale(tmp_path):
    out = tmp_path / "figures/pareto.png"
    data = figures.pareto(
        score_files(tmp_path), training_csv=training_csv(tmp_path), variants=list(GFLOPS), out=out, title="t"
    )
    assert sorted(data["scale"].unique()) == [2, 3]
    at2 = data[data["scale"] == 2].set_index("variant")
    assert at2.loc["fsrcnn", "psnr_y_gain"] == pytest.approx(0.5, abs=0.1)
    assert at2.loc["default", "gflops_4k"] == 948.6
    assert at2["pareto"].to_dict() == {"default": True, "fsrcnn": True, "espcn": False, "slow_bad": False}
    assert "bicubic" not in set(data["variant"])
    with Image.open(out) as image:
        width, height = image.size
    assert width > height > 300  # one panel per scale, side by side


def test_tables_show_each_rows_costs(tmp_path):
    out = tmp_path / "tables"
    tables.write_summaries(
        score_files(tmp_path), variants=list(GFLOPS), baseline="default", comparisons={"all": {}}, out_dir=out
    )
    tables.write_scale_tables(
        comparisons_csv=out / "comparisons.csv",
        seeds_csv=out / "summary_seeds.csv",
        variants=list(GFLOPS),
        baseline="default",
        comparisons={"all": {}},
        scale=2,
        test_set="study test set",
        markdown=out / "x2.md",
        html_path=out / "x2.html",
        training_csv=training_csv(tmp_path),
        timing_paths=timing_files(tmp_path),
    )
    text = (out / "x2.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Variant"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[-3:] == tables.COST_HEADER
    cells = {}
    for line in text.splitlines():
        parts = [c.strip() for c in line.strip("|").split("|")]
        if len(parts) == len(columns) and parts[0] not in ("Variant", "---"):
            cells.setdefault(parts[0].replace("**", "").replace(" (reference)", ""), parts)
    assert cells["fsrcnn"][-3:] == ["1,001", "23.0", "20.0"]
    assert cells["default"][-3:] == ["1,000", "948.6", "10.0"]
    assert cells["bicubic"][-3:] == ["–", "–", "–"]
    assert "one 320x180 test frame" in text and "on cpu" in text


def test_tables_without_cost_inputs_keep_their_columns():
    assert tables.model_costs(None, None, 2) == {}
    assert tables.cost_cells({}, "default") == ["–", "–", "–"]
    assert math.isnan(
        tables.model_costs(pd.DataFrame({"scale": [2], "variant": ["a"], "parameters": [math.nan]}), None, 2)["a"][
            "parameters"
        ]
    )
