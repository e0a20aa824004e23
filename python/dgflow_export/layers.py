"""One traced operation → layers of the bundle's layer language, and the tensors they read.

Shapes come from shape propagation (`node.meta["tensor_meta"]`) and exclude the batch axis, as
the layer language's do. Anything without an exact equivalent is refused, naming the module or
function; the message says what is supported.
"""

import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import spectral
from .errors import ExportError

SUPPORTED = (
    "Linear, Conv2d, ConvTranspose2d, Conv1d (each optionally with spectral_norm), BatchNorm1d/2d, "
    "ReLU, LeakyReLU, Tanh, Sigmoid, Softmax over channels, MaxPool2d/AvgPool2d with stride = kernel, "
    "nearest Upsample by an integer factor, AdaptiveAvgPool2d(1), sums and means over every spatial "
    "axis, flatten/view/reshape, Identity, Dropout (as the identity, in eval mode), and residual "
    "sums x + f(x) or g(x) + scale·f(x)"
)


def per_sample(node):
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise ExportError(f"`{node.name}` does not give one tensor")
    return tuple(meta.shape[1:])


def batch_of(node):
    return node.meta["tensor_meta"].shape[0]


def tensor_input(node):
    """The one traced tensor an operation reads; the others must be constants."""
    nodes = node.all_input_nodes
    tensors = [n for n in nodes if "tensor_meta" in n.meta and hasattr(n.meta["tensor_meta"], "shape")]
    if len(tensors) != 1:
        raise ExportError(f"{describe(node)} reads {len(tensors)} tensors; a layer reads exactly one")
    return tensors[0]


def describe(node, module=None):
    if node.op == "call_module":
        return f"module `{node.target}` ({type(module).__name__})" if module is not None else f"module `{node.target}`"
    if node.op == "call_method":
        return f"method `.{node.target}()` at `{node.name}`"
    name = getattr(node.target, "__name__", str(node.target))
    return f"function `{name}` at `{node.name}`"


