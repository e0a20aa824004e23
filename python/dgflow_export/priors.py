"""The latent priors a bundle can name: N(0, σ²I) and a uniform box."""

import torch


class Normal:
    def __init__(self, sigma=1.0):
        self.sigma = float(sigma)

    def manifest(self):
        return {"kind": "normal", "sigma": self.sigma}

    def sample(self, n, dim, generator):
        return torch.randn(n, dim, generator=generator, dtype=torch.float64) * self.sigma


class Uniform:
    def __init__(self, low=-1.0, high=1.0):
        self.low, self.high = float(low), float(high)

    def manifest(self):
        return {"kind": "uniform", "low": self.low, "high": self.high}

    def sample(self, n, dim, generator):
        return self.low + (self.high - self.low) * torch.rand(n, dim, generator=generator, dtype=torch.float64)
