"""Small random PyTorch GANs of every supported layer kind export, reload in dgflow and agree with
PyTorch within 1e-4 (samples, logits, ∇_z of the logit); what cannot be mapped is refused by name.

Run: DGFLOW=path/to/dgflow python -m unittest discover -s python/tests (./build.sh test does)."""

import hashlib
import json
import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file
from torch import nn
from torch.nn.utils import parametrizations, spectral_norm

from dgflow_export import ExportError, Normal, Uniform, export
from dgflow_export import check, spectral

SN = spectral_norm  # the hook form; `parametrizations.spectral_norm` is the newer one


def settle(module, example_shape, passes=3):
    """A few training-mode passes: batch-norm statistics and spectral-norm vectors as after training."""
    module.train()
    with torch.no_grad():
        for _ in range(passes):
            module(torch.randn(16, *example_shape))
    return module


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.size(0), *self.shape)


class DcganGenerator(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, 16 * 4 * 4)
        self.bn0 = nn.BatchNorm2d(16)
        self.up1 = SN(nn.ConvTranspose2d(16, 8, 4, 2, 1))
        self.bn1 = nn.BatchNorm2d(8)
        self.out = nn.ConvTranspose2d(8, 3, 4, 2, 1)

    def forward(self, z):
        h = self.fc(z).view(-1, 16, 4, 4)
        h = F.relu(self.bn0(h))
        h = torch.relu(self.bn1(self.up1(h)))
        return torch.tanh(self.out(h))


class DcganCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = SN(nn.Conv2d(3, 8, 3, 1, 1))
        self.c2 = SN(nn.Conv2d(8, 16, 4, 2, 1))
        self.bn = nn.BatchNorm2d(16, affine=False)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.3)
        self.fc = SN(nn.Linear(16 * 4 * 4, 1))

    def forward(self, x):
        h = F.leaky_relu(self.c1(x), 0.1)
        h = nn.functional.leaky_relu(self.bn(self.c2(h)), negative_slope=0.2)
        h = self.drop(self.pool(h))
        return self.fc(torch.flatten(h, 1)).view(-1)


class GeneratorBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.c1 = parametrizations.spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.bn2(self.c1(h))))
        return self.skip(F.interpolate(x, scale_factor=2)) + h


