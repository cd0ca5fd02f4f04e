#!/usr/bin/env bash
# Default against tuned, per app on its bundled data (README, "Hyper-parameter search"): each
# app's `train` with its defaults, then `tune` (Hyperband, the defaults otherwise) over the
# search space below, the best refitted on all training rows; prints a Markdown row per app
# with both test figures and the search's wall time.
#
#   bench/tune_apps.sh [OUT]        (OUT defaults to runs/tune-apps)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/burn-zoo-target}"
cargo build --release --quiet --bin image-classifier --bin text-classifier \
  --bin audio-classifier --bin tabular
bin="$CARGO_TARGET_DIR/release"
out="${1:-runs/tune-apps}"
mkdir -p "$out"

# The test figure of a run folder: accuracy for classifiers, R² for regressions.
figure() {
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["test"]; print("%.4f" % t.get("accuracy", t.get("r2")))' "$1/metrics.json"
}

# app, what the defaults train, search space, train arguments
run() {
  local app=$1 default=$2 space=$3; shift 3
  "$bin/$app" train --quiet --out "$out/$app-default" "$@" >/dev/null
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin/$app" tune --out "$out/$app-tune" $space -- "$@" >"$out/$app-tune.log"
  end=$(date +%s.%N)
  local best
  best=$(grep '^refitting' "$out/$app-tune.log" | sed 's/.*epochs: //')
  printf '| %s | %s: %s | %s: %s | %.0f s |\n' "$app" "$default" "$(figure "$out/$app-default")" \
    "$best" "$(figure "$out/$app-tune/best")" "$(python3 -c "print($end - $start)")"
}

echo "| app | default: test | tuned (best trial, refitted): test | search wall time |"
echo "|---|---|---|---|"
run tabular "logistic, C = 1" \
  "--param model=logistic/mlp --param c=0.1/1/10/100/inf" --dataset breast-cancer
run text-classifier "logistic, C = 10" \
  "--param model=logistic/mlp --param c=1/3/10/30/100/inf"
run audio-classifier "cnn, Adam 1e-3, dropout 0.3" \
  "--param model=mlp/cnn --param lr=log:3e-4..3e-3 --param dropout=0..0.5"
run image-classifier "cnn, Adam 1e-3, dropout 0.2" \
  "--param lr=log:3e-4..3e-3 --param dropout=0..0.5 --param conv-channels=16,32/32,64"
