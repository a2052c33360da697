#!/usr/bin/env bash
# Runs every test: type checks, the suite on Deno and on Bun, and the Node
# checks against the built dist/. Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
bash scripts/toolchain.sh >/dev/null || { echo "toolchain install failed"; echo "0 passed, 1 failed"; exit 1; }
total_pass=0
total_fail=0
log=$(mktemp -d)

count() { # name, logfile, exit status: add the runner's closing line to the totals
  local line p f
  line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$2" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$1: no result line (exit $3)"; total_fail=$((total_fail + 1)); return
  fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

check() { # name, command...: a single pass/fail step
  local name=$1; shift
  if "$@" >"$log/$name.log" 2>&1; then
    echo "ok   $name"; total_pass=$((total_pass + 1))
  else
    echo "FAIL $name"; sed 's/^/     /' "$log/$name.log" | tail -n 40; total_fail=$((total_fail + 1))
  fi
}

check typecheck-tsc "$bin/tsc" --noEmit -p tsconfig.json
check typecheck-deno "$bin/deno" check --doc --quiet mod.ts percpu.ts percpu_runtime.ts sdk/*.ts arch/*.ts emit/*.ts linker/*.ts ffi/*.ts firmware/*.ts cli/*.ts bench/*.ts scripts/*.ts tests/*.ts examples/*.ts examples/*/*.ts
check build-dist npm run --silent build

"$bin/deno" run -A tests/run.ts 2>&1 | tee "$log/deno.log"; count deno "$log/deno.log" "${PIPESTATUS[0]}"
"$bin/bun" tests/run.ts 2>&1 | tee "$log/bun.log"; count bun "$log/bun.log" "${PIPESTATUS[0]}"
for f in tests/node/[!_]*.mjs; do
  name=$(basename "$f" .mjs)
  node "$f" 2>&1 | tee "$log/node-$name.log"; count "node-$name" "$log/node-$name.log" "${PIPESTATUS[0]}"
done

echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ]
