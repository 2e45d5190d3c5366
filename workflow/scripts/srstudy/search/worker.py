"""Hyperparameter search with Optuna, as jobs of the DAG.

One study per search and scale lives in a journal file on the results filesystem
(``results/search/<name>/x<scale>/journal.log``), so worker jobs on one machine or on the
nodes of a cluster with a shared filesystem all take trials from it. A worker trains
trials on the train frames, reports the eval Y-PSNR after every epoch (the pruner may
stop the trial there) and stops when the study has its count of trials. A worker that
was killed is rerun by Snakemake: it marks the trial it left running as failed and
queues its settings again, so finished trials are never rerun.

The study's name carries a digest of everything a trial's result depends on (space,
sampler, pruner, budget, defaults, the h5 sets), so a changed search starts a new study
in the same journal, while raising ``trials`` continues the old one.
"""

import hashlib
import json
import shutil
import time
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from srstudy.stages.dataset import read_attributes
from srstudy.train.loop import TrainingDiverged, train

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


# Settings a trial may change; everything else comes from 'defaults' and the budget.
SEARCHED = ("lr", "activation", "batch_size", "layers")


def storage(journal: str | Path) -> JournalStorage:
    """The journal-file storage; the open-based lock works on NFS too."""
    journal = str(journal)
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(journal, lock_obj=JournalFileOpenLock(journal)))


