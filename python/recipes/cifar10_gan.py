"""The bundled cifar10 model's recipe in PyTorch: the SN-DCGAN that `dgflow train cifar10` trains
(the same layers, names, loss and averaging), for machines where PyTorch is the faster trainer
(a GPU; bench/GPU.md), then exported with dgflow_export.

    python python/recipes/cifar10_gan.py train --out runs/c10 --init models/cifar10   # resumable
    python python/recipes/cifar10_gan.py fit-critic --out runs/c10
    python python/recipes/cifar10_gan.py export --out runs/c10 --bundle models/cifar10
    python python/recipes/cifar10_gan.py pack-data --to .device/cifar --batches 1,2   # for a GPU trip

A run's folder holds its checkpoint as three files (`state.pt`, `opt_g.pt`, `opt_d.pt`, each under
16 MB so that a GPU machine can send them back), the training log, and the critic fit's snapshots.
`--stop-after SECONDS` ends a run cleanly (checkpoint written) before a machine's time is up;
rerunning the same command continues it.

The data: the CIFAR-10 binary batches found in --data (`data_batch_N.bin`, or `.bin.xz` as
pack-data writes them to carry a subset), each checked against its SHA-256 in
shared/data/README.md; pixels to [-1, 1] as x/127.5 − 1, flipped left-right half of the time.
"""

import argparse
import copy
import csv
import hashlib
import lzma
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 128
RECORD = 3073  # a label byte, then 32×32 R, G and B planes
PIXELS = 3072
# shared/data/README.md's checksums of the five training batches.
BATCHES = {
    1: "960140f4c79a698ce0735627a3fe732e41ccc6449e4d63a0f9df01739c27a528",
    2: "a43033a717a66ce8fde40adb325b037d37f412d117dcd45b637feff49c4a0982",
    3: "de24c752f508e06affd14fec0dd4c001e3e196273faac9a9c5e3374c8277fbfd",
    4: "f92b9d79867fcf85ec8d5bd79ad14a2a5a2d27d84a70d224d414fdeb9622d496",
    5: "2d3267de4f40c6af0669762f61c7799496081a2b3a052f1922d8658bb7f80877",
}
# What src/train/average.rs uses: batches whose statistics become the averaged generator's
# running ones, and power iterations that settle an averaged critic's spectral-norm vectors.
STATISTICS_BATCHES = 16
SETTLE_ITERATIONS = 50
CHECKPOINT_FILES = ("state.pt", "opt_g.pt", "opt_d.pt")


# ---- data ----------------------------------------------------------------------------------


def batch_bytes(folder, number):
    """One training batch's bytes, from `data_batch_N.bin` or its `.bin.xz`; None if neither."""
    plain, packed = Path(folder) / f"data_batch_{number}.bin", Path(folder) / f"data_batch_{number}.bin.xz"
    if plain.is_file():
        raw = plain.read_bytes()
    elif packed.is_file():
        raw = lzma.decompress(packed.read_bytes())
    else:
        return None
    if hashlib.sha256(raw).hexdigest() != BATCHES[number]:
        raise SystemExit(f"{folder}'s batch {number} does not match its SHA-256 in shared/data/README.md: copy it again")
    return raw


def load_images(folder):
    """The training images of every batch in `folder`, `[n, 3, 32, 32]` uint8, and the batches used."""
    found = {n: raw for n in BATCHES if (raw := batch_bytes(folder, n)) is not None}
    if not found:
        raise SystemExit(
            f"{folder} holds no CIFAR-10 training batch (data_batch_1.bin … data_batch_5.bin, or .bin.xz): "
            "pass --data, the folder ../shared/data/cifar-10-batches-bin"
        )
    records = torch.frombuffer(bytearray(b"".join(found.values())), dtype=torch.uint8).view(-1, RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32).clone(), sorted(found)


