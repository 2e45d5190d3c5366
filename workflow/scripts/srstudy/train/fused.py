"""Fused training: a group job (``train.group``) trains its models at once
(``train.fuse``), their layers stacked as grouped convolutions
(:mod:`srstudy.nets.fused`), one Adam over the stack (:mod:`srstudy.train.fused_steps`).
Members whose networks share their layer shapes and whose training shares patch size,
batch, steps per epoch and epochs are fused; the others of the group train one after
another as they do alone (docs/fused-training.md).

Each member keeps everything it has when trained alone: its seed's initial weights and
patch order, its own scale's planes, its eval frames and best epoch, its ``log.csv``,
``resume.pt`` (the same format as a model trained alone: either can resume the other)
and ``model.pt`` (a plain single-network checkpoint; ``fused_with`` names the members
it was trained with, ``cost_share`` its share of the job's time).

Faults stay per member: a member whose loss turns NaN is stopped and named while the
others train on, finish and save (the job then fails, naming it); a killed group
resumes each member from its own saved progress (members saved at different steps
catch up one by one before they train fused again); a finished member is restored from
its progress instead of being trained again."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from srstudy.base.joblog import progress_bar
from srstudy.nets.build import build_model, halo_of
from srstudy.nets.device import select_device, set_tf32
from srstudy.nets.fused import CONV_KINDS, FusedNet, fusion_key, layer_list
from srstudy.nets.registry import arch_of
from srstudy.nets.tiling import tile_for
from srstudy.stages.dataset import read_frames
from srstudy.train.fused_steps import FusedSteps, StackedAdam, member_lrs
from srstudy.train.loop import TrainingDiverged, check_patch, evaluate, train, write_log
from srstudy.train.patches import epoch_origins, grid_patch_count
from srstudy.train.resume import (
    PROGRESS_FORMAT,
    STOP,
    Interrupted,
    SaveClock,
    load_state,
    same_run,
    save_atomic,
    stopping_on_signals,
)
from srstudy.train.steps import grad_scaler, make_optimizer, resolve_step_mode


@dataclass
class Member:
    """One model of a fused group, with the outputs it writes."""

    train_h5: str | Path
    eval_h5: str | Path
    spec: dict
    seed: int
    scale: int
    name: str
    model_path: str | Path
    log_path: str | Path
    state_path: str | Path | None = None

    @property
    def label(self) -> str:
        return f"{self.name} x{self.scale} seed {self.seed}"


@dataclass
class _Run:
    """A member's training state between fused segments."""

    member: Member
    model: nn.Module
    optimizer: torch.optim.Adam
    scaler: torch.amp.GradScaler
    planes: tuple  # (input planes, HR planes) as tensors where batches are cut
    eval_planes: tuple  # (HR, input) arrays
    lr_shape: tuple
    in_patch: int
    steps: int
    factor: int
    halo: int
    run: dict
    data: dict
    state_path: Path
    best: dict | None = None
    rows: list = field(default_factory=list)
    epoch: int = 0  # epochs done
    step: int = 0  # steps done of the next epoch
    epoch_loss: float = 0.0
    epoch_seconds: float = 0.0
    error: TrainingDiverged | None = None
    done: bool = False
    fused_with: list = field(default_factory=list)  # the others of its fused set

    @property
    def position(self) -> tuple[int, int]:
        return self.epoch, self.step

    @property
    def epochs(self) -> int:
        return self.member.spec["epochs"]

    @property
    def training(self) -> bool:
        return not self.done and self.error is None


