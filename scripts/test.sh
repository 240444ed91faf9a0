#!/usr/bin/env bash
# Runs every check of the workspace, in this order:
#
#  1. formatting, clippy (all targets, all features), docs (and the docs.rs
#     build on nightly, when a nightly toolchain is installed);
#  2. every unit, integration and doc test with every feature;
#  3. the library's unit and integration tests under each feature alone and
#     with no feature, so a test gated on one feature cannot go unbuilt;
#  4. every feature of the library checked alone, and the default set
#     (cargo-hack);
#  5. the declared minimum Rust version (`rust-version`, 1.88) checking the
#     whole workspace;
#  6. the core for wasm32-unknown-unknown and wasm32-wasip1, the edge example
#     built for wasm32-unknown-unknown and its tests run under Node.js;
#  7. packaging: `cargo publish --dry-run` of the library, the emulator and
#     the CLI;
#  8. licenses and duplicate versions of the dependency tree (cargo-deny).
#
# `scripts/test.sh` runs them all (that is what CI runs); naming groups runs
# only those: lint (1), test (2, 3), features (4), msrv (5), wasm (6),
# package (7), deny (8), e.g. `scripts/test.sh msrv wasm`.
#
# Benchmarks are compiled (by clippy --all-targets), not run. Tools and
# toolchains that are missing are installed (redis-server with apt; rustup
# toolchains and targets; cargo-hack, cargo-deny and wasm-bindgen-cli from
# crates.io). A step whose tool or toolchain does not install (rustup
# targets and toolchains, cargo-hack, cargo-deny, wasm-bindgen-cli) is
# skipped with a NOTE, and the skipped steps are listed again at the end;
# redis-server is needed by the tests, so its failed install fails the run,
# as does every other failure. Each step's time is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# The declared minimum Rust version, from the workspace manifest.
MSRV=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
groups=" $* "
# Whether the group $1 runs.
want() { [ "$groups" = "  " ] || [[ "$groups" == *" $1 "* ]]; }
for group in "$@"; do
  case "$group" in
    lint | test | features | msrv | wasm | package | deny) ;;
    *) echo "unknown group: $group (lint test features msrv wasm package deny)" >&2; exit 2 ;;
  esac
done
timings=()
notes=()
started=$SECONDS
step_start=$SECONDS
step_name=""

# Starts a step; the previous one's time is recorded.
step() {
  end_step
  step_name="$1"
  step_start=$SECONDS
  echo "==> $1"
}
end_step() {
  if [ -n "$step_name" ]; then
    timings+=("$(printf '%5ss  %s' $((SECONDS - step_start)) "$step_name")")
  fi
  step_name=""
}
note() {
  echo "NOTE: $1"
  notes+=("$1")
}
# Installs a crates.io tool (`cargo install --locked ARGS...`) unless the
# binary $1 is already on the PATH.
cargo_tool() {
  local bin="$1"
  shift
  command -v "$bin" >/dev/null 2>&1 || cargo install --quiet --locked "$@"
}

lint() {
  step "cargo fmt --check"
  cargo fmt --all -- --check

  step "cargo clippy (all targets, all features)"
  cargo clippy --workspace --all-targets --all-features -- -D warnings

  step "cargo doc"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet

  step "cargo +nightly doc (the docs.rs build)"
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    RUSTDOCFLAGS="--cfg docsrs -D warnings" \
      cargo +nightly doc -p fluxbase-webhooks --no-deps --all-features --quiet
  else
    note "no nightly toolchain: the docs.rs build (--cfg docsrs) was not checked"
  fi
}

tests() {
  if ! command -v redis-server >/dev/null 2>&1; then
    step "installing redis-server (the Redis tests start their own instance)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  fi

  step "cargo test (all features)"
  cargo test --workspace --all-features

  step "fluxbase-webhooks unit and integration tests, each feature alone"
  # The tests are gated by feature; each set must build and pass on its own.
  cargo test -p fluxbase-webhooks --no-default-features --lib --test it
  for feature in tower axum actix redis client queue; do
    echo "--- --features $feature"
    cargo test -p fluxbase-webhooks --no-default-features --features "$feature" --lib --test it
  done
}

