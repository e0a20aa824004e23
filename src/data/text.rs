//! The text corpus of the language GAN, read from the shared data folder: the One Billion Word
//! benchmark's held-out sentences (the paper's domain) plus 17 tokenised Gutenberg books (for
//! volume), one sentence per line. As in WGAN-GP's language setup a sample is the first 32
//! characters of a line; only lines at least that long are used, so no padding is needed.
//! Every 7th line is held out for evaluation (JS-4/JS-6 need ≥ 10k real sentences).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

pub const LENGTH: usize = 32;
/// Symbols of the vocabulary, the rarest characters folded into one "unknown" symbol.
pub const VOCAB_SIZE: usize = 64;
pub const UNKNOWN: &str = "\u{fffd}";
const HELD_OUT_EVERY: usize = 7;

/// The files under `text/` and their SHA-256, as listed in shared/data/README.md.
const FILES: [(&str, &str); 19] = [
    (
        "billion-word-heldout/1b_benchmark.dev.tokens",
        "17cb1e765cc0ccbf2b25d6dfd5e7d03bc776882e579e77ed9626d65eb3bbdec7",
    ),
    (
        "billion-word-heldout/1b_benchmark.test.tokens",
        "63c566dee364763db09e6bb9abd83f77830c4932fc852bf2f9a563b527654fd0",
    ),
    (
        "gutenberg-nltk-tokenized/austen-emma.txt",
        "76a28c636265905bcf72712d80d1c6e773e55279b919b843825cb2770b99e59e",
    ),
    (
        "gutenberg-nltk-tokenized/austen-persuasion.txt",
        "8e3cd75843eae6578c0b8f48350615ed653910b3f645e514391e07ba5eb2e40c",
    ),
    (
        "gutenberg-nltk-tokenized/austen-sense.txt",
        "22327c09d537811b7f15006aaad69ad25d98b8c5f2a6fb0203ec13e9f3982d84",
    ),
    (
        "gutenberg-nltk-tokenized/blake-poems.txt",
        "160dc526b20d661fa5b86b31dda98b1e869e6a6eadf258b99108d43ed09c961d",
    ),
    (
        "gutenberg-nltk-tokenized/bryant-stories.txt",
        "957ece2242697855a68d6a0216a0c6443dab7ed2d17da3f86e379035b849fca2",
    ),
    (
        "gutenberg-nltk-tokenized/burgess-busterbrown.txt",
        "4e4242a7c5c7e0703ea9b9daa1b6b61e7cafca902748a4be64d9ec9b55b09c6a",
    ),
    (
        "gutenberg-nltk-tokenized/carroll-alice.txt",
        "b430be55ff4362199591ff6958afbcd0dc4e1a28d0d9c6796b780c207d7c8760",
    ),
    (
        "gutenberg-nltk-tokenized/chesterton-ball.txt",
        "e21f058f0cbf7c14189c973006ba214b90c733d581ca0fc69b99e3d75b068445",
    ),
    (
        "gutenberg-nltk-tokenized/chesterton-brown.txt",
        "db337dcffb50771b2415b69a2775d372578804e65f8fdec6e53c096b95d95e99",
    ),
    (
        "gutenberg-nltk-tokenized/chesterton-thursday.txt",
        "10e1acb6c64ba4d2ca89697c7bf923798797f5c24f139b6e451b5b7d6d7482d0",
    ),
    (
        "gutenberg-nltk-tokenized/edgeworth-parents.txt",
        "bd9bc2cfaadf7acbffa8dd63569041624a659cf753e5d8d31c7300c1c004f297",
    ),
    (
        "gutenberg-nltk-tokenized/melville-moby_dick.txt",
        "07fb87e563dbbe9523179e9ba2ec00dcd0e293641dbfd3db25d2f915430d3d8b",
    ),
    (
        "gutenberg-nltk-tokenized/milton-paradise.txt",
        "85c5b1cfe49474f4c19c54b8f997b839f16253ed282a86c93d56542e196ece05",
    ),
    (
        "gutenberg-nltk-tokenized/shakespeare-caesar.txt",
        "36b5d937cbfe110de7720277d819e1cc41cf9ddb053b97a26d9df67f31c94200",
    ),
    (
        "gutenberg-nltk-tokenized/shakespeare-hamlet.txt",
        "6d06298ee6448bd48a2250ee00a4a2d9a9e4487a46c75ee22271ccfc0cf3d6ef",
    ),
    (
        "gutenberg-nltk-tokenized/shakespeare-macbeth.txt",
        "444ea649552ad86fbb74b0926f8a3f888264a04e30308191afa544f51e607976",
    ),
    (
        "gutenberg-nltk-tokenized/whitman-leaves.txt",
        "802545502fcc24ef7ad48ec1e61db70fd7b4002662cf6d0a05a4619052cae83d",
    ),
];

/// 32-character sentence openings, split into training and held-out lines.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub train: Vec<String>,
    pub held_out: Vec<String>,
}