def _prepare(member: Member, device: torch.device, mode: str, precision: str, tf32: bool) -> _Run:
    """Read a member's data, build its network from its seed and load its progress, as
    :func:`srstudy.train.loop.train` does for a model trained alone."""
    spec, name, scale, seed = member.spec, member.name, member.scale, member.seed
    arch = arch_of(spec)
    factor = arch.factor(scale)
    hr, lr, train_attrs = read_frames(member.train_h5)
    eval_hr, eval_lr, eval_attrs = read_frames(member.eval_h5)
    for path, attrs in ((member.train_h5, train_attrs), (member.eval_h5, eval_attrs)):
        if attrs.get("grid", "hr") != arch.grid:
            raise ValueError(
                f"{name} x{scale}: '{path}' holds inputs on the {attrs.get('grid', 'hr')} grid, but {arch.title} "
                f"reads the {arch.grid} grid; give it the h5 sets packed for that grid"
            )
    patch, batch = spec["patch_size"], spec["batch_size"]
    in_patch = check_patch(hr.shape, patch, factor, arch.title, f"{name} x{scale}")
    per_epoch = spec.get("patches_per_epoch") or grid_patch_count(hr.shape, patch, spec["patch_stride"])
    state_path = Path(member.state_path or Path(member.model_path).with_name("resume.pt"))
    torch.manual_seed(seed)
    model = build_model(spec, scale).to(device)
    optimizer = make_optimizer(model, spec, device, mode)
    run = spec | {"seed": seed, "precision": precision, "tf32": tf32}
    data = {"train": train_attrs, "eval": eval_attrs}
    planes_device = device if device.type == "cuda" else torch.device("cpu")
    job = _Run(
        member=member,
        model=model,
        optimizer=optimizer,
        scaler=grad_scaler(device, precision),
        planes=(torch.from_numpy(lr).to(planes_device), torch.from_numpy(hr).to(planes_device)),
        eval_planes=(eval_hr, eval_lr),
        lr_shape=tuple(lr.shape),
        in_patch=in_patch,
        steps=max(1, per_epoch // batch),
        factor=factor,
        halo=halo_of(spec, scale),
        run=run,
        data=data,
        state_path=state_path,
    )
    state = load_state(state_path)
    if state is not None and same_run(state, run, scale, data):
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        job.best, job.rows, job.epoch = state["best"], state["rows"], state["epoch"]
        if state.get("step") and job.epoch < spec["epochs"]:
            job.step, job.epoch_loss, job.epoch_seconds = state["step"], state["epoch_loss"], state["epoch_seconds"]
        where = f"at epoch {job.epoch + 1} step {job.step}" if job.step else f"after epoch {job.epoch}"
        print(f"resuming {member.label} {where}", flush=True)
    job.model = model.to(memory_format=torch.channels_last)
    return job


def fusable_sets(jobs: list[_Run], precision: str) -> list[list[_Run]]:
    """The members that can train as one network: same layer structure and the same
    patch, batch, steps per epoch and epochs (in the group's order). fp16's gradient
    scaler skips a step for all when one member overflows, so fp16 never fuses."""
    sets: dict[tuple, list[_Run]] = {}
    for index, job in enumerate(jobs):
        spec = job.member.spec
        key = (
            (index,)
            if precision == "fp16"
            else (fusion_key(job.model), job.in_patch, spec["batch_size"], job.steps, spec["epochs"], job.factor)
        )
        sets.setdefault(key, []).append(job)
    return list(sets.values())


def conv_kinds(models: list[nn.Module], device: torch.device, choice: str | list[str]) -> str | list[str]:
    """``train.fuse_conv``: one of :data:`CONV_KINDS` for every convolution, a list (one
    per convolution), or ``auto``: ``grouped``. On the 2-core CPU, vmap ran the first
    layer (one input channel per member) faster in isolation, but whole fused steps
    showed no difference above the shared machine's noise (benchmarks/fused_throughput.py),
    and grouped is the kind whose float64 weights equal training alone bit for bit; on a
    GPU the GPU check measures every kind per layer."""
    if choice == "auto":
        _, body = layer_list(models[0])
        return ["grouped"] * sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in body)
    for kind in [choice] if isinstance(choice, str) else choice:
        if kind not in CONV_KINDS:
            raise ValueError(f"train.fuse_conv: unknown kind '{kind}'; choose auto or one of {', '.join(CONV_KINDS)}")
    return choice


