//! Every bundle shipped in models/ loads, fits its architecture, refines, and has a model card;
//! so does the classifier behind the image metrics.

use std::path::{Path, PathBuf};

use dgflow::bundle::Bundle;
use dgflow::flow::{self, FlowConfig};
use dgflow::metrics::classifier::{self, Classifier};
use dgflow::model::Model;

/// Folders of models/ whose manifest has the given format prefix.
fn shipped(format: &str) -> Vec<PathBuf> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
        .expect("models/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p.join("manifest.json"))
                .is_ok_and(|m| m.contains(&format!("\"format\": \"{format}")))
        })
        .collect()
}

#[test]
fn every_shipped_bundle_loads_refines_and_has_a_card() {
    let dirs = shipped("dgflow-bundle/");
    assert!(!dirs.is_empty(), "models/ holds no bundles");
    let device = dgflow::device::cpu();
    for dir in dirs {
        let bundle = Bundle::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            bundle.manifest.name,
            name,
            "{}: the manifest's name is the folder's",
            dir.display()
        );
        let card = std::fs::read_to_string(dir.join("CARD.md"))
            .unwrap_or_else(|_| panic!("{}: CARD.md is missing", dir.display()));
        assert!(card.contains(&name), "{}: the card should name its model", dir.display());
        let size: u64 =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(size < 8 << 20, "{}: {size} bytes is too large to ship to a phone", dir.display());

        let model = Model::build(&bundle, 0, &device);
        let config = FlowConfig { steps: 2, batch: 4, ..FlowConfig::default() };
        let t = pollster::block_on(flow::refine(&model, &model, config, &device)).unwrap();
        assert!(t.steps.iter().all(|s| s.logits.iter().all(|d| d.is_finite())), "{name}");
    }
}

#[test]
fn a_shipped_classifier_loads_and_has_a_card_with_its_accuracy() {
    let device = dgflow::device::cpu();
    for dir in shipped(classifier::FORMAT) {
        let classifier = Classifier::load(&dir, &device).unwrap_or_else(|e| panic!("{e}"));
        let card = std::fs::read_to_string(dir.join("CARD.md"))
            .unwrap_or_else(|_| panic!("{}: CARD.md is missing", dir.display()));
        assert!(
            card.contains(&classifier.manifest.name),
            "{}: the card should name its model",
            dir.display()
        );
        let accuracy = classifier
            .manifest
            .test_accuracy
            .expect("a shipped classifier records its test accuracy");
        assert!(
            card.contains(&format!("{:.1} %", 100.0 * accuracy)),
            "{}: the card should state the measured accuracy",
            dir.display()
        );
    }
}
