"""The fused training step: one Adam over a :class:`~srstudy.nets.fused.FusedNet`'s stacked
parameters with each member's own learning rates, and :class:`FusedSteps`, which cuts
each member's batch from its own planes at its own patch origins and steps all members
at once without waiting for the device (as :class:`srstudy.train.steps.TrainSteps` does for
one model). The loss is the sum of the members' own mean losses, so each member gets
exactly the gradient it gets alone; Adam is elementwise, so each member's update is the
one it gets alone."""

import torch
from torch import nn

from srstudy.nets.device import autocast
from srstudy.nets.fused import FusedNet
from srstudy.train.patches import gather, unit
from srstudy.train.steps import GRAPH_WARMUP_STEPS


class StackedAdam:
    """Adam (torch's defaults and update) on stacked parameters ``[G, ...]``, member g
    at ``lrs[i][g]`` for parameter i. ``capturable``: every quantity on the device
    (the step count too), so a CUDA graph can replay the update; otherwise the update
    uses host scalars in torch's own order of operations (multi-tensor Adam on a CPU),
    so each member's weights equal, bit for bit, those of training it alone."""

    def __init__(self, params, lrs, betas=(0.9, 0.999), eps=1e-8, capturable=False):
        self.params = list(params)
        self.betas, self.eps, self.capturable = betas, eps, capturable
        device = self.params[0].device
        self.lrs = [[float(v) for v in lr] for lr in lrs]
        self.members = len(self.lrs[0])
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # Steps taken, per member (members resumed together share it; kept per member so
        # a member's state can be handed back to its own optimizer).
        self.steps = torch.zeros(self.members, dtype=torch.float32, device=device if capturable else "cpu")
        if capturable:
            self._lr = [
                torch.tensor(lr, dtype=p.dtype, device=device).reshape(-1, *[1] * (p.dim() - 1))
                for lr, p in zip(self.lrs, self.params, strict=True)
            ]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        self.steps.add_(1)
        if self.capturable:
            self._step_on_device(beta1, beta2)
            return
        counts = self.steps.tolist()
        if len(set(counts)) != 1:
            raise RuntimeError("fused members must have taken the same number of steps")
        count = counts[0]
        bias1, bias2_sqrt = 1 - beta1**count, (1 - beta2**count) ** 0.5
        for p, m, v, lrs in zip(self.params, self.exp_avg, self.exp_avg_sq, self.lrs, strict=True):
            grad = p.grad
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = v.sqrt().div_(bias2_sqrt).add_(self.eps)
            if len(set(lrs)) == 1:
                p.addcdiv_(m, denom, value=(lrs[0] / bias1) * -1)
            else:
                for g, lr in enumerate(lrs):
                    p[g].addcdiv_(m[g], denom[g], value=(lr / bias1) * -1)

    def _step_on_device(self, beta1: float, beta2: float) -> None:
        # torch's capturable Adam, with a learning rate per member; the bias corrections
        # in float64 (from a float32 step count they would be off by ~1e-7).
        steps = self.steps.double()
        for p, m, v, lr in zip(self.params, self.exp_avg, self.exp_avg_sq, self._lr, strict=True):
            shape = (-1, *[1] * (p.dim() - 1))
            bias1 = (torch.pow(beta1, steps) - 1).reshape(shape).to(p.dtype)
            bias2_sqrt = (1 - torch.pow(beta2, steps)).sqrt().reshape(shape).to(p.dtype)
            step_size = lr / bias1  # negative: -lr / (1 - beta1^t)
            grad = p.grad
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (v.sqrt() / bias2_sqrt).add_(self.eps).div_(step_size)
            p.addcdiv_(m, denom)

    # --- the members' own optimizers -------------------------------------------------

    def load_members(self, optimizers: list[torch.optim.Adam], member_params: list[list[nn.Parameter]]) -> None:
        """Take each member's Adam state (``member_params[g][i]``: member g's parameter
        stacked as parameter i); a member without state starts at step 0."""
        counts = []
        for g, (optimizer, params) in enumerate(zip(optimizers, member_params, strict=True)):
            count = 0.0
            for i, param in enumerate(params):
                state = optimizer.state.get(param)
                if not state:
                    continue
                self.exp_avg[i][g].copy_(state["exp_avg"])
                self.exp_avg_sq[i][g].copy_(state["exp_avg_sq"])
                count = float(state["step"])
            counts.append(count)
        self.steps.copy_(torch.tensor(counts, dtype=torch.float32))

    def store_members(self, optimizers: list[torch.optim.Adam], member_params: list[list[nn.Parameter]]) -> None:
        """Write the state back into each member's own Adam, as it keeps it itself."""
        counts = self.steps.tolist()
        for g, (optimizer, params) in enumerate(zip(optimizers, member_params, strict=True)):
            if counts[g] == 0:
                continue
            for i, param in enumerate(params):
                old = optimizer.state.get(param) or {}
                step_like = old.get("step")
                step = torch.tensor(counts[g], dtype=torch.float32)
                if step_like is not None:
                    step = step.to(step_like.device)
                optimizer.state[param] = {
                    "step": step,
                    "exp_avg": self.exp_avg[i][g].detach().clone().to(param.device),
                    "exp_avg_sq": self.exp_avg_sq[i][g].detach().clone().to(param.device),
                }


