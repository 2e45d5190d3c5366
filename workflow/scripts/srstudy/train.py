"""Stage 4: train one variant at one scale (and seed) on the h5 frame sets.

Patches are cut at random from whole Y planes (the reference pre-cuts a 33x33/stride-14
grid into its h5 files); one epoch defaults to as many patches as that grid holds. The
checkpoint with the best eval PSNR is kept. Progress is saved after every epoch and, within
an epoch, every ``save_every_steps`` steps or ``save_every_seconds`` seconds; SIGTERM,
SIGUSR1 or SIGINT (a scheduler's warning, scancel, Ctrl-C) makes the job finish its step,
save and exit. A rerun resumes where it stopped and ends bit-identical (on the CPU) to an
uninterrupted run."""

import csv
import io
import signal
import threading
import time
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.archs import arch_of
from srstudy.dataset import read_frames
from srstudy.images import atomic_file, psnr_from_mse
from srstudy.jobs import progress_bar
from srstudy.models import build_model, halo_of, parameter_groups, select_device, set_tf32
from srstudy.upscale import autocast, infer_tiled, tile_for

LOG_COLUMNS = ("epoch", "loss", "eval_psnr_y", "seconds", "lr")
# Settings that may change between a killed run and its resumption without
# invalidating the saved progress (more epochs = train on).
RESUMABLE_CHANGES = ("epochs",)
# Signals that mean "stop soon": the scheduler's warning before a time limit (SIGUSR1 via
# sbatch --signal), scancel, a requeue or a terminated Snakemake (SIGTERM), Ctrl-C (SIGINT).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
# Version of the resume file; one without "format" is from before mid-epoch saves.
PROGRESS_FORMAT = 2


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``found_at_step``: the step whose loss readback
    found it (the message names the step where it first appeared)."""

    def __init__(self, message: str, found_at_step: int | None = None):
        super().__init__(message)
        self.found_at_step = found_at_step


class Interrupted(RuntimeError):
    """A stop signal arrived; progress was saved and a rerun resumes from it."""


class StopFlag:
    """The first stop signal received while :func:`stop_signals` is active (or None)."""

    def __init__(self):
        self.signal: signal.Signals | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def set(self, number, _frame=None) -> None:
        self.signal = self.signal or signal.Signals(number)


# Signal handlers are per process, so the flag is too.
STOP = StopFlag()


@contextmanager
def stop_signals(signals=STOP_SIGNALS):
    """Catch ``signals`` into :data:`STOP` instead of dying, so the training loop can
    finish its step and save; the previous handlers come back on exit. Outside the main
    thread (where Python cannot install handlers) the flag is never set."""
    STOP.signal = None
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {number: signal.signal(number, STOP.set) for number in signals}
    try:
        yield STOP
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class SaveClock:
    """Says when mid-epoch progress is due: after ``every_steps`` steps or
    ``every_seconds`` seconds since the last save, whichever comes first (None: never)."""

    def __init__(self, every_steps: int | None, every_seconds: float | None, clock=time.monotonic):
        self.every_steps, self.every_seconds, self.clock = every_steps, every_seconds, clock
        self.saved()

    def saved(self) -> None:
        self.steps, self.since = 0, self.clock()

    def step(self) -> bool:
        """Count one step; True when a save is due."""
        self.steps += 1
        if self.every_steps and self.steps >= self.every_steps:
            return True
        return bool(self.every_seconds) and self.clock() - self.since >= self.every_seconds


def grid_patch_count(shape: tuple[int, ...], patch: int, stride: int) -> int:
    """Patches in the reference's grid over N frames of HxW."""
    frames, height, width = shape
    if height < patch or width < patch:
        return 0
    return frames * ((height - patch) // stride + 1) * ((width - patch) // stride + 1)


def sample_patches(generator: torch.Generator, shape: tuple[int, ...], patch: int, count: int) -> torch.Tensor:
    """``count`` random (frame, top, left) patch origins, as a count x 3 tensor."""
    frames, height, width = shape
    return torch.stack(
        [
            torch.randint(frames, (count,), generator=generator),
            torch.randint(height - patch + 1, (count,), generator=generator),
            torch.randint(width - patch + 1, (count,), generator=generator),
        ],
        dim=1,
    )


def gather(planes: torch.Tensor, origins: torch.Tensor, patch: int, factor: int = 1) -> torch.Tensor:
    """Batch x 1 x patch x patch crops of ``planes`` (N x H x W) at ``origins``; with a
    ``factor``, origins are on a grid that much coarser (an LR patch's HR target)."""
    offsets = torch.arange(patch, device=planes.device)
    top, left = (
        (origins[:, 1, None], origins[:, 2, None])
        if factor == 1
        else (
            origins[:, 1, None] * factor,
            origins[:, 2, None] * factor,
        )
    )
    rows = (top + offsets)[:, :, None]
    cols = (left + offsets)[:, None, :]
    return planes[origins[:, 0, None, None], rows, cols][:, None]


def unit(planes: np.ndarray | torch.Tensor):
    """8-bit Y as the network sees it: float32 Y/255."""
    if isinstance(planes, torch.Tensor):
        return planes.float().div_(255.0) if planes.dtype == torch.uint8 else planes.float()
    return planes.astype(np.float32) / 255.0 if planes.dtype == np.uint8 else planes.astype(np.float32)


def patch_batches(
    lr: torch.Tensor, hr: torch.Tensor, origins: torch.Tensor, patch: int, batch: int, device, chunk: int = 4096
):
    """The training loader: ``(inputs, targets)`` batches of ``patch`` x ``patch`` crops at
    ``origins``, cut from the in-memory planes (8-bit, on ``device`` when it is a GPU),
    as float Y/255, channels-last on ``device``. Crops are cut ``chunk`` patches at a
    time (one indexing op instead of one per batch: ~4x the patches/s at batch 16)."""
    usable = len(origins) - len(origins) % batch
    chunk = max(batch, chunk - chunk % batch)
    for start in range(0, usable, chunk):
        where = origins[start : min(start + chunk, usable)]
        inputs, targets = (unit(gather(planes, where, patch)).to(device) for planes in (lr, hr))
        for first in range(0, len(where), batch):
            yield tuple(
                t[first : first + batch].contiguous(memory_format=torch.channels_last) for t in (inputs, targets)
            )


def epoch_origins(seed: int, epoch: int, shape: tuple[int, ...], patch: int, count: int) -> torch.Tensor:
    """The patch origins of one epoch. Each epoch draws from its own generator seeded from
    (seed, epoch), so the sampler's whole state is (epoch, step): a run resumed mid-epoch
    draws the same patches as an uninterrupted one."""
    return sample_patches(torch.Generator().manual_seed(seed * 100_003 + epoch), shape, patch, count)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def train_step(model, optimizer, scaler, inputs, targets, precision: str = "fp32") -> float:
    """One MSE step with a host sync (the loss as a float): the eager baseline the
    benchmarks compare :class:`TrainSteps` against. A non-finite loss leaves the weights
    untouched."""
    with autocast(inputs.device, precision):
        loss = nn.functional.mse_loss(model(inputs).float(), targets)
    if not torch.isfinite(loss):
        return loss.item()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


# How training steps run (train.step); none of them changes what is computed.
STEP_MODES = ("auto", "eager", "graph", "compile")
# Real steps run eagerly before a CUDA graph is captured: they initialise the optimizer
# state, let cudnn.benchmark pick its kernels and let the allocator settle.
GRAPH_WARMUP_STEPS = 3


def resolve_step_mode(mode: str, device: torch.device, precision: str) -> str:
    """The step machinery for ``train.step`` on ``device``: ``auto`` is a CUDA graph on a
    GPU (fp32/bf16) and eager Python otherwise. fp16's gradient scaler adjusts its scale
    on the host, so fp16 runs eagerly."""
    if mode not in STEP_MODES:
        raise ValueError(f"train.step: unknown mode '{mode}'; choose one of {', '.join(STEP_MODES)}")
    if mode == "auto":
        return "graph" if device.type == "cuda" and precision != "fp16" else "eager"
    if mode in ("graph", "compile") and device.type != "cuda":
        raise ValueError(f"train.step: '{mode}' needs a CUDA device, this job runs on {device.type}; set auto or eager")
    if mode == "graph" and precision == "fp16":
        raise ValueError("train.step: 'graph' cannot capture fp16's gradient scaler; use precision bf16, or step eager")
    return mode


def make_optimizer(model: nn.Module, spec: dict, device: torch.device, mode: str = "eager") -> torch.optim.Adam:
    """Adam with the reference's per-layer learning rates. On a GPU one fused kernel
    updates every parameter (capturable when the step is a CUDA graph); on a CPU the
    multi-tensor (foreach) update. Both compute what the per-parameter loop computes."""
    groups = parameter_groups(model, spec["lr"], spec["last_layer_lr_factor"], spec)
    if device.type == "cuda":
        return torch.optim.Adam(groups, fused=True, capturable=mode in ("graph", "compile"))
    return torch.optim.Adam(groups, foreach=device.type == "cpu")


class TrainSteps:
    """Training steps that never wait for the device: the epoch's patch origins sit in a
    static buffer beside the resident 8-bit planes, a device-side cursor says which batch
    a step cuts, and the loss is summed on the device (float64, as the eager loop summed
    Python floats), with the first non-finite loss and its step kept there too. The loop
    reads them with :meth:`readback` every few steps (one host sync).

    ``mode`` (see :func:`resolve_step_mode`): ``eager`` runs :meth:`_body` from Python;
    ``graph`` runs it eagerly for a few warm-up steps, then captures one step in a CUDA
    graph and replays it (one launch per step); ``compile`` runs it through
    ``torch.compile(mode="reduce-overhead")``. Every mode computes the same step."""

    def __init__(
        self, model, optimizer, scaler, lr_planes, hr_planes, patch, batch, capacity, precision, mode, factor=1
    ):
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.lr_planes, self.hr_planes = lr_planes, hr_planes
        self.patch, self.batch, self.precision, self.mode = patch, batch, precision, mode
        # Inputs on the LR grid (post-upsampling networks): the HR target of an LR patch
        # at (top, left) is factor x larger, at factor x (top, left).
        self.factor = factor
        self.device = next(model.parameters()).device
        where = lr_planes.device
        self.origins = torch.zeros((capacity, 3), dtype=torch.long, device=where)
        self.offsets = torch.arange(batch, device=where)
        self.cursor = torch.zeros((), dtype=torch.long, device=where)  # step within the epoch
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self.bad_loss = torch.zeros((), dtype=torch.float32, device=self.device)
        self.graph, self.warm = None, 0
        self._compiled = torch.compile(self._body, mode="reduce-overhead") if mode == "compile" else None

    def begin_epoch(self, origins: torch.Tensor, start_step: int = 0, loss_so_far: float = 0.0) -> None:
        """Load an epoch's patch origins (steps x batch of them) and start at ``start_step``."""
        if len(origins) > len(self.origins):
            raise ValueError(f"{len(origins)} patch origins do not fit the buffer of {len(self.origins)}")
        self.origins[: len(origins)].copy_(origins)
        self.cursor.fill_(start_step)
        self.loss_sum.fill_(loss_so_far)
        self.bad_step.fill_(-1)

    def _body(self, zero_grad: bool = True) -> None:
        where = self.origins[self.cursor * self.batch + self.offsets]
        inputs, targets = (
            unit(gather(planes, where, patch, factor)).to(self.device).contiguous(memory_format=torch.channels_last)
            for planes, patch, factor in (
                (self.lr_planes, self.patch, 1),
                (self.hr_planes, self.patch * self.factor, self.factor),
            )
        )
        with autocast(self.device, self.precision):
            loss = nn.functional.mse_loss(self.model(inputs).float(), targets)
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        loss = loss.detach()
        self.loss_sum.add_(loss)
        first = ~torch.isfinite(loss) & (self.bad_step < 0)
        self.bad_step.copy_(torch.where(first, self.cursor.to(self.device), self.bad_step))
        self.bad_loss.copy_(torch.where(first, loss, self.bad_loss))
        self.cursor.add_(1)

    def step(self) -> None:
        """One optimizer step on the next batch; no host sync."""
        if self.mode == "eager":
            self._body()
        elif self.mode == "compile":
            torch.compiler.cudagraph_mark_step_begin()
            self._compiled()
        elif self.graph is not None:
            self.graph.replay()
        elif self.warm < GRAPH_WARMUP_STEPS:
            self._warm_up()
        else:
            self._capture()
            self.graph.replay()  # capturing records the step without running it

    def _warm_up(self) -> None:
        # On a side stream, as graph capture requires of the work before it.
        side, main = torch.cuda.Stream(self.device), torch.cuda.current_stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            self._body()
        main.wait_stream(side)
        self.warm += 1

    def _capture(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)  # the graph allocates the gradients it writes
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body(zero_grad=False)
        self.graph = graph

    def readback(self) -> tuple[float, int | None, float]:
        """One host sync: the loss summed over the epoch so far, and the first step
        (0-based) whose loss was not finite with that loss (None, 0.0 when all were)."""
        total, bad_step, bad_loss = torch.stack(
            [self.loss_sum, self.bad_step.double(), self.bad_loss.double()]
        ).tolist()
        return total, (int(bad_step) if bad_step >= 0 else None), bad_loss


def mse(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(np.mean((reference.astype(np.float64) - estimate.astype(np.float64)) ** 2))


def evaluate(
    model: nn.Module,
    hr: np.ndarray,
    lr: np.ndarray,
    halo: int,
    tile: int = 512,
    precision: str = "fp32",
    factor: int = 1,
) -> float:
    """Mean Y-PSNR (on Y/255, whole planes, output clamped to 0..1) over the eval frames;
    ``lr``: the network's input planes (``factor`` x smaller on the LR grid)."""
    model.eval()
    scores = [
        psnr_from_mse(
            mse(unit(h), np.clip(infer_tiled(model, unit(low), halo, tile, precision=precision, factor=factor), 0, 1)),
            1.0,
        )
        for h, low in zip(hr, lr, strict=True)
    ]
    model.train()
    return float(np.mean(scores))


def save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` to memory, then one atomic write through Python: a full disk gives a
    DiskFullError naming the file (torch's own writer reports no errno)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_file(path, ".pt") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def write_log(rows: list[dict], path: str | Path) -> None:
    with atomic_file(path, ".csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _same_run(state: dict, spec: dict, scale: int, data: dict) -> bool:
    def fixed(s):
        return {k: v for k, v in s.items() if k not in RESUMABLE_CHANGES}

    return fixed(state["spec"]) == fixed(spec) and state["scale"] == scale and state["data"] == data


def _load_state(path: Path) -> dict | None:
    """Saved progress, or None when there is none or it is unreadable (then training
    starts over instead of failing)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: not worth a failed job
        print(f"ignoring unreadable progress file {path}: {error}", flush=True)
        return None


def check_patch(shape: tuple[int, ...], patch: int, factor: int, title: str, who: str) -> int:
    """The input patch size for frames of ``shape`` (N x H x W): a network on the LR grid
    trains on LR patches of patch_size // scale and their HR targets (patch_size rounded
    down to a multiple of the scale). Too large or too small a patch is an error."""
    if shape[1] < patch or shape[2] < patch:
        raise ValueError(
            f"{who}: frames of {shape[2]}x{shape[1]} are smaller than the patch size {patch}; "
            "lower patch_size in the config"
        )
    in_patch = patch // factor
    if in_patch < 3:
        raise ValueError(
            f"{who}: patch_size {patch} gives {title} LR patches of {in_patch} px at x{factor}; "
            f"raise patch_size to at least {3 * factor} in the config"
        )
    return in_patch


def _stopping_on_signals(function):
    @wraps(function)
    def wrapper(*args, **kwargs):
        with stop_signals():
            return function(*args, **kwargs)

    return wrapper


def execution_options(config: dict) -> dict:
    """How a job runs :func:`train`, from a validated config: the device, the step mode,
    the loss readback and the progress saving. None of them can change a model, so jobs
    read them here instead of taking them as params (a changed param reruns a job)."""
    progress = config["progress"]
    return {
        "device": config["device"],
        "step_mode": config["train"]["step"],
        "log_every_steps": config["train"]["log_every_steps"],
        "save_every_steps": progress["save_every_steps"],
        "save_every_seconds": progress["save_every_seconds"],
        "step_delay": progress["step_delay_seconds"],
    }


@_stopping_on_signals
def train(
    train_h5: str | Path,
    eval_h5: str | Path,
    spec: dict,
    *,  # the rest by name: too many settings to pass by position safely
    seed: int,
    scale: int,
    model_path: str | Path,
    log_path: str | Path,
    state_path: str | Path | None = None,
    device: str = "auto",
    threads: int | None = None,
    name: str = "variant",
    progress: bool = True,
    precision: str = "fp32",
    step_mode: str = "auto",
    log_every_steps: int = 100,
    tf32: bool = False,
    on_epoch=None,
    save_every_steps: int | None = None,
    save_every_seconds: float | None = 120,
    step_delay: float = 0.0,
) -> dict:
    """Train and write the best checkpoint (``model_path``) and the per-epoch log.
    ``state_path`` (default: beside the model) holds the progress, saved after each epoch
    and, within one, at the first loss readback after ``save_every_steps`` steps or
    ``save_every_seconds`` seconds; a rerun with the same settings resumes from it. A
    stop signal (:data:`STOP_SIGNALS`) reads the loss back after the current step, saves
    and raises :class:`Interrupted`. ``step_delay`` (seconds after each step) slows tiny
    trainings down for fault tests. Returns the best checkpoint.

    ``step_mode`` (train.step) and ``log_every_steps`` say how steps run (:func:`resolve_step_mode`) and how often
    the loss is read back (and checked for NaN); they do not change the result. ``tf32``
    lets fp32 convolutions on a GPU use TF32 tensor cores: it changes the numerics, so
    it is part of the run and of the checkpoint. ``on_epoch(epoch, eval_psnr)`` is called
    after each epoch's evaluation (a search's pruner stops a trial by raising there)."""
    if threads:
        torch.set_num_threads(threads)
    state_path = Path(state_path or Path(model_path).with_name("resume.pt"))
    device = select_device(device)
    mode = resolve_step_mode(step_mode, device, precision)
    set_tf32(tf32)
    arch = arch_of(spec)
    factor = arch.factor(scale)
    hr, lr, train_attrs = read_frames(train_h5)
    eval_hr, eval_lr, eval_attrs = read_frames(eval_h5)
    for path, attrs in ((train_h5, train_attrs), (eval_h5, eval_attrs)):
        if attrs.get("grid", "hr") != arch.grid:
            raise ValueError(
                f"{name} x{scale}: '{path}' holds inputs on the {attrs.get('grid', 'hr')} grid, but {arch.title} "
                f"reads the {arch.grid} grid; give it the h5 sets packed for that grid"
            )
    patch, batch = spec["patch_size"], spec["batch_size"]
    in_patch = check_patch(hr.shape, patch, factor, arch.title, f"{name} x{scale}")
    per_epoch = spec.get("patches_per_epoch") or grid_patch_count(hr.shape, patch, spec["patch_stride"])
    steps = max(1, per_epoch // batch)
    data = {"train": train_attrs, "eval": eval_attrs}

    torch.manual_seed(seed)
    model = build_model(spec, scale).to(device)
    optimizer = make_optimizer(model, spec, device, mode)
    best, rows, start_epoch = None, [], 0
    # Where the first epoch run here starts: steps already done, their summed loss and time.
    first_step, epoch_loss, epoch_seconds = 0, 0.0, 0.0
    run = spec | {"seed": seed, "precision": precision, "tf32": tf32}  # what saved progress must match
    state = _load_state(state_path)
    if state is not None and not _same_run(state, run, scale, data):
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best, rows, start_epoch = state["best"], state["rows"], state["epoch"]
        if state.get("step") and start_epoch < spec["epochs"]:
            first_step, epoch_loss, epoch_seconds = state["step"], state["epoch_loss"], state["epoch_seconds"]
        where = f"at epoch {start_epoch + 1} step {first_step}" if first_step else f"after epoch {start_epoch}"
        print(f"resuming {name} x{scale} seed {seed} {where}", flush=True)
    model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input shape throughout: tune once
    # On a GPU the 8-bit planes live in its memory (500 MB for 30 2160p frames), so a
    # batch is cut there instead of being copied over every step.
    planes_device = device if device.type == "cuda" else torch.device("cpu")
    hr_t, lr_t = torch.from_numpy(hr).to(planes_device), torch.from_numpy(lr).to(planes_device)
    halo, tile = halo_of(spec, scale), tile_for("auto", device)
    scaler = grad_scaler(device, precision)
    if state is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    clock = SaveClock(save_every_steps, save_every_seconds)

    def save_progress(epoch_done: int, step: int, loss: float, seconds: float) -> None:
        """The resume file: epochs finished, then steps finished of the next epoch (the
        sampler's state, see :func:`epoch_origins`), their summed loss and time."""
        save_atomic(
            {
                "format": PROGRESS_FORMAT,
                "model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch_done,
                "step": step,
                "epoch_loss": loss,
                "epoch_seconds": seconds,
                "best": best,
                "rows": rows,
                "spec": run,
                "scale": scale,
                "data": data,
            },
            state_path,
        )
        clock.saved()

    def interrupted(epoch: int, step: int) -> Interrupted:
        return Interrupted(
            f"{name} x{scale} seed {seed}: interrupted by {STOP.signal.name} at epoch {epoch} step {step}; "
            f"progress saved to {state_path}; rerun to resume"
        )

    steps_run = TrainSteps(
        model, optimizer, scaler, lr_t, hr_t, in_patch, batch, steps * batch, precision, mode, factor=factor
    )
    log_every_steps = max(1, log_every_steps)

    for epoch in range(start_epoch + 1, spec["epochs"] + 1):
        origins = epoch_origins(seed, epoch, lr.shape, in_patch, steps * batch).to(planes_device)
        started, total = time.perf_counter() - epoch_seconds, epoch_loss
        bar = progress_bar(
            range(first_step, steps),
            desc=f"{name} x{scale} epoch {epoch}/{spec['epochs']}",
            initial=first_step,
            total=steps,
            disable=not progress,
        )
        steps_run.begin_epoch(origins, start_step=first_step, loss_so_far=epoch_loss)
        for step in bar:
            steps_run.step()
            if step_delay:
                time.sleep(step_delay)
            # Mid-epoch progress is saved, and a stop signal honoured, only right after a
            # readback that found every loss finite: between readbacks the weights may
            # already be NaN. The loss reaches the host every log_every_steps steps, at
            # the epoch's end (before eval and saving) and when a save is due.
            save_due = (clock.step() or bool(STOP)) and step + 1 < steps
            if save_due or (step + 1) % log_every_steps == 0 or step + 1 == steps:
                total, bad_step, bad_loss = steps_run.readback()
                if bad_step is not None:
                    raise TrainingDiverged(
                        f"variant '{name}', scale {scale}, seed {seed}: loss became {bad_loss} in epoch {epoch} "
                        f"(step {bad_step + 1}); lower variants.{name}.lr (or defaults.lr) in the config",
                        found_at_step=step + 1,
                    )
                bar.set_postfix(loss=f"{total / (step + 1):.3g}")
            if save_due:
                save_progress(epoch - 1, step + 1, total, time.perf_counter() - started)
                if STOP:
                    raise interrupted(epoch, step + 1)
        first_step, epoch_loss, epoch_seconds = 0, 0.0, 0.0
        eval_psnr = evaluate(model, eval_hr, eval_lr, halo, tile, precision, factor)
        rows.append(
            {
                "epoch": epoch,
                "loss": total / steps,
                "eval_psnr_y": eval_psnr,
                "seconds": time.perf_counter() - started,
                "lr": spec["lr"],
            }
        )
        print(f"{name} x{scale} epoch {epoch}: loss {total / steps:.6f}, eval Y-PSNR {eval_psnr:.3f} dB", flush=True)
        if on_epoch is not None:
            on_epoch(epoch, eval_psnr)
        # A copy: on a CPU, .cpu() and .contiguous() return the parameter itself where it is
        # already contiguous (biases), and later epochs would change the kept best epoch's.
        weights = {
            k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()
        }
        if best is None or eval_psnr > best["eval_psnr_y"]:
            best = {
                "state_dict": weights,
                "variant": name,
                "arch": arch.name,
                "spec": spec,
                "scale": scale,
                "seed": seed,
                "epoch": epoch,
                "eval_psnr_y": eval_psnr,
                "data": data,
                "torch": str(torch.__version__),
                "device": str(device),
                "precision": precision,
                "tf32": tf32,
                "step": mode,
                "fuse": False,  # trained alone (srstudy.fusedtrain trains models fused)
            }
        save_progress(epoch, 0, 0.0, 0.0)
        if STOP:
            raise interrupted(epoch, steps)
    save_atomic(best, model_path)
    write_log(rows, log_path)
    return best
