"""A bundle's networks as PyTorch modules, written independently of the Rust engine.

Only the bundle format is shared: the manifest's layer list and the safetensors weights. The layers,
spectral normalisation (torch.nn.utils.spectral_norm), batch normalisation, autograd and Adam are
PyTorch's own, so agreement with the Rust engine checks our implementation, not a copy of it.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from torch import nn


def load_bundle(directory):
    """The manifest (dict) and every weight as float32 numpy arrays."""
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    weights = load_file(str(directory / manifest["weights"]["file"]))
    for shared in manifest.get("shared_weights", []):  # tensors kept in another bundle's file
        lent = load_file(str(directory / shared["file"]))
        weights.update({k: v for k, v in lent.items() if k.startswith(shared["prefix"])})
    return manifest, dequantised(weights)


def dequantised(weights):
    """float32 arrays; an int8 tensor times its `<name>:scale` (one scale per slice of axis 0)."""
    out = {}
    for name, value in weights.items():
        if name.endswith(":scale"):
            continue
        value = value.astype(np.float32)
        if weights[name].dtype == np.int8:
            scale = weights[name + ":scale"].astype(np.float32)
            value = value * scale.reshape((-1,) + (1,) * (value.ndim - 1))
        out[name] = value
    return out


class Residual(nn.Module):
    """shortcut(x) + scale * inner(x); an empty shortcut is the identity."""

    def __init__(self, inner, scale, shortcut):
        super().__init__()
        self.inner, self.scale, self.shortcut = inner, scale, shortcut

    def forward(self, x):
        return self.shortcut(x) + self.scale * self.inner(x)


class Lambda(nn.Module):
    def __init__(self, fn, what):
        super().__init__()
        self.fn, self.what = fn, what

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.what


def _with_sn(module, layer, power_iterations):
    if not layer.get("spectral_norm", False):
        return module
    # dim=None lets PyTorch pick the output-channel axis (1 for transposed convolutions).
    return nn.utils.spectral_norm(module, n_power_iterations=power_iterations, eps=1e-12)


def build_layers(layers, power_iterations=1):
    """nn.Sequential of the manifest layer list, plus {name: module} of the layers with weights."""
    mods, named = [], {}
    for layer in layers:
        op = layer["op"]
        if op == "linear":
            m = _with_sn(nn.Linear(layer["inputs"], layer["outputs"]), layer, power_iterations)
        elif op == "conv2d":
            m = nn.Conv2d(layer["inputs"], layer["outputs"], layer["kernel"], layer.get("stride", 1), layer.get("padding", 0))
            m = _with_sn(m, layer, power_iterations)
        elif op == "conv_transpose2d":
            m = nn.ConvTranspose2d(layer["inputs"], layer["outputs"], layer["kernel"], layer.get("stride", 1),
                                   layer.get("padding", 0), layer.get("output_padding", 0))
            m = _with_sn(m, layer, power_iterations)
        elif op == "conv1d":
            m = nn.Conv1d(layer["inputs"], layer["outputs"], layer["kernel"], 1, layer.get("padding", 0))
            m = _with_sn(m, layer, power_iterations)
        elif op == "batch_norm":
            m = BatchNorm(layer["channels"], eps=layer.get("eps", 1e-5), momentum=0.1)
        elif op == "relu":
            m = nn.ReLU()
        elif op == "leaky_relu":
            m = nn.LeakyReLU(layer["slope"])
        elif op == "tanh":
            m = nn.Tanh()
        elif op == "sigmoid":
            m = nn.Sigmoid()
        elif op == "softmax":
            m = nn.Softmax(dim=1)
        elif op == "reshape":
            shape = tuple(layer["shape"])
            m = Lambda(lambda x, s=shape: x.reshape(x.shape[0], *s), f"reshape {shape}")
        elif op == "max_pool2d":
            m = nn.MaxPool2d(layer["kernel"])
        elif op == "global_avg_pool":
            m = Lambda(lambda x: x.flatten(2).mean(2), "global average pool")
        elif op == "global_sum_pool":
            m = Lambda(lambda x: x.flatten(2).sum(2), "global sum pool")
        elif op == "upsample2d":
            m = nn.Upsample(scale_factor=layer["factor"], mode="nearest")
        elif op == "avg_pool2d":
            m = nn.AvgPool2d(layer["kernel"])
        elif op == "residual":
            inner, inner_named = build_layers(layer["layers"], power_iterations)
            shortcut, shortcut_named = build_layers(layer.get("shortcut", []), power_iterations)
            m = Residual(inner, layer.get("scale", 1.0), shortcut)
            named.update(inner_named)
            named.update(shortcut_named)
        else:
            raise ValueError(f"unknown layer op {op}")
        if "name" in layer:
            named[layer["name"]] = m
        mods.append(m)
    return nn.Sequential(*mods), named


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over axis 1 of [N, C], [N, C, L] or [N, C, H, W], as the engine's layer is."""

    def _check_input_dim(self, x):
        pass