features() {
  step "every feature of fluxbase-webhooks alone, and the default set (cargo hack)"
  if cargo_tool cargo-hack cargo-hack; then
    cargo hack check -p fluxbase-webhooks --each-feature --no-dev-deps
  else
    note "cargo-hack did not install; checking each feature with a loop instead"
    cargo check -p fluxbase-webhooks
    for feature in tower server axum actix redis client queue; do
      cargo check -p fluxbase-webhooks --no-default-features --features "$feature"
    done
  fi
}

msrv() {
  step "the minimum supported Rust version ($MSRV)"
  if rustup run "$MSRV" rustc --version >/dev/null 2>&1 ||
    rustup toolchain install "$MSRV" --profile minimal >/dev/null 2>&1; then
    cargo "+$MSRV" check --workspace --all-features
  else
    note "Rust $MSRV could not be installed: the MSRV was not checked"
  fi
}

wasm() {
  step "the core on wasm32-unknown-unknown and wasm32-wasip1"
  wasm_targets=()
  for target in wasm32-unknown-unknown wasm32-wasip1; do
    if rustup target list --installed | grep -qx "$target" ||
      rustup target add "$target" >/dev/null 2>&1; then
      wasm_targets+=("$target")
      cargo check -p fluxbase-webhooks --no-default-features --target "$target"
    else
      note "the $target target could not be installed: the core was not built for it"
    fi
  done

  step "examples/edge-worker on wasm32-unknown-unknown, its tests under Node.js"
  if [[ " ${wasm_targets[*]} " == *" wasm32-unknown-unknown "* ]]; then
    cargo clippy -p edge-worker --all-targets --target wasm32-unknown-unknown -- -D warnings
    cargo build -p edge-worker --release --target wasm32-unknown-unknown
    # The runner must be the version of the wasm-bindgen crate in Cargo.lock.
    bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)
    if ! command -v node >/dev/null 2>&1; then
      note "no Node.js: the edge example's wasm tests did not run"
    # Not --locked: the CLI's lockfile names a webpki-roots release that the
    # registry may not serve.
    elif [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $bindgen" ] ||
      cargo install --quiet --force wasm-bindgen-cli --version "$bindgen"; then
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test -p edge-worker --target wasm32-unknown-unknown --test node
    else
      note "wasm-bindgen-cli $bindgen did not install: the edge example's wasm tests did not run"
    fi
  else
    note "no wasm32-unknown-unknown target: the edge example was not built"
  fi
}

package() {
  step "packaging: cargo publish --dry-run of the library, the emulator and the CLI"
  # One command for the three: the emulator and the CLI depend on the library
  # by version, and until it is on crates.io neither resolves on its own.
  # Published together, cargo packages the library first and builds each
  # dependent's package against that package (a local registry under
  # target/package), so all three are packaged and verified as crates.io
  # would build them. Nothing is uploaded.
  # cargo unpacks those packages under $CARGO_HOME/registry/src/-<hash>/ and
  # reuses an unpacked copy of the same version on the next run: ours are
  # removed first, or the emulator and the CLI would be built against the
  # library as it was at an earlier run. The same goes for what was compiled
  # from them: cargo takes a registry crate of one version as never changing,
  # so their fingerprints go too and the three are compiled afresh.
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/{fluxbase-webhooks,fluxbase-emulator,fluxhook}-[0-9]*
  rm -rf "${CARGO_TARGET_DIR:-target}"/debug/.fingerprint/{fluxbase-webhooks,fluxbase-emulator,fluxhook}-*
  cargo publish --dry-run --allow-dirty -p fluxbase-webhooks -p fluxbase-emulator -p fluxhook
}

deny() {
  step "licenses and duplicate versions (cargo deny)"
  if cargo_tool cargo-deny cargo-deny; then
    # Not advisories: they need the advisory database, which is not on a
    # package registry. cargo metadata may still download crates.
    cargo deny check licenses bans
  else
    note "cargo-deny did not install: licenses and duplicates were not checked"
  fi
}

for group in lint test features msrv wasm package deny; do
  if want "$group"; then
    case "$group" in
      test) tests ;;
      *) "$group" ;;
    esac
  fi
done

end_step
echo
echo "==> time per step"
printf '%s\n' "${timings[@]}"
echo "total: $((SECONDS - started))s"
if [ ${#notes[@]} -gt 0 ]; then
  echo
  echo "==> skipped"
  printf 'NOTE: %s\n' "${notes[@]}"
fi
