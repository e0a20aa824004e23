//! The `dgflow` command line, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

fn dgflow(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dgflow"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("dgflow runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let out = dgflow(args, dir);
    assert!(
        out.status.success(),
        "dgflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A clean failure: exit status 1 (the command stopped with a message) or 2 (clap refused a
/// flag); a panic exits with 101.
fn fails(args: &[&str], dir: &Path) -> String {
    let out = dgflow(args, dir);
    assert!(matches!(out.status.code(), Some(1 | 2)), "dgflow {args:?} should fail cleanly");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// The shared data folder beside the repository (or `DGFLOW_DATA`, as in tests/data.rs) and the
/// bundled classifier, as the flags `--data` and `--classifier` take them.
fn data_and_classifier() -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::var_os("DGFLOW_DATA")
        .map_or_else(|| root.join("../shared/data"), std::path::PathBuf::from);
    let classifier = root.join("models/cifar10-classifier");
    (data.to_string_lossy().into(), classifier.to_string_lossy().into())
}

/// A NumPy `.npy` file (format 1.0) of `data` with dtype `descr` and `shape`, e.g. "(5, 2)".
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic, version and length take 10 bytes; the header pads the whole to 128.
    let padded = format!("{header:<117}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((padded.len() as u16).to_le_bytes());
    out.extend(padded.as_bytes());
    out.extend(data);
    out
}

#[test]
fn refine_an_image_model_writes_a_before_after_grid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        &[
            "init", "--arch", "dcgan", "--width", "2", "--latent", "8", "--size", "8", "--out",
            "tiny",
        ],
        d,
    );
    let info = ok(&["info", "tiny"], d);
    assert!(info.contains("kind:        Image, sample shape [3, 8, 8]"), "{info}");
    assert!(info.contains("latent:      8 dimensions, prior N(0, 1² I)"), "{info}");
    let stdout = ok(
        &[
            "refine",
            "--model",
            "tiny",
            "--batch",
            "9",
            "--steps",
            "3",
            "--out",
            "grid.png",
            "--trajectory",
            "t.json",
        ],
        d,
    );
    assert!(stdout.contains("step  mean logit") && stdout.contains("   3  "), "{stdout}");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(d.join("grid.png")).unwrap(),
    ));
    let info = decoder.read_info().unwrap().info().clone();
    // two 3×3 grids of 8-pixel tiles with 2-pixel gaps, 8 pixels apart
    assert_eq!((info.width, info.height), (2 * (3 * 8 + 4 * 2) + 8, 3 * 8 + 4 * 2));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("t.json")).unwrap()).unwrap();
    assert_eq!(t["steps"].as_array().unwrap().len(), 4);
    assert_eq!(t["steps"][3]["samples"].as_array().unwrap().len(), 9 * 3 * 8 * 8);
}

#[test]
fn refine_text_and_points_write_listings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        &[
            "init", "--arch", "charcnn", "--width", "4", "--latent", "8", "--size", "6", "--vocab",
            "ab ", "--out", "text",
        ],
        d,
    );
    ok(
        &[
            "refine",
            "--model",
            "text",
            "--batch",
            "3",
            "--steps",
            "2",
            "--method",
            "dgflow-js",
            "--out",
            "t.txt",
        ],
        d,
    );
    let listing = std::fs::read_to_string(d.join("t.txt")).unwrap();
    assert_eq!(
        listing.lines().filter(|l| l.len() > 7 && l.starts_with(['+', '-'])).count(),
        6,
        "{listing}"
    );
    assert!(
        fails(&["refine", "--model", "text", "--space", "data"], d)
            .contains("does not apply to text models")
    );

    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    ok(&["refine", "--model", "toy", "--batch", "5", "--method", "dot", "--out", "p.csv"], d);
    assert_eq!(std::fs::read_to_string(d.join("p.csv")).unwrap().lines().count(), 6);
    ok(&["refine", "--model", "toy", "--batch", "5", "--out", "p.png"], d);
    let decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(d.join("p.png")).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (2 * 480 + 8, 480));
}

