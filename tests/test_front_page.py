"""The report's front page: what ran and the verdict, from a run summary's per-model
table and real comparisons of synthetic scores with known differences."""

import numpy as np
import pandas as pd
from srstudy.base.files import write_csv
from srstudy.base.frames import frame_name, write_png
from srstudy.report import front_page
from srstudy.report.compare import compare, resolve_comparisons
from srstudy.train import convergence

FRAMES = list(range(30))  # 10 blocks of 3: the sign-flip test can reach p < 0.05
OFFSET = {"bicubic": 0.0, "default": 1.0, "elu": 0.2}  # dB above bicubic
CONFIG = {
    "scales": [2],
    "baseline_variant": "default",
    "report": {"study_test": "in-sample-like", "convergence": {}},
}


def scores(rng) -> pd.DataFrame:
    rows = []
    for method, offset in OFFSET.items():
        for frame in FRAMES:
            psnr = 30 + 0.1 * frame + offset + rng.normal(0, 0.05)
            rows.append(
                {"scale": 2, "variant": method, "method": method, "seed": np.nan if method == "bicubic" else 1}
                | {"frame": frame, "psnr_rgb": psnr, "ssim_rgb": 0.9, "psnr_y": psnr + 1, "ssim_y": 0.9}
            )
    return pd.DataFrame(rows)


def training(drift: dict) -> pd.DataFrame:
    rows = []
    for variant, d in drift.items():
        result = convergence.classify(epochs=8, best_epoch=8, best_db=31.0, last_db=31.0, drift_db=d)
        rows.append(
            {"scale": 2, "variant": variant, "seed": 1, "arch": "srcnn", "layers": "9x9:64, 5x5:32, 5x5:1"}
            | {"activation": "relu", "epochs": 8, "patches": 4096, "train_frames": 12, "device": "cpu"}
            | {"verdict": result.verdict, "remaining_drift_db": result.remaining_drift_db}
        )
    return pd.DataFrame(rows)


def page(tmp_path, drift: dict) -> list[str]:
    groups = resolve_comparisons({"all": {}}, ["default", "elu"], "default")
    compared = compare(scores(np.random.default_rng(3)), groups)
    write_csv(tmp_path / "comparisons.csv", compared)
    write_csv(tmp_path / "training.csv", training(drift))
    for frame in FRAMES[:3]:
        write_png(tmp_path / "frames" / frame_name(frame), np.zeros((36, 64, 3), np.uint8))
    sets = {"study": {"video": "package:x/bunny.mp4", "frames": tmp_path / "frames"}}
    sets["study"]["comparisons"] = tmp_path / "comparisons.csv"
    return front_page.write_front_page(
        CONFIG,
        training_csv=tmp_path / "training.csv",
        test_sets=sets,
        rst=tmp_path / "front_page.rst",
        html_path=tmp_path / "front_page.html",
    )


def test_a_settled_resolved_significant_difference_is_concluded(tmp_path):
    what_ran, *lines = page(tmp_path, {"default": 0.001, "elu": 0.002})
    assert "bunny.mp4 (64x36), 12 training frames" in what_ran and "3 frames (in-sample-like)" in what_ran
    assert "baseline default: srcnn 9x9:64, 5x5:32, 5x5:1, relu" in what_ran and "4,096 patches" in what_ran
    assert lines[0] == "Convergence: 2 of 2 converged."
    assert "above bicubic (Y-PSNR) x2: 2 of 2" in lines[1] and "1 resolved" in lines[1] and "1 both" in lines[1]
    assert lines[2].startswith("May be concluded: in-sample-like (study): x2 elu -0.80 dB vs default")
    assert "generalisation from the study test set" in lines[3]
    rst = (tmp_path / "front_page.rst").read_text()
    assert rst.startswith(front_page.TITLE) and ".. container:: verdict" in rst and "`Run`_" in rst
    assert "<b>Verdict.</b>" in (tmp_path / "front_page.html").read_text()


def test_a_difference_within_the_training_drift_is_not_concluded(tmp_path):
    _, *lines = page(tmp_path, {"default": 0.5, "elu": 0.002})
    assert lines[0].startswith("Convergence: 1 of 2 converged (1 still rising)")
    assert "0 resolved" in lines[1] and "0 both" in lines[1]
    assert lines[2] == "May be concluded: no difference between variants (none is both resolved and significant)."
    assert "final quality of the 1 model not converged" in lines[3]