class Network(nn.Module):
    """[batch, prod(input_shape)] → [batch, prod(output shape)], like the engine's flat interface."""

    def __init__(self, spec, input_shape, power_iterations=1):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.body, self.named = build_layers(spec["layers"], power_iterations)

    def forward(self, x):
        return self.body(x.reshape(x.shape[0], *self.input_shape)).flatten(1)

    def load(self, prefix, weights):
        """Copies `prefix.<layer>.<field>` tensors in; spectral-norm layers get `u`, not `v`."""
        with torch.no_grad():
            for name, m in self.named.items():
                for field, tensor in _fields(m).items():
                    key = f"{prefix}.{name}.{field}"
                    tensor.copy_(torch.from_numpy(weights[key]).reshape(tensor.shape))

    def state(self, prefix):
        """Every bundle tensor of this network, under the bundle's names."""
        out = {}
        for name, m in self.named.items():
            for field, tensor in _fields(m).items():
                out[f"{prefix}.{name}.{field}"] = tensor.detach().flatten().numpy().copy()
        return out

    def gradients(self, prefix):
        """The gradient of every trainable bundle tensor, under the bundle's names."""
        out = {}
        for name, m in self.named.items():
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            for field, p in (("weight", weight), ("bias", m.bias)):
                out[f"{prefix}.{name}.{field}"] = p.grad.detach().flatten().double().numpy().copy()
        return out

    def settle_spectral_norm(self):
        """One power iteration per spectral-norm layer from the bundle's u (PyTorch's training-mode
        update), leaving σ = uᵀWv fixed for evaluation — what the engine does when it builds a model."""
        sn = [m for m in self.named.values() if hasattr(m, "weight_u")]
        if not sn:
            return
        self.eval()
        for m in sn:
            m.train()
        with torch.no_grad():
            self(torch.zeros(1, math.prod(self.input_shape), dtype=next(self.parameters()).dtype))
        self.eval()


def _fields(m):
    if hasattr(m, "weight_orig"):
        return {"weight": m.weight_orig.data, "bias": m.bias.data, "u": m.weight_u}
    if isinstance(m, BatchNorm):
        return {"weight": m.weight.data, "bias": m.bias.data, "running_mean": m.running_mean, "running_var": m.running_var}
    return {"weight": m.weight.data, "bias": m.bias.data}


class SummedCritic(torch.nn.Module):
    """The critic plus the bundle's critic terms (a VAE's corrector): their logits add."""

    def __init__(self, parts):
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)

    def forward(self, x):
        return sum(part(x) for part in self.parts)


def build_model(manifest, weights, power_iterations=1, dtype=torch.float32):
    """Generator and critic (with any critic terms added) with the bundle's weights, in evaluation mode."""
    generator = Network(manifest["generator"], [manifest["latent"]["dim"]], power_iterations).to(dtype)
    generator.load("generator", weights)
    generator.eval()
    parts = [("critic", manifest["critic"])] + [(t["name"], t["network"]) for t in manifest.get("critic_terms", [])]
    critics = []
    for prefix, spec in parts:
        critic = Network(spec, manifest["sample_shape"], power_iterations).to(dtype)
        critic.load(prefix, weights)
        critic.settle_spectral_norm()
        critics.append(critic)
    return generator, critics[0] if len(critics) == 1 else SummedCritic(critics)
