"""A written bundle's tensors read back: `dgflow pack --encoding int8` stores a weight as int8
values with one `<name>:scale` per slice of its first axis."""


def dequantised(weights):
    """float32 tensors of a safetensors dict (safetensors.torch.load_file), int8 ones times their
    scale; the `:scale` entries themselves left out."""
    out = {}
    for key, value in weights.items():
        if key.endswith(":scale"):
            continue
        value = value.float()
        if f"{key}:scale" in weights:
            value = value * weights[f"{key}:scale"].float().view(-1, *[1] * (value.dim() - 1))
        out[key] = value
    return out
