"""Hyperparameter search: Optuna studies in a journal file, trained by worker jobs, the
winner trained as a variant; real training, real journal storage, real Snakemake."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import optuna
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, SCHEMA, explain, snakemake
from srstudy.nets.registry import resolve_spec
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.preflight import check_semantics
from srstudy.plan.variants import nearest_scale
from srstudy.report.trials import lead, load_study, summarize
from srstudy.search.worker import counted, grid_space, run_worker, suggest, trial_count
from srstudy.train import convergence
from test_train import SCALE, SPEC, h5_sets  # noqa: F401 (fixture)

SEARCH = {
    "trials": 3,
    "workers": 1,
    "sampler": "random",
    "pruner": "none",
    "seed": 0,
    "budget": {"epochs": 2, "patches_per_epoch": 64},
    "space": {"lr": {"low": 1e-3, "high": 5e-3, "log": True}, "channels": [8, 16], "kernel": [3, 5]},
}
DEFAULTS = {**SPEC, "seeds": [123]}


def search_config(test_config, search):
    config = validate_schema({**test_config, "search": {"srch": search}}, SCHEMA)
    check_semantics(config)
    return config


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"space": {}}, "search.srch.space: {} is empty"),
        ({"space": {"width": [8]}}, "unknown key 'width'"),
        ({"space": {"lr": [0.0]}}, "search.srch.space.lr: "),
        ({"space": {"lr": {"low": 1e-2, "high": 1e-3}}}, "search.srch.space.lr: low 0.01 is above high 0.001"),
        ({"space": {"kernel": [3, 4]}}, "search.srch.space.kernel: 4 is even"),
        ({"trials": 0, "space": {"lr": [1e-3]}}, "search.srch.trials: 0 is less than the minimum of 1"),
        ({"sampler": "grid", "space": {"lr": {"low": 1e-3, "high": 1e-2}}}, "the grid sampler needs lists"),
        ({"scales": [4], "space": {"lr": [1e-3]}}, "search.srch.scales: [4] are not among the study's scales"),
        ({"space": {"depth": [1, 3]}}, "search.srch.space.depth: at least 2 conv layers"),
    ],
)
def test_bad_search_config_is_refused_naming_the_key(test_config, search, message):
    with pytest.raises(ConfigError) as error:
        search_config(test_config, search)
    assert message in str(error.value)


def test_the_space_gives_per_layer_settings_and_a_grid_covers_them():
    space = {"depth": [3, 4], "channels": [8, 16], "kernel": [3, 5], "activation": ["relu", "elu"]}
    trial = optuna.trial.FixedTrial(
        {"activation": "elu", "depth": 4, **{f"layer{i}_kernel": 3 for i in (1, 2, 3, 4)}}
        | {"layer1_channels": 16, "layer2_channels": 8, "layer3_channels": 8}
    )
    assert suggest(trial, space, DEFAULTS) == {
        "activation": "elu",
        "layers": [{"kernel": 3, "channels": 16}, {"kernel": 3, "channels": 8}, {"kernel": 3, "channels": 8}]
        + [{"kernel": 3, "channels": 1}],
    }
    grid = grid_space({"lr": [1e-3, 1e-2], "channels": [8, 16]}, DEFAULTS)  # depth from defaults: 3
    assert grid == {"lr": [1e-3, 1e-2], "layer1_channels": [8, 16], "layer2_channels": [8, 16]}
    assert trial_count({"sampler": "grid", "trials": 100, "space": {"lr": [1e-3, 1e-2]}}, DEFAULTS) == 2
    assert [nearest_scale(s, [2, 4]) for s in (2, 3, 4, 8)] == [2, 2, 4, 4]


def test_a_worker_runs_the_trials_and_the_summary_names_the_winner(h5_sets, tmp_path):  # noqa: F811
    journal = tmp_path / "journal.log"
    done = run_worker(
        journal,
        *h5_sets,
        name="srch",
        scale=SCALE,
        search=SEARCH,
        defaults=DEFAULTS,
        worker=0,
        scratch=tmp_path / "scratch",
        threads=1,
    )
    assert done["trials"] == [0, 1, 2] and done["recovered"] == []
    study = load_study(journal, done["study"])
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert all(len(t.intermediate_values) == 2 for t in study.trials)  # eval PSNR per epoch
    # the same study again: it has its trials, so nothing is rerun
    again = run_worker(
        journal,
        *h5_sets,
        name="srch",
        scale=SCALE,
        search=SEARCH,
        defaults=DEFAULTS,
        worker=1,
        scratch=tmp_path / "scratch",
        threads=1,
    )
    assert again == {"study": done["study"], "trials": [], "recovered": []}
    outputs = {
        key: tmp_path / f"{key}.out" for key in ("best", "trials", "trials_md", "history", "importances", "parallel")
    }
    best = summarize(
        journal, done["study"], name="srch", scale=SCALE, search=SEARCH, defaults=DEFAULTS, outputs=outputs
    )
    top = max(study.trials, key=lambda t: t.value)
    assert best["trial"] == top.number and best["eval_psnr_y"] == pytest.approx(top.value)
    assert yaml.safe_load(outputs["best"].read_text())["settings"]["lr"] == pytest.approx(top.params["lr"])
    assert len(pd.read_csv(outputs["trials"])) == 3
    assert "epochs trained over 3 trials" in outputs["trials_md"].read_text()
    # the same convergence verdict as every table of the study, and the lead judged by it
    settled = yaml.safe_load(outputs["best"].read_text())["convergence"]
    own = convergence.judge([v for _, v in sorted(top.intermediate_values.items())])
    assert settled["verdict"] == own.verdict and settled["drift_db"] == pytest.approx(own.drift_db)
    runner = max((t for t in study.trials if t.number != top.number), key=lambda t: t.value)
    assert settled["runner_up"] == runner.number and settled["lead_db"] == pytest.approx(top.value - runner.value)
    assert f"Winner's training: {own.verdict}" in outputs["trials_md"].read_text()
    assert set(pd.read_csv(outputs["trials"], keep_default_na=False)["verdict"]) <= set(convergence.VERDICTS)
    assert all(outputs[key].read_bytes()[:4] == b"\x89PNG" for key in ("history", "importances", "parallel"))
    # the winner's spec: defaults with the trial's settings, the trial budget left out
    spec = resolve_spec({**{k: v for k, v in DEFAULTS.items() if k != "seeds"}, "search_best": str(outputs["best"])})
    assert spec["epochs"] == SPEC["epochs"] and spec["lr"] == pytest.approx(top.params["lr"])
    assert spec["layers"][0]["channels"] == top.params["layer1_channels"]


def test_a_lead_within_the_trials_drift_is_unresolved():
    rows = [
        {"trial": 0, "state": "complete", "eval_psnr_y": 30.00, "verdict": "still rising", "drift_db": 0.2},
        {"trial": 1, "state": "complete", "eval_psnr_y": 30.30, "verdict": "still rising", "drift_db": 0.1},
        {"trial": 2, "state": "pruned", "eval_psnr_y": 31.0, "verdict": "still rising", "drift_db": 0.0},
    ]
    settled = lead(rows, {"trial": 1, "eval_psnr_y": 30.30})
    assert settled["runner_up"] == 0 and settled["lead_db"] == pytest.approx(0.3) and not settled["lead_resolved"]
    assert lead(rows, {"trial": 1, "eval_psnr_y": 30.30}, {"resolve_factor": 1.0})["lead_resolved"]
    alone = lead(rows[1:], {"trial": 1, "eval_psnr_y": 30.30})
    assert alone["runner_up"] is None and not alone["lead_resolved"]


def test_a_pruned_trial_stops_after_its_first_epoch(h5_sets, tmp_path):  # noqa: F811
    journal = tmp_path / "journal.log"
    pruner = optuna.pruners.ThresholdPruner(lower=1000.0)  # no eval PSNR reaches 1000 dB
    done = run_worker(
        journal,
        *h5_sets,
        name="srch",
        scale=SCALE,
        search={**SEARCH, "trials": 2},
        defaults=DEFAULTS,
        worker=0,
        scratch=tmp_path / "scratch",
        threads=1,
        pruner=pruner,
    )
    study = load_study(journal, done["study"])
    assert [(t.state.name, len(t.intermediate_values)) for t in study.trials] == [("PRUNED", 1)] * 2
    outputs = {key: tmp_path / key for key in ("best", "trials", "trials_md", "history", "importances", "parallel")}
    with pytest.raises(RuntimeError, match="has no complete trial"):
        summarize(journal, done["study"], name="srch", scale=SCALE, search=SEARCH, defaults=DEFAULTS, outputs=outputs)


WORKER = """
import sys
import threading
from srstudy.search.worker import run_worker
import json
search, defaults = json.loads(sys.argv[4]), json.loads(sys.argv[5])
run_worker(sys.argv[1], sys.argv[2], sys.argv[3], name="srch", scale=3, search=search, defaults=defaults,
           worker=0, scratch=sys.argv[6], threads=1, step_delay=float(sys.argv[7]))
