"""PyTorch timings on a bundle's weights (CPU, or CUDA where told), the reference column of `dgflow bench`.

    python bench.py refine BUNDLE --batch 64 --steps 10 [--config eager|baked|compiled] [--threads 2] [--device cuda]
    python bench.py train-cifar10 BUNDLE --batch 64 --iterations 5 [--device cuda]
    python bench.py layers BUNDLE --batch 64 --steps 10

Prints one JSON line: {"ms_per_step": …} (refine), {"images_per_s": …} (train) or {"layers": [{"forward_ms",
"step_ms"}, …]} (each layer of G, then of D, alone: forward, and forward with the input gradient). The work timed is
what the engine does: for refinement, a DGflow step = G forward, D forward, backward to z only (no
weight gradients); for training, one critic and one generator Adam step of the SN-DCGAN recipe.
Every time is the median of `--steps` calls, each timed alone, after two untimed calls, as
`dgflow bench` times its own side. `--config` tries PyTorch's faster configurations for
refinement: `baked` computes each spectral norm once into its weight (eager recomputes
W/σ(W) on every forward), `compiled` runs the networks under `torch.compile` (its compilation
falls in the untimed calls).
"""

import argparse
import json
import math
import statistics
import time

import torch

from dgflow_torch import Network, build_model, load_bundle


def synchronize(device):
    """Waits for queued GPU work, so that the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def refine_ms_per_step(generator, critic, latent, batch, steps, device, eta=0.1, gamma=0.01):
    for p in list(generator.parameters()) + list(critic.parameters()):
        p.requires_grad_(False)
    g = torch.Generator(device).manual_seed(0)
    z = torch.randn(batch, latent, generator=g, device=device)

    def step(z):
        z = z.detach().requires_grad_(True)
        d = critic(generator(z)).squeeze(1)
        (grad,) = torch.autograd.grad(d.sum(), z)
        return z.detach() + eta * grad + math.sqrt(2 * eta * gamma) * torch.randn(z.shape, generator=g, device=device)

    def advance():
        nonlocal z
        z = step(z)

    return time_ms(advance, steps, device)


def layer_timings(generator, critic, latent, batch, steps, device):
    """Each layer alone, on random normal input of the shape it gets inside the network (as
    `dgflow bench --profile` times it)."""
    for p in list(generator.parameters()) + list(critic.parameters()):
        p.requires_grad_(False)
    g = torch.Generator(device).manual_seed(0)
    timings = []
    for network, x in ((generator, torch.randn(batch, latent, generator=g, device=device)),
                       (critic, torch.randn(batch, math.prod(critic.input_shape), generator=g, device=device))):
        x = x.reshape(batch, *network.input_shape)
        for layer in network.body:
            def forward(layer=layer, x=x):
                with torch.no_grad():
                    layer(x)

            def with_grad(layer=layer, x=x):
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(layer(x).sum(), x)
                return grad

            timings.append({"forward_ms": time_ms(forward, steps, device), "step_ms": time_ms(with_grad, steps, device)})
            with torch.no_grad():
                x = torch.randn_like(layer(x))
    return timings


WARM_UP = 2


def time_ms(run, steps, device):
    """Median ms of `steps` calls of `run`, each timed alone, after WARM_UP untimed calls
    (first-call allocations, compilation); queued GPU work is waited for on both sides of each
    clock."""
    for _ in range(WARM_UP):
        run()
    synchronize(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def configure(generator, critic, config):
    """The networks as `config` runs them (see the module's docs)."""
    if config == "baked":
        for network in (generator, critic):
            for module in list(network.modules()):
                if hasattr(module, "weight_orig"):
                    torch.nn.utils.remove_spectral_norm(module)
    elif config == "compiled":
        generator, critic = torch.compile(generator), torch.compile(critic)
    return generator, critic


def train_images_per_s(manifest, weights, batch, iterations, device):
    latent = manifest["latent"]["dim"]
    generator = Network(manifest["generator"], [latent])
    critic = Network(manifest["critic"], manifest["sample_shape"])
    generator.load("generator", weights)
    critic.load("critic", weights)
    generator.to(device)
    critic.to(device)
    generator.train()
    critic.train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    sp = torch.nn.functional.softplus
    g = torch.Generator(device).manual_seed(0)
    real = torch.rand(batch, math.prod(manifest["sample_shape"]), generator=g, device=device) * 2 - 1

    def iteration():
        with torch.no_grad():
            fake = generator(torch.randn(batch, latent, generator=g, device=device))
        d = critic(torch.cat([real, fake])).squeeze(1)
        loss_d = sp(-d[:batch]).mean() + sp(d[batch:]).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = sp(-critic(generator(torch.randn(batch, latent, generator=g, device=device)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return batch / (time_ms(iteration, iterations, device) * 1e-3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["refine", "train-cifar10", "layers"])
    parser.add_argument("bundle")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda where PyTorch sees a GPU")
    parser.add_argument("--config", choices=["eager", "baked", "compiled"], default="eager", help="refine: how PyTorch runs the networks")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    manifest, weights = load_bundle(args.bundle)
    if args.task == "refine":
        generator, critic = (network.to(device) for network in build_model(manifest, weights))
        generator, critic = configure(generator, critic, args.config)
        ms = refine_ms_per_step(generator, critic, manifest["latent"]["dim"], args.batch, args.steps, device)
        print(json.dumps({"ms_per_step": ms, "config": args.config, "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}))
    elif args.task == "layers":
        generator, critic = (network.to(device) for network in build_model(manifest, weights))
        timings = layer_timings(generator, critic, manifest["latent"]["dim"], args.batch, args.steps, device)
        print(json.dumps({"layers": timings, "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}))
    else:
        ips = train_images_per_s(manifest, weights, args.batch, args.iterations, device)
        print(json.dumps({"images_per_s": ips, "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