#[test]
fn absurd_parameters_and_missing_models_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    assert!(fails(&["refine", "--model", "toy", "--eta", "-1"], d).contains("invalid eta = -1"));
    assert!(fails(&["refine", "--model", "toy", "--eta", "NaN"], d).contains("invalid eta = NaN"));
    assert!(fails(&["refine", "--model", "toy", "--steps", "0"], d).contains("invalid steps = 0"));
    assert!(
        fails(&["refine", "--model", "toy", "--batch", "1000000000"], d)
            .contains("invalid batch = 1000000000")
    );
    assert!(
        fails(&["refine", "--model", "missing"], d).contains("missing/manifest.json: cannot read")
    );
    let no_gpu = fails(&["refine", "--model", "toy", "--device", "gpu"], d);
    assert!(no_gpu.contains("gpu: this build has no GPU backend"), "{no_gpu}");
}

#[test]
fn records_hold_the_random_inputs_a_reference_needs() {
    use dgflow::train::checkpoint;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    let run = |gamma: &str, name: &str| {
        ok(
            &[
                "refine", "--model", "toy", "--batch", "5", "--steps", "3", "--eta", "0.1",
                "--gamma", gamma, "--out", "p.csv", "--record", name,
            ],
            d,
        );
        let (meta, tensors) = checkpoint::read(&d.join(name)).unwrap();
        (meta, tensors.into_iter().collect::<std::collections::HashMap<_, _>>())
    };
    let (meta, noisy) = run("0.5", "noisy.st");
    assert_eq!(meta["config"]["steps"], 3);
    for key in [
        "z0",
        "calibration",
        "noise/1",
        "noise/3",
        "latents/0",
        "latents/3",
        "samples/3",
        "logits/3",
    ] {
        assert!(noisy.contains_key(key), "{key} missing from the record");
    }
    assert_eq!(noisy["z0"], noisy["latents/0"]);
    // Same seed without noise: step 1 differs exactly by the recorded noise, √(2ηγ) ξ.
    let (_, quiet) = run("0", "quiet.st");
    assert!(!quiet.contains_key("noise/1"));
    let scale = (2.0f32 * 0.1 * 0.5).sqrt();
    for ((a, b), xi) in noisy["latents/1"].iter().zip(&quiet["latents/1"]).zip(&noisy["noise/1"]) {
        assert!((a - b - scale * xi).abs() < 1e-5, "{a} − {b} ≠ {scale} × {xi}");
    }

    ok(
        &[
            "train",
            "25gaussians",
            "--batch",
            "8",
            "--iterations",
            "2",
            "--critic-steps",
            "2",
            "--checkpoint",
            "c.ckpt",
            "--out",
            "trained",
            "--record",
            "train.st",
        ],
        d,
    );
    let (meta, tensors) = checkpoint::read(&d.join("train.st")).unwrap();
    let keys: std::collections::HashSet<String> = tensors.into_iter().map(|(k, _)| k).collect();
    assert_eq!(meta["losses"].as_array().unwrap().len(), 2);
    for key in [
        "before/critic.fc1.u",
        "after/generator.out.weight",
        "iteration/1/critic/1/real",
        "iteration/1/generator/z",
        "gradients/critic/critic.fc1.weight",
        "gradients/generator/generator.out.bias",
        "generated/critic",
    ] {
        assert!(keys.contains(key), "{key} missing from the training record");
    }
    assert!(!keys.contains("gradients/critic/critic.fc1.u"), "SN vectors are state, not gradients");
}

