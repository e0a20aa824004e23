"""Spectral normalisation as the engine computes it, and the `u` that makes it agree with PyTorch.

The engine divides W (viewed as [outputs, rest]) by σ_e(u) = ‖W v‖ with v = normalise(Wᵀu), from
the stored `u` alone. PyTorch in evaluation mode divides by σ_p = uᵀ W v with its stored `u` and
`v`, which after training lag W by one optimiser step, so writing PyTorch's `u` as it is would be
off by about that step. Instead we write a `u` for which σ_e(u) = σ_p exactly: with W = U S Vᵀ and
u = √a·U₁ + √(1−a)·U_k, σ_e² = (a s₁⁴ + (1−a) s_k⁴) / (a s₁² + (1−a) s_k²), which runs from s_k²
to s₁² as a goes from 0 to 1.
"""

import numpy as np
import torch

from .errors import ExportError


def spectral_state(module):
    """(W as stored, σ PyTorch divides it by now, the axis of W's outputs) of a spectral-norm
    module, or None. Both of PyTorch's forms: the `spectral_norm` hook and the parametrization."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_u"):
        hook = next(h for h in module._forward_pre_hooks.values() if type(h).__name__ == "SpectralNorm")
        weight, dim = module.weight_orig.detach(), hook.dim
        u, v = module.weight_u.detach(), module.weight_v.detach()
    elif hasattr(module, "parametrizations") and hasattr(module.parametrizations, "weight"):
        found = [p for p in module.parametrizations.weight if type(p).__name__ == "_SpectralNorm"]
        if len(module.parametrizations.weight) != 1 or not found:
            raise ExportError("its weight has a parametrization other than one spectral_norm")
        sn = found[0]
        weight, dim = module.parametrizations.weight.original.detach(), sn.dim
        u, v = sn._u.detach(), sn._v.detach()
    else:
        return None
    matrix = as_matrix(weight.double(), dim)
    sigma = float(torch.dot(u.double(), matrix @ v.double()))
    return weight, sigma, dim


def as_matrix(weight, dim):
    """W as [outputs, rest], the outputs' axis first (1 for a transposed convolution)."""
    if dim != 0:
        weight = weight.transpose(0, dim)
    return weight.reshape(weight.shape[0], -1)


def u_for_sigma(weight, dim, sigma, what):
    """A unit `u` with σ_e(u) = σ for this weight, or an ExportError saying why there is none."""
    matrix = as_matrix(weight.double(), dim).numpy()
    left, singular, _ = np.linalg.svd(matrix, full_matrices=False)
    s1 = singular[0]
    if s1 == 0:
        raise ExportError(f"{what}: its weight is all zeros")
    tolerance = 1e-6 * s1
    if abs(sigma - s1) <= tolerance:
        return left[:, 0]
    smaller = [k for k in range(1, len(singular)) if singular[k] < sigma - tolerance]
    if sigma > s1 or not smaller:
        raise ExportError(
            f"{what}: PyTorch divides its weight by {sigma:.6g}, which no power-iteration state reaches "
            f"(the weight's singular values run from {singular[-1]:.6g} to {s1:.6g}); its spectral-norm "
            "vectors were never updated by a forward pass in training mode. Run one batch through the "
            "network in train() mode before exporting, or remove spectral_norm"
        )
    k = smaller[0]
    sk = singular[k]
    # Solve a·s₁²(s₁² − σ²) = (1 − a)·s_k²(σ² − s_k²) for a.
    above, below = s1**2 * (s1**2 - sigma**2), sk**2 * (sigma**2 - sk**2)
    a = below / (above + below)
    u = np.sqrt(a) * left[:, 0] + np.sqrt(1 - a) * left[:, k]
    return u / np.linalg.norm(u)
