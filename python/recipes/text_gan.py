"""The bundled text model's recipe: WGAN-GP's language GAN (Gulrajani et al. 2017) trained in
PyTorch, its critic refitted with the logistic loss so that d ≈ log p_data/p_G (what DGflow
needs), then exported with dgflow_export.

    python python/recipes/text_gan.py train --out runs/text      # resumable: runs/text/checkpoint.pt
    python python/recipes/text_gan.py fit-critic --out runs/text
    python python/recipes/text_gan.py export --out runs/text --bundle models/text
    python python/recipes/text_gan.py words refined.txt          # how many generated words are real

The data and vocabulary are the ones `dgflow train text` reads (src/data/text.rs): the first 32
characters of every line of at least 32 characters of the shared text corpus, every 7th line of
each file held out, 64 symbols (the 63 most frequent characters and �).

Why PyTorch: the WGAN-GP critic needs the gradient of a gradient (its penalty), which our
first-order autodiff cannot train, and PyTorch's CPU kernels run these 1D convolutions many
times faster than our training loop on the project's 2-core machine.
"""

import argparse
import csv
import hashlib
import math
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

LENGTH = 32
VOCAB_SIZE = 64
UNKNOWN = "\ufffd"
HELD_OUT_EVERY = 7
LATENT = 128
RESIDUAL_SCALE = 0.3
MONITOR_SAMPLES = 2000

# The files of ../shared/data/text in the order src/data/text.rs reads them, with their SHA-256.
FILES = [
    ("billion-word-heldout/1b_benchmark.dev.tokens", "17cb1e765cc0ccbf2b25d6dfd5e7d03bc776882e579e77ed9626d65eb3bbdec7"),
    ("billion-word-heldout/1b_benchmark.test.tokens", "63c566dee364763db09e6bb9abd83f77830c4932fc852bf2f9a563b527654fd0"),
    ("gutenberg-nltk-tokenized/austen-emma.txt", "76a28c636265905bcf72712d80d1c6e773e55279b919b843825cb2770b99e59e"),
    ("gutenberg-nltk-tokenized/austen-persuasion.txt", "8e3cd75843eae6578c0b8f48350615ed653910b3f645e514391e07ba5eb2e40c"),
    ("gutenberg-nltk-tokenized/austen-sense.txt", "22327c09d537811b7f15006aaad69ad25d98b8c5f2a6fb0203ec13e9f3982d84"),
    ("gutenberg-nltk-tokenized/blake-poems.txt", "160dc526b20d661fa5b86b31dda98b1e869e6a6eadf258b99108d43ed09c961d"),
    ("gutenberg-nltk-tokenized/bryant-stories.txt", "957ece2242697855a68d6a0216a0c6443dab7ed2d17da3f86e379035b849fca2"),
    ("gutenberg-nltk-tokenized/burgess-busterbrown.txt", "4e4242a7c5c7e0703ea9b9daa1b6b61e7cafca902748a4be64d9ec9b55b09c6a"),
    ("gutenberg-nltk-tokenized/carroll-alice.txt", "b430be55ff4362199591ff6958afbcd0dc4e1a28d0d9c6796b780c207d7c8760"),
    ("gutenberg-nltk-tokenized/chesterton-ball.txt", "e21f058f0cbf7c14189c973006ba214b90c733d581ca0fc69b99e3d75b068445"),
    ("gutenberg-nltk-tokenized/chesterton-brown.txt", "db337dcffb50771b2415b69a2775d372578804e65f8fdec6e53c096b95d95e99"),
    ("gutenberg-nltk-tokenized/chesterton-thursday.txt", "10e1acb6c64ba4d2ca89697c7bf923798797f5c24f139b6e451b5b7d6d7482d0"),
    ("gutenberg-nltk-tokenized/edgeworth-parents.txt", "bd9bc2cfaadf7acbffa8dd63569041624a659cf753e5d8d31c7300c1c004f297"),
    ("gutenberg-nltk-tokenized/melville-moby_dick.txt", "07fb87e563dbbe9523179e9ba2ec00dcd0e293641dbfd3db25d2f915430d3d8b"),
    ("gutenberg-nltk-tokenized/milton-paradise.txt", "85c5b1cfe49474f4c19c54b8f997b839f16253ed282a86c93d56542e196ece05"),
    ("gutenberg-nltk-tokenized/shakespeare-caesar.txt", "36b5d937cbfe110de7720277d819e1cc41cf9ddb053b97a26d9df67f31c94200"),
    ("gutenberg-nltk-tokenized/shakespeare-hamlet.txt", "6d06298ee6448bd48a2250ee00a4a2d9a9e4487a46c75ee22271ccfc0cf3d6ef"),
    ("gutenberg-nltk-tokenized/shakespeare-macbeth.txt", "444ea649552ad86fbb74b0926f8a3f888264a04e30308191afa544f51e607976"),
    ("gutenberg-nltk-tokenized/whitman-leaves.txt", "802545502fcc24ef7ad48ec1e61db70fd7b4002662cf6d0a05a4619052cae83d"),
]


