//! The shared data files as the project reads them: CIFAR-10 (checksums, sizes, labels) and the
//! text corpus (checksums, the held-out split, the vocabulary).

use std::path::PathBuf;

use dgflow::data::cifar::{CLASSES, Cifar, Split};
use dgflow::data::text::{Corpus, LENGTH, UNKNOWN, VOCAB_SIZE, Vocab};

/// The shared data folder sits beside the repository (../shared/data), in CI as here;
/// DGFLOW_DATA points elsewhere.
fn data_dir() -> PathBuf {
    std::env::var_os("DGFLOW_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        PathBuf::from,
    )
}

fn cifar_dir() -> PathBuf {
    data_dir().join("cifar-10-batches-bin")
}

#[test]
fn the_shared_cifar10_test_split_verifies_and_is_balanced() {
    let test = Cifar::load(&cifar_dir(), Split::Test).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(test.len(), 10_000);
    let mut per_class = [0usize; 10];
    test.labels.iter().for_each(|&l| per_class[l as usize] += 1);
    assert_eq!(per_class, [1000; 10], "{:?}", CLASSES);
    let mean = test.image(0).sum::<f32>() / 3072.0;
    assert!((-1.0..=1.0).contains(&mean));
}

#[test]
fn the_shared_text_corpus_gives_a_held_out_split_of_over_10k_sentences() {
    let corpus = Corpus::load(&data_dir().join("text")).unwrap_or_else(|e| panic!("{e}"));
    // 76,764 lines have at least 32 characters (shared/data/README.md's counts); 1 in 7 is held out.
    assert_eq!(corpus.train.len() + corpus.held_out.len(), 76_764);
    assert!(corpus.held_out.len() >= 10_000, "{}", corpus.held_out.len());
    assert!(corpus.train.iter().all(|l| l.chars().count() == LENGTH));
    let vocab = Vocab::from_lines(&corpus.train, VOCAB_SIZE);
    assert_eq!(vocab.len(), VOCAB_SIZE);
    assert_eq!(vocab.symbols[0], " ", "space is the most frequent character");
    let unknown = (VOCAB_SIZE - 1) as u16;
    let folded =
        corpus.held_out.iter().flat_map(|l| vocab.encode(l)).filter(|&s| s == unknown).count();
    assert!(
        (folded as f64) < 0.005 * (corpus.held_out.len() * LENGTH) as f64,
        "{folded} characters became {UNKNOWN}"
    );
}
