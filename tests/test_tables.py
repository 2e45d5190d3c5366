"""Tables from real score files: row counts, statistics against numpy/scipy, the
comparison groups and the Markdown/HTML layout."""

import csv
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from srstudy import tables
from srstudy.metrics import COLUMNS, METRICS, write_scores

SCALES = [2, 3]
VARIANTS = ["default", "sigmoid", "tanh", "low_channels"]
SEEDS = {"default": [1, 2], "sigmoid": [1], "tanh": [1], "low_channels": [1]}
FRAMES = [100, 104, 108, 112, 116, 120]
COMPARISONS = {"all_variants": {}, "equal_width": {"reference": "low_channels", "variants": ["sigmoid", "tanh"]}}
# Mean offset of each method above bicubic (dB); the per-frame noise makes tests non-trivial.
OFFSET = {"bicubic": 0.0, "default": 1.0, "sigmoid": 0.6, "tanh": 0.5, "low_channels": 0.8}


def fake_scores(rng, method, scale, seed):
    rows = []
    for i, frame in enumerate(FRAMES):
        base = 40 - 2 * scale + 0.3 * i  # frames differ in difficulty
        psnr = base + OFFSET[method] + rng.normal(0, 0.2)
        rows.append(
            {
                "scale": scale,
                "method": method,
                "seed": seed,
                "test_set": "study",
                "frame": frame,
                "psnr_rgb": psnr,
                "ssim_rgb": 0.9 + psnr / 1000,
                "psnr_y": psnr + 1.5,
                "ssim_y": 0.92 + psnr / 1000,
                "hr_path": f"results/frames/{frame:06d}.png",
                "sr_path": f"results/x/{frame:06d}.png",
            }
        )
    return rows


@pytest.fixture
def score_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for scale in SCALES:
        for method in ["bicubic", *VARIANTS]:
            rows = []
            for seed in SEEDS.get(method, [None]):
                rows += fake_scores(rng, method, scale, seed)
            path = tmp_path / f"results/scores/x{scale}/{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_scores(path, rows)
            paths.append(path)
    return paths


@pytest.fixture
def written(score_files, tmp_path):
    out = tmp_path / "results/tables"
    out.mkdir(parents=True)
    result = tables.write_summaries(score_files, VARIANTS, "default", COMPARISONS, out)
    return out, result


def test_score_file_columns_are_the_documented_ones(score_files):
    with open(score_files[0]) as handle:
        assert next(csv.reader(handle)) == list(COLUMNS)


def test_summary_has_one_row_per_scale_variant_seed_plus_bicubic(written):
    out, _ = written
    summary = pd.read_csv(out / "summary.csv", dtype={"seed": "Int64"})
    runs_per_scale = 1 + sum(len(s) for s in SEEDS.values())  # bicubic + every seed of every variant
    assert len(summary) == len(SCALES) * runs_per_scale
    for scale in SCALES:
        at = summary[summary["scale"] == scale]
        assert list(dict.fromkeys(at["variant"])) == ["bicubic", *VARIANTS]  # bicubic first, config order
        assert at[at["variant"] == "bicubic"]["seed"].isna().all()
        assert sorted(at[at["variant"] == "default"]["seed"]) == [1, 2]
    assert (summary["n_frames"] == len(FRAMES)).all()
    for column in ["scale", "variant", "seed", "n_frames", *METRICS]:
        assert column in summary
    for metric in METRICS:
        assert f"{metric}_std" in summary and f"{metric}_ci95" in summary


def test_summary_statistics_against_numpy_and_scipy(written, score_files):
    out, _ = written
    summary = pd.read_csv(out / "summary.csv", dtype={"seed": "Int64"})
    raw = pd.read_csv(score_files[1])  # x2 default, two seeds
    values = raw[raw["seed"] == 2]["psnr_y"].to_numpy()
    row = summary[(summary["scale"] == 2) & (summary["variant"] == "default") & (summary["seed"] == 2)].iloc[0]
    assert row["psnr_y"] == pytest.approx(values.mean())
    assert row["psnr_y_std"] == pytest.approx(values.std(ddof=1))
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert row["psnr_y_ci95"] == pytest.approx((high - low) / 2)


def test_across_seed_table(written, score_files):
    out, _ = written
    seeds = pd.read_csv(out / "summary_seeds.csv")
    assert len(seeds) == len(SCALES) * (1 + len(VARIANTS))
    row = seeds[(seeds["scale"] == 2) & (seeds["variant"] == "default")].iloc[0]
    raw = pd.read_csv(score_files[1])
    seed_means = raw.groupby("seed")["psnr_rgb"].mean()
    assert row["n_seeds"] == 2
    assert row["psnr_rgb"] == pytest.approx(seed_means.mean())
    assert row["psnr_rgb_seed_std"] == pytest.approx(seed_means.std(ddof=1))
    assert row["psnr_rgb_seed_min"] == pytest.approx(seed_means.min())
    single = seeds[(seeds["scale"] == 2) & (seeds["variant"] == "tanh")].iloc[0]
    assert single["n_seeds"] == 1 and math.isnan(single["psnr_rgb_seed_std"])