#[test]
fn training_can_start_from_a_bundles_weights() {
    use dgflow::bundle::Bundle;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--seed", "7", "--out", "start"], d);
    let start = Bundle::from_dir(&d.join("start")).unwrap();
    // No iterations: what it writes is what it started from.
    let said = ok(
        &[
            "train",
            "25gaussians",
            "--init",
            "start",
            "--iterations",
            "0",
            "--checkpoint",
            "a.ckpt",
            "--out",
            "same",
        ],
        d,
    );
    assert!(said.contains("starting from the weights of start"), "{said}");
    assert!(Bundle::from_dir(&d.join("same")).unwrap().weights == start.weights);
    let train = [
        "train",
        "25gaussians",
        "--init",
        "start",
        "--batch",
        "8",
        "--every",
        "2",
        "--average",
        "0.9",
        "--checkpoint",
        "b.ckpt",
        "--out",
        "moved",
    ];
    ok(&[&train[..], &["--iterations", "2"]].concat(), d);
    let moved = Bundle::from_dir(&d.join("moved")).unwrap();
    assert!(moved.weights["generator.out.weight"] != start.weights["generator.out.weight"]);
    // The history says what the new run did from its start.
    let notes = &moved.manifest.provenance.notes;
    assert!(
        notes.contains("Then a new run from those weights")
            && notes.ends_with("From iteration 0: the generator's weights averaged (decay 0.9)."),
        "{notes}"
    );
    // From int8 weights (as shipped), a run still writes f16.
    std::fs::create_dir(d.join("packed")).unwrap();
    for file in ["manifest.json", "weights.safetensors"] {
        std::fs::copy(d.join("start").join(file), d.join("packed").join(file)).unwrap();
    }
    ok(&["pack", "packed", "--encoding", "int8"], d);
    ok(
        &[
            "train",
            "25gaussians",
            "--init",
            "packed",
            "--iterations",
            "0",
            "--checkpoint",
            "p.ckpt",
            "--out",
            "unpacked",
        ],
        d,
    );
    assert_eq!(
        Bundle::from_dir(&d.join("unpacked")).unwrap().manifest.weights.encoding,
        dgflow::bundle::Encoding::F16
    );
    // Once a checkpoint exists, the run goes on from it.
    assert!(
        ok(&[&train[..], &["--iterations", "4"]].concat(), d)
            .contains("resuming b.ckpt from iteration 2")
    );
    // ... with the settings it began with: a flag that says otherwise is refused, not ignored.
    let changed =
        fails(&[&train[..], &["--iterations", "6", "--lr", "0.5", "--seed", "3"]].concat(), d);
    assert!(
        changed.contains("b.ckpt was started with other settings than this command's: --lr 0.5 (the checkpoint's: 0.0001), --lr-critic 0.5 (the checkpoint's: 0.0001), --seed 3 (the checkpoint's: 0)"),
        "{changed}"
    );
    // Weights of other networks are refused with the parameter that differs.
    ok(
        &[
            "init", "--arch", "dcgan", "--width", "2", "--latent", "8", "--size", "8", "--out",
            "image",
        ],
        d,
    );
    let refused = fails(
        &["train", "25gaussians", "--init", "image", "--checkpoint", "c.ckpt", "--out", "x"],
        d,
    );
    assert!(
        refused.contains("--init image: ") && refused.contains("in this recipe's networks"),
        "{refused}"
    );
    assert!(
        fails(
            &["train", "25gaussians", "--init", "nowhere", "--checkpoint", "c.ckpt", "--out", "x"],
            d
        )
        .contains("nowhere")
    );
}

#[test]
fn cifar10_training_logs_each_checkpoints_frechet_distance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, classifier) = data_and_classifier();
    let train = [
        "train",
        "cifar10",
        "--width",
        "2",
        "--batch",
        "4",
        "--every",
        "2",
        "--iterations",
        "2",
        "--data",
        &data,
        "--log",
        "log.csv",
        "--out",
        "tiny",
    ];
    ok(&[&train[..], &["--checkpoint", "c.ckpt", "--classifier", &classifier]].concat(), d);
    let log = std::fs::read_to_string(d.join("log.csv")).unwrap();
    let eval = log.lines().last().unwrap().rsplit(',').next().unwrap();
    let fd: f64 = eval
        .strip_prefix("FD ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{eval}"));
    // An untrained generator is far from the test images.
    assert!(fd.is_finite() && fd > 10.0, "{eval}");
    assert!(eval.ends_with("(classifier features); samples in c.png"), "{eval}");
    // Without the classifier, it says which folder it looked in and how to name another.
    let missing =
        fails(&[&train[..], &["--checkpoint", "m.ckpt", "--classifier", "nowhere"]].concat(), d);
    assert!(
        missing.contains("classifier nowhere") && missing.contains("--classifier"),
        "{missing}"
    );
}

