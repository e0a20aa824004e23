"""Copies of the user's modules in evaluation mode, leaving theirs untouched."""

import copy

import torch


def eval_copy(module, dtype=None):
    """A deep copy in eval mode (and `dtype`). PyTorch's spectral_norm hook keeps the normalised
    weight as a computed tensor, which deepcopy refuses; it is recomputed on every forward, so it
    is detached first."""
    for m in module.modules():
        if hasattr(m, "weight_orig") and isinstance(getattr(m, "weight", None), torch.Tensor):
            m.weight = m.weight.detach()
    copied = copy.deepcopy(module).eval()
    return copied.to(dtype) if dtype is not None else copied
