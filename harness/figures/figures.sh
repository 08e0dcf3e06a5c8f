#!/usr/bin/env bash
# figures.sh: the speed figures, each beside its anchor, measured in one run
# on this machine (make figures). Figures are printed, never asserted: a
# ratio over its target says so in the last column, the script still exits 0.
#
#   anchor   bare `kind create cluster`, the same node image and kind config
#   up       pretrain-check up (create, load, dns, apply, ready, converge)
#   contract pretrain-check run --target kind --label-filter '!latency'
#            on the converged replica
#   faults   every kind fault proof (inject, the suites, revert and
#            reconverge), the slowest reported: suites/e2e TestFaults on the
#            kept replica (FIGURES_FAULTS=a,b for some only)
#   config   pretrain-check run --target config (no Docker)
#   make test (with --make-test, the replica deleted first), make e2e (with
#   --make-e2e) and the vegeta comparison (with --vegeta)
#
# It needs the images (make images) and a Docker engine (ensure-docker.sh
# starts one). It deletes the replica first and at the end, whatever happens.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local PATH=/usr/local/go/bin:$PATH

with_make_test=false with_make_e2e=false with_vegeta=false
for arg in "$@"; do
  case "$arg" in
    --make-test) with_make_test=true ;;
    --make-e2e) with_make_e2e=true ;;
    --vegeta) with_vegeta=true ;;
    *) echo "usage: $0 [--make-test] [--make-e2e] [--vegeta]" >&2; exit 2 ;;
  esac
done
faults=${FIGURES_FAULTS:-}
bare=pretrain-figures-bare
log=$(mktemp -d)

say() { echo "[figures] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
within() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "within" : "OVER" }'; }

manifest=_output/images.json
[ -f "$manifest" ] || { echo "[figures] no $manifest: run make images first" >&2; exit 2; }
node=$(sed -n 's/^ *"node": "\(.*\)",\{0,1\}$/\1/p' "$manifest" | head -n 1)
kind=$(sed -n 's/^ *"kind": "\(.*\)",\{0,1\}$/\1/p' "$manifest" | head -n 1)
[ -n "$node" ] && [ -x "$kind" ] || { echo "[figures] $manifest names no node image or kind CLI" >&2; exit 2; }

cleanup() {
  "$kind" delete cluster --name "$bare" >/dev/null 2>&1 || true
  bin/pretrain-check down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash harness/images/ensure-docker.sh >/dev/null
make -s build
cleanup

say "anchor: kind create cluster --image $node --config kind-config.yaml"
t=$(now)
"$kind" create cluster --name "$bare" --image "$node" --config kind-config.yaml --wait 4m >"$log/bare" 2>&1
anchor=$(since "$t")
"$kind" delete cluster --name "$bare" >/dev/null 2>&1

say "pretrain-check up"
t=$(now)
bin/pretrain-check up >"$log/up" 2>&1
up=$(since "$t")

say "pretrain-check run --target kind --label-filter '!latency'"
t=$(now)
bin/pretrain-check run --target kind --label-filter '!latency' -o json >"$log/contract.json" 2>"$log/contract.err"
contract=$(since "$t")
cases=$(grep -c '"outcome"' "$log/contract.json" || true)

say "fault proofs ${faults:-(all)} on the kept replica"
PRETRAIN_E2E_KEEP=always PRETRAIN_E2E_FAULTS="$faults" \
  go test -tags e2e -count=1 -timeout 30m -run '^TestFaults$' -v ./suites/e2e/ >"$log/fault" 2>&1 || true
# Per fault: "[fault] NAME 0.8s", "[e2e] suites 3.1s (fault NAME: ...", "[revert] NAME 2.1s";
# prints "slowest-seconds slowest-name count".
read -r faultproof slowfault nfaults < <(awk '
  $1 == "[fault]" || $1 == "[revert]" { sub(/s$/, "", $3); t[$2] += $3 }
  $1 == "[e2e]" && $2 == "suites" && $4 == "(fault" { n = $5; sub(/:$/, "", n); sub(/s$/, "", $3); t[n] += $3 }
  END { for (f in t) { c++; if (t[f] > m) { m = t[f]; w = f } } printf "%.1f %s %d\n", m, w, c }' "$log/fault")
grep -q -- '--- FAIL' "$log/fault" && say "a fault proof FAILED: see $log/fault"

say "pretrain-check run --target config"
t=$(now)
bin/pretrain-check run --target config >/dev/null 2>"$log/config.err"
config=$(since "$t")

maketest=""
if $with_make_test || $with_make_e2e; then
  bin/pretrain-check down >/dev/null 2>&1 # measured on an idle machine
fi
if $with_make_test; then
  say "make test"
  t=$(now)
  make -s test >"$log/make-test" 2>&1
  maketest=$(since "$t")
fi
makee2e=""
if $with_make_e2e; then
  say "make e2e (images cached)"
  t=$(now)
  make -s e2e >"$log/make-e2e" 2>&1 || say "make e2e FAILED: see $log/make-e2e"
  makee2e=$(since "$t")
fi
vegeta=""
if $with_vegeta; then
  say "vegeta: in-process vs CLI"
  go test -run '^$' -bench Compare -benchtime 5x ./harness/latency/ >"$log/vegeta" 2>&1
  vegeta=$(awk '{ for (i = 2; i <= NF; i++) if ($i == "inproc/cli") v = $(i - 1) } END { print v }' "$log/vegeta")
fi

printf '\n%s, %s cores, %s GiB, load %s\n' "$(date -u +%FT%TZ)" "$(nproc)" \
  "$(awk '/MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s %10s %8s %8s  %s\n' figure measured anchor ratio target verdict
row() { printf '%-44s %9ss %9ss %8s %8s  %s\n' "$1" "$2" "$anchor" "$(ratio "$2" "$anchor")" "$3" "$(within "$(ratio "$2" "$anchor" | tr -d x)" "${3%x}")"; }
abs() { printf '%-44s %9ss %10s %8s %7ss  %s\n' "$1" "$2" - - "$3" "$(within "$2" "$3")"; }
printf '%-44s %9ss\n' "bare kind create (anchor)" "$anchor"
row "pretrain-check up" "$up" 1.3x
row "contract on the replica ($cases checks, no latency)" "$contract" 0.15x
abs "slowest of $nfaults fault proofs ($slowfault)" "$faultproof" 10
abs "contract on the config tier" "$config" 2
[ -n "$maketest" ] && abs "make test" "$maketest" 90
[ -n "$makee2e" ] && abs "make e2e" "$makee2e" 360
[ -n "$vegeta" ] && printf '%-44s %10s %10s %8s %8s  %s\n' "in-process vegeta / vegeta CLI" "$vegeta" - - ">=0.9" \
  "$(awk -v v="$vegeta" 'BEGIN { print (v >= 0.9) ? "within" : "OVER" }')"
printf 'logs: %s\n' "$log"
