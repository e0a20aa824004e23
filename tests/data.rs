//! The shared CIFAR-10 files as the project reads them: checksums, sizes and labels.

use std::path::PathBuf;

use dgflow::data::cifar::{CLASSES, Cifar, Split};

/// The shared data folder sits beside the repository (../shared/data), in CI as here;
/// DGFLOW_DATA points elsewhere.
fn cifar_dir() -> PathBuf {
    let data = std::env::var_os("DGFLOW_DATA").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"), PathBuf::from);
    data.join("cifar-10-batches-bin")
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
