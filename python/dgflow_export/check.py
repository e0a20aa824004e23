"""The exporter's check of its own output: the same latents through the PyTorch modules (in
float64) and through `dgflow probe` on the written bundle; samples, logits and ∇_z of the logit
must agree within 1e-4, relative to the largest value of each.

A ReLU network's gradient jumps where an activation's input crosses zero. With thousands of
units some input is always within float32's rounding of zero, and where such a unit carries
weight, float32 and float64 give gradients that differ by its jump however exact both are (seen:
one latent in 16 of a 256-channel SN-ResNet at 2.8e-4, the others at 1e-6; PyTorch's own float32
meets the same on other latents). So a latent whose gradient differs by more than the tolerance is
examined: if nudging it by no more than float32's rounding (up to 1e-6 of its size, 48 random
nudges) moves the float64 gradient itself by at least half that difference, it sits at such a
kink and is reported, not failed; otherwise the check fails."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

from .errors import ExportError
from .modules import eval_copy

TOLERANCE = 1e-4
# Where ./build.sh leaves the CLI.
BUILT_CLI = Path(os.environ.get("DGFLOW_CACHE", Path.home() / ".cache" / "dgflow-web")) / "target" / "release" / "dgflow"


def find_dgflow(explicit=None):
    if explicit is not None and not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
        raise ExportError(f"dgflow={explicit} is not an executable file: give the path of the dgflow CLI")
    for candidate in (explicit, os.environ.get("DGFLOW"), shutil.which("dgflow"), BUILT_CLI):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ExportError(
        "the check needs the dgflow CLI and found none: run ./build.sh in the dgflow-web checkout "
        f"(it leaves the CLI at {BUILT_CLI}), or pass dgflow=PATH or set DGFLOW=PATH; "
        "check=False skips the check"
    )


NUDGE_SCALES = (1e-7, 3e-7, 1e-6)
NUDGES_PER_SCALE = 16


def float64_copies(generator, critics):
    """The modules in eval mode and float64, leaving the user's as they are."""
    return eval_copy(generator, torch.float64), [eval_copy(c, torch.float64) for c in critics]


def reference(generator, critics, latents, latent_shape):
    """Samples, summed logits and ∇_z of the logit through the PyTorch modules, in float64."""
    return _through(*float64_copies(generator, critics), latents, latent_shape)


def _through(generator, critics, latents, latent_shape):
    z = latents.clone().requires_grad_(True)
    samples = generator(z.reshape(len(z), *latent_shape))
    logits = sum(c(samples).reshape(len(z)) for c in critics)
    (gradient,) = torch.autograd.grad(logits.sum(), z)
    return {"samples": samples.detach().numpy(), "logits": logits.detach().numpy(), "gradient": gradient.numpy()}


def kink_movement(generator, critics, latent, latent_shape, gradient, scale):
    """How far the float64 gradient of one latent moves (relative to `scale`) under nudges no
    larger than float32's rounding: the most over NUDGE_SCALES × NUDGES_PER_SCALE random ones.
    `generator` and `critics` are float64 copies already."""
    draws = torch.Generator().manual_seed(7)
    size = float(latent.pow(2).mean().sqrt()) + 1e-12
    nudges = torch.cat([
        size * s * torch.randn(NUDGES_PER_SCALE, len(latent), generator=draws, dtype=torch.float64) for s in NUDGE_SCALES
    ])
    moved = _through(generator, critics, latent[None, :] + nudges, latent_shape)["gradient"]
    return float(np.abs(moved - gradient[None, :]).max() / scale)


def compare(bundle_dir, generator, critics, latents, latent_shape, dgflow=None):
    """{samples, logits, gradient}: the largest difference of each relative to its largest value
    (the gradient's over latents at no kink), `kinks`: [(latent, difference, movement)] of the
    latents at one, and `within`: whether all agree."""
    cli = find_dgflow(dgflow)
    expected = reference(generator, critics, latents, latent_shape)
    with tempfile.TemporaryDirectory() as tmp:
        latents_file, probe_file = Path(tmp) / "latents.npy", Path(tmp) / "probe.safetensors"
        np.save(latents_file, latents.numpy().astype(np.float32))
        run = subprocess.run(
            [cli, "probe", "--model", str(bundle_dir), "--latents", str(latents_file), "--out", str(probe_file)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise ExportError(f"dgflow could not read the exported bundle in {bundle_dir}: {run.stderr.strip()}")
        got = load_file(str(probe_file))
    return judge(expected, got, generator, critics, latents, latent_shape)


def judge(expected, got, generator, critics, latents, latent_shape):
    """compare()'s verdict on dgflow's `got` against the float64 `expected`."""
    relative = {}
    for key, want in expected.items():
        have = got[key].astype(np.float64).reshape(want.shape)
        relative[key] = np.abs(have - want).reshape(len(want), -1).max(axis=1) / max(np.abs(want).max(), 1e-30)
    result = {"samples": float(relative["samples"].max()), "logits": float(relative["logits"].max())}
    scale = max(np.abs(expected["gradient"]).max(), 1e-30)
    kinks = []
    outliers = np.flatnonzero(relative["gradient"] > TOLERANCE)
    if len(outliers):
        generator, critics = float64_copies(generator, critics)
    for i in outliers:
        movement = kink_movement(generator, critics, latents[i], latent_shape, expected["gradient"][i], scale)
        if movement >= relative["gradient"][i] / 2:
            kinks.append((int(i), float(relative["gradient"][i]), movement))
    at_kink = np.zeros(len(latents), bool)
    at_kink[[i for i, _, _ in kinks]] = True
    result["gradient"] = float(relative["gradient"][~at_kink].max(initial=0.0))
    result["kinks"] = kinks
    result["within"] = max(result["samples"], result["logits"], result["gradient"]) <= TOLERANCE
    return result


def report(result, n):
    verdict = "agree" if result["within"] else "DO NOT agree"
    parts = ", ".join(f"{k} {result[k]:.1e}" for k in ("samples", "logits", "gradient"))
    line = (
        f"check: {n} latents through PyTorch (float64) and dgflow probe {verdict} within {TOLERANCE:g} "
        f"(largest difference relative to the largest value): {parts}"
    )
    for i, difference, moved in result["kinks"]:
        line += (
            f"; latent {i}'s gradient differs by {difference:.1e}, but it sits at a ReLU kink: its "
            f"float64 gradient itself moves by {moved:.1e} under nudges of float32's rounding"
        )
    return result["within"], line
