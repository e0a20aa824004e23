//! README's numbers come from the bench files, never by hand: each block between
//! `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is what this test writes from
//! bench/RESULTS.md, bench/GPU.md and bench/PARITY.md. The test fails when README and the latest
//! bench files disagree; `DGFLOW_WRITE_README=1 cargo test --test readme` (which `./build.sh
//! bench` runs after a bench) rewrites the blocks instead.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The data rows of the first markdown table after the line starting with `heading`.
fn table(doc: &str, file: &str, heading: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines.iter().position(|l| l.starts_with(heading)).unwrap_or_else(|| {
        panic!("{file} has no `{heading}`: rerun the bench, or update tests/readme.rs")
    });
    lines[start..]
        .iter()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('*').to_string()).collect()
        })
        .collect()
}

/// The row whose first cell is `label`, or where none is, starts with it (the browser tables'
/// labels go on with details), and whose second cell is `second`, if given. Exact first:
/// `cifar10` must not take a `cifar10-vae` row listed before it.
fn row<'a>(rows: &'a [Vec<String>], file: &str, label: &str, second: Option<&str>) -> &'a [String] {
    let find = |first: &dyn Fn(&str) -> bool| {
        rows.iter()
            .find(|r| first(&r[0]) && second.is_none_or(|s| r.get(1).is_some_and(|c| c == s)))
    };
    find(&|cell| cell == label).or_else(|| find(&|cell| cell.starts_with(label))).unwrap_or_else(
        || {
            panic!(
                "{file} has no row `{label}` {second:?}: rerun the bench, or update tests/readme.rs"
            )
        },
    )
}

