"""Export a PyTorch GAN as a dgflow-web bundle: `export(generator, critic, "my-gan", name=...,
latent_dim=...)`. See python/README.md."""

from .errors import ExportError
from .export import export
from .priors import Normal, Uniform

__all__ = ["export", "ExportError", "Normal", "Uniform"]
