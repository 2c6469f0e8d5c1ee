#!/usr/bin/env bash
# The web page of `olmoe serve` in a real browser: builds an index over a few
# planted Dolma documents, starts the server on it with the tiny model, and
# runs tests/server/browser.test.mjs (playwright-core driving Debian's
# chromium): a streamed chat, the trace view over the real /v1/trace, keyboard
# use and a 375 px wide screen. Screenshots go to tests/server/out/.
# Usage: cli_server_browser.sh SHARED_DIR OLMOE_BINARY (working directory: tests/)
set -uo pipefail
olmoe="$2"
here="$(cd "$(dirname "$0")" && pwd)"
model="$here/../models/olmoe-tiny"
chromium="${CHROMIUM:-/usr/bin/chromium}"

command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "FAIL: node and npm are needed for the browser test (apt-get install nodejs npm)"; exit 1; }
[ -x "$chromium" ] ||
  { echo "FAIL: no chromium at $chromium for the browser test (bash scripts/install-deps installs it)"; exit 1; }
# tests/server/node_modules is shared with cli_server_openai.sh, which ctest may
# run at the same time: install under a lock (on package-lock.json).
(cd "$here/server" && flock package-lock.json sh -c \
   '[ -d node_modules/playwright-core ] && [ -d node_modules/openai ] || npm ci --no-audit --no-fund >/dev/null') ||
  { echo "FAIL: npm ci in tests/server"; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Two planted documents, each with a sentence found nowhere else, among others.
export OLMOE_SENTENCE_A="The quick zebra of Wallonia sings seventeen songs about copper kettles."
export OLMOE_SENTENCE_B="A lighthouse keeper in Tromsø counted ninety gulls before the ferry came."
export OLMOE_TITLE_A="The Zebra Almanac"
export OLMOE_TITLE_B="Notes from the Northern Light"
mkdir -p "$work/corpus"
cat >"$work/corpus/docs.jsonl" <<JSONL
{"id": "doc-0", "text": "Open language models matter because researchers can study them. The weather was mild.", "source": "web", "metadata": {"title": "Why open models", "author": "R. Searcher"}}
{"id": "doc-1", "text": "In the valley people tell stories. $OLMOE_SENTENCE_A Then they go home for dinner.", "source": "books", "metadata": {"title": "$OLMOE_TITLE_A", "author": "Ada Planted"}}
{"id": "doc-2", "text": "Ships pass the northern coast in winter. $OLMOE_SENTENCE_B The sea was grey.", "source": "wiki", "metadata": {"title": "$OLMOE_TITLE_B", "author": "Bo Keeper"}}
{"id": "doc-3", "text": "Cooking rice takes water, salt and patience. The kettle whistled in the kitchen.", "source": "web", "metadata": {"title": "Rice", "author": "C. Cook"}}
JSONL

if ! "$olmoe" index build -m "$model" -o "$work/idx" "$work/corpus" >"$work/build.log" 2>&1; then
  echo "FAIL: index build"; cat "$work/build.log"; exit 1
fi

"$olmoe" serve -m "$model" --index "$work/idx" --port 0 2>"$work/serve.log" &
server_pid=$!
# health URL: 0 when it answers 200 (node, not curl, which a fresh machine may lack)
healthy() {
  node -e 'fetch(process.argv[1] + "/health").then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1"
}
url=""
for _ in $(seq 1 300); do   # up to about a minute for the address, then for /health
  if [ -z "$url" ]; then
    url=$(sed -n 's/.*olmoe serve: listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/serve.log" | head -n 1)
  fi
  if [ -n "$url" ] && healthy "$url"; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$work/serve.log"; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "FAIL: no 'listening on' line from olmoe serve:"; cat "$work/serve.log"; exit 1; }
healthy "$url" ||
  { echo "FAIL: $url/health never answered 200:"; cat "$work/serve.log"; exit 1; }

export OLMOE_URL="$url" CHROMIUM="$chromium"
(cd "$here/server" && node --test --test-reporter=spec browser.test.mjs)
rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: browser test (server log below)"; sed 's/^/    /' "$work/serve.log" | tail -n 40; fi
exit "$rc"
