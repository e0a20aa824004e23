"""`export()`: a PyTorch generator and critic → a dgflow-web bundle folder, checked."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

from . import check
from .errors import ExportError
from .graph import network_layers
from .modules import eval_copy
from .priors import Normal

FORMAT = "dgflow-bundle/2"
WEIGHTS_FILE = "weights.safetensors"
RANGE_OF_LAST_LAYER = {"tanh": [-1.0, 1.0], "sigmoid": [0.0, 1.0], "softmax": [0.0, 1.0]}


def export(
    generator,
    critic,
    out,
    *,
    name,
    latent_dim,
    prior=None,
    latent_shape=None,
    kind=None,
    value_range=None,
    vocab=None,
    toy=None,
    description="",
    trained_by="",
    data="",
    recipe="",
    notes="",
    critic_terms=(),
    recommended=None,
    check_samples=16,
    check_seed=0,
    dgflow=None,
    verbose=True,
):
    """Writes `out/manifest.json` and `out/weights.safetensors` (f32) for `generator` (latents →
    samples) and `critic` (samples → one logit, ≈ log p_data/p_G), then checks them against the
    modules with `dgflow probe` unless `check_samples` is 0.

    `prior` is `Normal(sigma)` (default N(0, I)) or `Uniform(low, high)`; `latent_shape` is the
    shape the generator takes per sample if not `(latent_dim,)` (e.g. `(128, 1, 1)`);
    `toy` names the 2D data set a points model learned (`25gaussians` or `swissroll`), which the
    page draws behind its samples and `dgflow eval` scores against; `critic_terms` are
    `(name, description, module)` whose logits add to the critic's (a VAE's
    corrector). Returns the check's result (see check.compare; empty without a check); raises ExportError with a
    message naming the module or op it cannot map, or a failed check."""
    prior = prior or Normal(1.0)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name or ""):
        raise ExportError(f"name {name!r}: use lower-case letters, digits, '-' and '_' (it names the model in the page and its link)")
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ExportError(f"latent_dim {latent_dim!r}: give the latent dimension, an integer ≥ 1")
    latent_shape = tuple(latent_shape or (latent_dim,))
    if int(np.prod(latent_shape)) != latent_dim:
        raise ExportError(f"latent_shape {list(latent_shape)} does not hold {latent_dim} values")
    example = prior.sample(8, latent_dim, torch.Generator().manual_seed(check_seed)).float()

    generator_layers, generator_tensors = network_layers(generator, example.reshape(8, *latent_shape), "generator")
    if latent_shape != (latent_dim,):
        generator_layers.insert(0, {"op": "reshape", "shape": list(latent_shape)})
    with torch.no_grad():
        samples = eval_copy(generator)(example.reshape(8, *latent_shape))
    sample_shape = list(samples.shape[1:])
    kind = kind or _kind(sample_shape, vocab)
    if value_range is None:
        last = generator_layers[-1]["op"] if generator_layers else None
        if last not in RANGE_OF_LAST_LAYER:
            raise ExportError(f"the generator ends in `{last}`, so its output range is unknown: give value_range=(low, high)")
        value_range = RANGE_OF_LAST_LAYER[last]

    networks = {"critic": critic, **{term_name: module for term_name, _, module in critic_terms}}
    specs, tensors = {}, {f"generator.{k}": v for k, v in generator_tensors.items()}
    for prefix, module in networks.items():
        layers, found = network_layers(module, samples, prefix if prefix == "critic" else f"critic term `{prefix}`")
        with torch.no_grad():
            logits = eval_copy(module)(samples)
        if logits[0].numel() != 1:
            raise ExportError(f"the {prefix} gives {list(logits.shape[1:])} values per sample; a critic gives one logit")
        if tuple(logits.shape[1:]) not in ((), (1,)):  # e.g. a convolution's [1, 1, 1]
            layers.append({"op": "reshape", "shape": [1]})
        specs[prefix] = {"layers": layers}
        tensors.update({f"{prefix}.{k}": v for k, v in found.items()})

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(tensors.items())}, str(out / WEIGHTS_FILE))
    # safetensors writes the file readable by its owner only; a web server may run as another user.
    (out / WEIGHTS_FILE).chmod(0o644)
    digest = hashlib.sha256((out / WEIGHTS_FILE).read_bytes()).hexdigest()
    manifest = {
        "format": FORMAT,
        "name": name,
        "description": description or f"{name}, exported from PyTorch",
        "kind": kind,
        "latent": {"dim": latent_dim, "prior": prior.manifest()},
        "sample_shape": sample_shape,
        "value_range": [float(v) for v in value_range],
        **({"vocab": list(vocab)} if vocab is not None else {}),
        **({"toy": toy} if toy is not None else {}),
        "generator": {"layers": generator_layers},
        "critic": specs["critic"],
        **(
            {"critic_terms": [{"name": n, "description": d, "network": specs[n]} for n, d, _ in critic_terms]}
            if critic_terms
            else {}
        ),
        "weights": {"file": WEIGHTS_FILE, "sha256": digest, "encoding": "f32"},
        "provenance": {"trained_by": trained_by or "unknown", "data": data or "unknown", "recipe": recipe, "notes": notes},
        **({"recommended": {"eta": float(recommended[0]), "gamma": float(recommended[1])}} if recommended else {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    if verbose:
        count = sum(v.size for v in tensors.values())
        print(f"wrote {out}: {name}, {kind} {sample_shape}, {count:,} parameters as f32")
    if not check_samples:
        return {}
    latents = prior.sample(check_samples, latent_dim, torch.Generator().manual_seed(check_seed + 1)).float().double()
    critics = list(networks.values())
    result = check.compare(out, generator, critics, latents, latent_shape, dgflow)
    within, line = check.report(result, check_samples)
    if verbose or not within:
        print(line)
    if not within:
        raise ExportError(f"{line}. The bundle in {out} is left for inspection; please report the model's layers")
    return result


def _kind(sample_shape, vocab):
    if vocab is not None:
        return "text"
    if sample_shape == [2]:
        return "points"
    if len(sample_shape) == 3 and sample_shape[0] in (1, 3):
        return "image"
    raise ExportError(f"samples of shape {sample_shape} are not 2D points or [1 or 3, h, w] images: give kind= (and vocab= for text)")