/// `dgflow confidence` judges base and refined samples with the classifier beside the test
/// images: each column of the histogram sums to 100 %, every class has a row, and the grid's
/// picture and verdicts are written.
#[test]
fn confidence_judges_base_and_refined_samples_beside_the_test_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, classifier) = data_and_classifier();
    let image = ["init", "--arch", "dcgan", "--width", "2", "--latent", "8", "--size", "32"];
    ok(&[&image[..], &["--out", "img"]].concat(), d);
    let args = [
        "confidence",
        "--model",
        "img",
        "--samples",
        "70",
        "--chunk",
        "64",
        "--seeds",
        "1,2",
        "--steps",
        "2",
        "--grid",
        "grid.png",
        "--out",
        "c.md",
        "--data",
        &data,
        "--classifier",
        &classifier,
    ];
    ok(&args, d);
    let table = std::fs::read_to_string(d.join("c.md")).unwrap();
    assert!(table.starts_with("Written by `dgflow confidence --model img"), "{table}");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with("| below") || l.contains(" to 0.") || l.contains("and above"))
        .map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(rows.len(), 5, "{table}");
    for column in 1..4 {
        // "12.5 %" or, over two seeds, "12.5 ± 0.7 %": the mean.
        let total: f64 =
            rows.iter().map(|r| r[column].split(' ').next().unwrap().parse::<f64>().unwrap()).sum();
        assert!((total - 100.0).abs() < 0.3, "column {column} sums to {total}: {table}");
    }
    for class in ["| airplane |", "| truck |", "| median |"] {
        assert!(table.contains(class), "{class}: {table}");
    }
    let grid_rows = table.lines().filter(|l| l.matches(" → ").count() == 8).count();
    assert_eq!(grid_rows, 8, "{table}");
    assert!(d.join("grid.png").metadata().unwrap().len() > 1000);
    // Without a grid, fewer samples than it shows are fine.
    let few = ["--samples", "5", "--seeds", "3", "--steps", "1", "--out", "few.md"];
    ok(&[&args[..3], &few[..], &args[args.len() - 4..]].concat(), d);
    let few = std::fs::read_to_string(d.join("few.md")).unwrap();
    assert!(few.contains("| median |") && !few.contains(" → "), "{few}");
}

#[test]
fn bench_times_each_model_and_batch_beside_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    // A stand-in for tests/reference/bench.py that always answers 2.5 ms per step.
    let reference = d.join("reference.sh");
    std::fs::write(&reference, "#!/bin/sh\necho '{\"ms_per_step\": 2.5}'\n").unwrap();
    std::fs::set_permissions(&reference, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let out = ok(
        &[
            "bench",
            "--models",
            "toy",
            "--batches",
            "1,4",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--train-width",
            "0",
            "--reference",
            reference.to_str().unwrap(),
            "--out",
            "results.md",
        ],
        d,
    );
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| toy |")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let rust_ms: f64 = cells[3].parse().unwrap();
        assert!(rust_ms > 0.0 && cells[7] == "2.50", "{row}");
        let ratio: f64 = cells[8].trim_end_matches('×').parse().unwrap();
        // ms are printed to 0.01, the ratio from the unrounded time
        assert!(
            ratio >= 2.5 / (rust_ms + 0.005) - 0.01
                && ratio <= 2.5 / (rust_ms - 0.005).max(1e-3) + 0.01,
            "{row}"
        );
    }
    assert!(std::fs::read_to_string(d.join("results.md")).unwrap().contains("| toy | 4 |"));
    assert!(
        fails(&["bench", "--models", "toy", "--batches", "0"], d)
            .contains("invalid value '0' for '--batches <BATCHES>': expected 1 to 4096")
    );
}

