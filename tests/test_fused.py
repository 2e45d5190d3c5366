"""Fused training (issue 21): G models stacked into one network and one Adam train to the
weights each reaches alone: bit for bit in float64, within a stated tolerance in float32;
a member whose loss turns NaN leaves the others untouched."""

import pytest
import torch
from srstudy.nets.build import build_model
from srstudy.nets.fused import CONV_KINDS, FusedNet, fusion_key
from srstudy.nets.registry import arch_of
from srstudy.train.fused_steps import FusedSteps, StackedAdam, member_lrs
from srstudy.train.patches import epoch_origins, gather, unit
from srstudy.train.steps import make_optimizer

CPU = torch.device("cpu")
# float32: the largest weight difference after STEPS Adam steps from identical starts; the
# grouped convolution sums in another order than the plain one (oneDNN), and Adam divides
# by sqrt(v): tiny gradient differences reach the weights at lr scale.
FLOAT32_TOLERANCE = 2e-6
STEPS = 12
BATCH = 4


def srcnn(activation="relu", lr=1e-3):
    return {
        "layers": [{"kernel": 5, "channels": 8}, {"kernel": 3, "channels": 4}, {"kernel": 3, "channels": 1}],
        "activation": activation,
        "lr": lr,
        "last_layer_lr_factor": 0.1,
        "patch_size": 15,
        "batch_size": BATCH,
    }


def fsrcnn(lr=1e-3):
    own = {"d": 6, "s": 3, "m": 1, "activation": "prelu", "deconv_kernel": 9}
    return {
        "arch": "fsrcnn",
        "fsrcnn": own,
        "lr": lr,
        "last_layer_lr_factor": 0.1,
        "patch_size": 15,
        "batch_size": BATCH,
    }


def espcn(lr=1e-3):
    own = {
        "layers": [{"kernel": 5, "channels": 8}, {"kernel": 3, "channels": 4}],
        "last_kernel": 3,
        "activation": "tanh",
    }
    return {"arch": "espcn", "espcn": own, "lr": lr, "last_layer_lr_factor": 0.1, "patch_size": 15, "batch_size": BATCH}


def planes(scale, factor, frames=2, size=60):
    """8-bit HR planes and input planes (bicubic-like on the HR grid, or LR)."""
    g = torch.Generator().manual_seed(scale)
    hr = (torch.rand((frames, size, size), generator=g) * 255).round().to(torch.uint8)
    if factor == 1:
        low = torch.nn.functional.avg_pool2d(hr[:, None].float(), scale)
        low = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear")[:, 0]
    else:
        low = torch.nn.functional.avg_pool2d(hr[:, None].float(), factor)[:, 0]
    return low.clamp(0, 255).round().to(torch.uint8), hr


def members_of(specs, seeds, scales, dtype, device=CPU):
    models = []
    for spec, seed, scale in zip(specs, seeds, scales, strict=True):
        torch.manual_seed(seed)
        models.append(build_model(spec, scale).to(device, dtype).to(memory_format=torch.channels_last))
    return models


def alone(model, spec, lr_planes, hr_planes, origins, patch, factor, dtype):
    """One model trained by itself as TrainSteps trains it (plain loop, any dtype)."""
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, spec, device)
    losses = []
    for step in range(STEPS):
        where = origins[step * BATCH : (step + 1) * BATCH]
        x, y = (
            unit(gather(p, where, size, f)).to(device, dtype).contiguous(memory_format=torch.channels_last)
            for p, size, f in ((lr_planes, patch, 1), (hr_planes, patch * factor, factor))
        )
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, sum(losses)


def fused(models, specs, data, origins, patch, factor, conv="grouped", mode="eager", capturable=False):
    device = next(models[0].parameters()).device
    optimizers = [make_optimizer(m, s, device, mode) for m, s in zip(models, specs, strict=True)]
    net = FusedNet(models, conv)
    adam = StackedAdam(net.stacked(), member_lrs(models, optimizers, net), capturable=capturable or mode == "graph")
    steps = FusedSteps(net, adam, data, patch, BATCH, STEPS * BATCH, "fp32", mode, factor)
    steps.begin_epoch(origins)
    for _ in range(STEPS):
        steps.step()
    totals, bad, _ = steps.readback()
    return net, totals, bad


