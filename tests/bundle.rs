//! Every way a bundle can be broken gets an error naming the file, the field and a way out.

use std::path::Path;

use dgflow::bundle::{Bundle, Encoding, MANIFEST_FILE, encode, encode_f16};
use dgflow::model::presets::Architecture;
use safetensors::Dtype;
use sha2::{Digest, Sha256};

fn tiny() -> Bundle {
    Architecture::Dcgan { latent: 4, width: 1, size: 8 }.init_bundle("tiny", 1)
}

/// Writes `bundle` with `weights` bytes as its weights file, the manifest's digest matching them.
fn write_with_weights(dir: &Path, bundle: &Bundle, weights: &[u8]) {
    bundle.write_dir(dir).unwrap();
    let mut manifest = bundle.manifest.clone();
    manifest.weights.sha256 = Sha256::digest(weights).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dir.join(&manifest.weights.file), weights).unwrap();
    std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&manifest).unwrap()).unwrap();
}

fn load_error(dir: &Path) -> String {
    Bundle::from_dir(dir).unwrap_err().to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} should mention {part:?}");
    }
}

#[test]
fn a_written_bundle_loads_back_with_f16_weights() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tiny();
    bundle.write_dir(dir.path()).unwrap();
    let loaded = Bundle::from_dir(dir.path()).unwrap();
    assert_eq!(loaded.manifest.generator, bundle.manifest.generator);
    for (name, (shape, values)) in &bundle.weights {
        let (s, v) = &loaded.weights[name];
        assert_eq!(s, shape);
        for (a, b) in values.iter().zip(v) {
            assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-2), "{name}: {a} became {b}");
        }
    }
}

#[test]
fn a_bundle_in_memory_has_the_bytes_of_its_files_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tiny();
    bundle.write_dir(dir.path()).unwrap();
    let (manifest, weights) = bundle.to_files();
    assert_eq!(manifest, std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap());
    assert_eq!(weights, std::fs::read(dir.path().join(&bundle.manifest.weights.file)).unwrap());
    let loaded = Bundle::from_bytes("tiny", &manifest, &weights).unwrap();
    assert_eq!(loaded.weights, Bundle::from_dir(dir.path()).unwrap().weights);
}

#[test]
fn int8_bundles_load_back_within_half_a_step_of_each_row_at_half_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut bundle = Architecture::Dcgan { latent: 16, width: 8, size: 8 }.init_bundle("small", 1);
    bundle.write_dir(&dir.path().join("f16")).unwrap();
    bundle.manifest.weights.encoding = Encoding::Int8;
    bundle.write_dir(&dir.path().join("int8")).unwrap();
    let size =
        |d: &str| std::fs::metadata(dir.path().join(d).join("weights.safetensors")).unwrap().len();
    assert!(
        size("int8") * 10 < size("f16") * 6,
        "int8 {} bytes vs f16 {}",
        size("int8"),
        size("f16")
    );

    let loaded = Bundle::from_dir(&dir.path().join("int8")).unwrap();
    assert_eq!(loaded.manifest.weights.encoding, Encoding::Int8);
    let mut quantised = 0;
    for (name, (shape, values)) in &bundle.weights {
        let (s, v) = &loaded.weights[name];
        assert_eq!(s, shape);
        let row = values.len() / shape[0];
        for (original, reread) in values.chunks(row).zip(v.chunks(row)) {
            let step = original.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
            for (a, b) in original.iter().zip(reread) {
                assert!(
                    (a - b).abs() <= step / 2.0 * 1.001 + 1e-3 * a.abs(),
                    "{name}: {a} became {b} (step {step})"
                );
            }
        }
        quantised += usize::from(values.len() >= 1024 && shape.len() >= 2);
    }
    assert!(quantised >= 3, "only {quantised} tensors were large enough to quantise");
    // Written again, the loaded bundle keeps its encoding and its exact bytes.
    loaded.write_dir(&dir.path().join("again")).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("again/weights.safetensors")).unwrap(),
        std::fs::read(dir.path().join("int8/weights.safetensors")).unwrap()
    );
}

