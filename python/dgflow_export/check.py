"""The exporter's check of its own output: the same latents through the PyTorch modules (in
float64) and through `dgflow probe` on the written bundle; samples, logits and ∇_z of the logit
must agree within 1e-4, relative to the largest value of each."""

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
BUILT_CLI = Path.home() / ".cache" / "dgflow-web" / "target" / "release" / "dgflow"


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


def reference(generator, critics, latents, latent_shape):
    """Samples, summed logits and ∇_z of the logit through the PyTorch modules, in float64."""
    generator = eval_copy(generator, torch.float64)
    critics = [eval_copy(c, torch.float64) for c in critics]
    z = latents.clone().requires_grad_(True)
    samples = generator(z.reshape(len(z), *latent_shape))
    logits = sum(c(samples).reshape(len(z)) for c in critics)
    (gradient,) = torch.autograd.grad(logits.sum(), z)
    return {"samples": samples.detach().numpy(), "logits": logits.detach().numpy(), "gradient": gradient.numpy()}


def compare(bundle_dir, generator, critics, latents, latent_shape, dgflow=None):
    """The largest difference of each quantity relative to its largest value; raises if one exceeds
    TOLERANCE."""
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
    differences = {}
    for key, want in expected.items():
        have = got[key].astype(np.float64).reshape(want.shape)
        differences[key] = float(np.abs(have - want).max() / max(np.abs(want).max(), 1e-30))
    return differences


def report(differences, n):
    within = all(d <= TOLERANCE for d in differences.values())
    parts = ", ".join(f"{k} {v:.1e}" for k, v in differences.items())
    verdict = "agree" if within else "DO NOT agree"
    return within, (
        f"check: {n} latents through PyTorch (float64) and dgflow probe {verdict} within {TOLERANCE:g} "
        f"(largest difference relative to the largest value): {parts}"
    )