def study_name(name: str, scale: int, search: dict, defaults: dict, data: dict) -> str:
    """``<name>-x<scale>-<digest>``: the digest covers what a trial's result depends on,
    not the trial count or the number of workers."""
    identity = {key: search[key] for key in ("space", "sampler", "pruner", "seed", "budget") if key in search} | {
        "defaults": {k: v for k, v in defaults.items() if k != "seeds"},
        "data": data,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{name}-x{scale}-{digest}"


def _choice(trial: optuna.Trial, key: str, values):
    """A list: categorical; a mapping {low, high, log}: a range (int or float)."""
    if isinstance(values, list):
        return trial.suggest_categorical(key, values)
    low, high, log = values["low"], values["high"], values.get("log", False)
    if isinstance(low, int) and isinstance(high, int) and key != "lr":
        return trial.suggest_int(key, low, high, log=log)
    return trial.suggest_float(key, float(low), float(high), log=log)


def suggest(trial: optuna.Trial, space: dict, defaults: dict) -> dict:
    """The settings one trial tries: the searched ones drawn from ``space``, per layer
    for widths and kernels; layers the space does not touch keep the defaults."""
    settings = {key: _choice(trial, key, space[key]) for key in ("lr", "activation", "batch_size") if key in space}
    if not {"depth", "channels", "kernel"} & set(space):
        return settings
    base = defaults["layers"]
    depth = _choice(trial, "depth", space["depth"]) if "depth" in space else len(base)
    layers = []
    for i in range(depth):
        last = i == depth - 1
        default = base[-1] if last else base[min(i, len(base) - 2)]
        kernel = _choice(trial, f"layer{i + 1}_kernel", space["kernel"]) if "kernel" in space else default["kernel"]
        if last:
            channels = 1
        elif "channels" in space:
            channels = _choice(trial, f"layer{i + 1}_channels", space["channels"])
        else:
            channels = default["channels"]
        layers.append({"kernel": kernel, "channels": channels})
    return settings | {"layers": layers}


def grid_space(space: dict, defaults: dict) -> dict:
    """Optuna's grid: every parameter :func:`suggest` asks for, with its values."""
    depth = space["depth"][0] if "depth" in space else len(defaults["layers"])
    grid = {key: space[key] for key in ("lr", "activation", "batch_size") if key in space}
    if "depth" in space:
        grid["depth"] = space["depth"]
    for i in range(depth):
        if "kernel" in space:
            grid[f"layer{i + 1}_kernel"] = space["kernel"]
        if "channels" in space and i < depth - 1:
            grid[f"layer{i + 1}_channels"] = space["channels"]
    return grid


def grid_size(space: dict, defaults: dict) -> int:
    size = 1
    for values in grid_space(space, defaults).values():
        size *= len(values)
    return size


def make_sampler(search: dict, defaults: dict, worker: int) -> optuna.samplers.BaseSampler:
    # Each worker seeds its own sampler: with one seed, parallel workers would propose
    # the same settings.
    seed = search["seed"] + worker
    if search["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search["sampler"] == "grid":
        return optuna.samplers.GridSampler(grid_space(search["space"], defaults), seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, search["trials"] // 3)))


def make_pruner(search: dict, epochs: int) -> optuna.pruners.BasePruner:
    if search["pruner"] == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, search["trials"] // 4)), n_warmup_steps=0)
    if search["pruner"] == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    return optuna.pruners.NopPruner()


def trial_count(search: dict, defaults: dict) -> int:
    """Trials the study is to have (a grid has no more points than its size)."""
    if search["sampler"] == "grid":
        return min(search["trials"], grid_size(search["space"], defaults))
    return search["trials"]


def counted(study: optuna.Study) -> int:
    """Trials that count towards the study's total: finished ones (an interrupted trial,
    failed by the worker that restarted, is queued again instead) and running ones."""
    trials = study.get_trials(deepcopy=False)
    return sum(
        t.state == TrialState.RUNNING or (t.state in FINISHED and not t.user_attrs.get("interrupted")) for t in trials
    )


def recover(study: optuna.Study, worker: int) -> list[int]:
    """Fail the trials this worker left running when it was killed, and queue their
    settings again. Snakemake runs one job per worker at a time, so such a trial has no
    live owner. Returns the numbers of the trials recovered."""
    stale = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get("worker") == worker
    ]
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:  # killed before it chose its settings: nothing to retry
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
    return [t.number for t in stale]


def run_worker(
    journal: str | Path,
    train_h5: str | Path,
    eval_h5: str | Path,
    *,
    name: str,
    scale: int,
    search: dict,
    defaults: dict,
    worker: int,
    scratch: str | Path,
    device: str = "auto",
    threads: int | None = None,
    precision: str = "fp32",
    pruner: optuna.pruners.BasePruner | None = None,
    **train_options,
) -> dict:
    """Take trials from the study until it has its count; returns what this worker did
    (``{"study", "trials": [numbers], "recovered": [numbers]}``). ``train_options`` go to
    :func:`srstudy.train.loop.train` (step mode, loss readback interval, TF32)."""
    data = {"train": read_attributes(train_h5), "eval": read_attributes(eval_h5)}  # they identify the data
    trial_defaults = {**defaults, **search["budget"]}
    study = optuna.create_study(
        study_name=study_name(name, scale, search, defaults, data),
        storage=storage(journal),
        direction="maximize",
        sampler=make_sampler(search, defaults, worker),
        pruner=pruner or make_pruner(search, trial_defaults["epochs"]),
        load_if_exists=True,
    )
    recovered = recover(study, worker)
    total, done = trial_count(search, defaults), []
    while counted(study) < total:
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        settings = suggest(trial, search["space"], defaults)
        spec = {k: v for k, v in {**trial_defaults, **settings}.items() if k != "seeds"}
        folder = Path(scratch) / f"trial{trial.number}"
        started = time.perf_counter()

        def report(epoch: int, eval_psnr: float, trial=trial) -> None:
            trial.report(eval_psnr, epoch)
            trial.set_user_attr("epochs_trained", epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"eval Y-PSNR {eval_psnr:.3f} dB after epoch {epoch}")

        try:
            best = train(
                train_h5,
                eval_h5,
                spec,
                seed=defaults["seeds"][0],
                scale=scale,
                model_path=folder / "model.pt",
                log_path=folder / "log.csv",
                device=device,
                threads=threads,
                name=f"{name}-trial{trial.number}",
                progress=False,
                precision=precision,
                on_epoch=report,
                **train_options,
            )
        except optuna.TrialPruned as pruned:
            trial.set_user_attr("seconds", time.perf_counter() - started)
            study.tell(trial, state=TrialState.PRUNED)
            print(f"trial {trial.number} pruned: {pruned}", flush=True)
        except TrainingDiverged as error:
            trial.set_user_attr("seconds", time.perf_counter() - started)
            trial.set_user_attr("error", str(error))
            study.tell(trial, state=TrialState.FAIL)
            print(f"trial {trial.number} failed: {error}", flush=True)
        else:
            trial.set_user_attr("seconds", time.perf_counter() - started)
            study.tell(trial, best["eval_psnr_y"])
            print(f"trial {trial.number}: eval Y-PSNR {best['eval_psnr_y']:.3f} dB, {settings}", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        done.append(trial.number)
    return {"study": study.study_name, "trials": done, "recovered": recovered}
