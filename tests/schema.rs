//! The manifest's schema (docs/bundle-manifest.schema.json) against every shipped manifest, and
//! against the loader: broken manifests that the schema can describe are refused by both, and
//! the ones only the loader can judge (shapes through the networks, low < high) pass the schema
//! and are refused by the loader.
//!
//! The schema is standard JSON Schema 2020-12 for anyone's validator; the test validates with a
//! small validator of the keywords it uses (below), checked here on its own too.

use std::path::PathBuf;

use dgflow::bundle::{MANIFEST_FILE, Manifest};
use dgflow::model::presets::Architecture;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let path = root().join("docs/bundle-manifest.schema.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Where `value` breaks `schema` (with `defs` for `$ref`), as a path and a reason.
fn violation(schema: &Value, defs: &Value, value: &Value, at: &str) -> Option<String> {
    let fail = |reason: String| Some(format!("{at}: {reason}"));
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/$defs/").expect("only local $refs");
        return violation(&defs[name], defs, value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options.iter().filter(|o| violation(o, defs, value, at).is_none()).count();
        return (matching != 1).then(|| format!("{at}: matches {matching} of the oneOf options"));
    }
    if let Some(wanted) = schema.get("const")
        && wanted != value
    {
        return fail(format!("{value} is not {wanted}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return fail(format!("{value} is not one of {options:?}"));
    }
    let number = value.as_f64();
    match schema.get("type").and_then(Value::as_str) {
        None => {}
        Some("object") if value.is_object() => {}
        Some("array") if value.is_array() => {}
        Some("string") if value.is_string() => {}
        Some("boolean") if value.is_boolean() => {}
        Some("number") if number.is_some() => {}
        Some("integer") if value.is_u64() || value.is_i64() => {}
        Some(kind) => return fail(format!("{value} is not of type {kind}")),
    }
    if let (Some(n), Some(min)) = (number, schema.get("minimum").and_then(Value::as_f64))
        && n < min
    {
        return fail(format!("{n} < {min}"));
    }
    if let (Some(n), Some(min)) = (number, schema.get("exclusiveMinimum").and_then(Value::as_f64))
        && n <= min
    {
        return fail(format!("{n} ≤ {min}"));
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m)
            || schema.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m)
        {
            return fail(format!("{s:?} has the wrong length"));
        }
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if schema.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m)
            || schema.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m)
        {
            return fail(format!("{n} items"));
        }
        if let Some(item) = schema.get("items") {
            for (i, v) in items.iter().enumerate() {
                if let Some(v) = violation(item, defs, v, &format!("{at}[{i}]")) {
                    return Some(v);
                }
            }
        }
    }
    if let Some(fields) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !fields.contains_key(required.as_str().unwrap()) {
                return fail(format!("missing {required}"));
            }
        }
        for (key, v) in fields {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => {
                    if let Some(v) = violation(property, defs, v, &format!("{at}.{key}")) {
                        return Some(v);
                    }
                }
                None if schema.get("additionalProperties") == Some(&json!(false)) => {
                    return fail(format!("unknown field {key}"));
                }
                None => {}
            }
        }
    }
    None
}

/// The manifest of a new bundle of `arch`, as the engine writes it (with its weights' digest).
fn written(arch: Architecture) -> Value {
    serde_json::from_slice(&arch.init_bundle("t", 1).to_files().0).unwrap()
}

fn validate(value: &Value) -> Option<String> {
    let schema = schema();
    violation(&schema, &schema["$defs"], value, "manifest")
}

#[test]
fn the_validator_knows_the_keywords_the_schema_uses() {
    let defs = json!({"n": {"type": "integer", "minimum": 1}});
    let s = json!({
        "type": "object", "required": ["a"], "additionalProperties": false,
        "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"type": "array", "items": {"enum": ["x"]}, "maxItems": 1},
                       "c": {"oneOf": [{"const": 1}, {"type": "string", "minLength": 2}]}}
    });
    let check = |v: Value| violation(&s, &defs, &v, "v");
    assert_eq!(check(json!({"a": 2, "b": ["x"], "c": "yy"})), None);
    assert!(check(json!({"a": 0})).unwrap().contains("0 < 1"));
    assert!(check(json!({"a": 1.5})).unwrap().contains("not of type integer"));
    assert!(check(json!({"b": []})).unwrap().contains("missing \"a\""));
    assert!(check(json!({"a": 1, "z": 0})).unwrap().contains("unknown field z"));
    assert!(check(json!({"a": 1, "b": ["y"]})).unwrap().contains("v.b[0]"));
    assert!(check(json!({"a": 1, "b": ["x", "x"]})).unwrap().contains("2 items"));
    assert!(check(json!({"a": 1, "c": "y"})).unwrap().contains("0 of the oneOf"));
    assert_eq!(check(json!({"a": 1, "c": 1})), None);
}