#[test]
fn bench_profiles_every_layer_beside_the_reference_and_checks_they_agree_on_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("toy/manifest.json")).unwrap())
            .unwrap();
    let layers = manifest["generator"]["layers"].as_array().unwrap().len()
        + manifest["critic"]["layers"].as_array().unwrap().len();
    // A stand-in for bench.py: 2.5 ms per refinement step, and for `layers`, 1 ms forward and
    // 4 ms with the gradient for each of `count` layers.
    let reference = |count: usize| -> String {
        let path = d.join(format!("reference-{count}.sh"));
        let timings = vec![r#"{"forward_ms": 1.0, "step_ms": 4.0}"#; count].join(", ");
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = layers ]; then echo '{{\"layers\": [{timings}]}}'; else echo '{{\"ms_per_step\": 2.5}}'; fi\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path.to_str().unwrap().to_string()
    };
    let args = |reference: &str| -> Vec<String> {
        [
            "bench",
            "--models",
            "toy",
            "--batches",
            "1",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--train-width",
            "0",
            "--profile",
            "toy",
            "--profile-batch",
            "8",
            "--reference",
            reference,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |reference: String, expect_ok: bool| {
        let args = args(&reference);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if expect_ok { ok(&args, d) } else { fails(&args, d) }
    };

    let out = run(reference(layers), true);
    let rows: Vec<&str> =
        out.lines().filter(|l| l.starts_with("| G |") || l.starts_with("| D |")).collect();
    // On the CPU each linear layer takes the activation after it: one row, the reference's two layers summed.
    let linear = (manifest["generator"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(manifest["critic"]["layers"].as_array().unwrap()))
    .filter(|l| l["op"] == "linear")
    .count();
    assert_eq!(rows.len(), linear, "one row per op: {out}");
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (forward, with_grad): (f64, f64) =
            (cells[4].parse().unwrap(), cells[5].parse().unwrap());
        let fused = cells[2].contains(" + ");
        let reference = if fused { ("2.00", "8.00") } else { ("1.00", "4.00") };
        assert!(forward >= 0.0 && with_grad > 0.0 && (cells[6], cells[7]) == reference, "{row}");
    }
    assert!(rows[0].contains("(linear)"), "layers are named by manifest name and op: {}", rows[0]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("| all |")
                && l.contains(&format!("**{:.2}**", 4.0 * layers as f64))),
        "{out}"
    );
    assert!(run(reference(layers - 1), false).contains(&format!("has {layers}")));
}

#[test]
fn a_corrector_trains_between_two_models_and_joins_the_base_models_critic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        &[
            "init", "--arch", "dcgan", "--width", "2", "--latent", "8", "--size", "8", "--seed",
            "1", "--name", "gan", "--out", "gan",
        ],
        d,
    );
    // Another generator judged by the same critic architecture: the base model to correct.
    ok(
        &[
            "init", "--arch", "dcgan", "--width", "2", "--latent", "4", "--size", "8", "--seed",
            "2", "--name", "base", "--out", "base",
        ],
        d,
    );
    let train = [
        "train",
        "corrector",
        "--base",
        "base",
        "--critic",
        "gan",
        "--width",
        "2",
        "--batch",
        "4",
        "--every",
        "2",
        "--checkpoint",
        "c.ckpt",
        "--log",
        "c.csv",
        "--out",
        "fixed",
    ];
    ok(&[&train[..], &["--iterations", "2"]].concat(), d);
    // Resumes from its checkpoint and logs each checkpoint's accuracy on fresh samples.
    assert!(
        ok(&[&train[..], &["--iterations", "4"]].concat(), d)
            .contains("resuming c.ckpt from iteration 2")
    );
    let log = std::fs::read_to_string(d.join("c.csv")).unwrap();
    assert_eq!(log.lines().next(), Some("iteration,loss,gan_logit,base_logit,accuracy"));
    assert_eq!(log.lines().count(), 3, "{log}");
    let info = ok(&["info", "fixed"], d);
    assert!(info.contains("+ corrector:") && info.contains("log p_gan/p_base"), "{info}");
    ok(&["refine", "--model", "fixed", "--batch", "3", "--steps", "2", "--out", "fixed.png"], d);

    assert!(
        fails(
            &["train", "corrector", "--critic", "gan", "--checkpoint", "x.ckpt", "--out", "x"],
            d
        )
        .contains("--base is required")
    );
    // The corrected model is judged by the GAN's discriminator plus the corrector, whatever critic
    // the base had; that discriminator's weights stay in the GAN's file.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("fixed/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["shared_weights"][0]["file"], "../gan/weights.safetensors");
    ok(
        &[
            "init", "--arch", "dcgan", "--width", "2", "--latent", "4", "--size", "16", "--out",
            "bigger",
        ],
        d,
    );
    let mismatch = fails(
        &[
            "train",
            "corrector",
            "--base",
            "bigger",
            "--critic",
            "gan",
            "--checkpoint",
            "y.ckpt",
            "--out",
            "y",
        ],
        d,
    );
    assert!(
        mismatch.contains("--base makes Image [3, 16, 16] samples, --critic Image [3, 8, 8]"),
        "{mismatch}"
    );
    assert!(
        fails(&["eval", "--model", "gan", "--without-corrector"], d)
            .contains("has no critic terms to drop")
    );
}