def real_batch(images, batch, draws):
    """`batch` random training images in [-1, 1], each flipped left-right with probability ½."""
    index = torch.randint(len(images), (batch,), generator=draws, device=draws.device)
    x = images[index].float() / 127.5 - 1.0
    flip = torch.rand(batch, generator=draws, device=draws.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def pack_data(args):
    """Chosen training batches xz-compressed into a folder small enough to carry to a GPU machine
    (a batch is 30.7 MB, 21.6 MB packed)."""
    to = Path(args.to)
    to.mkdir(parents=True, exist_ok=True)
    for number in parse_batches(args.batches):
        raw = batch_bytes(args.data, number)
        if raw is None:
            raise SystemExit(f"{args.data} has no data_batch_{number}.bin: pass --data, the folder ../shared/data/cifar-10-batches-bin")
        (to / f"data_batch_{number}.bin.xz").write_bytes(lzma.compress(raw, preset=6))
        print(f"wrote {to / f'data_batch_{number}.bin.xz'}")


def parse_batches(text):
    try:
        numbers = [int(n) for n in text.split(",")]
    except ValueError:
        numbers = []
    if not numbers or any(n not in BATCHES for n in numbers):
        raise SystemExit(f"--batches {text!r}: give training batch numbers 1 to 5, comma-separated (e.g. 1,2)")
    return numbers


# ---- networks: dgflow's cifar10 architecture, layer for layer (models/cifar10/manifest.json) --


class Generator(nn.Module):
    """Linear → 8w×4×4, then three stride-2 transposed convolutions to w×32×32, each with batch
    norm and ReLU, a 3×3 convolution to RGB, tanh."""

    def __init__(self, width):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(LATENT, 8 * width * 16)
        self.bn0 = nn.BatchNorm2d(8 * width)
        self.up1, self.bn1 = nn.ConvTranspose2d(8 * width, 4 * width, 4, 2, 1), nn.BatchNorm2d(4 * width)
        self.up2, self.bn2 = nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width)
        self.up3, self.bn3 = nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, 3, 3, 1, 1)

    def forward(self, z):
        x = F.relu(self.bn0(self.fc(z).view(-1, 8 * self.width, 4, 4)))
        x = F.relu(self.bn1(self.up1(x)))
        x = F.relu(self.bn2(self.up2(x)))
        x = F.relu(self.bn3(self.up3(x)))
        return torch.tanh(self.out(x))


class Critic(nn.Module):
    """Miyato et al.'s SN-DCGAN discriminator at width w: seven spectrally normalised
    convolutions (3×3 stride 1, 4×4 stride 2 in turn), LeakyReLU 0.2, a linear layer to one logit."""

    LAYERS = [("conv1", 3, 1, 3, 1), ("conv2", 1, 1, 4, 2), ("conv3", 1, 2, 3, 1), ("conv4", 2, 2, 4, 2),
              ("conv5", 2, 4, 3, 1), ("conv6", 4, 4, 4, 2), ("conv7", 4, 8, 3, 1)]  # name, in ×w, out ×w, kernel, stride

    def __init__(self, width):
        super().__init__()
        self.width = width
        for name, cin, cout, kernel, stride in self.LAYERS:
            inputs = 3 if name == "conv1" else cin * width
            setattr(self, name, nn.utils.spectral_norm(nn.Conv2d(inputs, cout * width, kernel, stride, 1)))
        self.out = nn.utils.spectral_norm(nn.Linear(8 * width * 16, 1))

    def forward(self, x):
        for name, *_ in self.LAYERS:
            x = F.leaky_relu(getattr(self, name)(x), 0.2)
        return self.out(x.flatten(1))

    def spectral_layers(self):
        return [getattr(self, name) for name, *_ in self.LAYERS] + [self.out]


def initialise(module):
    """N(0, 0.02²) weights, zero biases: from PyTorch's default (He-like) initialisation this
    recipe collapsed, in our trainer as in PyTorch (models/cifar10/CARD.md)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


# ---- a bundle's networks as a starting point -----------------------------------------------


def bundle_tensors(bundle, file="weights.safetensors"):
    """A bundle's tensors in float32 (int8 values times their per-row scale)."""
    from safetensors.torch import load_file

    from dgflow_export.stored import dequantised

    path = Path(bundle) / file
    if not path.is_file():
        raise SystemExit(f"{path} is missing: --init takes a bundle folder such as models/cifar10")
    return dequantised(load_file(str(path)))


def load_generator(generator, tensors, where, prefix="generator."):
    """The generator's weights and batch-norm statistics from a bundle's tensors."""
    state = {}
    for key, value in generator.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif prefix + key in tensors:
            state[key] = tensors[prefix + key]
        else:
            raise SystemExit(f"{where} has no {prefix}{key}: not a network of this architecture (--width)")
    try:
        generator.load_state_dict(state)
    except RuntimeError as e:
        raise SystemExit(f"{where} does not fit --width {generator.width}: {e}") from None


