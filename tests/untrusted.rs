//! A bundle from a stranger is untrusted input: a link can make the page open any CORS-enabled
//! URL. Each way of asking for too much is refused with a message before anything large is
//! allocated, and a fuzz-style test mutates valid bundles (their JSON, their bytes, their
//! weights) for a bounded time and finds no panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use dgflow::bundle::{Bundle, encode};
use dgflow::model::presets::Architecture;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A small bundle of `arch` as its two files.
fn files(arch: Architecture, int8: bool) -> (Value, Vec<u8>) {
    let mut bundle = arch.init_bundle("t", 3);
    if int8 {
        bundle.manifest.weights.encoding = dgflow::bundle::Encoding::Int8;
    }
    let (manifest, weights) = bundle.to_files();
    (serde_json::from_slice(&manifest).unwrap(), weights)
}

fn load(manifest: &[u8], weights: &[u8]) -> Result<Bundle, String> {
    Bundle::from_bytes("stranger", manifest, weights).map_err(|e| e.to_string())
}

/// The manifest with its digest updated to `weights`, so that a check past the digest is reached.
fn signed(mut manifest: Value, weights: &[u8]) -> Vec<u8> {
    if let Some(reference) = manifest.get_mut("weights").and_then(Value::as_object_mut) {
        reference.insert("sha256".into(), json!(hex(weights)));
    }
    manifest.to_string().into_bytes()
}

#[test]
fn asking_for_gigabytes_is_refused_before_anything_is_allocated() {
    let (manifest, weights) = files(Architecture::Dcgan { latent: 4, width: 1, size: 8 }, false);
    // A 3×3 convolution made 5001×5001 (padded to keep its output's size): 75M weights,
    // shapes consistent all the way.
    let mut huge = manifest.clone();
    huge["critic"]["layers"][0]["kernel"] = json!(5001);
    huge["critic"]["layers"][0]["padding"] = json!(2500);
    let e = load(&signed(huge, &weights), &weights).unwrap_err();
    assert!(e.contains("parameters") && e.contains("at most"), "{e}");
    // Sizes whose products overflow.
    let mut overflow = manifest.clone();
    overflow["generator"]["layers"][1]["shape"] = json!([u64::MAX / 2, 4, 4]);
    let e = load(&signed(overflow, &weights), &weights).unwrap_err();
    assert!(e.contains("generator"), "{e}");
    // An activation of 69M values per sample (a small image upsampled enormously, then pooled
    // back to its size).
    let mut wide = manifest.clone();
    let layers = wide["critic"]["layers"].as_array_mut().unwrap();
    layers.insert(0, json!({"op": "upsample2d", "factor": 600}));
    layers.insert(1, json!({"op": "avg_pool2d", "kernel": 600}));
    let e = load(&signed(wide, &weights), &weights).unwrap_err();
    assert!(e.contains("values per sample"), "{e}");
    // A weights file far larger than the manifest's tensors: refused before it is hashed.
    let mut padded = weights.clone();
    padded.resize(weights.len() * 3 + (64 << 20), 0);
    let e = load(&signed(manifest.clone(), &padded), &padded).unwrap_err();
    assert!(e.contains("larger than") && e.contains("bytes"), "{e}");
    // Deeply nested JSON and bytes that are not UTF-8.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = load(nested.as_bytes(), &weights).unwrap_err();
    assert!(e.contains("not valid JSON") && e.contains("recursion"), "{e}");
    // A valid manifest padded with 5 MiB of spaces: refused by its size, before it is parsed.
    let mut bloated = manifest.to_string().into_bytes();
    bloated.resize(bloated.len() + (5 << 20), b' ');
    let e = load(&bloated, &weights).unwrap_err();
    assert!(e.contains("at most 4194304 bytes"), "{e}");
    let mut latin1 = manifest.to_string().into_bytes();
    latin1.insert(20, 0xE9);
    let e = load(&latin1, &weights).unwrap_err();
    assert!(e.contains("not valid JSON"), "{e}");
}

