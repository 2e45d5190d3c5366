"""Tables from real score files: row counts, statistics against numpy/scipy and
srstudy.report.statistics, the comparison groups, flags and the Markdown/HTML layout."""

import csv
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from srstudy.report import compare, layout, statistics, tables
from srstudy.report import scores as score_tables
from srstudy.stages.metrics import metric_names, score_columns, write_scores

SCALES = [2, 3]
VARIANTS = ["default", "sigmoid", "tanh", "low_channels"]
SEEDS = {"default": [1, 2], "sigmoid": [1, 2], "tanh": [1], "low_channels": [1]}
FRAMES = [100, 104, 108, 112, 116, 120]
COMPARISONS = {"all_variants": {}, "equal_width": {"reference": "low_channels", "variants": ["sigmoid", "tanh"]}}
# Mean offset of each method above bicubic (dB); the per-frame noise makes tests non-trivial.
OFFSET = {"bicubic": 0.0, "default": 1.0, "sigmoid": 0.6, "tanh": -0.5, "low_channels": 0.8}


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
    result = tables.write_summaries(
        score_files, variants=VARIANTS, baseline="default", comparisons=COMPARISONS, out_dir=out
    )
    return out, result


def test_score_file_columns_are_the_documented_ones(score_files):
    with open(score_files[0]) as handle:
        assert next(csv.reader(handle)) == list(score_columns())


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
    for column in ["scale", "variant", "seed", "n_frames", *metric_names()]:
        assert column in summary
    for metric in metric_names():
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


def per_frame_scores(score_files):
    frames = pd.concat(pd.read_csv(p).assign(method=p.stem, scale=int(p.parent.name[1:])) for p in score_files)
    return frames


def row_of(compared, group, scale, method, metric):
    row = compared[
        (compared["comparison"] == group)
        & (compared["scale"] == scale)
        & (compared["variant"] == method)
        & (compared["metric"] == metric)
    ]
    assert len(row) == 1
    return row.iloc[0]


def test_one_seed_comparisons_resample_and_test_frames_in_blocks(written, score_files):
    out, _ = written
    compared = pd.read_csv(out / "comparisons.csv")
    raw = per_frame_scores(score_files)
    per_frame = raw.groupby(["scale", "method", "frame"])[list(metric_names())].mean()
    settings = compare.STATISTICS
    for scale in SCALES:
        for metric in ("psnr_rgb", "ssim_y"):
            x = per_frame.loc[(scale, "tanh")][metric].sort_index()
            y = per_frame.loc[(scale, "low_channels")][metric].sort_index()
            differences = (x - y).to_numpy()
            row = row_of(compared, "equal_width", scale, "tanh", metric)
            block = statistics.block_length(len(FRAMES))
            assert row["unit"] == "frames" and row["n_units"] == len(FRAMES) and row["block_length"] == block == 2
            assert row["delta_reference"] == pytest.approx(x.mean() - y.mean())
            # 6 frames in 3 blocks: too few for a bootstrap to mean anything, so no interval, and why
            low, high = statistics.bootstrap_ci(differences, block, settings["resamples"], settings["seed"])
            assert math.isnan(low) and math.isnan(high) and math.isnan(row["delta_low"])
            assert row["no_interval"] == "6 frames make 3 blocks of 2; an interval needs at least 6"
            assert row["p_value"] == pytest.approx(statistics.sign_flip_test(differences, block, 1, 0))
            assert row["p_min"] == 0.25  # 6 frames in 3 blocks: 2 / 2**3
            bicubic = per_frame.loc[(scale, "bicubic")][metric]
            assert row["delta_bicubic"] == pytest.approx(x.mean() - bicubic.mean())
        ref_row = row_of(compared, "equal_width", scale, "low_channels", "psnr_rgb")
        assert math.isnan(ref_row["p_value"]) and ref_row["delta_reference"] == 0
        bicubic_row = row_of(compared, "equal_width", scale, "bicubic", "psnr_rgb")
        assert math.isnan(bicubic_row["p_value"]) and math.isnan(bicubic_row["delta_low"])