def load_critic(critic, tensors, where, prefix="critic."):
    """A critic's unnormalised weights and spectral-norm vectors from a bundle's tensors."""
    state = {}
    for key in critic.state_dict():
        layer, field = key.rsplit(".", 1)
        source = {"weight_orig": "weight", "weight_u": "u", "bias": "bias"}.get(field)
        if source is None:  # weight_v: from W and u below
            continue
        if f"{prefix}{layer}.{source}" not in tensors:
            raise SystemExit(f"{where} has no {prefix}{layer}.{source}: not a network of this architecture (--width)")
        state[key] = tensors[f"{prefix}{layer}.{source}"]
    # The engine divides W by σ = ‖Wv‖, v = normalise(Wᵀu); PyTorch (in eval mode) by uᵀWv. With
    # u replaced by normalise(Wv) the two are the same number.
    for layer in [name for name, *_ in Critic.LAYERS] + ["out"]:
        w = state[f"{layer}.weight_orig"].flatten(1)
        v = F.normalize(w.t() @ state[f"{layer}.weight_u"], dim=0)
        state[f"{layer}.weight_u"], state[f"{layer}.weight_v"] = F.normalize(w @ v, dim=0), v
    try:
        critic.load_state_dict(state)
    except RuntimeError as e:
        raise SystemExit(f"{where} does not fit --width {critic.width}: {e}") from None


def load_bundle(generator, critic, bundle):
    """Both networks from a bundle of this architecture (`dgflow train cifar10` or this recipe's
    export): the generator's weights and batch-norm statistics, the critic's unnormalised weights
    and spectral-norm vectors."""
    tensors = bundle_tensors(bundle)
    load_generator(generator, tensors, bundle)
    load_critic(critic, tensors, bundle)


# ---- averaging (src/train/average.rs) ------------------------------------------------------


def update_average(average, model, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), model.parameters()):
            a.lerp_(p, 1 - decay)


@torch.no_grad()
def measure_statistics(generator, batch, device, seed=0):
    """The averaged generator's own batch-norm statistics: the running ones belong to the raw
    weights. Equal-weight means over fixed batches of latents; returns the generator in eval mode."""
    draws = torch.Generator(device=device).manual_seed(seed)
    for m in generator.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
    generator.train()
    for _ in range(STATISTICS_BATCHES):
        generator(torch.randn(batch, LATENT, generator=draws, device=device))
    for m in generator.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return generator.eval()


@torch.no_grad()
def settle_spectral_vectors(critic):
    """Power iterations on an averaged critic's weights, so its u and v belong to them."""
    for layer in critic.spectral_layers():
        w, u = layer.weight_orig.flatten(1), layer.weight_u
        for _ in range(SETTLE_ITERATIONS):
            v = F.normalize(w.t() @ u, dim=0)
            u = F.normalize(w @ v, dim=0)
        layer.weight_u.copy_(u)
        layer.weight_v.copy_(F.normalize(w.t() @ u, dim=0))


# ---- training ------------------------------------------------------------------------------


def critic_step(critic, opt, generator, images, batch, draws):
    """One step of the logistic loss, real images against the generator's: (loss, real logits,
    generated logits)."""
    real = real_batch(images, batch, draws)
    with torch.no_grad():
        fake = generator(torch.randn(batch, LATENT, generator=draws, device=draws.device))
    logit_real, logit_fake = critic(real), critic(fake)
    loss = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logit_real, logit_fake


def config(args):
    return {k: getattr(args, k) for k in ("width", "batch", "lr", "lr_critic", "beta2", "critic_steps", "init", "seed", "average", "average_from")}


def save_checkpoint(folder, state, opt_g, opt_d):
    for name, value in zip(CHECKPOINT_FILES, (state, opt_g.state_dict(), opt_d.state_dict())):
        torch.save(value, folder / f"{name}.tmp")
    for name in CHECKPOINT_FILES:
        (folder / f"{name}.tmp").replace(folder / name)


