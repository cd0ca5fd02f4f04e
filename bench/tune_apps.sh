#!/usr/bin/env bash
# Default against tuned, per app on its bundled data (README, "Hyper-parameter search"): each
# app's `train` with its defaults, then `tune` (Hyperband, the defaults otherwise) over the
# search space below, the best refitted on all training rows; prints a Markdown row per app
# with both test figures and the search's wall time.
#
#   bench/tune_apps.sh [OUT [ROW...]]   (OUT defaults to runs/tune-apps; ROWs: breast-cancer,
#                                        diabetes, text, audio, image; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/burn-zoo-target}"
cargo build --release --quiet --bin image-classifier --bin text-classifier \
  --bin audio-classifier --bin tabular
bin="$CARGO_TARGET_DIR/release"
out="${1:-runs/tune-apps}"
mkdir -p "$out"
rows=("${@:2}")
[ ${#rows[@]} -gt 0 ] || rows=(breast-cancer diabetes text audio image)
wanted() { [[ " ${rows[*]} " == *" $1 "* ]]; }

# The test figure of a run folder: accuracy for classifiers, R² for regressions.
figure() {
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["test"]; print("%.4f" % t.get("accuracy", t.get("r2")))' "$1/metrics.json"
}

# row, app, what the defaults train, search space, train arguments
run() {
  local row=$1 app=$2 default=$3 space=$4; shift 4
  wanted "$row" || return 0
  "$bin/$app" train --quiet --out "$out/$row-default" "$@" >/dev/null
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin/$app" tune --out "$out/$row-tune" $space -- "$@" >"$out/$row-tune.log"
  end=$(date +%s.%N)
  local best
  best=$(grep '^refitting' "$out/$row-tune.log" | sed 's/.*epochs: //')
  printf '| %s %s | %s: %s | %s: %s | %.0f s |\n' "$app" "$row" "$default" \
    "$(figure "$out/$row-default")" "$best" "$(figure "$out/$row-tune/best")" \
    "$(python3 -c "print($end - $start)")"
}

echo "| app | default: test | tuned (best trial, refitted): test | search wall time |"
echo "|---|---|---|---|"
run breast-cancer tabular "logistic, C = 1" \
  "--param model=logistic/mlp --param c=0.1/1/10/100/inf" --dataset breast-cancer
run diabetes tabular "linear" \
  "--param model=linear/mlp --param c=0.1/1/10/100/inf" --dataset diabetes
run text text-classifier "logistic, C = 10" \
  "--strategy random --trials 12 --cv 5 --param model=logistic/mlp --param c=1/3/10/30/100/inf --param char-ngrams=none/2-4"
run audio audio-classifier "cnn, Adam 1e-3, dropout 0.3" \
  "--param model=mlp/cnn --param lr=log:3e-4..3e-3 --param dropout=0..0.5"
run image image-classifier "cnn, Adam 1e-3, dropout 0.2" \
  "--param lr=log:3e-4..3e-3 --param dropout=0..0.5 --param conv-channels=16,32/32,64"
