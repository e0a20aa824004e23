"""The text model's recipe (python/recipes/text_gan.py): its data split, vocabulary and n-gram
score follow src/data/text.rs and src/metrics/ngram.rs, and it reads back a packed bundle's
generator.

Run: DGFLOW=path/to/dgflow python -m unittest discover -s python/tests (./build.sh test does)."""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
import text_gan  # noqa: E402

from dgflow_export import export  # noqa: E402
from dgflow_export.check import find_dgflow  # noqa: E402


class Data(unittest.TestCase):
    def test_every_seventh_long_line_is_held_out(self):
        long = [f"line {i:02d} " + "x" * 30 for i in range(15)]
        text = "\r\n".join(long[:5] + ["too short"] + long[5:]) + "\n"
        train, held_out = text_gan.split_openings(text)
        # Counted among lines of 32+ characters only; the short one and the \r do not count.
        self.assertEqual(held_out, [long[3][:32], long[10][:32]])
        self.assertEqual(len(train), 13)
        self.assertTrue(all(len(line) == 32 for line in train + held_out))

    def test_vocabulary_ranks_by_count_then_character_and_folds_the_rest(self):
        vocab = text_gan.vocabulary(["bba", "cca", "a" * 3])
        self.assertEqual(vocab[:3], ["a", "b", "c"])
        self.assertEqual(vocab[-1], text_gan.UNKNOWN)
        codes = text_gan.encode(["ab?"], vocab)
        self.assertEqual(codes.tolist(), [[0, 1, len(vocab) - 1]])


class KnownWords(unittest.TestCase):
    def test_each_sentences_last_word_is_left_out_as_it_may_be_cut(self):
        known = text_gan.training_words(["the cat sat", "a dog ran"])
        self.assertEqual(known, {"the", "cat", "a", "dog"})
        self.assertEqual(text_gan.known_word_share(["the dgo cat sa", "a  cat"], known), (0.75, 4))
        self.assertEqual(text_gan.known_word_share(["oneword"], known), (0.0, 0))


class NgramScore(unittest.TestCase):
    def rows(self, *lines):
        return [list(line.encode()) for line in lines]

    def test_identical_zero_disjoint_one(self):
        a = self.rows("the cat sat on the mat", "a dog ran")
        self.assertEqual(text_gan.js_divergence(a, a, 4), 0.0)
        self.assertAlmostEqual(text_gan.js_divergence(a, self.rows("xyzw xyzw"), 4), 1.0, places=12)

    def test_one_shared_gram_of_three_is_two_thirds_of_a_bit(self):
        a, b = self.rows("abcdef"), self.rows("abcdxy")
        self.assertAlmostEqual(text_gan.js_divergence(a, b, 4), 2 / 3, places=12)
        self.assertEqual(text_gan.js_divergence(a, b, 4), text_gan.js_divergence(b, a, 4))


class BundleRoundTrip(unittest.TestCase):
    def test_a_packed_bundles_generator_is_read_back(self):
        dgflow = find_dgflow(None)
        torch.manual_seed(0)
        generator, critic = text_gan.Generator(8, 2), text_gan.Critic(8, 2)
        vocab = [chr(ord("!") + i) for i in range(text_gan.VOCAB_SIZE - 1)] + [text_gan.UNKNOWN]
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "tiny-text"
            export(generator, critic, bundle, name="tiny-text", latent_dim=text_gan.LATENT, vocab=vocab, dgflow=dgflow, verbose=False)
            subprocess.run([dgflow, "pack", str(bundle), "--encoding", "int8"], check=True, capture_output=True)
            loaded = text_gan.Generator(8, 2)
            text_gan.load_bundle_generator(loaded, bundle)
            z = torch.randn(32, text_gan.LATENT)
            with torch.no_grad():
                difference = (loaded(z) - generator(z)).abs().max().item()
            # int8 with a scale per row: close, not equal.
            self.assertGreater(difference, 0.0)
            self.assertLess(difference, 0.02)
            with self.assertRaisesRegex(SystemExit, "does not fit --width 16"):
                text_gan.load_bundle_generator(text_gan.Generator(16, 2), bundle)
            with self.assertRaisesRegex(SystemExit, "no generator.blocks.2.a.weight"):
                text_gan.load_bundle_generator(text_gan.Generator(8, 3), bundle)


if __name__ == "__main__":
    unittest.main()