/// Mutations of a JSON value: a random node replaced, removed or duplicated.
fn mutate_json(value: &mut Value, rng: &mut ChaCha8Rng) {
    let nasty = [
        json!(0),
        json!(-1),
        json!(1u64 << 40),
        json!(u64::MAX),
        json!(1e300),
        json!(-0.0),
        json!(""),
        json!("x"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!([1, 2, 3]),
        json!({"op": "residual", "layers": [], "shortcut": [{"op": "upsample2d", "factor": 3}]}),
        json!({"kind": "uniform", "low": 1.0, "high": -1.0}),
    ];
    // A random path down the tree, as a JSON pointer.
    let (mut path, mut at) = (String::new(), &*value);
    loop {
        let go_on = rng.random_bool(0.7);
        match at {
            Value::Object(o) if !o.is_empty() && go_on => {
                let (k, v) = o.iter().nth(rng.random_range(0..o.len())).unwrap();
                path += &format!("/{}", k.replace('~', "~0").replace('/', "~1"));
                at = v;
            }
            Value::Array(a) if !a.is_empty() && go_on => {
                let i = rng.random_range(0..a.len());
                path += &format!("/{i}");
                at = &a[i];
            }
            _ => break,
        }
    }
    let node = value.pointer_mut(&path).expect("the path was just walked");
    match rng.random_range(0..4) {
        0 | 1 => *node = nasty[rng.random_range(0..nasty.len())].clone(),
        2 => match node {
            Value::Object(o) if !o.is_empty() => {
                let k = o.keys().nth(rng.random_range(0..o.len())).unwrap().clone();
                o.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.random_range(0..a.len());
                let copy = a[i].clone();
                a.insert(i, copy);
            }
            _ => *node = json!(7),
        },
        _ => {
            if let Some(n) = node.as_u64() {
                *node = json!(n.wrapping_mul(rng.random_range(2..1000)));
            }
        }
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    if bytes.is_empty() {
        return;
    }
    match rng.random_range(0..3) {
        0 => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
        }
        1 => bytes.truncate(rng.random_range(0..bytes.len())),
        _ => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
        }
    }
}

#[test]
fn mutated_bundles_never_panic_the_loader() {
    let sources = [
        files(Architecture::toy2d(), false),
        files(Architecture::Dcgan { latent: 4, width: 1, size: 8 }, true),
        files(Architecture::SnResnet { latent: 4, width: 1, size: 8 }, false),
        files(
            Architecture::CharCnn {
                latent: 4,
                width: 2,
                length: 3,
                blocks: 1,
                vocab: ["a", "b"].map(String::from).to_vec(),
            },
            false,
        ),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    // Bounded in time as well as in count: the test command runs it on every commit.
    let (started, budget) = (Instant::now(), Duration::from_secs(20));
    let (mut tried, mut loaded) = (0, 0);
    while tried < 20_000 && started.elapsed() < budget {
        let (manifest, weights) = &sources[tried % sources.len()];
        let (mut manifest, mut weights) = (manifest.clone(), weights.clone());
        let mut manifest_bytes = None;
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..4) {
                    mutate_json(&mut manifest, &mut rng);
                }
            }
            1 => {
                let mut bytes = manifest.to_string().into_bytes();
                mutate_bytes(&mut bytes, &mut rng);
                manifest_bytes = Some(bytes);
            }
            2 => mutate_bytes(&mut weights, &mut rng),
            _ => {
                // Weights of another shape, re-encoded validly, or a tensor renamed.
                let mut bundle =
                    Bundle::from_bytes("t", &signed(manifest.clone(), &weights), &weights)
                        .expect("the sources are valid");
                let name = bundle
                    .weights
                    .keys()
                    .nth(rng.random_range(0..bundle.weights.len()))
                    .unwrap()
                    .clone();
                let (shape, values) = bundle.weights.remove(&name).unwrap();
                let renamed = if rng.random_bool(0.5) { format!("{name}x") } else { name };
                let shape = shape
                    .iter()
                    .map(|&d| if rng.random_bool(0.3) { d + 1 } else { d })
                    .collect::<Vec<_>>();
                let values = vec![values.first().copied().unwrap_or(0.0); shape.iter().product()];
                bundle.weights.insert(renamed, (shape, values));
                weights = encode(&bundle.weights, dgflow::bundle::Encoding::F16);
            }
        }
        // Mostly signed, so that the checks past the digest are reached too.
        let manifest_bytes = manifest_bytes.unwrap_or_else(|| {
            if rng.random_bool(0.8) {
                signed(manifest.clone(), &weights)
            } else {
                manifest.to_string().into_bytes()
            }
        });
        let outcome = catch_unwind(AssertUnwindSafe(|| load(&manifest_bytes, &weights)));
        match outcome {
            Ok(Ok(_)) => loaded += 1,
            Ok(Err(message)) => assert!(!message.is_empty()),
            Err(_) => panic!(
                "the loader panicked on case {tried}: manifest {}",
                String::from_utf8_lossy(&manifest_bytes)
            ),
        }
        tried += 1;
    }
    assert!(tried >= 500, "only {tried} cases in {budget:?}");
    // Some mutations are harmless (a description changed): the loader is not refusing everything.
    assert!(loaded > 0 && loaded < tried, "{loaded} of {tried} loaded");
    println!("{tried} mutated bundles, {loaded} loaded, no panic");
}