#[test]
fn an_int8_tensor_without_its_scales_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Architecture::Dcgan { latent: 16, width: 8, size: 8 }.init_bundle("small", 1);
    let bytes = encode(&bundle.weights, Encoding::Int8);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "generator.fc.weight:scale")
        .collect();
    write_with_weights(dir.path(), &bundle, &safetensors::serialize(kept, None).unwrap());
    assert_mentions(
        &load_error(dir.path()),
        &[
            "weights.safetensors",
            "int8 tensor `generator.fc.weight` needs its scales `generator.fc.weight:scale`",
        ],
    );
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    assert_mentions(&load_error(&dir.path().join("nope")), &["nope/manifest.json", "cannot read"]);
    tiny().write_dir(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("weights.safetensors")).unwrap();
    assert_mentions(&load_error(dir.path()), &["weights.safetensors", "cannot read"]);
}

#[test]
fn a_manifest_of_the_first_format_still_loads_with_its_standard_normal_prior() {
    let dir = tempfile::tempdir().unwrap();
    tiny().write_dir(dir.path()).unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["format"], "dgflow-bundle/2");
    // As dgflow-bundle/1 wrote it: the prior a bare name.
    json["format"] = serde_json::json!("dgflow-bundle/1");
    json["latent"]["prior"] = serde_json::json!("normal");
    std::fs::write(&path, json.to_string()).unwrap();
    let loaded = Bundle::from_dir(dir.path()).unwrap();
    assert_eq!(loaded.manifest.latent.prior, dgflow::prior::Prior::STANDARD);
    assert_eq!(loaded.manifest.format, "dgflow-bundle/2", "upgraded as it was read");
}

#[test]
fn manifest_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    tiny().write_dir(dir.path()).unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let original = std::fs::read_to_string(&path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();

    json.as_object_mut().unwrap().remove("latent");
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(&load_error(dir.path()), &["manifest.json", "missing field `latent`"]);

    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
    json["sample_shape"] = serde_json::json!([3, 16, 16]);
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["field `generator` maps the latent to [3, 8, 8]", "`sample_shape` is [3, 16, 16]"],
    );

    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
    json["format"] = serde_json::json!("dgflow-bundle/9");
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &[
            "field `format`",
            "newer than this build reads",
            "dgflow-bundle/1, dgflow-bundle/2",
            "update dgflow-web",
        ],
    );
    json["format"] = serde_json::json!("keras/2");
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["field `format` is \"keras/2\"", "docs/bundle-format.md"],
    );

    // Each field is named by its path, whatever is wrong with it.
    for (field, value, parts) in [
        (
            "/latent/prior",
            serde_json::json!({"kind": "uniform", "low": 1.0, "high": 1.0}),
            &["field `latent.prior`", "low < high"][..],
        ),
        (
            "/latent/prior",
            serde_json::json!({"kind": "normal", "sigma": -2.0}),
            &["field `latent.prior`", "`sigma` is -2"],
        ),
        (
            "/latent/prior",
            serde_json::json!({"kind": "cauchy"}),
            &["field `latent.prior.kind`", "unknown variant `cauchy`"],
        ),
        (
            "/latent/prior",
            serde_json::json!({"kind": "normal"}),
            &["field `latent.prior`", "missing field `sigma`"],
        ),
        (
            "/generator/layers/0",
            serde_json::json!({"op": "upsample_cubic"}),
            &["field `generator.layers[0]", "unknown variant `upsample_cubic`"],
        ),
        (
            "/critic/layers/0/kernel",
            serde_json::json!("three"),
            &["field `critic.layers[0]`", "invalid type: string \"three\", expected usize"],
        ),
    ] {
        let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
        *json.pointer_mut(field).unwrap_or_else(|| panic!("{field}")) = value;
        std::fs::write(&path, json.to_string()).unwrap();
        assert_mentions(&load_error(dir.path()), parts);
    }

    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
    json["recommended"] = serde_json::json!({"eta": -1.0, "gamma": 0.01});
    std::fs::write(&path, json.to_string()).unwrap();
    assert_mentions(&load_error(dir.path()), &["field `recommended`: invalid eta = -1"]);

    std::fs::write(&path, &original[..original.len() / 2]).unwrap();
    assert_mentions(&load_error(dir.path()), &["manifest.json", "EOF while parsing"]);
}

