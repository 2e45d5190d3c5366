"""One optimisation step, eager, as a CUDA graph or compiled, with the loss kept on the
device between readbacks."""

import torch
from torch import nn

from srstudy.nets.build import parameter_groups
from srstudy.nets.device import autocast
from srstudy.train.patches import gather, unit


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
