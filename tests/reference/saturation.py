"""Where the refined CIFAR-10 samples' over-saturated colours come from (issue 40): DGflow-KL at
the page's settings, against variants that each remove one suspect, in PyTorch on the bundle's
networks (tests/reference/dgflow_torch.py).

    python tests/reference/saturation.py models/cifar10 --data ../shared/data --seeds 1,2,3 --out models/cifar10/SATURATION.md

Suspects: the latents' norm, which grows over the steps (the noise alone adds 2ηγ·d to ‖z‖² per
step), and the critic's gradient itself. Variants: the flow as it is; the flow with each step's
latents scaled back to their starting norm (removes the growth); the noise alone (no drift: the
growth without the critic); the drift alone (γ = 0); smaller steps. A value is "saturated" when
it is within 0.02 of the ends of [−1, 1] (after the tanh), counted per colour channel; real test
images, scaled to [−1, 1] the same way, say what the data has.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from dgflow_torch import build_model, load_bundle  # noqa: E402
from tables import write_table  # noqa: E402

SATURATED = 0.98


def flow(generator, critic, z, eta, gamma, steps, seed, keep_norm=False, drift=True):
    """DGflow-KL (s = 1): z ← z + η∇z d(G(z)) + √(2ηγ) ξ. Returns the last latents."""
    noise = torch.Generator().manual_seed(seed + 1)
    start_norm = z.norm(dim=1, keepdim=True)
    for _ in range(steps):
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(generator(z)).sum(), z)
        step = eta * grad if drift else torch.zeros_like(z)
        z = z.detach() + step + (2 * eta * gamma) ** 0.5 * torch.randn(z.shape, generator=noise)
        if keep_norm:
            z = z * (start_norm / z.norm(dim=1, keepdim=True))
    return z.detach()


def measure(generator, critic, z):
    with torch.no_grad():
        return of_images(generator(z), critic)


def of_images(x, critic):
    """[n, 3, h, w] in [−1, 1]: the saturated share, each channel's mean, the critic's mean logit."""
    with torch.no_grad():
        red, green, blue = (float(x[:, c].mean()) for c in range(3))
        return {
            "saturated %": 100.0 * float((x.abs() >= SATURATED).float().mean()),
            "mean R": red,
            "mean G": green,
            "mean B": blue,
            "mean logit": float(critic(x).mean()),
        }


def real_images(data, n, seed):
    """`n` CIFAR-10 test images (a disjoint stretch per seed), as [n, 3, 32, 32] in [−1, 1]."""
    path = Path(data) / "cifar-10-batches-bin" / "test_batch.bin"
    if not path.is_file():
        sys.exit(f"{path} is missing: pass --data (or set DGFLOW_DATA) to the shared data folder")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    pixels = raw[seed * n:(seed + 1) * n, 1:].astype(np.float32) / 127.5 - 1
    return torch.from_numpy(pixels.reshape(-1, 3, 32, 32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--data", default=os.environ.get("DGFLOW_DATA", "../shared/data"),
                        help="the shared data folder (CIFAR-10's test batch); as the CLI, $DGFLOW_DATA by default")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    manifest, weights = load_bundle(args.bundle)
    generator, critic = build_model(manifest, weights)
    dim = manifest["latent"]["dim"]
    variants = [
        ("the flow (η = 0.1, γ = 0.01)", dict(eta=0.1, gamma=0.01)),
        ("the flow, latents kept at their starting norm", dict(eta=0.1, gamma=0.01, keep_norm=True)),
        ("the noise alone (no drift, η = 0.1, γ = 0.01)", dict(eta=0.1, gamma=0.01, drift=False)),
        ("the drift alone (γ = 0)", dict(eta=0.1, gamma=0.0)),
        ("the flow at η = 0.05", dict(eta=0.05, gamma=0.01)),
        ("the flow at η = 0.02", dict(eta=0.02, gamma=0.01)),
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {}
    for seed in seeds:
        z0 = torch.randn(args.samples, dim, generator=torch.Generator().manual_seed(seed))
        real = of_images(real_images(args.data, args.samples, seed), critic)
        rows.setdefault("real test images (not latents)", []).append({**real, "norm growth %": float("nan")})
        base = measure(generator, critic, z0)
        rows.setdefault("base samples (step 0)", []).append({**base, "norm growth %": 0.0})
        for name, settings in variants:
            z = flow(generator, critic, z0, steps=25, seed=seed, **settings)
            growth = 100.0 * float((z.norm(dim=1) / z0.norm(dim=1)).mean() - 1)
            rows.setdefault(name, []).append({**measure(generator, critic, z), "norm growth %": growth})
    metrics = ["saturated %", "mean R", "mean G", "mean B", "norm growth %", "mean logit"]
    heading = (
        f"Written by `python tests/reference/saturation.py {args.bundle} --seeds {args.seeds} --samples {args.samples}`"
        f" (PyTorch {torch.__version__}, float32): {args.samples} samples per seed, 25 steps of DGflow-KL;"
        f" mean ± sd over seeds {args.seeds}. Saturated: a colour value within {1 - SATURATED:.2f} of ±1."
    )
    table = {name: [[r[m] for m in metrics] for r in per_seed] for name, per_seed in rows.items()}
    write_table(heading, "latents", metrics, table, args.out)

if __name__ == "__main__":
    main()