/// Every numeric flag of every subcommand refuses what it cannot take before anything runs,
/// naming the flag or setting and what it expects; nothing panics (`fails` checks).
#[test]
fn every_numeric_flag_refuses_what_it_cannot_take() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    let image = ["init", "--arch", "dcgan", "--width", "2", "--latent", "8", "--size", "8"];
    ok(&[&image[..], &["--out", "img"]].concat(), d);
    let train = ["train", "25gaussians", "--checkpoint", "c.ckpt", "--out", "o"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["refine", "--model", "toy", "--eta", "0"], "invalid eta = 0"),
        (vec!["refine", "--model", "toy", "--gamma", "-0.5"], "invalid gamma = -0.5"),
        (vec!["refine", "--model", "toy", "--steps", "10001"], "invalid steps = 10001"),
        (vec!["refine", "--model", "toy", "--batch", "0"], "invalid batch = 0"),
        (
            vec!["refine", "--model", "toy", "--thermalize", "100000"],
            "--thermalize <THERMALIZE>': expected 0 to 10000",
        ),
        (vec!["refine", "--model", "toy", "--keep-every", "-1"], "--keep-every"),
        (vec!["refine", "--model", "toy", "--seed", "x"], "--seed"),
        (
            vec!["eval", "--model", "toy", "--samples", "0"],
            "'--samples <SAMPLES>': expected 1 to 100000",
        ),
        (
            vec!["eval", "--model", "img", "--samples", "1"],
            "invalid samples = 1: expected 4 to 100000",
        ),
        (vec!["eval", "--model", "toy", "--samples", "1000000000"], "expected 1 to 100000"),
        (vec!["eval", "--model", "toy", "--chunk", "0"], "'--chunk <CHUNK>': expected 1 to 4096"),
        (vec!["eval", "--model", "toy", "--eta", "-1"], "invalid eta = -1"),
        (vec!["eval", "--model", "toy", "--gamma", "NaN"], "invalid gamma = NaN"),
        (vec!["eval", "--model", "toy", "--seeds", "1,-2"], "--seeds"),
        (vec!["check-metrics", "--samples", "2"], "invalid samples = 2: expected 4"),
        (vec!["confidence", "--model", "img", "--eta", "0"], "invalid eta = 0"),
        (vec!["confidence", "--model", "img", "--samples", "0"], "'--samples <SAMPLES>'"),
        (vec!["confidence", "--model", "img", "--steps", "0"], "'--steps <STEPS>'"),
        (
            vec!["confidence", "--model", "img", "--grid", "g.png", "--chunk", "8"],
            "--grid shows 64",
        ),
        (vec!["confidence", "--model", "toy"], "is not an image model"),
        (vec!["init", "--arch", "dcgan", "--size", "12", "--out", "x"], "invalid size = 12"),
        (vec!["init", "--arch", "dcgan", "--width", "0", "--out", "x"], "invalid width = 0"),
        (
            vec!["init", "--arch", "charcnn", "--latent", "99999", "--out", "x"],
            "invalid latent = 99999",
        ),
        (vec!["init", "--arch", "toy2d", "--seed", "-1", "--out", "x"], "--seed"),
        ([&train[..], &["--iterations", "-1"]].concat(), "--iterations"),
        ([&train[..], &["--batch", "0"]].concat(), "'--batch <BATCH>': expected 1 to 4096"),
        ([&train[..], &["--lr", "0"]].concat(), "'--lr <LR>': expected a number in (0, 1]"),
        ([&train[..], &["--lr-critic", "inf"]].concat(), "'--lr-critic <LR_CRITIC>'"),
        ([&train[..], &["--critic-steps", "0"]].concat(), "'--critic-steps <CRITIC_STEPS>'"),
        (
            [&train[..], &["--average", "1"]].concat(),
            "'--average <AVERAGE>': expected a number in (0, 1)",
        ),
        (
            [&train[..], &["--beta2", "-0.1"]].concat(),
            "'--beta2 <BETA2>': expected a number in [0, 1)",
        ),
        ([&train[..], &["--every", "0"]].concat(), "'--every <EVERY>': expected at least 1"),
        ([&train[..], &["--width", "5000"]].concat(), "'--width <WIDTH>': expected 1 to 1024"),
        ([&train[..], &["--blocks", "0"]].concat(), "'--blocks <BLOCKS>'"),
        ([&train[..], &["--latent", "0"]].concat(), "'--latent <LATENT>'"),
        ([&train[..], &["--sigma", "-1"]].concat(), "'--sigma <SIGMA>'"),
        ([&train[..], &["--seed", "-1"]].concat(), "--seed"),
        (vec!["bench", "--steps", "0"], "'--steps <STEPS>': expected 1 to"),
        (vec!["bench", "--repeats", "1000"], "'--repeats <REPEATS>': expected 1 to 100"),
        (vec!["bench", "--train-width", "5000"], "'--train-width <TRAIN_WIDTH>'"),
        (vec!["bench", "--profile-batch", "0"], "'--profile-batch <PROFILE_BATCH>'"),
    ];
    for (args, expected) in &cases {
        let message = fails(args, d);
        assert!(message.contains(expected), "dgflow {args:?} should say {expected:?}: {message}");
    }
}

