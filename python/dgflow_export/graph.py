"""A network's traced graph → the layer language's list of layers.

`torch.fx` traces the module into a graph of calls; shape propagation with an example batch gives
every value's shape. The graph must be a chain from the input to the output, except for sums of
two branches that start from one value (residual blocks), which become `residual` layers:
x → shortcut(x) + scale·f(x). Walking back from the output, a sum's branches are followed back to
their latest common ancestor, the value the block forks from; each branch is again such a chain.
"""

import numbers
import operator

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .errors import ExportError
from .layers import convert, describe, per_sample
from .modules import eval_copy

SUMS = (operator.add, torch.add, "add")
PRODUCTS = (operator.mul, torch.mul, "mul")


class Tracer(fx.Tracer):
    """Keeps every torch.nn module a leaf (so spectral-norm modules stay whole and unknown ones are
    named), and traces through the user's own modules."""

    def is_leaf_module(self, m, qualified_name):
        return type(m).__module__.startswith("torch.nn") and not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def trace(module, example, what):
    """The module (a copy, in eval mode) traced and shape-propagated on `example`."""
    module = eval_copy(module)
    if Tracer().is_leaf_module(module, ""):  # one layer on its own: trace it as a sequence of one
        module = nn.Sequential(module)
    try:
        graph = Tracer().trace(module)
    except Exception as e:  # fx raises many kinds (control flow on values, unsupported Python)
        raise ExportError(f"the {what} cannot be traced by torch.fx: {e}. Write its forward without Python control flow that depends on tensor values") from None
    traced = fx.GraphModule(module, graph)
    with torch.no_grad():
        try:
            ShapeProp(traced).propagate(example)
        except Exception as e:
            raise ExportError(f"the {what} fails on an example batch of shape {list(example.shape)}: {e}") from None
    return traced


def network_layers(module, example, what):
    """(layers, tensors by `<layer name>.<field>`) of a network, traced with an example batch."""
    traced = trace(module, example, what)
    nodes = list(traced.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ExportError(f"the {what}'s forward takes {len(inputs)} arguments; it must take one batch")
    output = next(n for n in nodes if n.op == "output").args[0]
    if not isinstance(output, fx.Node):
        raise ExportError(f"the {what} returns {type(output).__name__}; it must return one tensor")
    walk = Walk(traced, {n: i for i, n in enumerate(nodes)})
    try:
        layers = walk.chain(inputs[0], output)
    except ExportError as e:
        raise ExportError(f"cannot export the {what}: {e}") from None
    return layers, walk.tensors


class Walk:
    def __init__(self, traced, order):
        self.traced, self.order = traced, order
        self.tensors, self.seen = {}, set()

    def module(self, node):
        return self.traced.get_submodule(node.target) if node.op == "call_module" else None

    def chain(self, start, end):
        """The layers from value `start` to value `end`, which must be reached from it."""
        layers = []
        node = end
        while node is not start:
            if node.op in ("placeholder", "get_attr") or node in self.seen:
                raise ExportError(
                    f"`{node.name}` is used where only the input's path can lead; the layer language "
                    "holds chains of layers and residual sums of two branches from one value"
                )
            self.seen.add(node)
            if node.target in SUMS and len(self.tensor_args(node)) == 2:
                block, node = self.residual(node)
                layers[:0] = [block]
            else:
                converted, node = convert(node, self.module(node), self.tensors)
                layers[:0] = converted
        return layers

    def tensor_args(self, node):
        return [a for a in node.all_input_nodes if "tensor_meta" in a.meta]

    def residual(self, node):
        """shortcut(x) + scale·f(x) for a sum of two branches from x."""
        a, b = self.tensor_args(node)
        if node.kwargs.get("alpha", 1) != 1:
            raise ExportError(f"{describe(node)} scales a branch with alpha; write scale * f(x)")
        fork = max(self.ancestors(a) & self.ancestors(b), key=self.order.get, default=None)
        if fork is None:
            raise ExportError(f"{describe(node)} adds two values that do not both come from the input")
        (a, scale_a), (b, scale_b) = self.scaled(a, fork), self.scaled(b, fork)
        if scale_a != 1 and scale_b != 1:
            raise ExportError(f"{describe(node)} scales both branches of a sum; only one may be scaled")
        # The scaled branch, or else the one that is not the identity, is f; the other the shortcut.
        if scale_b != 1 or (scale_a == 1 and a is fork):
            (a, scale_a), (b, scale_b) = (b, scale_b), (a, scale_a)
        inner, shortcut = self.chain(fork, a), self.chain(fork, b)
        if scale_a == 1 and len(shortcut) > len(inner):  # the longer branch reads as the block's body
            inner, shortcut = shortcut, inner
        block = {"op": "residual", "layers": inner, "scale": float(scale_a)}
        if shortcut:
            block["shortcut"] = shortcut
        if per_sample(a) != per_sample(b):
            raise ExportError(f"{describe(node)} adds shapes {list(per_sample(a))} and {list(per_sample(b))}")
        return block, fork

    def scaled(self, node, fork):
        """(the branch's value before a final multiplication by a number, that number)."""
        if node is not fork and node.target in PRODUCTS:
            numbers_ = [x for x in node.args if isinstance(x, numbers.Real)]
            tensors = self.tensor_args(node)
            if len(numbers_) == 1 and len(tensors) == 1:
                self.seen.add(node)
                return tensors[0], numbers_[0]
        return node, 1

    def ancestors(self, node):
        """`node` and every value it is computed from."""
        found, stack = set(), [node]
        while stack:
            n = stack.pop()
            if n not in found:
                found.add(n)
                stack.extend(n.all_input_nodes)
        return found