/// The date a bench file says it was written on (`… on 2026-12-06 …` in its first line).
fn written_on(doc: &str) -> String {
    let first = doc.lines().next().unwrap_or("");
    first
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .find(|w| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-')
        .unwrap_or("an unknown date")
        .to_string()
}

/// The `Machine: …` line's CPU and peak.
fn machine(doc: &str) -> (String, String) {
    let line = doc.lines().find(|l| l.starts_with("Machine: ")).expect("a Machine line");
    let cpu = line["Machine: ".len()..].split(". Peak").next().unwrap_or("").to_string();
    let peak = line.split("Peak: ").nth(1).and_then(|p| p.split(" measured").next()).unwrap_or("?");
    (cpu, peak.to_string())
}

/// The speed block of "How fast is it?": the browser against native, PyTorch, training, the page.
fn speed(results: &str) -> String {
    let file = "bench/RESULTS.md";
    let (cpu, peak) = machine(results);
    let wasm = table(results, file, "ms per DGflow-KL step, `cifar10-init`");
    let cell = |label: &str, column: usize| row(&wasm, file, label, None)[column].clone();
    let native = cell("native CLI, CPU (burn flex", 1);
    let mut text = format!(
        "Last run ({}, {cpu}, an FMA peak of {peak}); every row is in [bench/RESULTS.md](bench/RESULTS.md). \
         One DGflow step for 64 CIFAR-10 samples, each browser row beside the native CLI on as many threads:\n\n\
         | where | ms/step | native CLI on as many threads is … faster |\n|---|---|---|\n\
         | native CLI, 2 threads | {native} | |\n\
         | native CLI, 1 thread | {} | |\n",
        written_on(results),
        cell("native CLI, CPU (1 thread)", 1),
    );
    for (label, what) in [
        (
            "wasm, CPU (2 threads, relaxed SIMD;",
            "Chromium, relaxed SIMD, 2 threads (what the page picks where this device timed it faster)",
        ),
        (
            "wasm, CPU (2 threads, SIMD;",
            "Chromium, plain SIMD, 2 threads (a first visit's module, and Safari's)",
        ),
        ("wasm, CPU (1 thread, relaxed SIMD", "Chromium, relaxed SIMD, 1 thread"),
        ("wasm, CPU (1 thread, SIMD", "Chromium, plain SIMD, 1 thread"),
        (
            "wasm in JavaScriptCore",
            "JavaScriptCore (Safari's engine, `jsc` shell), plain SIMD, 1 thread",
        ),
    ] {
        text += &format!(
            "| {what} | {} | {} |\n",
            cell(label, 1),
            cell(label, 3).trim_end_matches(" slower")
        );
    }
    let refinement = table(results, file, "## Refinement");
    let ratios = |model: &str| -> String {
        let cells: Vec<String> = ["1", "64", "256"]
            .iter()
            .map(|b| row(&refinement, file, model, Some(b))[7].trim_end_matches('×').to_string())
            .collect();
        format!("{} {}×", model, cells.join(" / "))
    };
    let models: Vec<String> = ["cifar10", "cifar10-vae", "text", "25gaussians", "swissroll"]
        .iter()
        .map(|m| ratios(m))
        .collect();
    let cifar = row(&refinement, file, "cifar10", Some("64"));
    let training = table(results, file, "## Training");
    let browser = table(results, file, "## In the browser");
    let first_visit = row(&browser, file, "a first visit on the CPU downloads", None)[2].clone();
    let on_gpu = row(&browser, file, "a first visit on WebGPU downloads", None)[2].clone();
    let timing = results
        .lines()
        .find(|l| l.starts_with("model loaded "))
        .unwrap_or_else(|| panic!("{file} has no time to the first refined grid"));
    let ms = |label: &str| -> String {
        timing
            .split(label)
            .nth(1)
            .and_then(|r| r.split(" ms").next())
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    text += &format!(
        "\nAgainst PyTorch on the CPU on the same weights (PyTorch's time over ours, at batch 1 / 64 / 256): {}. \
         At batch 64 one CIFAR-10 step takes {} ms here against PyTorch's {} ms in the same minute (the refinement table's run). \
         Training the CIFAR-10 SN-DCGAN runs at {} images/s against PyTorch's {} ({}). \
         A first visit downloads {first_visit} gzipped on the CPU (with threads / on one thread) and {on_gpu} on WebGPU \
         (with a CPU module too, at most), and the first refined grid is on screen \
         {} ms after navigation ({} ms after the model loaded).\n",
        models.join(", "),
        cifar[2],
        cifar[6],
        training[0][0],
        training[0][1],
        training[0][2],
        ms("first refined grid "),
        timing.split('(').nth(1).and_then(|r| r.split(" ms").next()).unwrap_or("?"),
    );
    let phone = results
        .lines()
        .find(|l| l.starts_with("A plain visit on an emulated phone"))
        .unwrap_or_else(|| panic!("{file} has no phone visit"));
    let seconds = |label: &str| -> String {
        phone
            .split(label)
            .nth(1)
            .and_then(|r| r.split(" s").next())
            .unwrap_or("?")
            .trim_matches(|c: char| c == '*' || c.is_whitespace())
            .to_string()
    };
    text += &format!(
        "On an emulated phone (a 4× slower CPU, files over \"Fast 4G\") a plain visit shows its first refined grid \
         {} s after navigation and finishes the run at {} s.\n",
        seconds("first refined grid"),
        seconds("the last step"),
    );
    text
}

/// The wasm modules' sizes, for "Backends and tolerances".
fn modules(results: &str) -> String {
    let file = "bench/RESULTS.md";
    let browser = table(results, file, "## In the browser");
    let size = |label: &str| {
        let r = row(&browser, file, label, None);
        format!("{}, {} gzipped", r[1], r[2])
    };
    format!(
        "Sizes in the last bench run ([bench/RESULTS.md](bench/RESULTS.md)): `pkg` {}; `pkg-cpu` {}; `pkg-cpu-mt` {}; \
         the relaxed-SIMD builds are the same sizes.\n",
        size("WebGPU wasm module"),
        size("CPU wasm module (pkg-cpu/"),
        size("CPU wasm module with threads (pkg-cpu-mt/"),
    )
}

/// The GPU paragraph's numbers, beside the CPU's.
fn gpu(gpu: &str, results: &str) -> String {
    let file = "bench/GPU.md";
    let refinement = table(gpu, file, "## Refinement");
    let training = table(gpu, file, "## Training");
    let card = gpu
        .lines()
        .find(|l| l.starts_with("GPU: "))
        .and_then(|l| l["GPU: ".len()..].split(" (").next())
        .unwrap_or("a GPU")
        .to_string();
    let b64 = row(&refinement, file, "cifar10", Some("64"));
    let b256 = row(&refinement, file, "cifar10", Some("256"));
    let cpu = row(
        &table(results, "bench/RESULTS.md", "## Refinement"),
        "bench/RESULTS.md",
        "cifar10",
        Some("64"),
    )[2]
    .clone();
    let speedup =
        cpu.parse::<f64>().unwrap_or(f64::NAN) / b64[2].parse::<f64>().unwrap_or(f64::NAN);
    format!(
        "Measured on an {card} ([bench/GPU.md](bench/GPU.md), {}): 64 CIFAR-10 samples take {} ms per step (PyTorch on CUDA {} ms: {}), \
         256 take {} ms (PyTorch {} ms: {}), and training runs at {} images/s (PyTorch {}: {}): {speedup:.0}× the speed of the \
         CPU of bench/RESULTS.md at batch 64 ({cpu} ms per step).\n",
        written_on(gpu),
        b64[2],
        b64[6],
        b64[7],
        b256[2],
        b256[6],
        b256[7],
        training[0][0],
        training[0][1],
        training[0][2],
    )
}

/// The parity paragraph's summary of bench/PARITY.md.
fn parity(parity: &str) -> String {
    let file = "bench/PARITY.md";
    let date = parity
        .lines()
        .find(|l| l.starts_with("Measured "))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("an unknown date")
        .to_string();
    let runs = table(parity, file, "| model | method | space |");
    let table_rows: Vec<&Vec<String>> = runs.iter().collect();
    let value = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
    let worst =
        table_rows.iter().max_by(|a, b| value(a, 3).total_cmp(&value(b, 3))).expect("parity runs");
    let below = table_rows.iter().filter(|r| value(r, 3) < 1e-5).count();
    let failed = table_rows.iter().filter(|r| r.last().is_none_or(|c| c != "ok")).count();
    assert_eq!(
        failed, 0,
        "{file}: {failed} runs failed their limit; fix them before quoting the file"
    );
    assert!(!parity.contains("FAIL"), "{file} reports a failed training check");
    // DRS and MH-GAN rows have no float32 comparison (nothing is differentiated).
    let own = match worst[5].parse::<f64>() {
        Ok(_) => format!(", where PyTorch's own float32 is at {}", worst[5]),
        Err(_) => String::new(),
    };
    format!(
        "In the last run ({date}), every one of the {} refinement runs is within its limit and every training check passes; \
         the 99th percentile per sample is below 1e-5 in {below} of them, and at most {} ({} {} in {} space{own}).\n",
        table_rows.len(),
        worst[3],
        worst[0],
        worst[1],
        worst[2],
    )
}

#[test]
fn readme_quotes_the_latest_bench_files() {
    let (results, gpu_md, parity_md) =
        (read("bench/RESULTS.md"), read("bench/GPU.md"), read("bench/PARITY.md"));
    let blocks = [
        ("speed", speed(&results)),
        ("modules", modules(&results)),
        ("gpu", gpu(&gpu_md, &results)),
        ("parity", parity(&parity_md)),
    ];
    let mut readme = read("README.md");
    let mut stale = Vec::new();
    for (name, want) in &blocks {
        let (open, close) = (format!("<!-- bench:{name} -->\n"), format!("<!-- /bench:{name} -->"));
        let start =
            readme.find(&open).unwrap_or_else(|| panic!("README.md has no {open}")) + open.len();
        let end = start
            + readme[start..].find(&close).unwrap_or_else(|| panic!("README.md has no {close}"));
        if readme[start..end] != **want {
            stale.push(*name);
            readme.replace_range(start..end, want);
        }
    }
    if std::env::var_os("DGFLOW_WRITE_README").is_some() {
        std::fs::write(root().join("README.md"), readme).expect("README.md is writable");
    } else {
        assert!(
            stale.is_empty(),
            "README.md's blocks {stale:?} disagree with the bench files: run `DGFLOW_WRITE_README=1 cargo test --test readme`"
        );
    }
}
