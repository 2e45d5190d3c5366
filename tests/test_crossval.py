"""k-fold cross-validation over time (srstudy/plan/folds.py): the fold split, its config
checks, the fold scores and the across-fold tables, and one real Snakemake run of
.test/config/cv.yaml. Turning cv on after a finished study plans only new jobs
(tests/test_reruns.py)."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SCHEMA, TEST_CONFIG, copy_project, explain, load_config, png_ids, snakemake
from scipy import stats
from srstudy.base.frames import frame_name, write_png
from srstudy.plan import dag
from srstudy.plan import folds as fold_plan
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.frames import resolve_times
from srstudy.report import crossval
from srstudy.stages.metrics import metric_names
from test_reruns import counts, planned_jobs

CV_CONFIG = REPO / ".test/config/cv.yaml"


def positions(frames, subset):
    index = {f: i for i, f in enumerate(frames)}
    return [index[f] for f in subset]


@pytest.mark.parametrize("n", [6, 7, 12, 31])
@pytest.mark.parametrize("folds", [2, 3, 5])
@pytest.mark.parametrize("gap", [0, 1])
def test_folds_are_contiguous_blocks_covering_the_range(n, folds, gap):
    frames = list(range(100, 100 + 10 * n, 10))  # every 10th frame: positions, not numbers
    try:
        split = fold_plan.split(frames, folds, gap, eval_frames=1)
    except ConfigError:
        assert n < folds * (1 + 2 * gap) + 2, "a split this roomy must work"
        return
    assert [f["fold"] for f in split] == list(range(folds))
    tests = [f["test"] for f in split]
    assert sum(tests, []) == frames, "the test blocks tile the range in time order"
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    for fold in split:
        pos = positions(frames, fold["test"])
        assert pos == list(range(pos[0], pos[-1] + 1)), "contiguous"
        parts = [set(fold[k]) for k in ("test", "eval", "train", "left_out")]
        assert sum(map(len, parts)) == n and set().union(*parts) == set(frames), "a partition of the range"
        assert fold["train"] and len(fold["eval"]) == 1


@pytest.mark.parametrize("gap", [0, 1, 2, 3])
def test_the_gap_separates_every_two_sets_of_a_fold(gap):
    frames = list(range(0, 400, 10))
    for fold in fold_plan.split(frames, 4, gap, eval_frames=2):
        pos = {k: positions(frames, fold[k]) for k in ("test", "eval", "train")}
        for a, b in (("test", "train"), ("test", "eval"), ("eval", "train")):
            nearest = min(abs(p - q) for p in pos[a] for q in pos[b])
            assert nearest >= gap + 1, (fold["fold"], a, b, nearest)  # at least gap frames in between
            if a == "test" and b == "train":
                assert nearest == gap + 1, "no more is left out than the gap"
        assert len(fold["left_out"]) <= 4 * gap


def test_no_test_frame_in_any_folds_training_or_eval_and_eval_far_from_the_test_block():
    frames = list(range(0, 120, 10))
    split = fold_plan.split(frames, 3, 1, eval_frames=1)
    assert [f["test"] for f in split] == [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90, 100, 110]]
    assert [f["eval"] for f in split] == [[110], [110], [0]]  # the end farther from the test block
    assert [f["train"] for f in split] == [[50, 60, 70, 80, 90], [0, 10, 20, 90], [20, 30, 40, 50, 60]]
    for fold in split:
        assert not set(fold["test"]) & (set(fold["train"]) | set(fold["eval"]))
        assert not set(fold["eval"]) & set(fold["train"])


@pytest.mark.parametrize(
    ("folds", "gap", "eval_frames", "key", "words"),
    [
        (1, 0, 1, "cv.folds", "at least 2"),
        (13, 0, 1, "cv.folds", "13 folds need at least 13 frames, but the split range (cv.frames) holds 12"),
        (2, 6, 1, "cv.eval_frames", "fold 0 (test frames 0 to 50) has no room for 1 eval frame(s) 6 frame(s) away"),
        (3, 4, 1, "cv.gap", "fold 0 (test frames 0 to 30) has no training frame left after a gap of 4"),
        (2, 0, 6, "cv.gap", "use a smaller gap (cv.gap), fewer folds (cv.folds), fewer eval frames"),
    ],
)
def test_impossible_splits_are_refused_naming_the_key(folds, gap, eval_frames, key, words):
    with pytest.raises(ConfigError) as error:
        fold_plan.split(list(range(0, 120, 10)), folds, gap, eval_frames)
    assert key in str(error.value) and words in str(error.value), str(error.value)


def cv_config(cv: dict) -> dict:
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["cv"] = cv
    return validate_schema(config, SCHEMA)


def test_cv_is_off_by_default_and_adds_no_job():
    config = load_config(TEST_CONFIG)
    assert config["cv"] == {"folds": None, "gap": 0, "eval_frames": 1}
    assert fold_plan.folds_of(config) == []
    jobs = dag.study_jobs(config)
    assert all(jobs[rule] == [] for rule in ("cv_pack_h5", "cv_train", "cv_upscale", "cv_score", "cv_tables"))
    assert (dag.RESULTS, dag.CV_SPLIT) not in dag.frame_sets(config)


def test_the_split_range_defaults_to_the_study_frames_together():
    config = cv_config({"folds": 2})
    assert fold_plan.split_range(config) == [0, 10, 30, 100, 110]  # train, eval, test in time order
    assert fold_plan.range_source(config) == "frames.train, .eval and .test together"
    folds = fold_plan.folds_of(config)
    assert [f["test"] for f in folds] == [[0, 10, 30], [100, 110]]


def test_the_schema_refuses_bad_cv_values_naming_the_key():
    for cv, words in (({"folds": 1}, "cv.folds"), ({"folds": 3, "gap": -1}, "cv.gap"), ({"fold": 3}, "'fold'")):
        config = yaml.safe_load(TEST_CONFIG.read_text())
        config["cv"] = cv
        with pytest.raises(ConfigError, match=words):
            validate_schema(config, SCHEMA)


def test_a_split_range_past_the_video_is_refused_before_any_job():
    config = cv_config({"folds": 2, "frames": {"start": 0, "stop": 5000, "step": 100}})
    with pytest.raises(ConfigError, match=r"cv.frames: frame 4900 is split .* holds about 132 frames"):
        fold_plan.check(config, approx_frames=132)


def test_cv_frames_in_seconds_get_frame_numbers():
    config = cv_config({"folds": 2, "frames": {"start_s": 0, "stop_s": 2, "every_s": 0.5}})
    assert resolve_times(config["cv"]["frames"], "cv.frames", 25.0) is None
    assert fold_plan.split_range(config) == [0, 12, 25, 38]
    both = {"start": 0, "start_s": 0, "stop_s": 2}
    assert resolve_times(both, "cv.frames", 25.0).startswith("cv.frames: give frame numbers")


def test_snakemake_refuses_an_impossible_split_before_any_job(tmp_path):
    config = yaml.safe_load(CV_CONFIG.read_text())
    config["cv"]["gap"] = 4
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--cores", "1", configfile=configfile)
    assert result.returncode != 0, explain(result)
    assert "cv.gap: fold 0" in result.stderr and "Traceback" not in result.stderr, explain(result)


# --- the interval and the tables ----------------------------------------------------------


def test_fold_interval_is_a_corrected_t_interval():
    values = [30.0, 31.0, 33.0, 32.0]
    low, high = crossval.fold_interval(values, ratio=0.5)
    half = stats.t.ppf(0.975, 3) * math.sqrt((1 / 4 + 0.5) * np.var(values, ddof=1))
    assert (low, high) == pytest.approx((31.5 - half, 31.5 + half))
    plain = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert high - low > 2 * plain, "wider than the plain t interval: training sets overlap"
    assert all(math.isnan(v) for v in crossval.fold_interval([30.0, 31.0], 0.5)), "no interval from 2 folds"


def write_fold_scores(root, folds, gains, seeds=(1,)):
    """Score files of every fold and method, as the cv_score jobs write them."""
    rng = np.random.default_rng(3)
    paths = []
    for fold in folds:
        for method, gain in gains.items():
            rows = []
            for seed in [None] if method == "bicubic" else seeds:
                for frame in fold["test"]:
                    base = 30 + fold["fold"]  # later blocks are easier
                    rows.append(
                        {"fold": fold["fold"], "scale": 2, "method": method, "seed": seed, "test_set": "study"}
                        | {"frame": frame, "psnr_rgb": base + gain + rng.normal(0, 0.01), "ssim_rgb": 0.9}
                        | {"psnr_y": base + gain + 1, "ssim_y": 0.9 + gain / 100, "hr_path": "", "sr_path": ""}
                    )
            path = root / f"fold{fold['fold']}" / f"{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(path, index=False)
            paths.append(path)
    return paths


def test_tables_average_per_fold_then_across_folds(tmp_path):
    folds = fold_plan.split(list(range(0, 120, 10)), 3, 1, 1)
    paths = write_fold_scores(tmp_path, folds, {"bicubic": 0.0, "default": 1.0, "elu": 0.5}, seeds=(1, 2))
    settings = {"where": "cv.frames", "n_frames": 12, "first": 0, "last": 110, "gap": 1}
    out = crossval.write_cv_tables(paths, folds, ["default", "elu"], "default", tmp_path / "tables", settings)
    per_fold = out["folds"]
    assert len(per_fold) == 3 * 3 and set(per_fold["n_frames"]) == {4}
    assert per_fold[per_fold["variant"] == "default"]["n_seeds"].tolist() == [2, 2, 2]
    summary = out["summary"].set_index("variant")
    assert list(summary.index) == ["bicubic", "default", "elu"]
    assert summary.loc["default", "psnr_y"] == pytest.approx(31 + 1 + 1)  # mean of 31, 32, 33 plus gain
    assert summary.loc["default", "n_folds"] == 3
    # paired by fold: the blocks' difficulty cancels, so Δ is exact and its interval tight
    assert summary.loc["elu", "psnr_y_delta"] == pytest.approx(-0.5)
    assert summary.loc["elu", "psnr_y_delta_high"] - summary.loc["elu", "psnr_y_delta_low"] < 1e-9
    assert summary.loc["elu", "psnr_y_high"] - summary.loc["elu", "psnr_y_low"] > 2
    assert math.isnan(summary.loc["default", "psnr_y_delta_low"]), "the reference is not compared with itself"
    text = (tmp_path / "tables/cv.md").read_text()
    assert "3-fold cross-validation" in text and "fold 1: test 40-70 (4), eval 110 (1), train 4 frames" in text
    assert "t = 4.30" in text and "Nadeau & Bengio" in text and "not other videos" in text
    assert "| elu | 32.500 [" in text and "| -0.500 [-0.500, -0.500] |" in text
    assert (tmp_path / "tables/cv.html").read_text().startswith("<!DOCTYPE html>")
    assert pd.read_csv(tmp_path / "tables/summary.csv")["variant"].tolist() == ["bicubic", "default", "elu"]


def test_two_folds_print_no_interval_and_say_why(tmp_path):
    folds = fold_plan.split(list(range(0, 60, 10)), 2, 0, 1)
    paths = write_fold_scores(tmp_path, folds, {"bicubic": 0.0, "default": 1.0})
    settings = {"where": "cv.frames", "n_frames": 6, "first": 0, "last": 50, "gap": 0}
    crossval.write_cv_tables(paths, folds, ["default"], "default", tmp_path, settings)
    text = (tmp_path / "cv.md").read_text()
    assert "No interval (n/a): with 2 folds" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "Variant" not in line]
    assert len(rows) == 4 and not any("[" in row for row in rows), "means only: no interval from 2 folds"


def test_the_fold_comes_from_the_file_not_its_path(tmp_path):
    folds = fold_plan.split(list(range(0, 60, 10)), 2, 0, 1)
    paths = write_fold_scores(tmp_path, folds, {"bicubic": 0.0, "default": 1.0})
    table = pd.read_csv(paths[0]).drop(columns="fold")
    table.to_csv(paths[0], index=False)
    with pytest.raises(ValueError, match=r"columns \['fold'\] are missing"):
        crossval.load_fold_scores(paths)


def test_score_fold_writes_the_fold_as_a_column(tmp_path):
    rng = np.random.default_rng(0)
    for frame in (10, 20):
        hr = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        write_png(tmp_path / "hr" / frame_name(frame), hr)
        write_png(tmp_path / "sr" / frame_name(frame), hr)
    rows = crossval.score_fold(
        tmp_path / "hr", {123: tmp_path / "sr"}, [10, 20], 2, tmp_path / "x.csv", method="default", fold=4
    )
    table = pd.read_csv(tmp_path / "x.csv")
    assert table.columns[0] == "fold" and table["fold"].tolist() == [4, 4] and len(rows) == 2
    assert table["frame"].tolist() == [10, 20] and (table["psnr_y"] == np.inf).all()
    assert set(metric_names()) <= set(table.columns)


# --- Snakemake ----------------------------------------------------------------------------


def test_the_declaration_is_the_dag_with_cv(tmp_path):
    """A dry run of the cv config from scratch plans exactly the declared jobs."""
    jobs = planned_jobs(tmp_path, CV_CONFIG)
    declared = dag.study_jobs(load_config(CV_CONFIG))
    assert {rule: sorted(tuple(sorted(w.items())) for w in entries) for rule, entries in jobs.items()} == {
        rule: sorted(tuple(sorted(w.items())) for w in entries) for rule, entries in declared.items() if entries
    }
    assert len(jobs["cv_train"]) == 3 * 3
    assert len(jobs["cv_pack_lr_h5"]) == 3, "espcn reads the LR grid: one LR set pair per fold"
    assert {w["split"] for w in jobs["extract_frames"]} == {"train", "eval", "test", "cv"}


def planned_inputs(workdir, configfile, *config_args):
    """``[(rule, wildcards, inputs)]`` of the jobs a dry run plans."""
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", *config_args, configfile=configfile)
    assert result.returncode == 0, explain(result)
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        inputs = re.search(r"^\s+input: (.*)$", block, re.M)
        if match and wildcards:
            jobs.append(
                (
                    match.group(1),
                    dict(p.split("=", 1) for p in wildcards.group(1).split(", ")),
                    inputs.group(1).split(", ") if inputs else [],
                )
            )
    return jobs


def test_demo_config_with_cv_packs_lr_fold_sets_for_its_lr_grid_variants(tmp_path):
    """The demo config's fsrcnn and espcn train per fold on the fold's LR-grid sets (one
    pair per fold and scale), its SRCNN variants on the HR-grid ones; without an LR-grid
    variant no LR fold set is planned."""
    demo = REPO / "config/config.yaml"
    config = load_config(demo)
    lr_variants = set(dag.lr_grid_variants(config))
    assert lr_variants == {"fsrcnn", "espcn"}, "the demo's post-upsampling variants"
    jobs = planned_inputs(tmp_path, demo, "--config", 'cv={"folds": 3}')
    packs = sorted((w["fold"], w["scale"]) for rule, w, _ in jobs if rule == "cv_pack_lr_h5")
    assert packs == sorted((str(f), str(s)) for f in range(3) for s in config["scales"])
    trains = [(w, inputs) for rule, w, inputs in jobs if rule == "cv_train"]
    assert {w["variant"] for w, _ in trains} == set(config["variants"])
    for w, inputs in trains:
        grid = "lr/" if w["variant"] in lr_variants else ""
        expected = [f"results/cv/fold{w['fold']}/h5/x{w['scale']}/{grid}{split}.h5" for split in ("train", "eval")]
        assert [i for i in inputs if i.endswith(".h5")] == expected, w
    # the study's own LR sets are untouched by cv: still one pack_lr_h5 per scale
    assert len([1 for rule, _, _ in jobs if rule == "pack_lr_h5"]) == len(config["scales"])

    srcnn_only = yaml.safe_load(demo.read_text())
    for name in lr_variants:
        del srcnn_only["variants"][name]
    path = tmp_path / "srcnn_only.yaml"
    path.write_text(yaml.safe_dump(srcnn_only, sort_keys=False))
    rules = {rule for rule, _, _ in planned_inputs(tmp_path, path, "--config", 'cv={"folds": 3}')}
    assert "cv_train" in rules and "cv_pack_h5" in rules
    assert "cv_pack_lr_h5" not in rules and "pack_lr_h5" not in rules


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    workdir = copy_project(tmp_path_factory.mktemp("cv"))
    result = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", configfile=CV_CONFIG, timeout=1800)
    return workdir, load_config(CV_CONFIG), result


def test_cv_config_runs_end_to_end(cv_run):
    workdir, config, result = cv_run
    assert result.returncode == 0, explain(result)
    folds = fold_plan.folds_of(config)
    assert len(folds) == 3
    assert png_ids(workdir / "results/frames/cv") == fold_plan.split_range(config)
    for fold in folds:
        root = workdir / f"results/cv/fold{fold['fold']}"
        for variant in config["variants"]:
            assert (root / f"models/x2/{variant}/seed123/model.pt").is_file()
            assert png_ids(root / f"upscaled/x2/{variant}/seed123") == fold["test"], "its test block, no other"
        for method in ("bicubic", *config["variants"]):
            scores = pd.read_csv(root / f"scores/x2/{method}.csv")
            assert scores["fold"].tolist() == [fold["fold"]] * len(fold["test"])
            assert scores["frame"].tolist() == fold["test"]
    import h5py  # the h5 sets hold the fold's training and eval frames, no test frame
    import torch

    for fold in folds:
        fold_dir = workdir / f"results/cv/fold{fold['fold']}"
        for split in ("train", "eval"):
            with h5py.File(fold_dir / f"h5/x2/{split}.h5", "r") as h5:
                assert h5["frames"][...].tolist() == fold[split]
            # espcn's sets: the same frames, inputs on the LR grid (half the HR side at x2)
            with (
                h5py.File(fold_dir / f"h5/x2/{split}.h5", "r") as hr,
                h5py.File(fold_dir / f"h5/x2/lr/{split}.h5", "r") as lr,
            ):
                assert lr.attrs["grid"] == "lr" and "grid" not in hr.attrs
                assert lr["frames"][...].tolist() == fold[split]
                assert lr["lr"].shape[1:] == tuple(side // 2 for side in hr["lr"].shape[1:])
        # the LR-grid fold model trained on its fold's LR set, upscaled its test block (above)
        checkpoint = torch.load(fold_dir / "models/x2/espcn/seed123/model.pt", weights_only=True)
        assert checkpoint["arch"] == "espcn" and checkpoint["data"]["train"]["grid"] == "lr"
        assert checkpoint["data"]["train"]["frames"] == fold["train"]
        espcn = pd.read_csv(fold_dir / "scores/x2/espcn.csv")
        assert espcn["psnr_y"].between(10, 60).all(), "real upscales, scored"
    summary = pd.read_csv(workdir / "results/cv/tables/summary.csv")
    assert summary["variant"].tolist() == ["bicubic", "default", "elu", "espcn"] and set(summary["n_folds"]) == {3}
    assert summary[["psnr_y", "psnr_y_low", "psnr_y_high"]].notna().all().all()
    assert "3-fold cross-validation" in (workdir / "results/cv/tables/cv.md").read_text()
    # the study's own models and tables are there too, and the fold models are other models
    assert (workdir / "results/tables/x2.md").is_file() and (workdir / "results/models/x2/default/seed123").is_dir()
    again = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", configfile=CV_CONFIG)
    assert "Nothing to be done" in again.stdout + again.stderr, explain(again)


def test_changing_the_split_reruns_fold_jobs_only(cv_run, tmp_path):
    """A smaller gap changes every fold's training and eval frames (not its test block):
    the fold h5 sets, models, upscales and scores and the cv tables rerun; nothing of the
    study (its frame sets, models, scores, tables) does, and the split range is not re-extracted."""
    workdir, config, result = cv_run
    assert result.returncode == 0, "the cross-validation run failed"
    changed = yaml.safe_load(CV_CONFIG.read_text())
    changed["cv"]["gap"] = 0
    path = tmp_path / "gap0.yaml"
    path.write_text(yaml.safe_dump(changed))
    jobs = planned_jobs(workdir, path)
    variants = len(config["variants"])
    assert counts(jobs) == {
        "cv_pack_h5": 3,
        "cv_pack_lr_h5": 3,  # espcn's LR-grid sets of the same frames
        "cv_train": 3 * variants,
        "cv_upscale": 3 * variants,
        "cv_score": 3 * variants,  # bicubic's frames are the same test blocks
        "cv_tables": 1,
        "cost_table": 1,
    }