CASES = {
    "srcnn-activations-lrs": ([srcnn("relu"), srcnn("tanh", 3e-3), srcnn("elu"), srcnn("sigmoid", 2e-3)], 1),
    "fsrcnn": ([fsrcnn(), fsrcnn(2e-3), fsrcnn()], 3),
    "espcn": ([espcn(), espcn(), espcn(5e-4)], 3),
}


def run_case(name, dtype, conv="grouped", device=CPU, mode="eager", poisoned=None, capturable=False):
    """Train CASES[name]'s members alone and fused from the same starts on the same
    batches: each member's largest weight difference, and how far training moved the
    first member (``poisoned``: that member's inputs are NaN)."""
    specs, scale = CASES[name]
    factor = arch_of(specs[0]).factor(scale)
    seeds = [11 + i for i in range(len(specs))]
    models_alone = members_of(specs, seeds, [scale] * len(specs), dtype, device)
    models_fused = members_of(specs, seeds, [scale] * len(specs), dtype, device)
    assert len({fusion_key(m) for m in models_fused}) == 1
    patch = 15 // factor
    data, origins = [], []
    for i, _ in enumerate(specs):
        lr_planes, hr_planes = (p.to(device) for p in planes(scale + i, factor))  # each member its own planes
        if i == poisoned:
            lr_planes = torch.full(lr_planes.shape, float("nan"), device=device)
        data.append((lr_planes, hr_planes))
        origins.append(epoch_origins(seeds[i], 1, tuple(lr_planes.shape), patch, STEPS * BATCH))
    results = [
        alone(m, s, lp, hp, o, patch, factor, dtype)
        for m, s, (lp, hp), o in zip(models_alone, specs, data, origins, strict=True)
    ]
    net, totals, bad = fused(models_fused, specs, data, origins, patch, factor, conv, mode, capturable)
    assert bad == [0 if g == poisoned else None for g in range(len(specs))]
    diffs = []
    for g, (model, loss) in enumerate(results):
        if g == poisoned:
            assert not all(torch.isfinite(p).all() for p in net.member_state(g).values())
            diffs.append(0.0)
            continue
        mine = net.member_state(g)
        reference = dict(model.named_parameters())
        diffs.append(max((mine[k] - reference[k].detach()).abs().max().item() for k in mine))
        assert totals[g] == pytest.approx(loss, rel=1e-5)
    start = dict(models_fused[0].named_parameters())
    moved = max((start[k].detach() - v).abs().max().item() for k, v in net.member_state(0).items())
    return diffs, moved


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_weights_equal_alone_in_float64(name):
    diffs, moved = run_case(name, torch.float64)
    assert moved > 0  # training moved the weights
    assert diffs == [0.0] * len(diffs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_weights_match_alone_in_float32(name):
    diffs, _ = run_case(name, torch.float32)
    assert max(diffs) <= FLOAT32_TOLERANCE


def test_a_nan_in_one_member_leaves_the_others_as_they_train_alone():
    diffs, _ = run_case("srcnn-activations-lrs", torch.float64, poisoned=1)
    assert diffs == [0.0] * len(diffs)


@pytest.mark.parametrize("conv", [k for k in CONV_KINDS if k != "grouped"])
def test_other_convolution_kinds_compute_the_same(conv):
    diffs, _ = run_case("srcnn-activations-lrs", torch.float64, conv)
    assert max(diffs) <= 1e-12


def test_the_capturable_update_computes_adam():
    """The update a CUDA graph replays (every quantity a device tensor) on the CPU: torch's
    own capturable Adam arithmetic, so equal to the host-scalar update up to rounding."""
    diffs, _ = run_case("srcnn-activations-lrs", torch.float64, capturable=True)
    assert max(diffs) <= 1e-12