#[test]
fn a_run_given_recorded_latents_and_noise_reproduces_it_and_wrong_shapes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    let run = |extra: &[&str], out: &str| {
        let mut args = vec![
            "refine",
            "--model",
            "toy",
            "--batch",
            "6",
            "--steps",
            "4",
            "--gamma",
            "0.5",
            "--out",
            "plot.csv",
            "--trajectory",
            out,
        ];
        args.extend_from_slice(extra);
        ok(&args, d);
        let t: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(out)).unwrap()).unwrap();
        t["steps"].clone()
    };
    let first = run(&["--seed", "3", "--record", "run.safetensors"], "a.json");
    // Another seed, given the first run's latents and noise from its record: the same run.
    let given = ["--latents", "run.safetensors", "--noise", "run.safetensors"];
    let replayed = run(&[&["--seed", "77"][..], &given].concat(), "b.json");
    assert_eq!(replayed, first);
    assert_ne!(run(&["--seed", "77"], "c.json"), first, "the seed alone draws other latents");

    // The same latents as a .npy file of shape [6, 2].
    let z0: Vec<f64> =
        first[0]["latents"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let data: Vec<u8> = z0.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(d.join("z0.npy"), npy("<f8", "(6, 2)", &data)).unwrap();
    let from_npy = run(&["--seed", "77", "--latents", "z0.npy"], "d.json");
    assert_eq!(from_npy[0]["latents"], first[0]["latents"]);

    // A batch the file does not hold, and a step count its noise does not cover.
    let e = fails(&["refine", "--model", "toy", "--batch", "5", "--latents", "z0.npy"], d);
    assert!(
        e.contains("--latents in z0.npy has shape [6, 2] (12 values)") && e.contains("[5, 2]"),
        "{e}"
    );
    let e = fails(
        &[
            "refine",
            "--model",
            "toy",
            "--batch",
            "6",
            "--steps",
            "5",
            "--gamma",
            "0.5",
            "--noise",
            "run.safetensors",
        ],
        d,
    );
    assert!(
        e.contains("--noise in run.safetensors has shape [4, 12]") && e.contains("[5, 6, 2]"),
        "{e}"
    );
    let e = fails(&["refine", "--model", "toy", "--latents", "nothing.npy"], d);
    assert!(e.contains("nothing.npy"), "{e}");
}

