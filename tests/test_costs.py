"""The cost table: benchmark paths are read back into rule/variant/scale/seed, and the
end-to-end run's table has one row per job."""

import pandas as pd
import pytest
from conftest import TEST_CONFIG, load_config
from srstudy.costs import by_rule, cost_table, describe_path, to_markdown


@pytest.mark.parametrize(
    "path, expected",
    [
        ("results/benchmarks/train/x2/elu/seed123.tsv", ("train", "study", 2, "elu", 123, "")),
        ("results/ood/bikes/benchmarks/upscale/x4/default/seed7.tsv", ("upscale", "bikes", 4, "default", 7, "")),
        ("results/benchmarks/score/x3/bicubic.tsv", ("score", "study", 3, "bicubic", pd.NA, "")),
        ("results/benchmarks/crop_figure/x2/face.tsv", ("crop_figure", "study", 2, "", pd.NA, "face")),
        ("results/ood/b-2/benchmarks/extract_frames.tsv", ("extract_frames", "b-2", pd.NA, "", pd.NA, "")),
    ],
)
def test_benchmark_paths_are_described(path, expected):
    info = describe_path(path)
    got = tuple(info[k] for k in ("rule", "test_set", "scale", "variant", "seed", "detail"))
    assert [g is pd.NA if e is pd.NA else g == e for g, e in zip(got, expected, strict=True)] == [True] * 6


def test_not_a_benchmark_path():
    with pytest.raises(ValueError, match="not a benchmark path"):
        describe_path("results/scores/x2/elu.csv")


def test_cost_table_reads_snakemake_benchmark_files(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    paths = []
    for variant, seconds, rss in [("default", 10.0, 300.0), ("elu", 30.0, 100.5)]:
        path = tmp_path / f"results/benchmarks/train/x2/{variant}/seed1.tsv"
        path.parent.mkdir(parents=True)
        path.write_text(header + f"{seconds}\t0:00:10\t{rss}\t1\t1\t1\t0\t0\t50\t{seconds / 2}\n")
        paths.append(path)
    table = cost_table(paths)
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
    assert set(train["variant"]) == set(config["variants"])
    assert (table["seconds"] > 0).all() and (table["max_rss_mb"] > 0).all()
    assert (table["rule"] == "upscale").sum() == len(train)  # one job upscales every test set
    assert (workdir / "results/tables/costs.html").stat().st_size > 0