def member_lrs(models: list[nn.Module], optimizers: list[torch.optim.Adam], net: FusedNet) -> list[list[float]]:
    """Each stacked parameter's learning rate per member, from the members' own Adams."""
    lrs = []
    for name in net.member_names():
        row = []
        for model, optimizer in zip(models, optimizers, strict=True):
            param = dict(model.named_parameters())[name]
            groups = optimizer.param_groups
            row.append(next(group["lr"] for group in groups if any(p is param for p in group["params"])))
        lrs.append(row)
    return lrs


class FusedSteps:
    """Steps of G fused members that never wait for the device: each member's epoch of
    patch origins sits in a static buffer (``G x capacity x 3``) beside its resident
    8-bit planes, a device-side cursor says which batch a step cuts, and each member's
    loss is summed on the device with its first non-finite loss and step. ``mode``:
    ``eager`` or ``graph`` (warm-up steps, then one captured step replayed)."""

    def __init__(self, net, optimizer, planes, patch, batch, capacity, precision, mode, factor=1):
        if mode not in ("eager", "graph"):
            raise ValueError(f"fused steps run eager or as a CUDA graph, not '{mode}'")
        self.net, self.optimizer = net, optimizer
        self.planes = planes  # per member: (lr planes, hr planes)
        self.patch, self.batch, self.precision, self.mode, self.factor = patch, batch, precision, mode, factor
        members = len(planes)
        self.device = net.stacked()[0].device
        where = planes[0][0].device
        self.origins = torch.zeros((members, capacity, 3), dtype=torch.long, device=where)
        self.offsets = torch.arange(batch, device=where)
        self.cursor = torch.zeros((), dtype=torch.long, device=where)
        self.loss_sum = torch.zeros(members, dtype=torch.float64, device=self.device)
        self.bad_step = torch.full((members,), -1, dtype=torch.long, device=self.device)
        self.bad_loss = torch.zeros(members, dtype=torch.float32, device=self.device)
        self.dtype = self.net.stacked()[0].dtype
        self.graph, self.warm = None, 0

    def begin_epoch(self, origins: list[torch.Tensor], start_step: int = 0, losses_so_far=None) -> None:
        for g, member_origins in enumerate(origins):
            self.origins[g, : len(member_origins)].copy_(member_origins)
        self.cursor.fill_(start_step)
        self.loss_sum.copy_(torch.tensor(losses_so_far or [0.0] * len(origins), dtype=torch.float64))
        self.bad_step.fill_(-1)

    def _inputs(self):
        row = self.cursor * self.batch + self.offsets
        inputs, targets = [], []
        for g, (lr_planes, hr_planes) in enumerate(self.planes):
            where = self.origins[g, row]
            # Y/255 per member: members' planes may differ in type (8-bit or float).
            inputs.append(unit(gather(lr_planes, where, self.patch)))
            targets.append(unit(gather(hr_planes, where, self.patch * self.factor, self.factor)))
        return (
            torch.cat(parts, 1).to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
            for parts in (inputs, targets)
        )

    def _body(self, zero_grad: bool = True) -> None:
        inputs, targets = self._inputs()
        with autocast(self.device, self.precision):
            out = self.net(inputs)
        out = out.to(self.dtype)
        members = len(self.planes)
        # Each member's own mean, exactly as it is computed alone (one mse_loss per block).
        losses = torch.stack(
            [
                nn.functional.mse_loss(o, t)
                for o, t in zip(out.chunk(members, 1), targets.chunk(members, 1), strict=True)
            ]
        )
        if zero_grad:
            self.optimizer.zero_grad()
        losses.sum().backward()
        self.optimizer.step()
        losses = losses.detach()
        self.loss_sum.add_(losses)
        first = ~torch.isfinite(losses) & (self.bad_step < 0)
        self.bad_step.copy_(torch.where(first, self.cursor.to(self.device), self.bad_step))
        self.bad_loss.copy_(torch.where(first, losses.float(), self.bad_loss))
        self.cursor.add_(1)

    def step(self) -> None:
        if self.mode == "eager":
            self._body()
        elif self.graph is not None:
            self.graph.replay()
        elif self.warm < GRAPH_WARMUP_STEPS:
            side, main = torch.cuda.Stream(self.device), torch.cuda.current_stream(self.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                self._body()
            main.wait_stream(side)
            self.warm += 1
        else:
            self.optimizer.zero_grad()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body(zero_grad=False)
            self.graph = graph
            self.graph.replay()

    def readback(self) -> tuple[list[float], list[int | None], list[float]]:
        """One host sync: per member, the loss summed over the epoch so far and the first
        step (0-based) whose loss was not finite with that loss (None when all were)."""
        rows = torch.stack([self.loss_sum, self.bad_step.double(), self.bad_loss.double()]).tolist()
        return rows[0], [int(s) if s >= 0 else None for s in rows[1]], rows[2]