#[test]
fn an_sn_resnet_gan_initialises_refines_and_trains_on_cifar10() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        &[
            "init", "--arch", "snresnet", "--width", "4", "--latent", "8", "--size", "8", "--out",
            "res",
        ],
        d,
    );
    let info = ok(&["info", "res"], d);
    assert!(info.contains("sample shape [3, 8, 8]"), "{info}");
    let out =
        ok(&["refine", "--model", "res", "--batch", "4", "--steps", "2", "--out", "g.png"], d);
    assert!(out.contains("2 steps in"), "{out}");
    let (data, classifier) = data_and_classifier();
    let train = [
        "train",
        "cifar10",
        "--arch",
        "snresnet",
        "--width",
        "2",
        "--batch",
        "4",
        "--every",
        "2",
        "--iterations",
        "2",
        "--data",
        &data,
        "--out",
        "trained",
        "--checkpoint",
        "r.ckpt",
        "--classifier",
        &classifier,
    ];
    ok(&train, d);
    let manifest = std::fs::read_to_string(d.join("trained/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"global_sum_pool\"") && manifest.contains("SN-ResNet-GAN"),
        "{manifest}"
    );
    let e =
        fails(&["train", "text", "--arch", "snresnet", "--out", "x", "--checkpoint", "x.ckpt"], d);
    assert!(e.contains("only the cifar10 recipe has a choice of networks"), "{e}");
}

#[test]
fn probe_writes_samples_logits_and_the_gradient_that_refine_steps_along() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["init", "--arch", "toy2d", "--out", "toy"], d);
    // Five latents as an f32 .npy of shape [5, 2].
    let z: Vec<f32> = vec![0.3, -1.2, 1.5, 0.2, -0.7, 0.9, 0.0, 0.0, 2.0, -2.0];
    let data: Vec<u8> = z.iter().flat_map(|v| v.to_le_bytes()).collect();
    let npy = npy("<f4", "(5, 2)", &data);
    std::fs::write(d.join("z.npy"), &npy).unwrap();
    let out = ok(&["probe", "--model", "toy", "--latents", "z.npy", "--out", "p.safetensors"], d);
    assert!(out.contains("5 latents through toy"), "{out}");
    let bytes = std::fs::read(d.join("p.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensor = |name: &str| {
        let view = file.tensor(name).unwrap();
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), values)
    };
    assert_eq!(tensor("latents"), (vec![5, 2], z.clone()));
    assert_eq!(tensor("samples").0, [5, 2]);
    let (shape, logits) = tensor("logits");
    assert_eq!(shape, [5]);
    let (_, gradient) = tensor("gradient");
    // The gradient is the drift DGflow-KL steps along: one noiseless step of η from the same
    // latents moves them by η ∇d, and step 0 has the same logits.
    let eta = 1e-2f32;
    ok(
        &[
            "refine",
            "--model",
            "toy",
            "--batch",
            "5",
            "--steps",
            "1",
            "--gamma",
            "0",
            "--eta",
            "0.01",
            "--latents",
            "z.npy",
            "--out",
            "r.csv",
            "--trajectory",
            "t.json",
        ],
        d,
    );
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("t.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    assert_eq!(floats(&t["steps"][0]["logits"]), logits);
    let z1 = floats(&t["steps"][1]["latents"]);
    for i in 0..z.len() {
        let moved = (z1[i] - z[i]) / eta;
        assert!(
            (moved - gradient[i]).abs() <= 1e-3 * (1.0 + gradient[i].abs()),
            "{i}: {moved} vs {}",
            gradient[i]
        );
    }
    // Its own output holds `latents`: probing it again gives the same.
    ok(&["probe", "--model", "toy", "--latents", "p.safetensors", "--out", "again.safetensors"], d);
    assert_eq!(std::fs::read(d.join("again.safetensors")).unwrap(), bytes);
    // Rows of the wrong width, and a file cut short.
    let mut wide = npy.clone();
    let at = wide.windows(6).position(|w| w == b"(5, 2)").unwrap();
    wide[at..at + 6].copy_from_slice(b"(2, 5)");
    std::fs::write(d.join("wide.npy"), &wide).unwrap();
    let e = fails(&["probe", "--model", "toy", "--latents", "wide.npy"], d);
    assert!(e.contains("wide.npy has shape [2, 5]") && e.contains("needs [n, 2]"), "{e}");
    std::fs::write(d.join("bad.npy"), &npy[..npy.len() - 4]).unwrap();
    let e = fails(&["probe", "--model", "toy", "--latents", "bad.npy"], d);
    assert!(e.contains("bad.npy") && e.contains("bytes of data"), "{e}");
}