class ResnetGenerator(nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        self.fc = nn.Linear(dim, 8 * 4 * 4)
        self.b1, self.b2 = GeneratorBlock(8, 8), GeneratorBlock(8, 4)
        self.bn, self.out = nn.BatchNorm2d(4), nn.Conv2d(4, 3, 3, 1, 1)

    def forward(self, z):
        h = self.b2(self.b1(self.fc(z).view(z.shape[0], 8, 4, 4)))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class CriticBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = SN(nn.Conv2d(cin, cout, 3, 1, 1))
        self.c2 = SN(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = SN(nn.Conv2d(cin, cout, 1))

    def forward(self, x):
        h = F.avg_pool2d(self.c2(F.relu(self.c1(F.relu(x)))), 2)
        return F.avg_pool2d(self.skip(x), 2) + h


class ResnetCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1, self.b2 = CriticBlock(3, 8), CriticBlock(8, 8)
        self.c = nn.Conv2d(8, 8, 3, 1, 1)
        self.fc = SN(nn.Linear(8, 1))

    def forward(self, x):
        h = self.b2(self.b1(x))
        h = h + 0.5 * self.c(F.relu(h))  # a scaled identity residual
        return self.fc(torch.sum(F.relu(h), dim=(2, 3)))


class AllSorts(nn.Module):
    """The remaining kinds: sigmoid, nn.Upsample, AvgPool2d, AdaptiveAvgPool2d, mean, Identity, Unflatten."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, 1, 1)
        self.pool = nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 1)
        self.skip = nn.Identity()

    def forward(self, x):
        h = torch.sigmoid(self.up(self.pool(self.c(x))))
        pooled = self.skip(self.gap(h).flatten(1))  # [4] through AdaptiveAvgPool2d(1)
        mean = h.mean(dim=(2, 3), keepdim=True).squeeze(3).squeeze(2)  # [4] through a mean
        both = F.dropout(pooled + mean, 0.5, training=False)  # two branches from h: a residual
        return self.fc(torch.reshape(both.unsqueeze(1), (-1, 4)))


class TextGenerator(nn.Module):
    def __init__(self, dim=5, vocab=4, length=6):
        super().__init__()
        self.fc = nn.Linear(dim, 8 * length)
        self.unflatten = nn.Unflatten(1, (8, length))
        self.conv = SN(nn.Conv1d(8, vocab, 3, padding=1))
        self.softmax = nn.Softmax(dim=1)

    def forward(self, z):
        return self.softmax(self.conv(torch.tanh(self.unflatten(self.fc(z)))))


class TextCritic(nn.Module):
    def __init__(self, vocab=4, length=6):
        super().__init__()
        self.conv = nn.Conv1d(vocab, 8, 3, padding=1)
        self.fc = nn.Linear(8 * length, 1)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).reshape(x.shape[0], -1))


class Tests(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(1)
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)

    def export(self, generator, critic, **kwargs):
        return export(generator, critic, self.dir / "bundle", name="test", verbose=False, **kwargs)

    def assert_agrees(self, result):
        self.assertTrue(result["within"], result)
        for quantity in ("samples", "logits", "gradient"):
            self.assertLess(result[quantity], check.TOLERANCE, quantity)

    def test_dcgan_with_spectral_norm_batch_norm_pooling_and_dropout(self):
        g, d = settle(DcganGenerator(), (8,)), settle(DcganCritic(), (3, 16, 16))
        self.assert_agrees(self.export(g, d, latent_dim=8))
        manifest = json.loads((self.dir / "bundle" / "manifest.json").read_text())
        self.assertEqual(manifest["sample_shape"], [3, 16, 16])
        self.assertEqual(manifest["value_range"], [-1.0, 1.0])
        self.assertEqual(manifest["kind"], "image")
        ops = [layer["op"] for layer in manifest["critic"]["layers"]]
        self.assertEqual(ops, ["conv2d", "leaky_relu", "conv2d", "batch_norm", "leaky_relu", "max_pool2d", "reshape", "linear"])
        weights = load_file(str(self.dir / "bundle" / "weights.safetensors"))
        self.assertEqual((self.dir / "bundle" / "weights.safetensors").stat().st_mode & 0o444, 0o444, "readable by a web server")
        self.assertIn("critic.c1.u", weights)
        self.assertIn("generator.up1.u", weights)  # a transposed convolution's u runs over its outputs
        self.assertEqual(weights["critic.bn.weight"].tolist(), [1.0] * 16)  # affine=False

    def test_snresnet_blocks_with_both_spectral_norm_forms_and_a_scaled_residual(self):
        g, d = settle(ResnetGenerator(), (6,)), settle(ResnetCritic(), (3, 16, 16))
        self.assert_agrees(self.export(g, d, latent_dim=6, prior=Normal(0.5)))
        manifest = json.loads((self.dir / "bundle" / "manifest.json").read_text())
        blocks = [layer for layer in manifest["generator"]["layers"] if layer["op"] == "residual"]
        self.assertEqual(len(blocks), 2)
        self.assertEqual([layer["op"] for layer in blocks[0]["shortcut"]], ["upsample2d", "conv2d"])
        scaled = [layer for layer in manifest["critic"]["layers"] if layer["op"] == "residual" and layer["scale"] != 1]
        self.assertEqual(len(scaled), 1)
        self.assertEqual(scaled[0]["scale"], 0.5)
        self.assertNotIn("shortcut", scaled[0])

    def test_a_generator_taking_latents_as_1x1_images(self):
        g = nn.Sequential(nn.ConvTranspose2d(4, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Sigmoid())
        d = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, 1, 0))
        self.assert_agrees(self.export(g, d, latent_dim=4, latent_shape=(4, 1, 1)))
        manifest = json.loads((self.dir / "bundle" / "manifest.json").read_text())
        self.assertEqual(manifest["generator"]["layers"][0], {"op": "reshape", "shape": [4, 1, 1]})
        self.assertEqual(manifest["value_range"], [0.0, 1.0])
        self.assertEqual(manifest["critic"]["layers"][-1], {"op": "reshape", "shape": [1]})

    def test_every_other_layer_kind(self):
        g = nn.Sequential(nn.Linear(3, 64), nn.Unflatten(1, (1, 8, 8)), nn.Tanh())
        self.assert_agrees(self.export(g, settle(AllSorts(), (1, 8, 8)), latent_dim=3, prior=Uniform(-1, 1)))

    def test_text_with_a_vocabulary_and_a_uniform_prior(self):
        g, d = settle(TextGenerator(), (5,)), TextCritic()
        self.assert_agrees(self.export(g, d, latent_dim=5, vocab="abc ", prior=Uniform(-2, 2)))
        manifest = json.loads((self.dir / "bundle" / "manifest.json").read_text())
        self.assertEqual((manifest["kind"], manifest["vocab"]), ("text", ["a", "b", "c", " "]))
        self.assertEqual(manifest["latent"]["prior"], {"kind": "uniform", "low": -2.0, "high": 2.0})

    def test_points_of_a_toy_with_a_corrector_whose_logit_adds(self):
        g = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2))
        d = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        corrector = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        terms = [("corrector", "log p_G/p_model", corrector)]
        self.assert_agrees(self.export(g, d, latent_dim=2, value_range=(-2, 2), critic_terms=terms, toy="swissroll"))
        manifest = json.loads((self.dir / "bundle" / "manifest.json").read_text())
        self.assertEqual(manifest["critic_terms"][0]["name"], "corrector")
        self.assertEqual(manifest["toy"], "swissroll")

    def test_the_check_notices_a_bundle_that_disagrees(self):
        g = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
        d = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        self.export(g, d, latent_dim=2, value_range=(-2, 2), check_samples=0)
        bundle = self.dir / "bundle"
        weights = load_file(str(bundle / "weights.safetensors"))
        weights["critic.2.bias"] = weights["critic.2.bias"] + 0.01
        save_file(weights, str(bundle / "weights.safetensors"))
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["weights"]["sha256"] = hashlib.sha256((bundle / "weights.safetensors").read_bytes()).hexdigest()
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        latents = torch.randn(4, 2, dtype=torch.float64)
        result = check.compare(bundle, g, [d], latents, (2,))
        self.assertGreater(result["logits"], check.TOLERANCE)
        self.assertLess(result["samples"], check.TOLERANCE)
        self.assertFalse(result["within"])
        self.assertIn("DO NOT agree", check.report(result, 4)[1])

    def test_a_latent_at_a_relu_kink_is_reported_and_a_wrong_gradient_elsewhere_fails(self):
        g = nn.Linear(2, 2)
        d = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
        with torch.no_grad():
            g.weight.copy_(torch.eye(2))
            g.bias.zero_()
            d[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
            d[0].bias.zero_()
            d[2].weight.fill_(1.0)
        # Latent 1's ReLU input is exactly 0: PyTorch takes the gradient there as 0, float32
        # rounding may land on the other side, where it is (1, −1).
        latents = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.3, 0.1]], dtype=torch.float64)
        expected = check.reference(g, [d], latents, (2,))
        other_side = {k: v.copy() for k, v in expected.items()}
        other_side["gradient"][1] = [1.0, -1.0]
        result = check.judge(expected, other_side, g, [d], latents, (2,))
        self.assertEqual([k[0] for k in result["kinks"]], [1])
        self.assertTrue(result["within"], result)
        self.assertIn("latent 1's gradient differs by 1.0e+00, but it sits at a ReLU kink", check.report(result, 3)[1])
        # The same jump on a latent far from the kink is an error.
        wrong = {k: v.copy() for k, v in expected.items()}
        wrong["gradient"][2] = [0.0, 0.0]
        result = check.judge(expected, wrong, g, [d], latents, (2,))
        self.assertEqual(result["kinks"], [])
        self.assertFalse(result["within"])

    def refused(self, generator, critic, *fragments, **kwargs):
        kwargs.setdefault("latent_dim", 2)
        kwargs.setdefault("value_range", (-1, 1))
        with self.assertRaises(ExportError) as caught:
            self.export(generator, critic, **kwargs)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))
        return str(caught.exception)

    def test_unsupported_modules_and_ops_are_refused_by_name(self):
        g = nn.Sequential(nn.Linear(2, 8), nn.GELU(), nn.Linear(8, 2))
        d = nn.Sequential(nn.Linear(2, 1))
        self.refused(g, d, "generator", "module `1` (GELU)", "Supported:")

        class Concat(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 1)

            def forward(self, x):
                return self.fc(torch.cat([x, x], 1))

        self.refused(nn.Linear(2, 2), Concat(), "critic", "function `cat`")
        grouped = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2 * 2 * 2, 1))
        image = nn.Sequential(nn.Linear(2, 32), nn.Unflatten(1, (2, 4, 4)), nn.Tanh())
        self.refused(image, grouped, "module `0` (Conv2d)", "groups = 2", kind="image")
        bilinear = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2)), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Tanh())
        self.refused(bilinear, nn.Sequential(nn.Flatten(), nn.Linear(16, 1)), "Upsample", "bilinear")

    def test_the_written_u_gives_the_engine_exactly_the_sigma_pytorch_divides_by(self):
        weight = torch.randn(6, 4, 3, 3, dtype=torch.float64)
        matrix = spectral.as_matrix(weight, 0).numpy()
        singular = np.linalg.svd(matrix, compute_uv=False)
        for sigma in (singular[0], 0.5 * (singular[0] + singular[1]), singular[1] * 1.001, 0.5 * (singular[-1] + singular[-2])):
            u = spectral.u_for_sigma(weight, 0, sigma, "test")
            # The engine's σ from u alone: ‖W v‖ with v = normalise(Wᵀu) (src/model/spectral.rs).
            v = matrix.T @ u
            engine = np.linalg.norm(matrix @ (v / np.linalg.norm(v)))
            self.assertAlmostEqual(engine / sigma, 1.0, places=10)
        with self.assertRaises(ExportError):
            spectral.u_for_sigma(weight, 0, 1.01 * singular[0], "test")

    def test_untrained_spectral_norm_and_batch_statistics_are_refused_with_a_way_out(self):
        d = nn.Sequential(SN(nn.Linear(2, 16)), nn.ReLU(), nn.Linear(16, 1))  # vectors never updated
        with torch.no_grad():
            d[0].weight_u.copy_(-d[0].weight_u)  # σ = uᵀWv < 0: no state of the engine's reaches it
        self.refused(nn.Linear(2, 2), d, "module `0` (Linear)", "train() mode")
        no_stats = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 1))
        self.refused(nn.Linear(2, 2), no_stats, "BatchNorm1d", "track_running_stats")

    def test_sums_other_than_residual_blocks_are_refused(self):
        class BothScaled(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.out = nn.Linear(2, 1)

            def forward(self, x):
                return self.out(0.5 * x + 0.5 * self.fc(x))

        self.refused(nn.Linear(2, 2), BothScaled(), "scales both branches")

        class Bias(nn.Module):
            def __init__(self):
                super().__init__()
                self.shift = nn.Parameter(torch.ones(2))
                self.out = nn.Linear(2, 1)

            def forward(self, x):
                return self.out(x + self.shift)

        self.refused(nn.Linear(2, 2), Bias(), "critic")

    def test_bad_arguments_are_named(self):
        g, d = nn.Linear(2, 2), nn.Linear(2, 1)
        with self.assertRaises(ExportError) as caught:
            export(g, d, self.dir / "x", name="My Model", latent_dim=2, verbose=False)
        self.assertIn("lower-case", str(caught.exception))
        self.refused(g, d, "latent_dim", latent_dim=0)
        self.refused(g, d, "latent_shape", latent_shape=(3, 1, 1))
        self.refused(g, d, "output range is unknown", value_range=None)
        self.refused(nn.Sequential(nn.Linear(2, 5)), nn.Linear(5, 1), "give kind=")
        self.refused(g, d, "/nonexistent/dgflow", dgflow="/nonexistent/dgflow")


if __name__ == "__main__":
    unittest.main()