def test_with_several_seeds_on_both_sides_seeds_and_frame_blocks_vary(score_files):
    """Blocks of one frame give 6 blocks: enough for the seeds-by-blocks interval."""
    groups = compare.resolve_comparisons(COMPARISONS, VARIANTS, "default")
    compared = compare.compare(score_tables.load_scores(score_files), groups, {"block_length": 1})
    raw = per_frame_scores(score_files)
    for scale in SCALES:
        at = raw[raw["scale"] == scale]
        x, y = (
            at[at["method"] == m].pivot(index="seed", columns="frame", values="psnr_y") for m in ("sigmoid", "default")
        )
        expected = statistics.seeds_and_blocks(x.to_numpy(), y.to_numpy(), 1)
        row = row_of(compared, "all_variants", scale, "sigmoid", "psnr_y")
        assert row["unit"] == "seeds x blocks" and row["n_units"] == 4 and row["test"] == "t on seeds and frame blocks"
        assert row["p_value"] == pytest.approx(expected["p"])
        assert (row["delta_low"], row["delta_high"]) == pytest.approx((expected["low"], expected["high"]))
        # tanh has one seed: back to frames (per-frame scores of default averaged over its seeds)
        assert row_of(compared, "all_variants", scale, "tanh", "psnr_y")["unit"] == "frames"


def test_holm_adjusts_within_each_table(written):
    out, _ = written
    compared = pd.read_csv(out / "comparisons.csv")
    for (_group, _scale, convention), family in compared.groupby(["comparison", "scale", "convention"]):
        tested = family[family["p_value"].notna()]
        # PSNR and SSIM of every member with a test: in all_variants, sigmoid and default have two seeds
        # each but their 6 frames only 3 blocks (no test); bicubic is not tested
        members = 2
        assert len(tested) == 2 * members
        assert set(family["metric"].map(compare.convention_of)) == {convention}
        np.testing.assert_allclose(tested["p_holm"], statistics.holm(tested["p_value"]))
        assert (tested["n_tests"] == 2 * members).all()
        np.testing.assert_allclose(tested["p_holm_floor"], np.minimum(1, tested["p_min"] * 2 * members))


def test_the_statistics_settings_change_the_intervals(score_files, tmp_path):
    groups = compare.resolve_comparisons(COMPARISONS, VARIANTS, "default")
    scores = score_tables.load_scores(score_files)
    one = compare.compare(scores, groups, {"block_length": 1})
    two = compare.compare(scores, groups, {"block_length": 1, "seed": 5})
    assert set(one["block_length"].dropna()) == {1}
    assert not np.allclose(one["delta_low"].dropna(), two["delta_low"].dropna())
    three = compare.compare(scores, groups, {"block_length": 3})  # 6 frames are 2 blocks: too few for an interval
    assert three[three["unit"] == "frames"]["delta_low"].isna().all()
    assert one["p_min"].dropna().min() == 0.0  # seeds x blocks rows
    assert one[one["unit"] == "frames"]["p_min"].dropna().unique().tolist() == [2 / 2**6]


def test_resolve_comparisons_defaults():
    groups = compare.resolve_comparisons(COMPARISONS, VARIANTS, "default")
    assert groups[0]["reference"] == "default"
    assert groups[0]["variants"] == ["sigmoid", "tanh", "low_channels"]
    assert groups[1] == {
        "name": "equal_width",
        "title": "sigmoid, tanh vs low_channels",
        "reference": "low_channels",
        "variants": ["sigmoid", "tanh"],
    }


def cells_of(text: str, name: str, table: int = 0) -> dict[str, str]:
    """``{header: cell}`` of the row ``name`` in the ``table``-th table of a Markdown page."""
    blocks = [b for b in text.split("\n\n") if b.startswith("| Variant")]
    lines = blocks[table].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == name:
            return dict(zip(header, cells, strict=True))
    raise AssertionError(f"no row {name}")