#[test]
fn wrong_shapes_dtypes_and_extra_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tiny();

    let mut weights = bundle.weights.clone();
    weights.insert("critic.out.weight".into(), (vec![1, 3], vec![0.1; 3]));
    write_with_weights(dir.path(), &bundle, &encode_f16(&weights));
    assert_mentions(
        &load_error(dir.path()),
        &["weights.safetensors", "tensor `critic.out.weight` has shape [1, 3], expected [1, 8]"],
    );

    let mut weights = bundle.weights.clone();
    weights.remove("generator.bn0.running_var");
    write_with_weights(dir.path(), &bundle, &encode_f16(&weights));
    assert_mentions(&load_error(dir.path()), &["tensor `generator.bn0.running_var` is missing"]);

    let mut weights = bundle.weights.clone();
    weights.insert("critic.extra".into(), (vec![1], vec![0.0]));
    write_with_weights(dir.path(), &bundle, &encode_f16(&weights));
    assert_mentions(&load_error(dir.path()), &["tensor `critic.extra` is not used"]);

    // Every tensor as i32: the first one checked is reported.
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = bundle
        .weights
        .iter()
        .map(|(k, (s, v))| (k.clone(), s.clone(), vec![0u8; 4 * v.len()]))
        .collect();
    let views = raw.iter().map(|(k, s, b)| {
        (k.as_str(), safetensors::tensor::TensorView::new(Dtype::I32, s.clone(), b).unwrap())
    });
    write_with_weights(dir.path(), &bundle, &safetensors::serialize(views, None).unwrap());
    assert_mentions(
        &load_error(dir.path()),
        &["has dtype I32; only F16, F32 and I8 (with scales) are supported"],
    );
}

#[test]
fn truncated_corrupt_and_nan_files_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tiny();
    let bytes = encode_f16(&bundle.weights);

    write_with_weights(dir.path(), &bundle, &bytes[..bytes.len() - 10]);
    assert_mentions(
        &load_error(dir.path()),
        &["weights.safetensors", "not a valid safetensors file", "truncated"],
    );

    // A flipped byte with the manifest's digest left as it was: the digest catches it.
    bundle.write_dir(dir.path()).unwrap();
    let path = dir.path().join("weights.safetensors");
    let mut corrupt = std::fs::read(&path).unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    std::fs::write(&path, corrupt).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &["weights.safetensors", "SHA-256 is", "the manifest expects"],
    );

    let mut weights = bundle.weights.clone();
    weights.get_mut("generator.fc.weight").unwrap().1[5] = f32::NAN;
    write_with_weights(dir.path(), &bundle, &encode_f16(&weights));
    assert_mentions(
        &load_error(dir.path()),
        &["tensor `generator.fc.weight` holds a non-finite value (NaN) at index 5"],
    );
}

/// `tiny()` with a second SN-DCGAN critic added as the critic term `corrector`.
fn with_corrector() -> Bundle {
    let mut bundle = tiny();
    let other = Architecture::Dcgan { latent: 4, width: 1, size: 8 }.init_bundle("other", 2);
    bundle.manifest.critic_terms.push(dgflow::bundle::CriticTerm {
        name: "corrector".into(),
        description: "log p_GAN/p_base".into(),
        network: other.manifest.critic.clone(),
    });
    for (k, v) in other.weights.iter().filter(|(k, _)| k.starts_with("critic.")) {
        bundle.weights.insert(k.replacen("critic.", "corrector.", 1), v.clone());
    }
    bundle
}

#[test]
fn a_bundle_with_a_critic_term_loads_and_drops_it_for_the_ablation() {
    let dir = tempfile::tempdir().unwrap();
    with_corrector().write_dir(dir.path()).unwrap();
    let loaded = Bundle::from_dir(dir.path()).unwrap();
    assert_eq!(loaded.manifest.critic_terms.len(), 1);
    assert!(loaded.weights.contains_key("corrector.conv1.weight"));
    let alone = loaded.without_critic_terms();
    assert!(alone.manifest.critic_terms.is_empty());
    assert!(alone.weights.keys().all(|k| !k.starts_with("corrector.")));
    assert_eq!(alone.weights.len(), tiny().weights.len());
}