#[test]
fn every_shipped_manifest_follows_the_schema() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path().join(MANIFEST_FILE);
        let manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        // The classifier behind the image metrics is not a bundle (dgflow-classifier/1).
        if !manifest["format"].as_str().unwrap().starts_with("dgflow-bundle/") {
            continue;
        }
        assert_eq!(validate(&manifest), None, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} bundles in models/");
    // And every architecture the engine builds, with a uniform prior too.
    for arch in [
        Architecture::toy2d(),
        Architecture::Dcgan { latent: 4, width: 2, size: 8 },
        Architecture::SnResnet { latent: 4, width: 2, size: 8 },
    ] {
        let mut manifest = written(arch);
        assert_eq!(validate(&manifest), None);
        manifest["latent"]["prior"] = json!({"kind": "uniform", "low": -1.0, "high": 1.0});
        assert_eq!(validate(&manifest), None);
    }
}

#[test]
fn the_schema_and_the_loader_refuse_the_same_broken_manifests() {
    let original = written(Architecture::Dcgan { latent: 4, width: 1, size: 8 });
    let parses = |v: &Value| Manifest::parse(v.to_string().as_bytes(), "m.json").is_ok();
    assert!(parses(&original) && validate(&original).is_none());
    let edited = |pointer: &str, value: Option<Value>| {
        let mut v = original.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = v.pointer_mut(parent).unwrap();
        match (value, target) {
            (Some(value), Value::Object(o)) => {
                o.insert(key.into(), value);
            }
            (Some(value), Value::Array(a)) => a[key.parse::<usize>().unwrap()] = value,
            (None, Value::Object(o)) => {
                o.remove(key);
            }
            _ => unreachable!(),
        }
        v
    };
    // Both refuse: the schema says so.
    let refused_by_both = [
        edited("/format", Some(json!("dgflow-bundle/9"))),
        edited("/kind", Some(json!("audio"))),
        edited("/latent/prior", Some(json!({"kind": "cauchy"}))),
        edited("/latent/prior", Some(json!({"kind": "normal"}))),
        edited("/latent/prior", Some(json!({"kind": "normal", "sigma": 0.0}))),
        edited("/latent/prior", Some(json!("normal"))),
        edited("/latent/dim", Some(json!(0))),
        edited("/latent/extra", Some(json!(1))),
        edited("/sample_shape", Some(json!([]))),
        edited("/value_range", Some(json!([0.0]))),
        edited("/generator/layers/0", Some(json!({"op": "upsample_bicubic"}))),
        edited("/generator/layers/0/kernel", Some(json!(3))),
        edited("/critic/layers", None),
        edited("/weights/sha256", Some(json!("abc"))),
        edited("/provenance", None),
        edited("/calibration", Some(json!({"scale": -1.0, "shift": 0.0}))),
        edited("/recommended", Some(json!({"eta": 0.1}))),
        edited("/toy", Some(json!("moons"))),
    ];
    for (i, broken) in refused_by_both.iter().enumerate() {
        assert!(validate(broken).is_some(), "case {i}: the schema lets it pass: {broken}");
        assert!(!parses(broken), "case {i}: the loader lets it pass: {broken}");
    }
    // Only the loader can judge these: shapes through the networks, and bounds that relate.
    let loader_only = [
        edited("/sample_shape", Some(json!([3, 16, 16]))),
        edited("/latent/prior", Some(json!({"kind": "uniform", "low": 1.0, "high": -1.0}))),
        edited("/value_range", Some(json!([1.0, -1.0]))),
        // A data set for an image model.
        edited("/toy", Some(json!("25gaussians"))),
    ];
    for (i, broken) in loader_only.iter().enumerate() {
        assert_eq!(validate(broken), None, "case {i}");
        assert!(!parses(broken), "case {i}: the loader lets it pass: {broken}");
    }
}

#[test]
fn the_format_document_quotes_the_engines_limits() {
    let doc = std::fs::read_to_string(root().join("docs/bundle-format.md")).unwrap();
    let with_commas = |n: usize| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for (name, value) in [
        ("MAX_SAMPLE_VALUES", dgflow::model::spec::MAX_SAMPLE_VALUES),
        ("MAX_PARAMETERS", dgflow::bundle::MAX_PARAMETERS),
        ("MAX_MANIFEST_BYTES", dgflow::bundle::MAX_MANIFEST_BYTES),
    ] {
        let quoted = [
            format!("{} values per sample (`{name}`)", with_commas(value)),
            format!("{} parameters (`{name}`", with_commas(value)),
            format!("{} bytes (`{name}`", with_commas(value)),
        ];
        assert!(
            quoted.iter().any(|q| doc.contains(q.as_str())),
            "docs/bundle-format.md should quote {name} = {value}"
        );
    }
}
