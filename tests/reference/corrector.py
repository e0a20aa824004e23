"""What each part of a VAE bundle's critic (d = D + C: the borrowed discriminator and the corrector)
contributes to DGflow's drift at the base model's samples, in PyTorch on the bundles' networks
(tests/reference/dgflow_torch.py): each part's mean logit, the mean norm of its gradient with
respect to the latents, the cosine between the two gradients, and each corrector's cosine with
the first bundle's. Bundles given together should share the generator (the same VAE with other
critics or correctors), so the latents are the same samples.

    python tests/reference/corrector.py models/cifar10-vae OTHER_BUNDLE … --seeds 1,2,3 --out models/cifar10-vae/GRADIENTS.md
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from dgflow_torch import build_model, load_bundle  # noqa: E402
from tables import write_table  # noqa: E402


def gradients(generator, part, z):
    """The part's logits at G(z) and its gradient with respect to z."""
    z = z.detach().requires_grad_(True)
    logits = part(generator(z))
    (grad,) = torch.autograd.grad(logits.sum(), z)
    return logits.detach().flatten(), grad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+", help="VAE bundles (a generator, a critic and one critic term)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--out")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    models = []
    for bundle in args.bundles:
        manifest, weights = load_bundle(bundle)
        if len(manifest.get("critic_terms", [])) != 1:
            raise SystemExit(f"{bundle}: not a critic with one corrector term (critic_terms)")
        generator, critic = build_model(manifest, weights)
        models.append((bundle, manifest, generator, critic.parts))
    dim = models[0][1]["latent"]["dim"]
    rows = {bundle: [] for bundle in args.bundles}
    for seed in seeds:
        z = torch.randn(args.samples, dim, generator=torch.Generator().manual_seed(seed))
        first_corrector = None
        for bundle, _, generator, (borrowed, corrector) in models:
            d_logit, d_grad = gradients(generator, borrowed, z)
            c_logit, c_grad = gradients(generator, corrector, z)
            first_corrector = c_grad if first_corrector is None else first_corrector
            cos = torch.nn.functional.cosine_similarity
            rows[bundle].append([
                float(d_logit.mean()), float(d_grad.norm(dim=1).mean()),
                float(c_logit.mean()), float(c_grad.norm(dim=1).mean()),
                float(cos(d_grad, c_grad, dim=1).mean()), float(cos(c_grad, first_corrector, dim=1).mean()),
            ])
    metrics = ["D mean logit", "‖∇z D‖", "C mean logit", "‖∇z C‖", "cos(∇D, ∇C)", "cos(∇C, first ∇C)"]
    heading = (
        f"Written by `python tests/reference/corrector.py {' '.join(args.bundles)} --seeds {args.seeds} --samples {args.samples}`"
        f" (PyTorch {torch.__version__}, float32): at {args.samples} base samples per seed, mean ± sd over seeds {args.seeds};"
        " norms are per sample, means over samples."
    )
    write_table(heading, "bundle", metrics, rows, args.out)

if __name__ == "__main__":
    main()
