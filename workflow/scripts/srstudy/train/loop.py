"""Stage 4: train one variant at one scale (and seed) on the h5 frame sets.

Patches are cut at random from whole Y planes (the reference pre-cuts a 33x33/stride-14
grid into its h5 files); one epoch defaults to as many patches as that grid holds. The
checkpoint with the best eval PSNR is kept. Progress is saved after every epoch and, within
an epoch, every ``save_every_steps`` steps or ``save_every_seconds`` seconds; SIGTERM,
SIGUSR1 or SIGINT (a scheduler's warning, scancel, Ctrl-C) makes the job finish its step,
save and exit. A rerun resumes where it stopped and ends bit-identical (on the CPU) to an
uninterrupted run."""

import csv
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.base.colour import psnr_from_mse
from srstudy.base.files import atomic_file
from srstudy.base.joblog import progress_bar
from srstudy.nets.build import build_model, halo_of
from srstudy.nets.device import select_device, set_tf32
from srstudy.nets.registry import arch_of
from srstudy.nets.tiling import infer_tiled, tile_for
from srstudy.stages.dataset import read_frames
from srstudy.train.patches import epoch_origins, grid_patch_count, unit
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
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer, resolve_step_mode

LOG_COLUMNS = ("epoch", "loss", "eval_psnr_y", "seconds", "lr")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``found_at_step``: the step whose loss readback
    found it (the message names the step where it first appeared)."""

    def __init__(self, message: str, found_at_step: int | None = None):
        super().__init__(message)
        self.found_at_step = found_at_step


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


def write_log(rows: list[dict], path: str | Path) -> None:
    with atomic_file(path, ".csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


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


@stopping_on_signals
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
    state = load_state(state_path)
    if state is not None and not same_run(state, run, scale, data):
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
                "fuse": False,  # trained alone (srstudy.train.fused trains models fused)
            }
        save_progress(epoch, 0, 0.0, 0.0)
        if STOP:
            raise interrupted(epoch, steps)
    save_atomic(best, model_path)
    write_log(rows, log_path)
    return best