impl Corpus {
    /// Reads every file of `dir` (the shared `text/` folder), checking each one's SHA-256.
    pub fn load(dir: &Path) -> Result<Corpus> {
        let mut corpus = Corpus { train: Vec::new(), held_out: Vec::new() };
        for (name, sha256) in FILES {
            let path = dir.join(name);
            let shown = path.display().to_string();
            let bytes = super::read_verified(&path, sha256, "the text corpus")?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::weights(&shown, format!("not UTF-8 text ({e})")))?;
            corpus.add(&text);
        }
        Ok(corpus)
    }

    fn add(&mut self, text: &str) {
        for (i, line) in text.lines().filter(|l| l.chars().count() >= LENGTH).enumerate() {
            let opening: String = line.chars().take(LENGTH).collect();
            if i % HELD_OUT_EVERY == HELD_OUT_EVERY / 2 {
                self.held_out.push(opening)
            } else {
                self.train.push(opening)
            }
        }
    }
}

/// Characters by frequency; the rarest share the last symbol, `UNKNOWN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    pub symbols: Vec<String>,
    index: HashMap<char, usize>,
}

impl Vocab {
    /// The `size − 1` most frequent characters of `lines` (ties broken by character) and `UNKNOWN`.
    pub fn from_lines(lines: &[String], size: usize) -> Vocab {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for c in lines.iter().flat_map(|l| l.chars()) {
            *counts.entry(c).or_default() += 1;
        }
        let mut ranked: Vec<(char, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut symbols: Vec<String> =
            ranked.into_iter().take(size - 1).map(|(c, _)| c.to_string()).collect();
        symbols.push(UNKNOWN.into());
        Vocab::from_symbols(symbols)
    }

    /// The vocabulary of a bundle's manifest (single characters, the last one `UNKNOWN`).
    pub fn from_symbols(symbols: Vec<String>) -> Vocab {
        let index = symbols
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.chars().next().map(|c| (c, i)))
            .collect();
        Vocab { symbols, index }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    pub fn encode(&self, line: &str) -> Vec<u16> {
        let unknown = self.symbols.len() - 1;
        line.chars().map(|c| *self.index.get(&c).unwrap_or(&unknown) as u16).collect()
    }

    /// Symbol indices as channel-first one-hot values, `[vocab, length]` — the critic's input layout.
    pub fn one_hot(&self, indices: &[u16]) -> Vec<f32> {
        let mut out = vec![0.0; self.len() * indices.len()];
        for (pos, &symbol) in indices.iter().enumerate() {
            out[symbol as usize * indices.len() + pos] = 1.0;
        }
        out
    }
}

/// Argmax symbol indices of generated softmax outputs (`n` samples of `[vocab, length]`).
pub fn argmax_indices(samples: &[f32], n: usize, vocab: usize, length: usize) -> Vec<Vec<u16>> {
    samples[..n * vocab * length]
        .chunks_exact(vocab * length)
        .map(|s| {
            (0..length)
                .map(|pos| {
                    (0..vocab)
                        .max_by(|&a, &b| s[a * length + pos].total_cmp(&s[b * length + pos]))
                        .unwrap_or(0) as u16
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_to_32_characters_and_every_seventh_is_held_out() {
        let mut corpus = Corpus { train: vec![], held_out: vec![] };
        let long = "a".repeat(40);
        let text: String = (0..14)
            .map(|i| if i == 5 { "too short\n".to_string() } else { format!("{long}\n") })
            .collect();
        corpus.add(&text);
        assert_eq!(corpus.train.len() + corpus.held_out.len(), 13);
        assert_eq!(corpus.held_out.len(), 2);
        assert!(corpus.train.iter().chain(&corpus.held_out).all(|l| l.chars().count() == LENGTH));
    }

    #[test]
    fn vocabulary_ranks_characters_and_folds_rare_ones() {
        let lines = vec!["aaab".to_string(), "bbc é".to_string()];
        let vocab = Vocab::from_lines(&lines, 4);
        assert_eq!(vocab.symbols, ["a", "b", " ", UNKNOWN]);
        assert_eq!(vocab.encode("abcé"), [0, 1, 3, 3]);
        assert_eq!(Vocab::from_symbols(vocab.symbols.clone()), vocab);
        let hot = vocab.one_hot(&[1, 0]);
        assert_eq!(hot, [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(argmax_indices(&hot, 1, 4, 2), [vec![1, 0]]);
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Corpus::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("1b_benchmark.dev.tokens") && err.contains("shared data folder"),
            "{err}"
        );
        std::fs::create_dir_all(dir.path().join("billion-word-heldout")).unwrap();
        std::fs::write(dir.path().join("billion-word-heldout/1b_benchmark.dev.tokens"), "x")
            .unwrap();
        let err = Corpus::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("SHA-256") && err.contains("damaged"), "{err}");
    }
}
