//! Every bundle shipped in models/ loads, fits its architecture, refines, carries MH-GAN's
//! calibration, and has a model card whose evaluation is the one `./build.sh eval` wrote beside
//! it; so does the classifier behind the image metrics.

use std::path::{Path, PathBuf};

use dgflow::bundle::Bundle;
use dgflow::flow::{self, FlowConfig, Keep};
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
    // `./build.sh eval` re-measures the models it names (DGFLOW_WRITE_PINS=a,b): their pins are
    // then written, not checked.
    let repinned = std::env::var("DGFLOW_WRITE_PINS").unwrap_or_default();
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
        assert!(
            bundle.manifest.calibration.is_some(),
            "{}: MH-GAN needs the critic's calibration: run `dgflow calibrate --model {}`",
            dir.display(),
            dir.display()
        );
        let size: u64 =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert!(size < 8 << 20, "{}: {size} bytes is too large to ship to a phone", dir.display());

        // The card's pinned mean logits: the weights still give what the card says. Step 0 is
        // the same on every kernel; 25 steps of a chaotic trajectory on AVX-512, AVX2 and the
        // portable kernels spread by up to 1.3 % (cifar10: 1.2016, 1.1865, 1.1983).
        let (step0, step25) = pinned_mean_logits(&card)
            .unwrap_or_else(|| panic!("{}: the card pins no mean logits", dir.display()));
        let model = Model::build(&bundle, 0, &device);
        let config = FlowConfig {
            steps: 25,
            batch: 64,
            seed: 0,
            keep: Keep::Steps(vec![]),
            ..FlowConfig::for_model(bundle.manifest.recommended)
        };
        let t = pollster::block_on(flow::refine(&model, &model, config, &device)).unwrap();
        let (got0, got25) = (t.steps[0].mean_logit() as f64, t.steps[25].mean_logit() as f64);
        if repinned.split(',').any(|m| m == name) {
            std::fs::write(dir.join("CARD.md"), pin_mean_logits(&card, got0, got25))
                .expect("the card is writable");
            continue;
        }
        let close = |got: f64, card: f64, tolerance: f64| {
            (got - card).abs() <= tolerance * (1.0 + card.abs())
        };
        assert!(close(got0, step0, 1e-3), "{name}: step 0 gives {got0}, the card says {step0}");
        assert!(
            close(got25, step25, 2e-2),
            "{name}: step 25 gives {got25}, the card says {step25}"
        );
    }
}

/// `card` with its pinned sentence saying `step0` and `step25`.
fn pin_mean_logits(card: &str, step0: f64, step25: f64) -> String {
    let pinned = |line: &str| -> String {
        let head = &line[..line.find("step 0 = ").expect("a pinned sentence names step 0")];
        format!("{head}step 0 = {step0:.4}, step 25 = {step25:.4}.")
    };
    let lines: Vec<String> = card
        .lines()
        .map(|l| if l.starts_with("Pinned mean logit") { pinned(l) } else { l.to_string() })
        .collect();
    format!("{}\n", lines.join("\n"))
}

/// The card's "Pinned mean logit (…): step 0 = A, step 25 = B." sentence, as (A, B).
fn pinned_mean_logits(card: &str) -> Option<(f64, f64)> {
    let line = card.lines().find(|l| l.starts_with("Pinned mean logit"))?;
    let value = |label: &str| -> Option<f64> {
        let rest = &line[line.find(label)? + label.len()..];
        rest.split([',', ' ']).find(|s| !s.is_empty())?.trim_end_matches('.').parse().ok()
    };
    Some((value("step 0 = ")?, value("step 25 = ")?))
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

/// Each card's evaluation tables come from the files `./build.sh eval` writes beside it
/// (`dgflow eval --out`, on held-out seeds), never by hand: a block between `<!-- eval:FILE -->`
/// and `<!-- /eval:FILE -->` must be FILE's text. `DGFLOW_WRITE_CARDS=1` rewrites the blocks.
#[test]
fn cards_quote_the_evaluations_written_beside_them() {
    let write = std::env::var_os("DGFLOW_WRITE_CARDS").is_some();
    let (mut stale, mut unquoted) = (Vec::new(), Vec::new());
    for dir in shipped(dgflow::bundle::FORMAT) {
        let path = dir.join("CARD.md");
        let mut card = std::fs::read_to_string(&path).expect("every bundle has a card");
        let mut quoted = 0;
        let mut from = 0;
        while let Some(at) = card[from..].find("<!-- eval:") {
            let open_start = from + at;
            let open_end =
                open_start + card[open_start..].find(" -->\n").expect("a closed tag") + 5;
            let file = card[open_start + "<!-- eval:".len()..open_end - 5].to_string();
            let close = format!("<!-- /eval:{file} -->");
            let close_at = open_end
                + card[open_end..]
                    .find(&close)
                    .unwrap_or_else(|| panic!("{}: no {close}", path.display()));
            let want = std::fs::read_to_string(dir.join(&file))
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", path.display()));
            let want = format!("{}\n", want.trim_end());
            if card[open_end..close_at] != want {
                stale.push(format!("{} ({file})", path.display()));
                card.replace_range(open_end..close_at, &want);
            }
            quoted += 1;
            from = open_end + want.len() + close.len();
        }
        if quoted == 0 {
            unquoted.push(path.display().to_string());
        }
        if write {
            std::fs::write(&path, card).expect("the card is writable");
        }
    }
    assert!(
        unquoted.is_empty(),
        "cards that quote no held-out evaluation (see ./build.sh eval): {unquoted:?}"
    );
    assert!(
        write || stale.is_empty(),
        "cards disagree with their evaluation files: {stale:?}; run `./build.sh eval`, or `DGFLOW_WRITE_CARDS=1 cargo test --test models cards` to copy them"
    );
}

#[test]
fn a_pinned_sentence_is_read_back_as_written() {
    let card = "# m\nPinned mean logit (64 samples): step 0 = -0.3974, step 25 = 1.2016.\nMore.\n";
    assert_eq!(pinned_mean_logits(card), Some((-0.3974, 1.2016)));
    let written = pin_mean_logits(card, -0.51234, 2.0);
    assert_eq!(
        written,
        "# m\nPinned mean logit (64 samples): step 0 = -0.5123, step 25 = 2.0000.\nMore.\n"
    );
    assert_eq!(pinned_mean_logits(&written), Some((-0.5123, 2.0)));
}
