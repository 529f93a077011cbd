#!/usr/bin/env bash
# ctest: a small scripts/bench-swarm run (12 hosts, 3 racks, 16 MiB), Spate's
# rack policy against random selection in the same run. Asserts a ratio of
# cross-rack bytes, not a timing, so a loaded CI box cannot make it flaky. One
# gateway per 4-host rack (--origin-per-rack=1) keeps the expected ratio near
# 0.35, well clear of the 0.6 limit; random selection sits near 1.0.
# Needs root and nft (CI runs as root); without them it FAILS, never skips.
# Usage: tests/swarm_affinity_test.sh SPATE_BINARY
set -euo pipefail
spate=${1:?usage: swarm_affinity_test.sh SPATE_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "FAIL: swarm_affinity needs root for nftables byte counters (CI runs as root)" >&2; exit 1
fi
"$here/../scripts/install-deps" nftables iproute2 python3 curl >&2 || true
if ! command -v nft >/dev/null || ! nft list tables >/dev/null 2>&1; then
  echo "FAIL: swarm_affinity needs a working nft (apt-get install nftables) to count cross-rack bytes" >&2; exit 1
fi
out=$(mktemp /tmp/spate-swarm-test.XXXXXX)
trap 'rm -f "$out"' EXIT
timeout 400 "$here/../scripts/bench-swarm" --spate "$spate" --hosts 12 --racks 3 --size 16M --rate 4M \
  --seed-rate 8M --modes spate,random --timeout 120s --json "$out" --tracker-arg --origin-per-rack=1
python3 - "$out" <<'PY'
import json, sys
rows = {r["mode"]: r for r in map(json.loads, open(sys.argv[1]))}
s, r = rows["spate"], rows["random"]
ratio = s["cross"] / max(1, r["cross"])
print(f"cross-rack bytes: spate {s['cross']} random {r['cross']} ratio {ratio:.2f}")
if not s["ok"] or not r["ok"]:
    sys.exit("FAIL: a push did not complete on every host")
if r["cross"] == 0:
    sys.exit("FAIL: no cross-rack bytes counted for random selection: counters are broken")
if ratio > 0.6:
    sys.exit(f"FAIL: Spate's cross-rack bytes are {ratio:.2f} x random's (want <= 0.6)")
print("PASS")
PY