"""


def test_a_killed_worker_resumes_the_study_without_rerunning_finished_trials(h5_sets, tmp_path):  # noqa: F811
    journal, scratch = tmp_path / "journal.log", tmp_path / "scratch"
    search = {**SEARCH, "trials": 2, "budget": {"epochs": 4, "patches_per_epoch": 64}}
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")}
    # 0.1 s per step: a trial lasts seconds, so the watcher below can catch the worker in
    # its second trial, after that trial's first epoch was saved, on a loaded machine too.
    args = [str(journal), *map(str, h5_sets), json.dumps(search), json.dumps(DEFAULTS), str(scratch), "0.1"]
    worker = subprocess.Popen([sys.executable, "-c", WORKER, *args], env=env)
    name = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
            if not journal.exists():
                continue
            studies = optuna.get_all_study_names(
                storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
            )
            if studies:
                name = studies[0]
                trials = load_study(journal, name).trials
                states = [t.state.name for t in trials]
                # Training (its first epoch saved): every setting suggested, no journal write under way.
                training = (scratch / f"trial{trials[-1].number}" / "resume.pt").exists()
                if states.count("COMPLETE") == 1 and states[-1] == "RUNNING" and training:
                    break
        else:
            pytest.fail("the worker was not caught between its first and its second trial")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    before = {t.number: t.params for t in load_study(journal, name).trials if t.state.name == "COMPLETE"}
    done = run_worker(
        journal,
        *h5_sets,
        name="srch",
        scale=SCALE,
        search=search,
        defaults=DEFAULTS,
        worker=0,
        scratch=scratch,
        threads=1,
    )
    study = load_study(journal, name)
    assert done["recovered"] == [1]
    states = {t.number: (t.state.name, t.user_attrs.get("interrupted", False)) for t in study.trials}
    assert states[0] == ("COMPLETE", False) and states[1] == ("FAIL", True)
    assert study.trials[2].params == study.trials[1].params  # the interrupted settings, queued again
    assert counted(study) == 2 and done["trials"] == [2]
    assert {t.number: t.params for t in study.trials if t.number in before} == before


def test_a_search_through_snakemake_trains_its_winner_as_a_variant(e2e, tmp_path, test_config):
    workdir, _, result = e2e
    assert result.returncode == 0, "the end-to-end run failed"
    work = tmp_path / "work"
    shutil.copytree(workdir, work, symlinks=True)
    test_config["search"] = {
        "srch": {
            "scales": [2],
            "trials": 4,
            "workers": 2,
            "sampler": "random",
            "budget": {"epochs": 2, "patches_per_epoch": 32},
            "space": {"lr": {"low": 5e-4, "high": 5e-3}, "activation": ["relu", "elu"]},
        }
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(test_config, sort_keys=False))
    plan = snakemake(work, "-n", "--cores", "2", "--resources", "gpu=2", configfile=path)
    assert plan.returncode == 0, explain(plan)
    blocks = [b for b in plan.stdout.split("\nrule ") if b.startswith("search_worker:")]
    assert len(blocks) == 2
    for block in blocks:  # trials see the train and eval sets only, never a test frame
        inputs = next(line for line in block.splitlines() if line.strip().startswith("input:"))
        files = [f.strip() for f in inputs.split(":", 1)[1].split(",")]
        data = {f for f in files if not (f.startswith("workflow/scripts/srstudy/") and f.endswith(".py"))}
        assert data == {"results/h5/x2/train.h5", "results/h5/x2/eval.h5"}
    assert "rule train_group:" in plan.stdout and "variant=srch" in plan.stdout  # its scales, in one job
    models = [f"results/models/x{scale}/srch/seed123/model.pt" for scale in (2, 3)]
    run = snakemake(work, "--cores", "2", "--resources", "gpu=2", configfile=path, targets=models, timeout=900)
    assert run.returncode == 0, explain(run)
    best = yaml.safe_load((work / "results/search/srch/x2/best.yaml").read_text())
    assert len(pd.read_csv(work / "results/search/srch/x2/trials.csv")) >= 4
    for model in models:  # x3 was not searched: it takes x2's winner
        checkpoint = torch.load(work / model, weights_only=True)
        assert checkpoint["spec"]["activation"] == best["settings"]["activation"]
        assert checkpoint["spec"]["lr"] == pytest.approx(best["settings"]["lr"])
        assert checkpoint["spec"]["epochs"] == test_config["defaults"]["epochs"]  # the full budget
    # the winner joins the study like a variant: upscaled, scored, tabulated; nothing retrains
    rest = snakemake(work, "-n", "--cores", "2", "--resources", "gpu=2", configfile=path)
    assert rest.returncode == 0, explain(rest)
    planned = set(re.findall(r"^rule (\w+):", rest.stdout, re.M))
    assert {"upscale", "score", "summary_tables", "comparison_tables"} <= planned
    assert not planned & {"train", "search_worker", "search_summary"}
    assert re.search(r"wildcards: .*variant=srch", rest.stdout)


def test_a_stop_signal_during_a_trial_stops_the_worker_and_the_rerun_recovers_it(h5_sets, tmp_path):  # noqa: F811
    """SIGTERM (scancel, a time limit) while a trial trains: train() saves and raises
    Interrupted, which stops the worker (its job fails); the rerun worker fails that
    trial, queues its settings again and finishes the study."""
    from srstudy.train.resume import Interrupted

    journal, scratch = tmp_path / "journal.log", tmp_path / "scratch"
    search = {**SEARCH, "trials": 1, "budget": {"epochs": 4, "patches_per_epoch": 64}}
    options = dict(name="srch", scale=SCALE, search=search, defaults=DEFAULTS, worker=0, scratch=scratch, threads=1)
    saved = scratch / "trial0" / "resume.pt"

    def signal_after_the_first_epoch():
        deadline = time.monotonic() + 60
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGTERM)

    # Outside train() a stray SIGTERM would end pytest itself: ignore it there.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        sender = threading.Thread(target=signal_after_the_first_epoch, daemon=True)
        sender.start()
        with pytest.raises(Interrupted, match="srch-trial0 x3 seed 123: interrupted by SIGTERM"):
            run_worker(journal, *h5_sets, step_delay=0.2, **options)
        sender.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    name = optuna.get_all_study_names(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )[0]
    assert [t.state.name for t in load_study(journal, name).trials] == ["RUNNING"]
    done = run_worker(journal, *h5_sets, **options)
    assert done["recovered"] == [0] and done["trials"] == [1]
    study = load_study(journal, name)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].params == study.trials[0].params