# ---- data ----------------------------------------------------------------------------------


def load_corpus(folder):
    """(training lines, held-out lines): src/data/text.rs's split, file by file."""
    train, held_out = [], []
    for name, sha256 in FILES:
        path = Path(folder) / name
        if not path.is_file():
            raise SystemExit(f"{path} is missing: the text corpus lives in ../shared/data/text (see its README)")
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise SystemExit(f"{path} does not match its SHA-256 in shared/data/README.md: fetch it again")
        file_train, file_held_out = split_openings(raw.decode("utf-8"))
        train += file_train
        held_out += file_held_out
    return train, held_out


def split_openings(text):
    """One file's 32-character line openings: (training, held out), every 7th held out."""
    # Rust's str::lines: split on \n, drop one trailing \r, no empty last line.
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    train, held_out = [], []
    for i, line in enumerate(line for line in lines if len(line) >= LENGTH):
        (held_out if i % HELD_OUT_EVERY == HELD_OUT_EVERY // 2 else train).append(line[:LENGTH])
    return train, held_out


def vocabulary(lines):
    """The 63 most frequent characters (ties by character) and UNKNOWN, as Vocab::from_lines."""
    counts = Counter(c for line in lines for c in line)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [c for c, _ in ranked[: VOCAB_SIZE - 1]] + [UNKNOWN]


def encode(lines, vocab):
    index = {c: i for i, c in enumerate(vocab)}
    unknown = len(vocab) - 1
    return torch.tensor([[index.get(c, unknown) for c in line] for line in lines], dtype=torch.long)


def real_batch(codes, batch, generator, smoothing):
    """Smoothed one-hots of `batch` random training lines."""
    return one_hots(codes[torch.randint(len(codes), (batch,), generator=generator)], smoothing)


def one_hots(rows, smoothing):
    """`[n, length]` symbol indices as one-hots `[n, vocab, length]` smoothed towards uniform."""
    one_hot = F.one_hot(rows, VOCAB_SIZE).float().transpose(1, 2)
    return one_hot * (1 - smoothing) + smoothing / VOCAB_SIZE


# ---- networks ------------------------------------------------------------------------------


class Block(nn.Module):
    """x + 0.3·conv(relu(conv(relu(x)))), kernel 5: the WGAN-GP language model's residual block."""

    def __init__(self, width, spectral=False):
        super().__init__()
        wrap = nn.utils.spectral_norm if spectral else (lambda m: m)
        self.a = wrap(nn.Conv1d(width, width, 5, padding=2))
        self.b = wrap(nn.Conv1d(width, width, 5, padding=2))

    def forward(self, x):
        return x + RESIDUAL_SCALE * self.b(F.relu(self.a(F.relu(x))))


class Generator(nn.Module):
    def __init__(self, width, blocks):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(LATENT, width * LENGTH)
        self.blocks = nn.Sequential(*[Block(width) for _ in range(blocks)])
        self.out = nn.Conv1d(width, VOCAB_SIZE, 1)

    def forward(self, z):
        x = self.fc(z).view(-1, self.width, LENGTH)
        return F.softmax(self.out(self.blocks(x)), dim=1)


class Critic(nn.Module):
    def __init__(self, width, blocks, spectral=False):
        super().__init__()
        wrap = nn.utils.spectral_norm if spectral else (lambda m: m)
        self.inp = wrap(nn.Conv1d(VOCAB_SIZE, width, 1))
        self.blocks = nn.Sequential(*[Block(width, spectral) for _ in range(blocks)])
        self.out = wrap(nn.Linear(width * LENGTH, 1))

    def forward(self, x):
        return self.out(self.blocks(self.inp(x)).flatten(1))


# ---- metrics -------------------------------------------------------------------------------


def ngram_distribution(rows, n):
    counts = Counter(tuple(row[i : i + n]) for row in rows for i in range(len(row) - n + 1))
    total = sum(counts.values())
    return {gram: c / total for gram, c in counts.items()}


def js_divergence(a, b, n):
    """JS divergence in bits between two corpora's n-gram distributions (src/metrics/ngram.rs)."""
    p, q = ngram_distribution(a, n), ngram_distribution(b, n)

    def half(p, q):
        return sum(pv * math.log2(2 * pv / (pv + q.get(g, 0.0))) for g, pv in p.items())

    return 0.5 * (half(p, q) + half(q, p))


def sample_rows(generator, count, seed):
    return sample_rows_from(generator, torch.randn(count, LATENT, generator=torch.Generator().manual_seed(seed)))


def decode(row, vocab):
    return "".join(vocab[i] for i in row)


# ---- training ------------------------------------------------------------------------------


def gradient_penalty(critic, real, fake):
    alpha = torch.rand(real.shape[0], 1, 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def load_bundle_generator(generator, bundle):
    """The generator of a text bundle of this architecture, written by this recipe or by `dgflow
    train text` (which names the blocks' convolutions res1a, res1b, …): int8 values times their
    per-row scale."""
    from safetensors.torch import load_file

    from dgflow_export.stored import dequantised

    weights = dequantised(load_file(str(Path(bundle) / "weights.safetensors")))
    names = {"fc": "fc", "out": "out"}
    for i in range(len(generator.blocks)):
        names[f"blocks.{i}.a"], names[f"blocks.{i}.b"] = f"res{i + 1}a", f"res{i + 1}b"
    state = {}
    for ours, trained_here in names.items():
        for field in ("weight", "bias"):
            key = next((k for k in (f"generator.{ours}.{field}", f"generator.{trained_here}.{field}") if k in weights), None)
            if key is None:
                raise SystemExit(f"{bundle} has no generator.{ours}.{field}: not a text bundle of this architecture (--width, --blocks)")
            state[f"{ours}.{field}"] = weights[key]
    try:
        generator.load_state_dict(state)
    except RuntimeError as e:
        raise SystemExit(f"{bundle}'s generator does not fit --width {generator.width}: {e}") from None


def update_average(average, model, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), model.parameters()):
            a.lerp_(p, 1 - decay)


def setup(args):
    torch.set_num_threads(args.threads)
    train_lines, held_out_lines = load_corpus(args.data)
    vocab = vocabulary(train_lines)
    return vocab, encode(train_lines, vocab), encode(held_out_lines, vocab).tolist()


def train(args):
    vocab, codes, held_out = setup(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    torch.manual_seed(args.seed)
    generator, critic = Generator(args.width, args.blocks), Critic(args.width, args.blocks)
    average = Generator(args.width, args.blocks)
    average.load_state_dict(generator.state_dict())
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=args.lr_critic or args.lr, betas=(0.5, 0.9))
    draws = torch.Generator().manual_seed(args.seed)
    start = 0
    if args.init and not checkpoint.exists():
        load_bundle_generator(generator, args.init)
        average.load_state_dict(generator.state_dict())
    if checkpoint.exists():
        state = torch.load(checkpoint)
        if state["config"] != config(args):
            raise SystemExit(f"{checkpoint} was written with {state['config']}; pass the same flags or another --out")
        for module, key in ((generator, "generator"), (critic, "critic"), (average, "average"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(state[key])
        draws.set_state(state["draws"])
        torch.set_rng_state(state["torch_rng"])
        start = state["iteration"]
        print(f"resumed at iteration {start}")
    log_path = out / "training-log.csv"
    new_log = not log_path.exists() or start == 0
    with open(log_path, "w" if new_log else "a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["iteration", "critic_loss", "generator_loss", "gradient_penalty", "js4_average", "seconds"])
        began = time.time()
        for it in range(start + 1, args.iterations + 1):
            # A fresh critic first learns to judge an initialised generator before it moves it.
            warm_up = args.critic_warmup if it == 1 and args.init else 0
            for _ in range(args.critic_steps + warm_up):
                real = real_batch(codes, args.batch, draws, args.smoothing)
                with torch.no_grad():
                    fake = generator(torch.randn(args.batch, LATENT, generator=draws))
                penalty = gradient_penalty(critic, real, fake)
                loss_d = critic(fake).mean() - critic(real).mean() + args.gp * penalty
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            loss_g = -critic(generator(torch.randn(args.batch, LATENT, generator=draws))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            update_average(average, generator, args.average if it > args.average_from else 0.0)
            if it % args.every == 0 or it == args.iterations:
                js4 = js_divergence(sample_rows(average, MONITOR_SAMPLES, 0), held_out, 4)
                seconds = time.time() - began
                log.writerow([it, f"{loss_d.item():.4f}", f"{loss_g.item():.4f}", f"{penalty.item():.4f}", f"{js4:.4f}", f"{seconds:.0f}"])
                log_file.flush()
                print(f"{it}: critic {loss_d.item():.3f} gp {penalty.item():.3f} JS-4 {js4:.4f} ({seconds:.0f} s) {decode(sample_rows(average, 1, 1)[0], vocab)!r}", flush=True)
                state = {
                    "config": config(args), "iteration": it, "generator": generator.state_dict(),
                    "critic": critic.state_dict(), "average": average.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "draws": draws.get_state(), "torch_rng": torch.get_rng_state(),
                }
                torch.save(state, checkpoint.with_suffix(".tmp"))
                checkpoint.with_suffix(".tmp").replace(checkpoint)


def load_run(args):
    state = torch.load(Path(args.out) / "checkpoint.pt")
    c = state["config"]
    generator, critic = Generator(c["width"], c["blocks"]), Critic(c["width"], c["blocks"])
    generator.load_state_dict(state["average"])
    critic.load_state_dict(state["critic"])
    return state, generator.eval(), critic


def dgflow_kl(generator, critic, z, steps, eta, gamma, seed):
    """DGflow-KL in latent space: z ← z + η∇z d(G(z)) + √(2ηγ)ξ (for judging a fit only; the
    numbers the card shows come from `dgflow eval`)."""
    noise = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(generator(z)).sum(), z)
        z = z + eta * grad + math.sqrt(2 * eta * gamma) * torch.randn(z.shape, generator=noise)
    return z.detach()


def fit_critic(args):
    """The critic alone, with the logistic loss, against the averaged generator that ships: a
    WGAN critic is not a log density ratio, and DGflow needs d ≈ log p_data/p_G. Starts from the
    training critic; the penalty keeps d smooth, as one-hots and softmax outputs are otherwise
    told apart by peakedness alone; the shipped critic is the average of the fit's iterates."""
    vocab, codes, held_out = setup(args)
    state, generator, critic = load_run(args)
    for p in generator.parameters():
        p.requires_grad_(False)
    average = Critic(state["config"]["width"], state["config"]["blocks"])
    average.load_state_dict(critic.state_dict())
    opt = torch.optim.Adam(critic.parameters(), lr=args.lr_critic or args.lr, betas=(0.5, 0.9))
    draws = torch.Generator().manual_seed(args.seed + 1000)
    smoothing = state["config"]["smoothing"]
    z0 = torch.randn(MONITOR_SAMPLES, LATENT, generator=torch.Generator().manual_seed(0))
    held = one_hots(torch.tensor(held_out[:512]), smoothing)
    base = sample_rows_from(generator, z0)
    out = Path(args.out)

    def judge(step, loss):
        """Mean logits and what 25 DGflow-KL steps do to seed 0's samples; a snapshot to export."""
        with torch.no_grad():
            logit_real, logit_gen = average(held).mean().item(), average(generator(z0[:512])).mean().item()
        refined = sample_rows_from(generator, dgflow_kl(generator, average, z0, 25, 0.1, 0.01, 0))
        scores = [js_divergence(rows, held_out, n) for n in (4, 6) for rows in (base, refined)]
        log.writerow([step, f"{loss:.4f}", f"{logit_real:.3f}", f"{logit_gen:.3f}"] + [f"{x:.4f}" for x in scores])
        log_file.flush()
        print(
            f"fit {step}: loss {loss:.3f} d(real) {logit_real:.2f} d(generated) {logit_gen:.2f}; 25 DGflow-KL steps "
            f"(seed 0): JS-4 {scores[0]:.4f} -> {scores[1]:.4f}, JS-6 {scores[2]:.4f} -> {scores[3]:.4f}",
            flush=True,
        )
        torch.save({"config": state["config"], "fit": fit_config(args, step), "critic": average.state_dict()}, fitted(out, step))

    with open(out / "critic-fit-log.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss", "logit_real", "logit_generated", "js4_base", "js4_refined", "js6_base", "js6_refined"])
        judge(0, float("nan"))
        for step in range(1, args.fit_steps + 1):
            real = real_batch(codes, args.batch, draws, smoothing)
            with torch.no_grad():
                fake = generator(torch.randn(args.batch, LATENT, generator=draws))
            loss = F.softplus(-critic(real)).mean() + F.softplus(critic(fake)).mean()
            total = loss + args.fit_gp * gradient_penalty(critic, real, fake)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            update_average(average, critic, args.fit_average)
            if step % args.every == 0 or step == args.fit_steps:
                judge(step, loss.item())


def fitted(out, step):
    """The fit's averaged critic after `step` steps."""
    return Path(out) / f"critic-fit-{step}.pt"


def known_word_share(sentences, known):
    """The share of the words of `sentences` (split at spaces, each sentence's last word left out
    as the 32-character cut may end it) that are words of the training lines."""
    words = [w for s in sentences for w in s.split(" ")[:-1] if w]
    return sum(w in known for w in words) / max(len(words), 1), len(words)


def training_words(lines):
    return {w for line in lines for w in line.split(" ")[:-1] if w}


def words(args):
    """How many generated words are real: each `dgflow refine` text file's base and refined
    samples, and the held-out lines for reference."""
    train_lines, held_out_lines = load_corpus(args.data)
    known = training_words(train_lines)
    share, count = known_word_share(held_out_lines, known)
    print(f"held-out lines: {100 * share:.1f} % of {count} words are words of the training lines")
    for path in args.files:
        quoted = [line for line in Path(path).read_text().split("\n") if line.endswith('"')]
        samples = [line[line.index('"') + 1 : -1] for line in quoted]
        for label, part in (("base", samples[0::2]), ("refined", samples[1::2])):
            share, count = known_word_share(part, known)
            print(f"{path} {label}: {100 * share:.1f} % of {count} words in {len(part)} samples")


@torch.no_grad()
def sample_rows_from(generator, z):
    return generator(z).argmax(1).tolist()


def export_bundle(args):
    """The averaged generator and the fitted critic as a bundle: exported in f32 and checked
    against these modules, then int8 for the page and calibrated for MH-GAN."""
    from dgflow_export import export
    from dgflow_export.check import find_dgflow
    from dgflow_export.finish import finish

    vocab, codes, held_out = setup(args)
    state, generator, _ = load_run(args)
    snapshot = fitted(args.out, args.fit_steps)
    if not snapshot.exists():
        raise SystemExit(f"{snapshot} is missing: run fit-critic with --fit-steps at least {args.fit_steps} and --every dividing it")
    fit = torch.load(snapshot)
    c = state["config"]
    critic = Critic(c["width"], c["blocks"])
    critic.load_state_dict(fit["critic"])
    dgflow = find_dgflow(args.dgflow)
    bundle = Path(args.bundle)
    start = f"from the generator of {c['init']}, " if c["init"] else ""
    result = export(
        generator,
        critic.eval(),
        bundle,
        name=bundle.name,
        latent_dim=LATENT,
        vocab=vocab,
        description=f"WGAN-GP's language GAN (residual 1D convolutions, width {c['width']}, {c['blocks']} blocks) on 32-character sentence openings",
        trained_by=f"python/recipes/text_gan.py (this repository), {state['iteration']} generator steps {start}then {fit['fit']['fit_steps']} critic steps of the logistic fit",
        data=(
            f"the first {LENGTH} characters of the {len(codes)} training lines (of {LENGTH}+ characters) of the One Billion Word "
            f"held-out sentences and 17 Gutenberg books; every {HELD_OUT_EVERY}th line ({len(held_out)}) held out for evaluation; "
            f"{len(vocab)} symbols, rarer characters folded into {UNKNOWN}"
        ),
        recipe=(
            f"WGAN-GP (penalty {c['gp']}), {c['critic_steps']} critic steps per generator step, Adam lr {c['lr']} "
            f"(critic {c['lr_critic'] or c['lr']}) betas (0.5, 0.9), batch {c['batch']}, seed {c['seed']}; the generator's weights "
            f"averaged (decay {c['average']}); then the critic alone with the logistic loss and penalty {fit['fit']['fit_gp']} "
            f"against that average, its weights averaged (decay {fit['fit']['fit_average']}); stored as int8 by `dgflow pack`"
        ),
        notes="Trained in PyTorch on the CPU; the critic's logit estimates log p_data/p_G, as DGflow needs.",
        dgflow=dgflow,
    )
    finish(result, bundle, dgflow, "int8", "python python/recipes/text_gan.py export")


def fit_config(args, step):
    return {"fit_steps": step, **{k: getattr(args, k) for k in ("fit_gp", "fit_average", "lr", "lr_critic", "batch", "seed")}}


def config(args):
    return {k: getattr(args, k) for k in ("width", "blocks", "batch", "critic_steps", "lr", "lr_critic", "gp", "init", "critic_warmup", "smoothing", "seed", "average", "average_from")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["train", "fit-critic", "export", "words"])
    parser.add_argument("--out", help="train, fit-critic, export: the run's folder (checkpoint, logs)")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared/data/text"))
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--critic-steps", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--lr-critic", type=float, default=None, help="the critic's learning rate (default: --lr)")
    parser.add_argument("--init", help="a text bundle whose generator to start from (e.g. models/text)")
    parser.add_argument("--critic-warmup", type=int, default=500, help="critic steps before the first generator step of an --init run")
    parser.add_argument("--gp", type=float, default=10.0)
    parser.add_argument("--smoothing", type=float, default=0.0, help="real one-hots smoothed towards uniform by this much")
    parser.add_argument("--average", type=float, default=0.999, help="decay of the generator's weight average")
    parser.add_argument("--average-from", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fit-steps", type=int, default=1000, help="fit-critic: critic steps; export: the fit's snapshot to ship")
    parser.add_argument("--fit-gp", type=float, default=1.0, help="fit-critic: weight of the gradient penalty")
    parser.add_argument("--fit-average", type=float, default=0.99, help="fit-critic: decay of the critic's weight average")
    parser.add_argument("files", nargs="*", help="words: text files `dgflow refine` wrote")
    parser.add_argument("--bundle", help="export: the bundle folder to write (its name is the model's)")
    parser.add_argument("--dgflow", help="export: the dgflow CLI (default: found as the exporter finds it)")
    args = parser.parse_args()
    if args.command != "words" and not args.out:
        parser.error(f"{args.command} needs --out FOLDER (the run's)")
    if args.command == "export" and not args.bundle:
        parser.error("export needs --bundle FOLDER")
    if args.command == "words" and not args.files:
        parser.error("words needs the text files `dgflow refine` wrote")
    {"train": train, "fit-critic": fit_critic, "export": export_bundle, "words": words}[args.command](args)


if __name__ == "__main__":
    main()