def test_wilcoxon_p_values_match_scipy(written, score_files):
    out, _ = written
    compared = pd.read_csv(out / "comparisons.csv")
    per_frame = pd.concat(pd.read_csv(p).assign(method=p.stem, scale=int(p.parent.name[1:])) for p in score_files)
    per_frame = per_frame.groupby(["scale", "method", "frame"])[list(METRICS)].mean()
    for group, reference, members in [
        ("all_variants", "default", ["sigmoid", "tanh", "low_channels"]),
        ("equal_width", "low_channels", ["sigmoid", "tanh"]),
    ]:
        for scale in SCALES:
            for method in ["bicubic", *members]:
                for metric in ("psnr_rgb", "ssim_y"):
                    x = per_frame.loc[(scale, method)][metric]
                    y = per_frame.loc[(scale, reference)][metric]
                    expected = stats.wilcoxon(x, y)
                    row = compared[
                        (compared["comparison"] == group)
                        & (compared["scale"] == scale)
                        & (compared["variant"] == method)
                        & (compared["metric"] == metric)
                    ]
                    assert len(row) == 1
                    row = row.iloc[0]
                    assert row["reference"] == reference
                    assert row["p_value"] == pytest.approx(expected.pvalue)
                    assert row["wilcoxon_statistic"] == pytest.approx(expected.statistic)
                    assert row["delta_reference"] == pytest.approx(x.mean() - y.mean())
                    bicubic = per_frame.loc[(scale, "bicubic")][metric]
                    assert row["delta_bicubic"] == pytest.approx(x.mean() - bicubic.mean())
            ref_row = compared[
                (compared["comparison"] == group) & (compared["scale"] == scale) & (compared["variant"] == reference)
            ]
            assert ref_row["p_value"].isna().all() and (ref_row["delta_reference"] == 0).all()


def test_identical_samples_give_p_one():
    assert tables.paired_wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (0.0, 1.0)


def test_resolve_comparisons_defaults():
    groups = tables.resolve_comparisons(COMPARISONS, VARIANTS, "default")
    assert groups[0]["reference"] == "default"
    assert groups[0]["variants"] == ["sigmoid", "tanh", "low_channels"]
    assert groups[1] == {
        "name": "equal_width",
        "title": "sigmoid, tanh vs low_channels",
        "reference": "low_channels",
        "variants": ["sigmoid", "tanh"],
    }


def test_markdown_and_html_tables(written, tmp_path):
    out, _ = written
    md, page = out / "x2.md", out / "x2.html"
    tables.write_scale_tables(
        out / "comparisons.csv", out / "summary_seeds.csv", VARIANTS, "default", COMPARISONS, 2, "study", md, page
    )
    text = md.read_text()
    # one table per group and convention
    assert text.count("### Thesis convention") == 2 and text.count("### Field convention") == 2
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    headers = [line for line in table_lines if line.startswith("| Variant")]
    assert len(headers) == 4
    assert "seed sd" in headers[0]  # default has two seeds
    assert any(line.startswith("| bicubic |") for line in table_lines)
    assert any(line.startswith("| **low_channels** (reference) |") for line in table_lines)
    # 3 decimals, and the numbers are those of comparisons.csv
    compared = pd.read_csv(out / "comparisons.csv")
    row = compared[
        (compared["comparison"] == "all_variants")
        & (compared["scale"] == 2)
        & (compared["variant"] == "tanh")
        & (compared["metric"] == "psnr_rgb")
    ].iloc[0]
    tanh_line = next(line for line in table_lines if line.startswith("| tanh |"))
    cells = [c.strip() for c in tanh_line.strip("|").split("|")]
    assert cells[1] == f"{row['mean']:.3f}"
    assert cells[5] == f"{row['delta_reference']:+.3f}"
    assert cells[6] == f"{row['delta_bicubic']:+.3f}"
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<table>") == 4
    assert f"{row['mean']:.3f}" in html


def test_format_helpers():
    assert tables.fmt(1.23456) == "1.235"
    assert tables.fmt(0.5, signed=True) == "+0.500"
    assert tables.fmt(-0.0001, signed=True) == tables.fmt(-0.0001) == "0.000"
    assert tables.fmt(float("nan")) == "–"
    assert tables.fmt_p(0.0004) == "<0.001"
    assert tables.fmt_p(0.0123) == "0.012"


def test_load_scores_rejects_files_without_their_labels(tmp_path):
    bad = tmp_path / "x2/elu.csv"  # a score path, but the file does not say what it scores
    bad.parent.mkdir()
    bad.write_text("frame,seed,psnr_rgb,ssim_rgb,psnr_y,ssim_y\n100,1,30,0.9,31,0.9\n")
    with pytest.raises(ValueError, match=r"not a score file, columns \['method', 'scale', 'test_set'\] are missing"):
        tables.load_scores([bad])


def test_load_scores_reads_labels_from_columns_not_paths(score_files, tmp_path):
    moved = tmp_path / "anywhere.csv"  # a renamed file keeps its meaning
    moved.write_bytes(score_files[-1].read_bytes())
    scores = tables.load_scores([moved])
    assert set(scores["scale"]) == {SCALES[-1]} and set(scores["variant"]) == {VARIANTS[-1]}
    assert set(scores["test_set"]) == {"study"}