#[test]
fn a_bundle_naming_a_missing_corrector_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut bundle = with_corrector();
    bundle.weights.retain(|k, _| !k.starts_with("corrector."));
    bundle.write_dir(dir.path()).unwrap();
    assert_mentions(
        &load_error(dir.path()),
        &[
            "weights.safetensors",
            "critic term `corrector`",
            "none of its weights",
            "dgflow train corrector",
        ],
    );

    let mut bad = with_corrector();
    bad.manifest.critic_terms[0].name = "critic".into();
    bad.write_dir(dir.path()).unwrap();
    assert_mentions(&load_error(dir.path()), &["manifest.json", "critic_terms", "\"critic\""]);
}

/// A second model (another generator) judged by `lender`'s critic, with the same critic weights.
fn borrower(lender: &Bundle) -> Bundle {
    let mut bundle =
        Architecture::Dcgan { latent: 3, width: 1, size: 8 }.init_bundle("borrower", 7);
    for (k, v) in lender.weights.iter().filter(|(k, _)| k.starts_with("critic.")) {
        bundle.weights.insert(k.clone(), v.clone());
    }
    bundle
}

#[test]
fn a_borrowed_critic_is_shipped_once_and_a_retrained_lender_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let (gan_dir, vae_dir) = (dir.path().join("gan"), dir.path().join("vae"));
    tiny().write_dir(&gan_dir).unwrap();
    let gan = Bundle::from_dir(&gan_dir).unwrap();
    let vae = borrower(&gan);
    vae.write_dir_sharing(&vae_dir, &[("critic.", &gan_dir)]).unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vae_dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest["shared_weights"][0]["file"], "../gan/weights.safetensors");
    assert_eq!(manifest["shared_weights"][0]["prefix"], "critic.");
    let own = std::fs::read(vae_dir.join("weights.safetensors")).unwrap();
    let names = safetensors::SafeTensors::deserialize(&own)
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("generator.")), "{names:?}");
    let loaded = Bundle::from_dir(&vae_dir).unwrap();
    assert_eq!(loaded.weights.len(), vae.weights.len());
    assert_eq!(loaded.weights["critic.out.weight"], gan.weights["critic.out.weight"]);

    // Tensors that are not the lender's cannot be shared.
    let other = Architecture::Dcgan { latent: 3, width: 1, size: 8 }.init_bundle("other", 9);
    let refused = other
        .write_dir_sharing(&dir.path().join("x"), &[("critic.", &gan_dir)])
        .unwrap_err()
        .to_string();
    assert_mentions(&refused, &["gan", "`critic.*` tensors are not this model's"]);

    // The lender retrained: its file no longer matches the digest the borrower recorded.
    Architecture::Dcgan { latent: 4, width: 1, size: 8 }
        .init_bundle("tiny", 2)
        .write_dir(&gan_dir)
        .unwrap();
    assert_mentions(
        &load_error(&vae_dir),
        &["vae/../gan/weights.safetensors", "retrained", "dgflow train corrector"],
    );
    // ... and the borrower can still be read with the retrained lender's critic, to be rebuilt.
    let retrained = Bundle::from_dir(&gan_dir).unwrap();
    let rebased = Bundle::from_dir_with_critic_of(&vae_dir, &retrained).unwrap();
    assert_eq!(rebased.manifest.critic, retrained.manifest.critic);
    assert_eq!(rebased.weights["critic.out.weight"], retrained.weights["critic.out.weight"]);
    assert_eq!(rebased.weights["generator.out.weight"], loaded.weights["generator.out.weight"]);
    assert!(rebased.manifest.shared_weights.is_empty());
    std::fs::remove_dir_all(&gan_dir).unwrap();
    assert_mentions(&load_error(&vae_dir), &["vae/../gan/weights.safetensors", "cannot read"]);
}