def test_markdown_and_html_tables(written, tmp_path):
    out, _ = written
    md, page = out / "x2.md", out / "x2.html"
    training = tmp_path / "training.csv"
    pd.DataFrame(
        [
            {"scale": 2, "variant": variant, "seed": seed, "verdict": verdict, "remaining_drift_db": drift}
            for variant, seed, verdict, drift in [
                ("default", 1, "still rising", 0.02),
                ("default", 2, "converged", 0.005),
                ("sigmoid", 1, "still rising", 0.5),
                ("sigmoid", 2, "collapsed", 0.8),
                ("tanh", 1, "still rising", 0.001),
                ("low_channels", 1, "converged", 0.0),
            ]
        ]
    ).to_csv(training, index=False)
    tables.write_scale_tables(
        comparisons_csv=out / "comparisons.csv",
        seeds_csv=out / "summary_seeds.csv",
        variants=VARIANTS,
        baseline="default",
        comparisons=COMPARISONS,
        scale=2,
        test_set="study",
        markdown=md,
        html_path=page,
        training_csv=training,
    )
    text = md.read_text()
    # one table per group and convention
    assert text.count("### Thesis convention") == 2 and text.count("### Field convention") == 2
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    headers = [line for line in table_lines if line.startswith("| Variant")]
    assert len(headers) == 4
    assert "seed sd" in headers[0]  # default has two seeds
    assert "thesis code" not in text and "thesis reported" not in text  # neither configured
    assert any(line.startswith("| bicubic |") for line in table_lines)
    assert any(line.startswith("| **low_channels** (reference) |") for line in table_lines)
    # 3 decimals, and the numbers are those of comparisons.csv
    compared = pd.read_csv(out / "comparisons.csv")
    row = row_of(compared, "all_variants", 2, "tanh", "psnr_rgb")
    tanh = cells_of(text, "tanh")
    assert tanh["PSNR (dB)"] == f"{row['mean']:.3f}"
    delta = tables.fmt_delta(row["delta_reference"], row["delta_low"], row["delta_high"])
    assert tanh["ΔPSNR vs default [95% CI]"] == delta + (
        "" if abs(row["delta_reference"]) > 2 * 0.02 else " unresolved"
    )
    assert tanh["ΔPSNR vs bicubic"] == f"{row['delta_bicubic']:+.3f}"
    # flags: tanh is below bicubic and unconverged; default has one unconverged seed of two
    assert tanh["Flags"] == "below bicubic, still rising"
    assert cells_of(text, "**default** (reference)")["Flags"] == "still rising (1/2 seeds)"
    assert cells_of(text, "sigmoid")["Flags"].endswith("still rising (1/2 seeds), collapsed (1/2 seeds)")
    assert cells_of(text, "low_channels")["Flags"] == ""
    assert "WARNING: at x2, 2 of 6 converged (3 still rising, 1 collapsed)" in text
    # sigmoid's drift (0.8 dB) dwarfs its difference: unresolved
    assert cells_of(text, "sigmoid")["ΔPSNR vs default [95% CI]"].endswith("unresolved")
    # 6 frames in blocks of 2 cannot reach 0.05: no p-value is printed for frame tests ...
    assert tanh["p PSNR (Holm)"] == tanh["p SSIM (Holm)"] == "n/a"
    assert "cannot give p below 0.25" in text and "n/a marks the" in text
    # ... nor for sigmoid (2 seeds on both sides, but 3 blocks), and the notes say why
    assert cells_of(text, "sigmoid")["p PSNR (Holm)"] == "–"
    assert "No interval and no test where 6 frames make 3 blocks of 2" in text
    assert "moving-block bootstrap (blocks of 2" in text
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<table>") == 4
    assert f"{row['mean']:.3f}" in html and "<b>WARNING" in html


def test_format_helpers():
    assert layout.fmt(1.23456) == "1.235"
    assert layout.fmt(0.5, signed=True) == "+0.500"
    assert layout.fmt(-0.0001, signed=True) == layout.fmt(-0.0001) == "0.000"
    assert layout.fmt(float("nan")) == "–"
    assert tables.fmt_p(0.0004) == "<0.001"
    assert tables.fmt_p(0.0123) == "0.012"


def test_load_scores_rejects_files_without_their_labels(tmp_path):
    bad = tmp_path / "x2/elu.csv"  # a score path, but the file does not say what it scores
    bad.parent.mkdir()
    bad.write_text("frame,seed,psnr_rgb,ssim_rgb,psnr_y,ssim_y\n100,1,30,0.9,31,0.9\n")
    with pytest.raises(ValueError, match=r"not a score file, columns \['method', 'scale', 'test_set'\] are missing"):
        score_tables.load_scores([bad])


def test_load_scores_reads_labels_from_columns_not_paths(score_files, tmp_path):
    moved = tmp_path / "anywhere.csv"  # a renamed file keeps its meaning
    moved.write_bytes(score_files[-1].read_bytes())
    scores = score_tables.load_scores([moved])
    assert set(scores["scale"]) == {SCALES[-1]} and set(scores["variant"]) == {VARIANTS[-1]}
    assert set(scores["test_set"]) == {"study"}