def argument(node, index, name, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def convert(node, module, tensors):
    """Layers for `node` (a call), writing their tensors into `tensors` by parameter name.
    Returns (layers, the node it reads)."""
    source = tensor_input(node)
    shape_in, shape_out = per_sample(source), per_sample(node)
    if batch_of(node) != batch_of(source):
        raise ExportError(f"{describe(node, module)} mixes samples of the batch")
    if node.op == "call_module":
        layers = from_module(node, module, shape_in, shape_out, tensors)
    else:
        layers = from_function(node, shape_in, shape_out)
    return layers, source


def reshape(shape_in, shape_out, what):
    """A reshape between per-sample shapes, none if they are the same. A scalar is [1]."""
    shape_out = shape_out or (1,)
    if tuple(shape_in or (1,)) == tuple(shape_out):
        return []
    if len(shape_out) > 3:
        raise ExportError(f"{what} gives a rank-{len(shape_out)} sample; the layer language has ranks 1 to 3")
    return [{"op": "reshape", "shape": list(shape_out)}]


def square(value, what, field):
    """One int from an int or an equal pair (kernel 3 or (3, 3))."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1 or not isinstance(values[0], int):
        raise ExportError(f"{what} has {field} {value}; only square ones (the same on every axis) are supported")
    return values[0]


def copy(tensor):
    return tensor.detach().to(torch.float64).cpu().numpy().astype(np.float32)


def weighted(module, op, name, what, tensors, fields):
    """A linear or convolution layer: its weight (spectral-norm state as the engine keeps it) and bias."""
    layer = {"op": op, "name": name, **fields}
    try:
        state = spectral.spectral_state(module)
    except ExportError as e:
        raise ExportError(f"{what}: {e}") from None
    if state is None:
        weight = module.weight
        layer["spectral_norm"] = False
    else:
        weight, sigma, dim = state
        tensors[f"{name}.u"] = spectral.u_for_sigma(weight, dim, sigma, what).astype(np.float32)
        layer["spectral_norm"] = True
    tensors[f"{name}.weight"] = copy(weight)
    outputs = fields["outputs"]
    tensors[f"{name}.bias"] = copy(module.bias) if module.bias is not None else np.zeros(outputs, np.float32)
    return layer


def plain_convolution(module, what):
    if module.groups != 1:
        raise ExportError(f"{what} has groups = {module.groups}; only groups = 1 is supported")
    if set(module.dilation) != {1}:
        raise ExportError(f"{what} has dilation {module.dilation}; only 1 is supported")
    if module.padding_mode != "zeros":
        raise ExportError(f"{what} pads with `{module.padding_mode}`; only zeros are supported")
    if isinstance(module.padding, str):
        raise ExportError(f"{what} has padding '{module.padding}'; give the padding as a number")


def convolution_fields(m, what):
    """The fields a 2D convolution (plain or transposed) shares, once it is one we can map."""
    plain_convolution(m, what)
    return {
        "inputs": m.in_channels,
        "outputs": m.out_channels,
        "kernel": square(m.kernel_size, what, "kernel"),
        "stride": square(m.stride, what, "stride"),
        "padding": square(m.padding, what, "padding"),
    }


def from_module(node, m, shape_in, shape_out, tensors):
    what = describe(node, m)
    name = node.target
    if isinstance(m, nn.Linear):
        if len(shape_in) != 1:
            raise ExportError(f"{what} is applied to samples of shape {list(shape_in)}; flatten them first")
        return [weighted(m, "linear", name, what, tensors, {"inputs": m.in_features, "outputs": m.out_features})]
    if isinstance(m, nn.ConvTranspose2d):
        fields = convolution_fields(m, what)
        fields["output_padding"] = square(m.output_padding, what, "output_padding")
        return [weighted(m, "conv_transpose2d", name, what, tensors, fields)]
    if isinstance(m, nn.Conv2d):
        return [weighted(m, "conv2d", name, what, tensors, convolution_fields(m, what))]
    if isinstance(m, nn.Conv1d):
        plain_convolution(m, what)
        if m.stride != (1,):
            raise ExportError(f"{what} has stride {m.stride}; conv1d supports stride 1")
        fields = {"inputs": m.in_channels, "outputs": m.out_channels, "kernel": m.kernel_size[0], "padding": m.padding[0]}
        return [weighted(m, "conv1d", name, what, tensors, fields)]
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not m.track_running_stats or m.running_mean is None:
            raise ExportError(f"{what} keeps no running statistics (track_running_stats=False), so in eval mode it normalises by the batch; refinement needs a per-sample network")
        channels = m.num_features
        tensors[f"{name}.weight"] = copy(m.weight) if m.affine else np.ones(channels, np.float32)
        tensors[f"{name}.bias"] = copy(m.bias) if m.affine else np.zeros(channels, np.float32)
        tensors[f"{name}.running_mean"] = copy(m.running_mean)
        tensors[f"{name}.running_var"] = copy(m.running_var)
        return [{"op": "batch_norm", "name": name, "channels": channels, "eps": float(m.eps)}]
    if isinstance(m, nn.ReLU):
        return [{"op": "relu"}]
    if isinstance(m, nn.LeakyReLU):
        return [{"op": "leaky_relu", "slope": float(m.negative_slope)}]
    if isinstance(m, nn.Tanh):
        return [{"op": "tanh"}]
    if isinstance(m, nn.Sigmoid):
        return [{"op": "sigmoid"}]
    if isinstance(m, nn.Softmax):
        return softmax(m.dim, len(shape_in), what)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        op = "max_pool2d" if isinstance(m, nn.MaxPool2d) else "avg_pool2d"
        return pool(op, m.kernel_size, m.stride, m.padding, getattr(m, "ceil_mode", False), shape_in, what)
    if isinstance(m, nn.Upsample):
        return upsample(m.mode, m.scale_factor, m.size, what)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if square(m.output_size, what, "output_size") != 1:
            raise ExportError(f"{what} pools to {m.output_size}; only AdaptiveAvgPool2d(1) is supported")
        return [{"op": "global_avg_pool"}] + reshape((shape_in[0],), shape_out, what)
    if isinstance(m, (nn.Flatten, nn.Unflatten)):
        return reshape(shape_in, shape_out, what)
    if isinstance(m, (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)):
        return []
    raise ExportError(f"{what} has no layer in dgflow's layer language. Supported: {SUPPORTED}")


ACTIVATIONS = {
    F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", F.relu_: "relu", "relu": "relu", "relu_": "relu",
    torch.tanh: "tanh", F.tanh: "tanh", "tanh": "tanh", "tanh_": "tanh",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
}
RESHAPES = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, "flatten", "view", "reshape", "squeeze", "unsqueeze", "contiguous"}


def from_function(node, shape_in, shape_out):
    what = describe(node)
    target = node.target
    if target in ACTIVATIONS:
        return [{"op": ACTIVATIONS[target]}]
    if target in (F.leaky_relu, F.leaky_relu_, "leaky_relu"):
        return [{"op": "leaky_relu", "slope": float(argument(node, 1, "negative_slope", 0.01))}]
    if target in RESHAPES:
        return reshape(shape_in, shape_out, what)
    if target in (F.dropout, F.dropout2d):
        if argument(node, 2, "training", True):
            raise ExportError(f"{what} drops values at random (training=True); pass training=self.training and export in eval mode")
        return []
    if target in (F.softmax, torch.softmax, "softmax"):
        return softmax(argument(node, 1, "dim"), len(shape_in), what)
    if target in (F.avg_pool2d, F.max_pool2d):
        op = "avg_pool2d" if target is F.avg_pool2d else "max_pool2d"
        return pool(op, argument(node, 1, "kernel_size"), argument(node, 2, "stride"),
                    argument(node, 3, "padding", 0), argument(node, 4 if op == "avg_pool2d" else 5, "ceil_mode", False), shape_in, what)
    if target is F.adaptive_avg_pool2d:
        if square(argument(node, 1, "output_size"), what, "output_size") != 1:
            raise ExportError(f"{what}: only an output size of 1 is supported")
        return [{"op": "global_avg_pool"}] + reshape((shape_in[0],), shape_out, what)
    if target is F.interpolate:
        return upsample(argument(node, 3, "mode", "nearest"), argument(node, 2, "scale_factor"), argument(node, 1, "size"), what)
    if target in (torch.sum, torch.mean, "sum", "mean"):
        op = "global_sum_pool" if target in (torch.sum, "sum") else "global_avg_pool"
        dims = argument(node, 1, "dim")
        keep = argument(node, 2, "keepdim", False)
        rank = len(shape_in) + 1
        dims = {dims} if isinstance(dims, int) else set(dims or [])
        if len(shape_in) < 2 or {d % rank for d in dims} != set(range(2, rank)):
            raise ExportError(f"{what} reduces axes {sorted(dims)} of samples of shape {list(shape_in)}; only a sum or mean over every axis after the channels is supported")
        return [{"op": op}] + (reshape((shape_in[0],), shape_out, what) if keep else [])
    if target in (operator.mul, torch.mul, operator.add, torch.add, "mul", "add"):
        raise ExportError(f"{what}: a sum or product is supported only as a residual block, x + f(x) or g(x) + scale·f(x) with scale a number")
    raise ExportError(f"{what} has no layer in dgflow's layer language. Supported: {SUPPORTED}")


def softmax(dim, rank, what):
    if dim is None or dim % (rank + 1) != 1:
        raise ExportError(f"{what} takes a softmax over axis {dim}; only over the channels (dim=1) is supported")
    return [{"op": "softmax"}]


def pool(op, kernel, stride, padding, ceil_mode, shape_in, what):
    kernel = square(kernel, what, "kernel")
    if stride not in (None, [], ()) and square(stride, what, "stride") != kernel:
        raise ExportError(f"{what} has stride {stride} and kernel {kernel}; only non-overlapping windows (stride = kernel) are supported")
    if square(padding, what, "padding") != 0 or ceil_mode:
        raise ExportError(f"{what} pads or rounds up; only padding 0 without ceil_mode is supported")
    if len(shape_in) != 3 or shape_in[1] % kernel or shape_in[2] % kernel:
        raise ExportError(f"{what}: samples of shape {list(shape_in)} are not [c, h, w] with h and w multiples of {kernel}")
    return [{"op": op, "kernel": kernel}]


def upsample(mode, factor, size, what):
    if mode != "nearest" or size is not None or factor is None:
        raise ExportError(f"{what} upsamples with mode `{mode}`{' to a size' if size is not None else ''}; only nearest with an integer scale_factor is supported")
    values = {float(v) for v in (factor if isinstance(factor, (tuple, list)) else (factor,))}
    value = values.pop()
    if values or not value.is_integer() or value < 1:
        raise ExportError(f"{what} upsamples by {factor}; only the same integer factor on both axes is supported")
    return [{"op": "upsample2d", "factor": int(value)}]
