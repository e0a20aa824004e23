#!/usr/bin/env bash
# dgflow-web build script. Installs what is missing (Debian), builds the native CLI and the wasm
# module, and serves or tests the result.
#
#   ./build.sh          build everything and serve the demo on http://127.0.0.1:$PORT (default 8080)
#   ./build.sh test     run every test: formatting, Rust unit/integration tests, clippy, then
#                       the wasm build in headless Chromium (CPU and WebGPU) against the native CLI
#   ./build.sh dist     write the static site (page, wasm, models) to dist/
#   ./build.sh dist --models DIR... [--out SITE]
#                       a site of just these bundles (yours), ready for a static host, and
#                       the <iframe> that embeds it
#   ./build.sh exporter install PyTorch and the exporter (python/) into a virtual environment in
#                       the cache, build the CLI its check runs, and print that Python's path
#   ./build.sh wasm     build only the wasm modules into www/pkg*/
#   ./build.sh parity   compare every step with an independent PyTorch implementation
#                       (installs PyTorch from PyPI, ~2 GB, into the cache; writes bench/PARITY.md)
#   ./build.sh bench    time native vs PyTorch vs the browser (wasm CPU, WebGPU), page size and
#                       time to first refined grid, and profile cifar10 layer by layer; writes
#                       bench/RESULTS.md
#   ./build.sh bench-gpu [ARGS]  on a machine with a GPU: native wgpu vs PyTorch (CUDA where it
#                       has it); writes bench/GPU.md (ARGS go to `dgflow bench`, e.g. --batches 64)
#   ./build.sh eval [MODEL...]  every model card's measured tables and pictures (held-out seeds
#                       1-3, the seed-0 tables settings were chosen on, the PyTorch scripts'),
#                       for every bundled model or the ones named (over an hour on two cores for
#                       all; installs PyTorch like parity): writes them beside the cards and
#                       copies the tables into the cards, with the measured models' pinned
#                       mean logits (tests/models.rs checks them); calibrates MH-GAN first
#
# Build outputs live outside the clone, in $DGFLOW_CACHE (default ~/.cache/dgflow-web), so a fresh
# clone on the same machine rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
CACHE=${DGFLOW_CACHE:-$HOME/.cache/dgflow-web}
PORT=${PORT:-8080}
NATIVE_TARGET=$CACHE/target
WASM_TARGET=$CACHE/target-wasm

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
step() { printf '\n==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- installing what is missing
APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  if [ $APT_UPDATED -eq 0 ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

native_cargo() {
  if command -v cargo >/dev/null 2>&1; then echo cargo; return; fi
  # No rustup toolchain: Debian's cargo builds the native side as well.
  apt_install rustc-web cargo-web rust-web-src lld
  echo /usr/bin/cargo
}

# rustfmt and clippy, which `test` runs: rustup's components where rustup is, else Debian's
# builds for its rustc-web.
ensure_lint_tools() {
  local cargo; cargo=$(native_cargo)
  "$cargo" fmt --version >/dev/null 2>&1 && "$cargo" clippy --version >/dev/null 2>&1 && return 0
  if command -v rustup >/dev/null 2>&1; then
    step "installing rustfmt and clippy (rustup components)"
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
  fi
  "$cargo" fmt --version >/dev/null 2>&1 && "$cargo" clippy --version >/dev/null 2>&1 && return 0
  apt_install rustfmt-web rust-web-clippy
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_tools() {
  # rustup cannot fetch the wasm32 standard library here; Debian's rustc-web ships its sources.
  apt_install rustc-web cargo-web rust-web-src lld
  local want; want=$(wasm_bindgen_version)
  if ! command -v wasm-bindgen >/dev/null 2>&1 || [ "$(wasm-bindgen --version | cut -d' ' -f2)" != "$want" ]; then
    step "installing wasm-bindgen-cli $want (must match Cargo.lock)"
    "$(native_cargo)" install wasm-bindgen-cli --version "$want"
  fi
}

ensure_browser() {
  command -v node >/dev/null 2>&1 || apt_install nodejs npm
  # Chromium; Firefox ESR, the page's second engine; and JavaScriptCore's shell (jsc): Safari's
  # engine, which runs the plain-SIMD module.
  apt_install chromium firefox-esr libjavascriptcoregtk-4.0-bin
  local package
  for package in playwright-core puppeteer-core axe-core; do
    if [ ! -d "tests/e2e/node_modules/$package" ]; then
      step "installing playwright-core and puppeteer-core (they drive Debian's Chromium and Firefox; no browser is downloaded) and axe-core"
      (cd tests/e2e && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
      break
    fi
  done
}

# A Python with PyTorch, numpy and safetensors: the system's if it has them, else a virtual
# environment in the cache (PyPI's Linux wheel of torch is the large CUDA build; it runs on CPU).
reference_python() {
  local py=python3
  if ! $py -c 'import torch, numpy, safetensors' >/dev/null 2>&1; then
    py=$CACHE/venv/bin/python
    if ! [ -x "$py" ] || ! $py -c 'import torch, numpy, safetensors' >/dev/null 2>&1; then
      apt_install python3-venv
      step "installing the PyTorch reference's packages into $CACHE/venv"
      python3 -m venv "$CACHE/venv"
      "$py" -m pip install --quiet -r tests/reference/requirements.txt
    fi
  fi
  echo "$py"
}

# The exporter's Python (PyTorch and python/ installed) and the CLI its check runs; prints the
# Python's path, the one line on stdout.
install_exporter() {
  build_native >&2
  local py; py=$(reference_python)
  step "installing the exporter (python/) into $("$py" -c 'import sys; print(sys.prefix)')"
  "$py" -m pip install --quiet ./python >&2
  echo "$py"
}

# ---------------------------------------------------------------- building
build_native() {
  step "building the native CLI"
  CARGO_TARGET_DIR=$NATIVE_TARGET "$(native_cargo)" build --release
  DGFLOW=$NATIVE_TARGET/release/dgflow
}

build_wasm() {
  ensure_wasm_tools
  # Five modules, of which a visitor loads one (two if a GPU fails): the CPU module (SIMD); the
  # same with wasm threads, for pages that are cross-origin isolated; each of those again with
  # relaxed SIMD (a fused multiply-add in the convolution kernels), for the browsers that
  # validate it; and one with WebGPU and no CPU backend, fetched only where a hardware adapter
  # exists. Separate target dirs where the RUSTFLAGS differ (they would rebuild each other); a
  # relaxed module shares its plain twin's, as only this crate's features differ.
  # The WebGPU module's own code only orchestrates GPU kernels: its profile (Cargo.toml,
  # wasm-gpu) builds it for size, 4.4 → 2.2 MB gzipped.
  wasm_module pkg-cpu "$WASM_TARGET-cpu" "-C target-feature=+simd128" "--features cpu" wasm-cpu
  wasm_module pkg-cpu-relaxed "$WASM_TARGET-cpu" "-C target-feature=+simd128" "--features cpu,relaxed-simd" wasm-cpu
  # Threads: atomics in the code (and in std, rebuilt), and a shared memory that JS imports, with
  # the TLS exports wasm-bindgen needs to start each thread; 1 GiB at most.
  local threads="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals"
  for arg in --shared-memory --max-memory=1073741824 --import-memory --export=__wasm_init_tls \
    --export=__tls_size --export=__tls_align --export=__tls_base; do
    threads+=" -C link-arg=$arg"
  done
  wasm_module pkg-cpu-mt "$WASM_TARGET-mt" "$threads" "--features threads" wasm-cpu
  wasm_module pkg-cpu-mt-relaxed "$WASM_TARGET-mt" "$threads" "--features threads,relaxed-simd" wasm-cpu
  wasm_module pkg "$WASM_TARGET" "" "--features webgpu" wasm-gpu
}

wasm_module() {
  local out=$1 target=$2 rustflags=$3 features=$4 profile=$5
  step "building the wasm module www/$out ($features, profile $profile)"
  # shellcheck disable=SC2086 # $features is one flag and its value
  RUSTFLAGS=$rustflags RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
    CARGO_TARGET_DIR=$target /usr/bin/cargo build --profile "$profile" --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort --no-default-features $features
  rm -rf "www/$out"
  # The name section alone is ~25 MB for burn; browsers do not need it.
  wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "www/$out" \
    "$target/wasm32-unknown-unknown/$profile/dgflow.wasm"
  echo "www/$out: $(stat -c %s "www/$out/dgflow_bg.wasm") bytes, $(gzip -9c "www/$out/dgflow_bg.wasm" | wc -c) gzipped"
}

# The static site: the page, the wasm modules and bundles, plus an index of them, in `$1`
# (default dist/); with model folders after it, just those (checked by the CLI first, lenders of
# shared weights required beside their borrowers), else every bundle in models/.
build_site() {
  local out=${1:-dist}; shift || true
  local given=("$@")
  local dirs=()
  if [ ${#given[@]} -gt 0 ]; then
    for dir in "${given[@]}"; do
      dir=${dir%/}
      [ -f "$dir/manifest.json" ] || { echo "build.sh: $dir has no manifest.json: give bundle folders (e.g. models/25gaussians)" >&2; exit 2; }
      "$DGFLOW" info "$dir" >/dev/null || { echo "build.sh: $dir is not a bundle this engine loads (above)" >&2; exit 1; }
      # A borrowed file (`shared_weights`) is on the site only as ../NAME/FILE, NAME a given folder.
      for file in $(grep -o '"file": *"\.\./[^"]*"' "$dir/manifest.json" | sed 's#^"file": *"##; s#"$##'); do
        local lender; lender=$(echo "$file" | sed -n 's:^\.\./\([^/]*\)/[^/]*$:\1:p')
        if [ -z "$lender" ] || [ "$lender" = ".." ] ||
          ! printf '%s\n' "${given[@]%/}" | grep -q "\(^\|/\)$lender\$"; then
          echo "build.sh: $dir borrows weights from $file: give that bundle's folder too (a site serves it as ../NAME/FILE)" >&2
          exit 2
        fi
      done
      dirs+=("$dir")
    done
  else
    # By folder name, so that cifar10 comes before cifar10-vae (a glob puts "-" before "/").
    for dir in $(printf '%s\n' models/*/ | sed 's:/$::' | LC_ALL=C sort); do
      # Model bundles only: the classifier behind the image metrics is the CLI's, not the page's.
      grep -q '"format": *"dgflow-bundle/' "$dir/manifest.json" 2>/dev/null && dirs+=("$dir")
    done
  fi
  step "writing the static site to $out/"
  rm -rf "$out" && mkdir -p "$out/models"
  cp -r www/. "$out/"
  local names=()
  # Image models first: the page opens on the first one, and the paper's headline is images.
  for kind in image text points; do
    for dir in "${dirs[@]}"; do
      grep -q "\"kind\": *\"$kind\"" "$dir/manifest.json" || continue
      # What the page fetches: the manifest and the weights (cards and pictures stay behind).
      mkdir -p "$out/models/$(basename "$dir")"
      cp "$dir"/manifest.json "$dir"/*.safetensors "$out/models/$(basename "$dir")/"
      names+=("\"$(basename "$dir")\"")
    done
  done
  (IFS=,; echo "{\"models\":[${names[*]}]}") > "$out/models/index.json"
  echo "site: $out/ (${#names[@]} models)"
  if [ ${#given[@]} -gt 0 ]; then
    echo "Put $out/ on any static host (a repository's pages site works; it needs no special headers)."
    echo "Embed it in a project page with:"
    echo "  <iframe src=\"https://YOUR.HOST/PATH/?embed=1\" width=\"100%\" height=\"640\" style=\"border:0\" loading=\"lazy\" title=\"DGflow demo\"></iframe>"
  fi
}

# `dist [--models DIR...] [--out SITE]`.
build_dist() {
  local out=dist models=()
  while [ $# -gt 0 ]; do
    case $1 in
      --out) out=${2:?--out needs a folder}; shift 2 ;;
      --models)
        shift
        while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do models+=("$1"); shift; done
        [ ${#models[@]} -gt 0 ] || { echo "build.sh: --models needs bundle folders" >&2; exit 2; } ;;
      *) echo "build.sh dist: unknown flag $1 (use --models DIR... and --out SITE)" >&2; exit 2 ;;
    esac
  done
  build_native
  build_wasm
  build_site "$out" "${models[@]}"
}

serve() {
  step "serving dist/ — open http://127.0.0.1:$PORT/ (Ctrl-C stops)"
  python3 -m http.server "$PORT" --bind 127.0.0.1 --directory dist
}

# README quotes the bench files through blocks that tests/readme.rs writes (and checks, in
# `test`): rewritten after every bench, so that no number is copied by hand.
write_readme_numbers() {
  DGFLOW_WRITE_README=1 CARGO_TARGET_DIR=$NATIVE_TARGET "$(native_cargo)" test --release --test readme >/dev/null
  echo "README.md: numbers rewritten from bench/"
}

# ---------------------------------------------------------------- testing
run_tests() {
  ensure_lint_tools
  step "formatting (rustfmt.toml)"
  "$(native_cargo)" fmt --check
  step "Rust tests (native, CPU backend)"
  CARGO_TARGET_DIR=$NATIVE_TARGET "$(native_cargo)" test --release
  step "lints (clippy, warnings as errors)"
  CARGO_TARGET_DIR=$NATIVE_TARGET "$(native_cargo)" clippy --release --all-targets -- -D warnings
  build_native
  step "the PyTorch exporter (python/): small GANs of every layer kind exported, reloaded by the CLI and checked"
  local py; py=$(reference_python)
  "$py" -m pip install --quiet ./python
  DGFLOW=$DGFLOW "$py" -m unittest discover -s python/tests
  build_wasm
  ensure_browser

  step "wasm in headless Chromium (CPU and WebGPU) and JavaScriptCore (CPU) against the native CLI"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/site"
  cp tests/e2e/smoke.html tests/e2e/smoke.js tests/e2e/steps.js tests/e2e/modules.js "$work/site/"
  cp -r www/pkg www/pkg-cpu* "$work/site/"
  # The smoke test's cases, each refined here (the reference) and then in every module: a tiny
  # DCGAN by every method and in data space, and the bundled CIFAR-10 model (16 samples), whose
  # wide layers go in Winograd tiles in the browser's modules; trained weights, so that its
  # values are of order one and the tolerance, relative to 1 + |value|, holds them closely.
  "$DGFLOW" init --arch dcgan --width 2 --latent 8 --size 8 --seed 3 --out "$work/site/tiny" >/dev/null
  "$DGFLOW" init --arch snresnet --width 2 --latent 8 --size 8 --seed 3 --out "$work/site/tiny-resnet" >/dev/null
  cp -r models/cifar10 "$work/site/cifar10"
  mkdir -p "$work/native"
  local cases=()
  smoke_case() {
    local name=$1 model=$2; shift 2
    "$DGFLOW" refine --model "$work/site/$model" "$@" \
      --out "$work/native/$name.png" --trajectory "$work/native/$name.json" >/dev/null
    cases+=("{\"name\":\"$name\",\"model\":\"$model\"}")
  }
  smoke_case tiny-kl tiny --seed 7 --batch 4 --steps 5
  for method in dgflow-js dgflow-logd ddls dot drs mh-gan; do
    smoke_case "tiny-$method" tiny --method "$method" --seed 8 --batch 4 --steps 3
  done
  smoke_case tiny-data-space tiny --space data --seed 9 --batch 4 --steps 3
  # SN-ResNet-GAN's blocks: upsampling, average and sum pooling, convolution shortcuts.
  smoke_case tiny-resnet-kl tiny-resnet --seed 7 --batch 4 --steps 3
  smoke_case tiny-resnet-data-space tiny-resnet --space data --seed 9 --batch 4 --steps 3
  # One step: the forward pass, the gradient through the tiles and the update agree within
  # 7.5e-6 on every module; from the next step on a trained critic's flow is chaotic and free
  # runs on different kernels part (5.8e-4 at step 2, WebGPU's too, which has no tiles).
  smoke_case cifar10-tiles cifar10 --seed 1 --batch 16 --steps 1
  (IFS=,; echo "[${cases[*]}]") > "$work/native/cases.json"
  # Untrained tiny image and text bundles: page fixtures served by the tests, never shipped.
  mkdir -p "$work/fixtures"
  "$DGFLOW" init --arch dcgan --width 2 --latent 8 --size 16 --seed 5 --name tiny-image --out "$work/fixtures/tiny-image" >/dev/null
  "$DGFLOW" init --arch charcnn --width 8 --latent 8 --size 12 --seed 5 --name tiny-text --out "$work/fixtures/tiny-text" >/dev/null
  # A model judged by tiny-image's critic plus a corrector (two iterations: only the plumbing counts).
  "$DGFLOW" init --arch dcgan --width 2 --latent 6 --size 16 --seed 6 --name tiny-corrected --out "$work/base" >/dev/null
  "$DGFLOW" train corrector --base "$work/base" --critic "$work/fixtures/tiny-image" --width 2 --batch 8 --iterations 2 \
    --checkpoint "$work/corrector.ckpt" --out "$work/fixtures/tiny-corrected" >/dev/null
  # What the native CLI gives for runs the page tests repeat, to hold the page's numbers to.
  mkdir -p "$work/expected"
  "$DGFLOW" refine --model models/cifar10 --batch 16 --steps 3 --seed 0 \
    --out "$work/expected/cifar10.png" --trajectory "$work/expected/cifar10.json" >/dev/null
  "$DGFLOW" refine --model "$work/fixtures/tiny-corrected" --batch 9 --steps 3 --seed 4 \
    --out "$work/expected/tiny-corrected.png" --trajectory "$work/expected/tiny-corrected.json" >/dev/null
  build_site
  # A site of one's own models (`./build.sh dist --models`): just those; a borrower of shared
  # weights without its lender is refused.
  build_site "$work/own-site" models/swissroll > "$work/own-site.log"
  grep -q '<iframe src="https://YOUR.HOST/PATH/?embed=1"' "$work/own-site.log"
  # A VAE borrowing a GAN's critic (two iterations: only its manifest counts) without that GAN.
  mkdir -p "$work/borrowing" && cp -r models/cifar10 "$work/borrowing/cifar10"
  "$DGFLOW" train vae --critic "$work/borrowing/cifar10" --width 2 --latent 4 --batch 8 --iterations 2 \
    --checkpoint "$work/vae.ckpt" --out "$work/borrowing/tiny-vae" >/dev/null
  if (build_site "$work/lonely-site" "$work/borrowing/tiny-vae") 2> "$work/lonely.log"; then
    echo "build.sh: a site of a borrowing VAE without its lender should be refused" >&2; exit 1
  fi
  grep -q "borrows weights from ../cifar10/weights.safetensors: give that bundle's folder too" "$work/lonely.log"
  build_site "$work/pair-site" "$work/borrowing/tiny-vae" "$work/borrowing/cifar10" > /dev/null
  SITE=$work/site NATIVE=$work/native DIST=$ROOT/dist FIXTURES=$work/fixtures EXPECTED=$work/expected \
    OWN_SITE=$work/own-site SCREENSHOTS=$CACHE/screenshots \
    node --test --test-reporter=spec tests/e2e/smoke.test.mjs tests/e2e/page.test.mjs tests/e2e/controls.test.mjs tests/e2e/matched.test.mjs tests/e2e/bring.test.mjs \
      tests/e2e/screen.test.mjs tests/e2e/firefox.test.mjs
  echo "screenshots of every panel: $CACHE/screenshots/"
}

# Every bundled model and method (and tiny CIFAR-10 and text models trained for three iterations,
# whose training is replayed too) refined by the CLI with --record, then replayed in PyTorch.
run_parity() {
  build_native
  local py; py=$(reference_python)
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local report=$work/report.md
  step "training tiny CIFAR-10 and text models for 3 iterations, recording them"
  "$DGFLOW" train cifar10 --width 32 --batch 64 --iterations 3 --lr 2e-4 --lr-critic 4e-4 --beta2 0.999 --seed 1 \
    --checkpoint "$work/c.ckpt" --out "$work/tiny-cifar10" --record "$work/train-cifar10.st" >/dev/null
  "$DGFLOW" train text --width 16 --blocks 2 --batch 16 --iterations 3 --seed 1 \
    --checkpoint "$work/t.ckpt" --out "$work/tiny-text" --record "$work/train-text.st" >/dev/null
  "$DGFLOW" train 25gaussians --batch 64 --critic-steps 2 --iterations 3 --seed 1 \
    --checkpoint "$work/g.ckpt" --out "$work/tiny-toy" --record "$work/train-toy.st" >/dev/null
  "$DGFLOW" train cifar10 --arch snresnet --width 8 --batch 16 --iterations 3 --lr 2e-4 --lr-critic 4e-4 --beta2 0.999 \
    --seed 1 --checkpoint "$work/r.ckpt" --out "$work/tiny-snresnet" --record "$work/train-snresnet.st" >/dev/null
  # A model refined through a borrowed critic plus a corrector (critic terms add their logits).
  "$DGFLOW" init --arch dcgan --width 8 --latent 16 --size 32 --seed 1 --name gan --out "$work/gan" >/dev/null
  "$DGFLOW" init --arch dcgan --width 8 --latent 8 --size 32 --seed 2 --name base --out "$work/base" >/dev/null
  "$DGFLOW" train corrector --base "$work/base" --critic "$work/gan" --width 8 --batch 16 --iterations 3 --lr 2e-4 \
    --checkpoint "$work/k.ckpt" --out "$work/tiny-corrected" >/dev/null
  local failed=0
  local log=$work/log.txt
  : > "$log"
  for kind in cifar10 text toy snresnet; do
    (cd tests/reference && "$py" parity.py train "$work/train-$kind.st") >> "$log" || failed=1
  done
  for dir in models/*/ "$work/tiny-cifar10/" "$work/tiny-text/" "$work/tiny-corrected/" "$work/tiny-snresnet/"; do
    grep -q '"format": *"dgflow-bundle/' "$dir/manifest.json" 2>/dev/null || continue
    case $dir in /*) ;; *) dir=$ROOT/$dir ;; esac
    local spaces="latent"
    grep -q '"kind": *"text"' "$dir/manifest.json" || spaces="latent data"
    for space in $spaces; do
      for method in dgflow-kl dgflow-js dgflow-logd ddls dot drs mh-gan; do
        # DDLS, DRS and MH-GAN live in latent space only.
        case $space/$method in data/ddls | data/drs | data/mh-gan) continue ;; esac
        "$DGFLOW" refine --model "$dir" --method "$method" --space "$space" --batch 64 --steps 25 --seed 3 \
          --out "$work/out" --record "$work/run.st" >/dev/null
        (cd tests/reference && "$py" parity.py refine "$dir" "$work/run.st") >> "$log" 2>&1 || failed=1
      done
    done
  done
  {
    echo "# Parity with an independent PyTorch implementation"
    echo
    echo "Measured $(date -u +%Y-%m-%d) by \`./build.sh parity\` on $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores,"
    echo "PyTorch $("$py" -c 'import torch; print(torch.__version__)'). \`tests/reference/parity.py\` rebuilds each bundle's"
    echo "networks in PyTorch from the manifest alone (its own layers, \`spectral_norm\`, batch norm, autograd, Adam)"
    echo "and replays the CLI's recorded runs from their random inputs (starting latents, every step's noise)."
    echo
    echo "## Refinement, 64 samples × 25 steps (seed 3, the bundle's η and γ)"
    echo
    echo "Each step is recomputed in float64 from the engine's own state of that step; the error of a"
    echo "sample is its largest |difference| (samples, logit, next state) over the largest reference"
    echo "magnitude. PyTorch's own float32 error on the same steps shows how well-conditioned they are."
    echo "Free-running: float32 PyTorch from the starting latents alone, 25 steps (rounding compounds)."
    echo "A run fails if its 99th percentile exceeds max(1e-4, 10 × PyTorch f32's)."
    echo "\`tiny-cifar10\` (the shipped CIFAR-10 recipe's size: width 32, batch 64) and \`tiny-text\` are trained"
    echo "for 3 iterations by the parity run itself (conv, transposed conv, batch norm, 1D conv, residual"
    echo "blocks, softmax), so every layer kind is checked whatever models are bundled; \`tiny-corrected\`"
    echo "(untrained DCGAN with a corrector trained for 3 iterations) checks a critic summed with its terms;"
    echo "\`tiny-snresnet\` (SN-ResNet-GAN, width 8, 3 iterations) checks nearest upsampling, average and sum"
    echo "pooling and residual shortcuts."
    echo
    echo "| model | method | space | p99 | worst | PyTorch f32 p99 | free-running | |"
    echo "|---|---|---|---|---|---|---|---|"
    sed -n 's/^row: //p' "$log"
    echo
    echo "## Training (3 iterations recorded, replayed)"
    echo
    echo '```'
    grep -v '^row: ' "$log"
    echo '```'
  } > "$report"
  grep -E '^\||FAIL' "$report"
  mkdir -p bench
  cp "$report" bench/PARITY.md
  echo "wrote bench/PARITY.md"
  [ $failed -eq 0 ] && write_readme_numbers
  return $failed
}

# Native and PyTorch side by side (dgflow bench), then the browser (tests/e2e/bench.mjs), in one run.
run_bench() {
  build_native
  build_wasm
  ensure_browser
  build_site
  local py; py=$(reference_python)
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  step "native CPU vs PyTorch CPU (dgflow bench)"
  # The layer-by-layer profile of the bundled CIFAR-10 model shows where the CPU path loses time.
  local profile=()
  [ -d models/cifar10 ] && profile=(--profile models/cifar10)
  # An untrained SN-ResNet-GAN at the bundled SN-DCGAN's width: its upsampling, pooling and
  # shortcuts beside the DCGAN's layers (weights do not change the speed).
  local resnet=$work/snresnet32
  "$DGFLOW" init --arch snresnet --width 32 --latent 128 --size 32 --seed 1 --out "$resnet" >/dev/null
  local models=""
  for dir in models/*/; do
    grep -q '"format": *"dgflow-bundle/' "$dir/manifest.json" 2>/dev/null && models+="${dir%/},"
  done
  models+=$resnet
  "$DGFLOW" bench --models "$models" --reference "$py tests/reference/bench.py" "${profile[@]}" --out "$work/native.md"
  step "in headless Chromium"
  mkdir -p "$work/site"
  cp tests/e2e/bench.html tests/e2e/bench-page.js tests/e2e/bench-worker.js tests/e2e/steps.js tests/e2e/modules.js "$work/site/"
  cp -r www/pkg www/pkg-cpu* "$work/site/"
  # The size of the bundled CIFAR-10 model; its weights do not change the speed.
  local image_model=$work/site/cifar10-init
  "$DGFLOW" init --arch dcgan --width 32 --latent 128 --size 32 --seed 1 --out "$image_model" >/dev/null
  local page_model=25gaussians
  [ -d models/cifar10 ] && page_model=cifar10
  DIST=$ROOT/dist SITE=$work/site DGFLOW=$DGFLOW IMAGE_MODEL=$image_model PAGE_MODEL=$page_model OUT=$work/browser.md \
    node tests/e2e/bench.mjs
  mkdir -p bench
  {
    echo "<!-- written by ./build.sh bench on $(date -u +%Y-%m-%d); rerun it to refresh -->"
    cat "$work/native.md"
    echo
    cat "$work/browser.md"
  } > bench/RESULTS.md
  echo "wrote bench/RESULTS.md"
  write_readme_numbers
}

# The native CLI on the GPU (wgpu: Vulkan, Metal or DX12) beside PyTorch on CUDA, or on the CPU
# where PyTorch sees no GPU. Not part of `bench`: the wgpu build is a second native build.
run_bench_gpu() {
  step "building the native CLI with the GPU backend"
  CARGO_TARGET_DIR=$NATIVE_TARGET "$(native_cargo)" build --release --features webgpu
  local cli=$CACHE/dgflow-gpu
  cp "$NATIVE_TARGET/release/dgflow" "$cli"
  local py; py=$(reference_python)
  local torch_device=cpu
  "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' && torch_device=cuda
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  step "native GPU (wgpu) vs PyTorch ($torch_device)"
  "$cli" bench --device gpu --reference "$py tests/reference/bench.py --device $torch_device" --out "$work/gpu.md" "$@"
  local gpu="no NVIDIA GPU named by nvidia-smi"
  command -v nvidia-smi >/dev/null 2>&1 && gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
  mkdir -p bench
  {
    echo "<!-- written by ./build.sh bench-gpu on $(date -u +%Y-%m-%d); rerun it on a GPU machine to refresh -->"
    cat "$work/gpu.md"
    echo
    echo "GPU: $gpu. The PyTorch column ran on \`$torch_device\` (PyTorch $("$py" -c 'import torch; print(torch.__version__)')). \"% of peak\" is left out: the peak above is the CPU's."
  } > bench/GPU.md
  echo "wrote bench/GPU.md"
  write_readme_numbers
}

# Every number and picture a model card shows that comes from a command: the held-out
# evaluations (seeds 1, 2, 3; 5,000 samples a seed, text 10,000), the seed-0 tables a setting was
# chosen on, the pictures, and the PyTorch scripts' tables. Each is written beside its card and
# the tables copied into it (tests/models.rs checks the copies). Left out, as they compare with
# bundles or runs that are not in the repository: text's WORDS.md (the previous text bundle) and
# cifar10-vae's corrector experiments (runs/corrector-*).
run_evals() {
  local known=(25gaussians swissroll dot-25gaussians dot-swissroll text cifar10 cifar10-vae)
  local models=("$@")
  [ ${#models[@]} -eq 0 ] && models=("${known[@]}")
  for m in "${models[@]}"; do
    case " ${known[*]} " in
      *" $m "*) ;;
      *) echo "./build.sh eval: no measurements for '$m'; models with some: ${known[*]}" >&2; exit 2 ;;
    esac
  done
  build_native
  local py; py=$(reference_python)
  for m in "${models[@]}"; do
    step "measuring models/$m"
    # MH-GAN's calibration first (deterministic: an unchanged model's manifest stays as it is).
    "$DGFLOW" calibrate --model "models/$m" >/dev/null
    eval_model "$m" "$py"
  done
  # One test at a time: both rewrite the cards.
  DGFLOW_WRITE_CARDS=1 DGFLOW_WRITE_PINS=$(IFS=,; echo "${models[*]}") CARGO_TARGET_DIR=$NATIVE_TARGET \
    "$(native_cargo)" test --release --test models -- --test-threads=1 cards has_a_card >/dev/null
  echo "models/*/CARD.md: evaluations copied from models/*/EVAL*.md and the other tables beside them; the measured models' mean logits pinned anew"
}

eval_model() {
  local m=$1 py=$2 dir=models/$1
  local seeds=(--seeds 1,2,3)
  local flows=dgflow-kl,dgflow-js,dgflow-logd,ddls,dot
  # At equal compute: DGflow's 25 steps spend 51 critic evaluations per sample (26 logits, 25
  # gradients); DRS and MH-GAN spend theirs on proposals.
  local budget=(--methods dgflow-kl,drs,mh-gan --budget 51)
  case $m in
    25gaussians|swissroll)
      "$DGFLOW" eval --model $dir --samples 5000 --chunk 1000 --methods $flows "${seeds[@]}" --out $dir/EVAL.md
      "$DGFLOW" eval --model $dir --samples 5000 --chunk 1000 "${budget[@]}" "${seeds[@]}" --out $dir/EVAL-budget.md
      "$py" tests/reference/proportions.py $dir --dgflow "$DGFLOW" "${seeds[@]}" --out $dir/PROPORTIONS.md
      "$DGFLOW" refine --model $dir --batch 1024 --seed 1 --out $dir/refined.png >/dev/null
      "$DGFLOW" refine --model $dir --method dgflow-js --batch 1024 --seed 1 --out $dir/refined-js.png >/dev/null
      ;;
    dot-*)
      # The DOT paper's WGAN-GP models: five seeds, the official code's step and a ten times
      # smaller one; the step sizes compared on seed 0.
      local dot=(--model $dir --samples 5000 --chunk 1000 --methods dgflow-kl,dgflow-logd --seeds 1,2,3,4,5)
      "$DGFLOW" eval "${dot[@]}" --eta 0.1 --gamma 0.01 --steps 25 --out $dir/EVAL.md
      "$DGFLOW" eval "${dot[@]}" --eta 0.01 --gamma 0.01 --steps 100 --out $dir/EVAL-100-steps.md
      for eta in 0.1 0.03 0.01; do
        "$DGFLOW" eval --model $dir --samples 2000 --chunk 1000 --methods dgflow-kl,dgflow-logd --seeds 0 \
          --eta $eta --gamma 0.01 --steps 25 --out $dir/CHOICE-eta-$eta.md
      done
      ;;
    text)
      "$DGFLOW" eval --model $dir --samples 10000 --chunk 1000 --methods $flows "${seeds[@]}" --out $dir/EVAL.md
      "$DGFLOW" refine --model $dir --steps 25 --batch 20 --seed 1 --out $dir/refined.txt >/dev/null
      ;;
    cifar10)
      "$DGFLOW" eval --model $dir --samples 5000 --methods dgflow-kl "${seeds[@]}" --out $dir/EVAL.md
      "$DGFLOW" eval --model $dir --samples 1000 "${seeds[@]}" --out $dir/EVAL-every-method.md
      "$DGFLOW" eval --model $dir --samples 1000 "${budget[@]}" "${seeds[@]}" --out $dir/EVAL-budget.md
      # How sure our classifier is of the samples, with a grid of 64 unselected ones to look at.
      "$DGFLOW" confidence --model $dir --samples 5000 "${seeds[@]}" --grid $dir/grid.png --out $dir/CONFIDENCE.md
      # The step sizes the page's default was chosen from, on seed 0.
      for eta in 0.1 0.05 0.03; do
        "$DGFLOW" eval --model $dir --samples 2000 --methods dgflow-kl --seeds 0 --eta $eta --gamma 0.01 --steps 25 \
          --out $dir/CHOICE-eta-$eta.md
      done
      "$DGFLOW" refine --model $dir --method dgflow-kl --steps 25 --batch 64 --seed 0 --out $dir/refined.png >/dev/null
      "$py" tests/reference/saturation.py $dir "${seeds[@]}" --samples 512 --out $dir/SATURATION.md
      ;;
    cifar10-vae)
      "$DGFLOW" eval --model $dir --samples 5000 --methods dgflow-kl "${seeds[@]}" --out $dir/EVAL.md
      "$DGFLOW" eval --model $dir --samples 5000 --methods dgflow-kl --without-corrector "${seeds[@]}" \
        --out $dir/EVAL-without-corrector.md
      "$DGFLOW" refine --model $dir --steps 25 --batch 64 --seed 0 --out $dir/refined.png >/dev/null
      ;;
  esac
}

case "${1:-}" in
  "") build_native; build_wasm; build_site; serve ;;
  test) run_tests ;;
  dist) shift; build_dist "$@" ;;
  wasm) build_wasm ;;
  exporter) install_exporter ;;
  parity) run_parity ;;
  bench) run_bench ;;
  bench-gpu) shift; run_bench_gpu "$@" ;;
  eval) shift; run_evals "$@" ;;
  -h|--help|help) usage ;;
  *) echo "unknown command: $1"; echo; usage; exit 2 ;;
esac
