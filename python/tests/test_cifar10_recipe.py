"""The cifar10 model's recipe (python/recipes/cifar10_gan.py): its networks are the shipped
bundle's, layer for layer (what `--init` relies on), its averaging follows src/train/average.rs,
and bad data is refused by name.

Run: DGFLOW=path/to/dgflow python -m unittest discover -s python/tests (./build.sh test does)."""

import lzma
import sys
import tempfile
import unittest
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
import cifar10_gan  # noqa: E402

from dgflow_export.check import compare, find_dgflow  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "cifar10"


class ShippedBundle(unittest.TestCase):
    def test_the_shipped_networks_load_and_agree_with_the_engine(self):
        generator, critic = cifar10_gan.Generator(32), cifar10_gan.Critic(32)
        cifar10_gan.load_bundle(generator, critic, SHIPPED)
        latents = torch.randn(8, cifar10_gan.LATENT, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        result = compare(SHIPPED, generator.eval(), [critic.eval()], latents, (cifar10_gan.LATENT,), find_dgflow(None))
        self.assertTrue(result["within"], result)

    def test_another_width_is_refused_by_name(self):
        with self.assertRaisesRegex(SystemExit, "does not fit --width 16"):
            cifar10_gan.load_bundle(cifar10_gan.Generator(16), cifar10_gan.Critic(16), SHIPPED)

    def test_a_folder_without_weights_is_named(self):
        with tempfile.TemporaryDirectory() as tmp, self.assertRaisesRegex(SystemExit, "weights.safetensors is missing"):
            cifar10_gan.load_bundle(cifar10_gan.Generator(32), cifar10_gan.Critic(32), tmp)


class Averaging(unittest.TestCase):
    def test_statistics_are_the_mean_over_the_fixed_batches(self):
        torch.manual_seed(0)
        generator = cifar10_gan.Generator(4)
        inputs = []
        generator.bn0.register_forward_hook(lambda m, args, out: inputs.append(args[0].detach()))
        cifar10_gan.measure_statistics(generator, 8, torch.device("cpu"))
        self.assertEqual(len(inputs), cifar10_gan.STATISTICS_BATCHES)
        self.assertFalse(generator.training)
        means = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs]).mean(0)
        torch.testing.assert_close(generator.bn0.running_mean, means, rtol=1e-5, atol=1e-6)
        self.assertEqual(generator.bn0.momentum, 0.1)

    def test_settled_vectors_give_the_largest_singular_value(self):
        torch.manual_seed(1)
        critic = cifar10_gan.Critic(4)
        with torch.no_grad():
            critic.conv3.weight_orig.mul_(3.0)  # as if averaged: u, v no longer belong to W
        cifar10_gan.settle_spectral_vectors(critic)
        w = critic.conv3.weight_orig.flatten(1)
        sigma = critic.conv3.weight_u @ w @ critic.conv3.weight_v
        torch.testing.assert_close(sigma, torch.linalg.matrix_norm(w, ord=2), rtol=1e-4, atol=0)


class Data(unittest.TestCase):
    def test_flips_mirror_rows_and_values_span_minus_one_to_one(self):
        ramp = torch.arange(32, dtype=torch.uint8).mul(8).expand(6, 3, 32, 32).contiguous()
        x = cifar10_gan.real_batch(ramp, 64, torch.Generator().manual_seed(0))
        rising = x[:, 0, 0, 1] > x[:, 0, 0, 0]
        self.assertTrue(rising.any() and (~rising).any(), "some flipped, some not")
        torch.testing.assert_close(x[~rising], x[rising][:1].flip(3).expand_as(x[~rising]))
        self.assertEqual(x.min().item(), -1.0)

    def test_missing_and_damaged_batches_are_refused_by_name(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(SystemExit, "holds no CIFAR-10 training batch"):
                cifar10_gan.load_images(tmp)
            (Path(tmp) / "data_batch_2.bin.xz").write_bytes(lzma.compress(bytes(cifar10_gan.RECORD)))
            with self.assertRaisesRegex(SystemExit, "batch 2 does not match its SHA-256"):
                cifar10_gan.load_images(tmp)

    def test_batch_numbers_are_checked(self):
        self.assertEqual(cifar10_gan.parse_batches("1,3"), [1, 3])
        for bad in ("0", "6", "1,x", ""):
            with self.assertRaisesRegex(SystemExit, "batch numbers 1 to 5"):
                cifar10_gan.parse_batches(bad)


if __name__ == "__main__":
    unittest.main()
