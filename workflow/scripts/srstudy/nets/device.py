"""Where and in what arithmetic a network runs: the device, TF32, autocast precisions."""

import torch


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu. On a GPU machine each job sees the GPU of the
    slot it holds (srstudy.base.gpu_slots sets CUDA_VISIBLE_DEVICES before CUDA starts), so
    ``cuda`` is that GPU. An explicit choice that is unavailable is an error."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{preference}' was configured but CUDA is not available; set device: auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was configured but MPS is not available; set device: auto or cpu")
    return device


def set_tf32(enabled: bool) -> None:
    """fp32 convolutions (and matmuls) on TF32 tensor cores, or in full fp32 (IEEE). cuDNN
    convolutions default to TF32 in PyTorch; the study's fp32 means fp32 unless
    ``train.tf32`` says otherwise. No effect on a CPU."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        conv.fp32_precision = "tf32" if enabled else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32" if enabled else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed precision for ``bf16``/``fp16`` (convolutions in half precision, weights and
    the loss in fp32); a no-op for ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of {sorted(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