class _Group:
    """The fused training of one set of members (see the module's docstring)."""

    def __init__(self, jobs, device, mode, precision, options):
        self.jobs, self.device, self.mode, self.precision = jobs, device, mode, precision
        self.options = options
        self.clock = SaveClock(options["save_every_steps"], options["save_every_seconds"])
        self.tile = tile_for("auto", device)
        self.labels = [job.member.label for job in jobs]
        for job in jobs:
            job.fused_with = [label for label in self.labels if label != job.member.label]

    def run(self) -> None:
        for job in self.jobs:
            if job.epoch >= job.epochs and job.best is not None:
                job.done = True  # finished before: restored, never trained again
        while True:
            training = [job for job in self.jobs if job.training]
            if not training:
                return
            lead = min(job.position for job in training)
            runners = [job for job in training if job.position == lead]
            ahead = sorted({job.position for job in training if job.position != lead})
            self._segment(runners, ahead[0] if ahead else None)

    # --- one fused network, from the runners' state and back ----------------------------

    def _engine(self, runners):
        models = [job.model for job in runners]
        net = FusedNet(models, conv_kinds(models, self.device, self.options["conv"]))
        net = net.to(self.device)
        adam_group = runners[0].optimizer.param_groups[0]
        adam = StackedAdam(
            net.stacked(),
            member_lrs(models, [job.optimizer for job in runners], net),
            betas=adam_group["betas"],
            eps=adam_group["eps"],
            capturable=self.mode == "graph",
        )
        self.names = net.member_names()
        self.params = [[dict(job.model.named_parameters())[n] for n in self.names] for job in runners]
        adam.load_members([job.optimizer for job in runners], self.params)
        first = runners[0]
        steps = FusedSteps(
            net,
            adam,
            [job.planes for job in runners],
            first.in_patch,
            first.member.spec["batch_size"],
            first.steps * first.member.spec["batch_size"],
            self.precision,
            self.mode,
            first.factor,
        )
        return net, adam, steps

    @torch.no_grad()
    def _hand_back(self, runners, net, adam, epoch_done, step, totals) -> None:
        """Write the fused state back into each runner's own network and Adam, with its
        position and its share of the time since the last hand-back."""
        now = time.perf_counter()
        share = (now - self.mark) / len(runners)
        self.mark = now
        for g, job in enumerate(runners):
            for param, stacked in zip(self.params[g], net.stacked(), strict=True):
                param.copy_(stacked[g])
            job.epoch, job.step, job.epoch_loss = epoch_done, step, totals[g]
            job.epoch_seconds += share
        adam.store_members([job.optimizer for job in runners], self.params)

    def _segment(self, runners: list[_Run], until: tuple[int, int] | None) -> None:
        """Train ``runners`` (all at one position) fused until they reach ``until`` (where
        other members wait), one of them diverges, or all finish."""
        net, adam, engine = self._engine(runners)
        first = runners[0]
        steps, batch = first.steps, first.member.spec["batch_size"]
        epoch_done, first_step = first.position
        log_every = max(1, self.options["log_every_steps"])
        planes_device = first.planes[0].device
        self.mark = time.perf_counter()
        totals = [job.epoch_loss for job in runners]
        for epoch in range(epoch_done + 1, first.epochs + 1):
            if until == (epoch - 1, first_step):
                return
            origins = [
                epoch_origins(job.member.seed, epoch, job.lr_shape, job.in_patch, steps * batch).to(planes_device)
                for job in runners
            ]
            engine.begin_epoch(origins, first_step, totals)
            bar = progress_bar(
                range(first_step, steps),
                desc=f"{first.member.label} + {len(runners) - 1} fused, epoch {epoch}/{first.epochs}",
                initial=first_step,
                total=steps,
                disable=not self.options["progress"],
            )
            for step in bar:
                engine.step()
                if self.options["step_delay"]:
                    time.sleep(self.options["step_delay"])
                save_due = (self.clock.step() or bool(STOP)) and step + 1 < steps
                stop_here = until == (epoch - 1, step + 1)
                if save_due or stop_here or (step + 1) % log_every == 0 or step + 1 == steps:
                    totals, bad_steps, bad_losses = engine.readback()
                    diverged = [g for g, bad in enumerate(bad_steps) if bad is not None]
                    if diverged or stop_here:
                        self._hand_back(runners, net, adam, epoch - 1, step + 1, totals)
                        for g in diverged:
                            runners[g].error = self._diverged(runners[g], epoch, bad_steps[g], bad_losses[g], step + 1)
                            print(f"stopped {runners[g].member.label}: {runners[g].error}", flush=True)
                        return  # the others go on in a network without the diverged
                    bar.set_postfix(loss=f"{sum(totals) / len(totals) / (step + 1):.3g}")
                if save_due:
                    self._hand_back(runners, net, adam, epoch - 1, step + 1, totals)
                    self._save(runners)
                    if STOP:
                        raise self._interrupted(epoch, step + 1)
            self._hand_back(runners, net, adam, epoch - 1, steps, totals)
            for job in runners:
                self._end_epoch(job, epoch)
            self._save(runners)
            self.mark = time.perf_counter()  # evaluation time was each member's own
            totals, first_step = [0.0] * len(runners), 0
            if STOP:
                raise self._interrupted(epoch, steps)
        for job in runners:
            job.done = True

    def _end_epoch(self, job: _Run, epoch: int) -> None:
        started = time.perf_counter()
        hr, lr = job.eval_planes
        eval_psnr = evaluate(job.model, hr, lr, job.halo, self.tile, self.precision, job.factor)
        seconds = job.epoch_seconds + time.perf_counter() - started
        spec, member = job.member.spec, job.member
        loss = job.epoch_loss / job.steps
        job.rows.append({"epoch": epoch, "loss": loss, "eval_psnr_y": eval_psnr, "seconds": seconds, "lr": spec["lr"]})
        print(f"{member.label} epoch {epoch}: loss {loss:.6f}, eval Y-PSNR {eval_psnr:.3f} dB", flush=True)
        if self.options["on_epoch"] is not None:
            self.options["on_epoch"](member, epoch, eval_psnr)
        weights = {
            k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in job.model.state_dict().items()
        }
        if job.best is None or eval_psnr > job.best["eval_psnr_y"]:
            job.best = {
                "state_dict": weights,
                "variant": member.name,
                "arch": arch_of(spec).name,
                "spec": spec,
                "scale": member.scale,
                "seed": member.seed,
                "epoch": epoch,
                "eval_psnr_y": eval_psnr,
                "data": job.data,
                "torch": str(torch.__version__),
                "device": str(self.device),
                "precision": self.precision,
                "tf32": job.run["tf32"],
                "step": self.mode,
            }
        job.epoch, job.step, job.epoch_loss, job.epoch_seconds = epoch, 0, 0.0, 0.0

    def _save(self, runners: list[_Run]) -> None:
        for job in runners:
            save_atomic(
                {
                    "format": PROGRESS_FORMAT,
                    "model": {k: v.detach().cpu().contiguous() for k, v in job.model.state_dict().items()},
                    "optimizer": job.optimizer.state_dict(),
                    "scaler": job.scaler.state_dict(),
                    "epoch": job.epoch,
                    "step": job.step,
                    "epoch_loss": job.epoch_loss,
                    "epoch_seconds": job.epoch_seconds,
                    "best": job.best,
                    "rows": job.rows,
                    "spec": job.run,
                    "scale": job.member.scale,
                    "data": job.data,
                    "fused_with": job.fused_with,
                },
                job.state_path,
            )
        self.clock.saved()

    @staticmethod
    def _diverged(job: _Run, epoch: int, bad_step: int, bad_loss: float, found_at: int) -> TrainingDiverged:
        member = job.member
        return TrainingDiverged(
            f"variant '{member.name}', scale {member.scale}, seed {member.seed}: loss became {bad_loss} in epoch "
            f"{epoch} (step {bad_step + 1}); lower variants.{member.name}.lr (or defaults.lr) in the config",
            found_at_step=found_at,
        )

    def _interrupted(self, epoch: int, step: int) -> Interrupted:
        return Interrupted(
            f"fused {', '.join(self.labels)}: interrupted by {STOP.signal.name} at epoch {epoch} step {step}; "
            "each member's progress saved beside its model; rerun to resume"
        )


