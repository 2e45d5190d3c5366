"""The cost table: each benchmark file comes with its job's rule and wildcards (as data,
from the workflow's declaration of its jobs), and the end-to-end run's table has one row
per job."""

import pandas as pd
import pytest
from conftest import TEST_CONFIG, load_config
from srstudy.plan.dag import job_labels, study_jobs
from srstudy.report.costs import by_rule, cost_table, to_markdown


@pytest.mark.parametrize(
    "rule, wildcards, expected",
    [
        ("train", {"scale": "2", "variant": "elu", "seed": "123"}, ("", 2, "elu", 123, "")),
        (
            "upscale",
            {"root": "results/ood/bikes/", "scale": "4", "variant": "default", "seed": "7"},
            ("bikes", 4, "default", 7, ""),
        ),
        ("score", {"root": "results/", "scale": "3", "method": "bicubic"}, ("study", 3, "bicubic", None, "")),
        ("crop_figure", {"crop": "face", "scale": "2"}, ("", 2, "", None, "crop=face")),
        ("extract_frames", {"root": "results/ood/b-2/", "split": "test"}, ("b-2", None, "", None, "split=test")),
    ],
)
def test_jobs_are_labelled_from_their_wildcards(rule, wildcards, expected):
    info = job_labels(rule, wildcards)
    assert info["rule"] == rule
    assert tuple(info[k] for k in ("test_set", "scale", "method", "seed", "detail")) == expected


def test_every_declared_job_has_labels():
    jobs = study_jobs(load_config(TEST_CONFIG))
    labels = [job_labels(rule, w) for rule, entries in jobs.items() for w in entries]
    assert {label["rule"] for label in labels} == {rule for rule, entries in jobs.items() if entries}


def test_benchmark_files_and_jobs_must_pair_up(tmp_path):
    with pytest.raises(ValueError, match="1 benchmark files but 0 job descriptions"):
        cost_table([tmp_path / "a.tsv"], [])


def test_cost_table_reads_snakemake_benchmark_files(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    paths = []
    for variant, seconds, rss in [("default", 10.0, 300.0), ("elu", 30.0, 100.5)]:
        path = tmp_path / f"results/benchmarks/train/x2/{variant}/seed1.tsv"
        path.parent.mkdir(parents=True)
        path.write_text(header + f"{seconds}\t0:00:10\t{rss}\t1\t1\t1\t0\t0\t50\t{seconds / 2}\n")
        paths.append(path)
    jobs = [job_labels("train", {"scale": "2", "variant": v, "seed": "1"}) for v in ("default", "elu")]
    table = cost_table(paths, jobs)
    assert table["seconds"].tolist() == [10.0, 30.0] and table["max_rss_mb"].tolist() == [300.0, 100.5]
    summary = by_rule(table)
    assert summary.loc[0, "total_seconds"] == 40.0 and summary.loc[0, "max_rss_mb"] == 300.0
    assert "| default | 10.0 |" in to_markdown(table)


def test_e2e_cost_table_has_a_row_per_job(e2e):
    workdir, _, result = e2e
    assert result.returncode == 0
    config = load_config(TEST_CONFIG)
    table = pd.read_csv(workdir / "results/tables/costs.csv")
    train = table[table["rule"] == "train"]
    assert len(train) == len(config["scales"]) * len(config["variants"])
    assert set(train["method"]) == set(config["variants"])
    # Snakemake samples memory at intervals: a sub-second job may have no sample (0 MB).
    assert (table["seconds"] > 0).all() and (train["max_rss_mb"] > 0).all()
    test_sets = 1 + len(config["ood_tests"])
    assert (table["rule"] == "upscale").sum() == len(train) * test_sets  # one job per model and test set
    upscale = table[table["rule"] == "upscale"]
    assert set(upscale["test_set"]) == {"study", *config["ood_tests"]}
    assert (workdir / "results/tables/costs.html").stat().st_size > 0