def train(args):
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    torch.set_num_threads(args.threads)
    images, used = load_images(args.data)
    images = images.to(device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    generator, critic = Generator(args.width).to(device), Critic(args.width).to(device)
    initialise(generator)
    initialise(critic)
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, args.beta2))
    opt_d = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(0.5, args.beta2))
    draws = torch.Generator(device=device).manual_seed(args.seed)
    start = 0
    if (out / "state.pt").exists():
        state = torch.load(out / "state.pt", map_location=device)
        if state["config"] != config(args):
            raise SystemExit(f"{out / 'state.pt'} was written with {state['config']}; pass the same flags or another --out")
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_g.load_state_dict(torch.load(out / "opt_g.pt", map_location=device))
        opt_d.load_state_dict(torch.load(out / "opt_d.pt", map_location=device))
        draws.set_state(state["draws"])
        start = state["iteration"]
        average = copy.deepcopy(generator)
        average.load_state_dict(state["average"])
        print(f"resumed at iteration {start}")
    else:
        if args.init:
            load_bundle(generator, critic, args.init)
        average = copy.deepcopy(generator)
    print(f"{len(images)} training images (batches {', '.join(map(str, used))}) on {device}", flush=True)
    log_path = out / "training-log.csv"
    new_log = not log_path.exists() or start == 0
    began = time.time()
    with open(log_path, "w" if new_log else "a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["iteration", "critic_loss", "generator_loss", "logit_real", "logit_generated", "seconds"])
        it = start
        while it < args.iterations:
            it += 1
            for _ in range(args.critic_steps):
                loss_d, logit_real, logit_fake = critic_step(critic, opt_d, generator, images, args.batch, draws)
            loss_g = F.softplus(-critic(generator(torch.randn(args.batch, LATENT, generator=draws, device=device)))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            update_average(average, generator, args.average if it > args.average_from else 0.0)
            out_of_time = args.stop_after is not None and time.time() - began > args.stop_after
            if it % args.every == 0 or it == args.iterations or out_of_time:
                seconds = time.time() - began
                row = [loss_d.item(), loss_g.item(), logit_real.mean().item(), logit_fake.mean().item()]
                log.writerow([it] + [f"{x:.4f}" for x in row] + [f"{seconds:.0f}"])
                log_file.flush()
                print(f"{it}: critic {row[0]:.3f} generator {row[1]:.3f} d(real) {row[2]:.2f} d(generated) {row[3]:.2f} ({seconds:.0f} s)", flush=True)
                state = {
                    "config": config(args), "iteration": it, "generator": generator.state_dict(),
                    "critic": critic.state_dict(), "average": average.state_dict(), "draws": draws.get_state(),
                }
                save_checkpoint(out, state, opt_g, opt_d)
            if out_of_time:
                print(f"stopped after {args.stop_after} s at iteration {it}; the same command continues the run")
                break


def load_run(out, device):
    state_path = Path(out) / "state.pt"
    if not state_path.exists():
        raise SystemExit(f"{state_path} is missing: run `train --out {out}` first")
    state = torch.load(state_path, map_location=device)
    width = state["config"]["width"]
    generator, critic = Generator(width).to(device), Critic(width).to(device)
    generator.load_state_dict(state["average"])
    critic.load_state_dict(state["critic"])
    return state, generator, critic


def fitted(out, step):
    """The fit's averaged critic after `step` steps."""
    return Path(out) / f"critic-fit-{step}.pt"


def fit_critic(args):
    """The critic alone, with the logistic loss, against the averaged generator that ships (its
    statistics measured anew, in inference mode): DGflow needs d ≈ log p_data/p_G for that
    generator, and the training critic judged the raw iterates. The shipped critic is the
    average of the fit's iterates, its spectral-norm vectors settled for the averaged weights."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    images, _ = load_images(args.data)
    images = images.to(device)
    state, generator, critic = load_run(args.out, device)
    generator = measure_statistics(generator, args.batch, device)
    for p in generator.parameters():
        p.requires_grad_(False)
    average = copy.deepcopy(critic)
    opt = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(0.5, args.beta2))
    draws = torch.Generator(device=device).manual_seed(args.seed + 1000)
    out = Path(args.out)
    with open(out / "critic-fit-log.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss", "logit_real", "logit_generated"])
        for step in range(1, args.fit_steps + 1):
            loss, logit_real, logit_fake = critic_step(critic, opt, generator, images, args.batch, draws)
            update_average(average, critic, args.fit_average)
            if step % args.every == 0 or step == args.fit_steps:
                log.writerow([step, f"{loss.item():.4f}", f"{logit_real.mean().item():.3f}", f"{logit_fake.mean().item():.3f}"])
                log_file.flush()
                print(f"fit {step}: loss {loss.item():.3f} d(real) {logit_real.mean().item():.2f} d(generated) {logit_fake.mean().item():.2f}", flush=True)
                snapshot = copy.deepcopy(average)
                settle_spectral_vectors(snapshot)
                fit = {"fit_steps": step, "fit_average": args.fit_average, "lr_critic": args.lr_critic, "seed": args.seed}
                torch.save({"config": state["config"], "iteration": state["iteration"], "fit": fit, "critic": snapshot.state_dict()}, fitted(out, step))


def export_bundle(args):
    """The averaged generator (statistics measured anew) and the fitted critic as a bundle:
    exported in f32 and checked against these modules, then int8 for the page and calibrated."""
    from dgflow_export import export
    from dgflow_export.check import find_dgflow
    from dgflow_export.finish import finish

    device = torch.device("cpu")
    state, generator, _ = load_run(args.out, device)
    snapshot = fitted(args.out, args.fit_steps)
    if not snapshot.exists():
        raise SystemExit(f"{snapshot} is missing: run fit-critic with --fit-steps at least {args.fit_steps} and --every dividing it")
    fit = torch.load(snapshot, map_location=device)
    c = state["config"]
    critic = Critic(c["width"])
    critic.load_state_dict(fit["critic"])
    generator = measure_statistics(generator, c["batch"], device)
    dgflow = find_dgflow(args.dgflow)
    start = f"from {c['init']}'s networks, " if c["init"] else ""
    result = export(
        generator,
        critic.eval(),
        args.bundle,
        name=Path(args.bundle).name,
        latent_dim=LATENT,
        value_range=(-1.0, 1.0),
        description=f"SN-DCGAN on CIFAR-10 (32×32 RGB), channel width {c['width']} (64 is Miyato et al.'s)",
        trained_by=f"python/recipes/cifar10_gan.py (this repository), {state['iteration']} iterations {start}then {fit['fit']['fit_steps']} critic steps fitted to the averaged generator",
        data="CIFAR-10 training set, random left-right flips",
        recipe=(
            f"non-saturating (logistic) loss, spectral-norm critic, {c['critic_steps']} critic steps per generator step, "
            f"Adam lr {c['lr']} (critic {c['lr_critic']}) betas (0.5, {c['beta2']}), batch {c['batch']}, seed {c['seed']}; "
            f"the generator's weights averaged (decay {c['average']}) with batch-norm statistics measured anew; then the critic "
            f"alone against that average, its weights averaged (decay {fit['fit']['fit_average']}); stored as int8 by `dgflow pack`"
        ),
        notes="Trained in PyTorch; the critic's logit estimates log p_data/p_G, as DGflow needs.",
        dgflow=dgflow,
    )
    finish(result, args.bundle, dgflow, "int8", "python python/recipes/cifar10_gan.py export")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["train", "fit-critic", "export", "pack-data"])
    parser.add_argument("--out", help="train, fit-critic, export: the run's folder (checkpoint, logs)")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared/data/cifar-10-batches-bin"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, …")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init", help="train: a cifar10 bundle whose networks to start from (e.g. models/cifar10)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--lr-critic", type=float, default=4e-4)
    parser.add_argument("--beta2", type=float, default=0.999)
    parser.add_argument("--critic-steps", type=int, default=1)
    parser.add_argument("--average", type=float, default=0.999, help="decay of the generator's weight average")
    parser.add_argument("--average-from", type=int, default=0, help="iteration after which the average starts to lag")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--stop-after", type=float, help="train: stop cleanly after this many seconds (checkpoint written)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--fit-steps", type=int, default=800, help="fit-critic: critic steps; export: the fit's snapshot to ship")
    parser.add_argument("--fit-average", type=float, default=0.99, help="fit-critic: decay of the critic's weight average")
    parser.add_argument("--bundle", help="export: the bundle folder to write (its name is the model's)")
    parser.add_argument("--dgflow", help="export: the dgflow CLI (default: found as the exporter finds it)")
    parser.add_argument("--to", help="pack-data: the folder to write")
    parser.add_argument("--batches", default="1,2", help="pack-data: which training batches (1-5)")
    args = parser.parse_args()
    if args.command == "pack-data":
        if not args.to:
            parser.error("pack-data needs --to FOLDER")
    elif not args.out:
        parser.error(f"{args.command} needs --out FOLDER (the run's)")
    if args.command == "export" and not args.bundle:
        parser.error("export needs --bundle FOLDER")
    for flag in ("lr", "lr_critic", "batch", "iterations", "every", "fit_steps", "width", "threads"):
        if not getattr(args, flag) > 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive")
    if not 0 <= args.average < 1 or not 0 <= args.fit_average < 1:
        parser.error("--average and --fit-average are decays in [0, 1)")
    {"train": train, "fit-critic": fit_critic, "export": export_bundle, "pack-data": pack_data}[args.command](args)


if __name__ == "__main__":
    main()