def fuse_options(config: dict) -> dict:
    """How a group job fuses its models (train.fuse, train.fuse_conv): execution
    settings, read from the config as :func:`srstudy.train.loop.execution_options` are."""
    return {"fuse": config["train"]["fuse"], "fuse_conv": config["train"]["fuse_conv"]}


@stopping_on_signals
def train_group(
    members: list[Member],
    *,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = True,
    precision: str = "fp32",
    step_mode: str = "auto",
    log_every_steps: int = 100,
    tf32: bool = False,
    fuse: bool = True,
    fuse_conv: str | list[str] = "auto",
    save_every_steps: int | None = None,
    save_every_seconds: float | None = 120,
    step_delay: float = 0.0,
    on_epoch=None,
) -> list[dict]:
    """Train ``members`` (fused where they can be, see :func:`fusable_sets`) and write each
    one's ``model.pt``, ``log.csv`` and ``resume.pt`` as :func:`srstudy.train.loop.train` does.
    ``on_epoch(member, epoch, eval_psnr)`` is called after each member's evaluation.
    ``fuse=False`` trains them one after another, each as :func:`srstudy.train.loop.train`
    trains it alone. Returns the members' best checkpoints, in order; raises
    :class:`TrainingDiverged` naming every member that diverged after the others have
    finished and saved."""
    if threads:
        torch.set_num_threads(threads)
    where = select_device(device)
    mode = resolve_step_mode(step_mode, where, precision)
    mode = "graph" if mode == "compile" else mode  # the fused step is captured as a graph
    set_tf32(tf32)
    jobs = [_prepare(member, where, mode, precision, tf32) for member in members]
    if where.type == "cuda":
        torch.backends.cudnn.benchmark = True
    options = {
        "conv": fuse_conv,
        "log_every_steps": log_every_steps,
        "save_every_steps": save_every_steps,
        "save_every_seconds": save_every_seconds,
        "step_delay": step_delay,
        "progress": progress,
        "on_epoch": on_epoch,
    }
    errors = []
    for group in fusable_sets(jobs, precision) if fuse else [[job] for job in jobs]:
        if len(group) == 1:
            errors += _alone(group[0], where, precision, tf32, step_mode, options, threads)
            continue
        _Group(group, where, mode, precision, options).run()
    # Each member's log holds its share of the fused steps' time plus its own evaluations.
    seconds = {job.member.label: sum(row["seconds"] for row in job.rows) for job in jobs if job.done}
    for job in jobs:
        if job.done:
            job.best = job.best | {
                "fuse": True,
                "fused_with": job.fused_with,
                "cost_share": seconds[job.member.label] / (sum(seconds.values()) or 1.0),
                "fuse_conv": fuse_conv,
            }
            save_atomic(job.best, job.member.model_path)
            write_log(job.rows, job.member.log_path)
        elif job.error is not None:
            errors.append(job.error)
    if errors:
        done = [job.member.label for job in jobs if job.done]
        raise TrainingDiverged(
            "; ".join(str(error) for error in errors) + (f" (finished and saved: {', '.join(done)})" if done else "")
        )
    return [job.best for job in jobs]


def _alone(job: _Run, device, precision, tf32, step_mode, options, threads) -> list[TrainingDiverged]:
    """A member with no one to fuse with trains as it does alone."""
    member = job.member
    callback = options["on_epoch"]
    try:
        job.best = train(
            member.train_h5,
            member.eval_h5,
            member.spec,
            seed=member.seed,
            scale=member.scale,
            model_path=member.model_path,
            log_path=member.log_path,
            state_path=job.state_path,
            device=str(device),
            threads=threads,
            name=member.name,
            progress=options["progress"],
            precision=precision,
            step_mode=step_mode,
            log_every_steps=options["log_every_steps"],
            tf32=tf32,
            on_epoch=None if callback is None else (lambda epoch, psnr: callback(member, epoch, psnr)),
            save_every_steps=options["save_every_steps"],
            save_every_seconds=options["save_every_seconds"],
            step_delay=options["step_delay"],
        )
    except TrainingDiverged as error:
        return [error]
    job.rows, job.done = [], False  # train() wrote its own outputs
    return []
