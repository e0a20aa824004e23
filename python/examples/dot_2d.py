"""The DOT paper's 2D WGAN-GP models (Tanaka 2019, github.com/AkinoriTanaka-phys/DOT, MIT licence)
as dgflow-web bundles, through the exporter: the Chainer weights (`trained_models/*.npz`) loaded
into the same MLPs in PyTorch, then exported and checked.

    python python/examples/dot_2d.py DOT/trained_models models/

writes models/dot-25gaussians and models/dot-swissroll: exported in f32 and checked against
PyTorch (the check's line goes to EXPORT.md, which the card quotes), then stored as f16 with
`dgflow pack` (1.3 MB each) and calibrated for MH-GAN with `dgflow calibrate`.
The networks, as the DOT repository's model.py and demo_2d.ipynb build them: generator
2 → 256 → 256 → 256 → 2, critic 2 → 512 → 512 → 512 → 1, Chainer's leaky ReLU (slope 0.2) between
layers and no output activation; latents uniform(−1, 1)². The critic is a WGAN-GP critic: its
value is not a log density ratio, but the official DGflow code uses it directly as d for these
models, and so do we.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dgflow_export import Uniform, export
from dgflow_export.check import find_dgflow
from dgflow_export.finish import finish

TOYS = {
    "25gaussians": "the 25 Gaussians (5×5 grid at {−4, −2, 0, 2, 4}², σ = 0.05, scaled by 1/2.828)",
    "swissroll": "the Swiss roll (sklearn, noise 0.25, columns x and z, divided by 7.5)",
}
SOURCE = "github.com/AkinoriTanaka-phys/DOT (commit d748a3e), trained_models/G_{toy}_WGAN-GP.npz and D_{toy}_WGAN-GP.npz"


def mlp(widths):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.LeakyReLU(0.2))  # Chainer's F.leaky_relu default slope
    return nn.Sequential(*layers)


def load(module, npz, names):
    """Chainer's L.Linear keeps W as [out, in], as PyTorch does."""
    weights = np.load(npz)
    linears = [m for m in module if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, name in zip(linears, names):
            linear.weight.copy_(torch.from_numpy(weights[f"{name}/W"]))
            linear.bias.copy_(torch.from_numpy(weights[f"{name}/b"]))
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trained_models", type=Path, help="the DOT repository's trained_models folder")
    parser.add_argument("out", type=Path, help="where the bundle folders go (e.g. models/)")
    parser.add_argument("--dgflow", help="the dgflow CLI for the check (default: found as the exporter finds it)")
    args = parser.parse_args()
    dgflow = find_dgflow(args.dgflow)
    for toy, data in TOYS.items():
        generator = load(mlp([2, 256, 256, 256, 2]), args.trained_models / f"G_{toy}_WGAN-GP.npz", ["l0", "l1", "l2", "l4"])
        critic = load(mlp([2, 512, 512, 512, 1]), args.trained_models / f"D_{toy}_WGAN-GP.npz", ["l1", "l2", "l3", "l4"])
        out = args.out / f"dot-{toy}"
        result = export(
            generator,
            critic,
            out,
            name=f"dot-{toy}",
            latent_dim=2,
            prior=Uniform(-1.0, 1.0),
            value_range=(-2.0, 2.0),
            toy=toy,
            description=f"The DOT paper's WGAN-GP on {toy} (Tanaka 2019): the 2D base model of DGflow's own experiments",
            trained_by="Akinori Tanaka, for Discriminator Optimal Transport (NeurIPS 2019); MIT licence, Copyright (c) 2019 AkinoriTanaka-phys",
            data=data,
            recipe=f"{SOURCE.format(toy=toy)}, converted by python/examples/dot_2d.py, stored as f16 by `dgflow pack --encoding f16`",
            notes="A WGAN-GP critic, used directly as d as the official DGflow code does for these models (its value is not a log density ratio).",
            # The page's default step: chosen on seed 0 (2,000 samples; η = 0.1, 0.03, 0.01 at
            # 25 steps, the cards show the evidence). At the official code's η = 0.1 this WGAN
            # critic's flow overshoots: most latents leave the prior's box and the mass collapses.
            recommended=(0.01, 0.01),
            dgflow=dgflow,
        )
        finish(result, out, dgflow, "f16", "python python/examples/dot_2d.py")


if __name__ == "__main__":
    main()
