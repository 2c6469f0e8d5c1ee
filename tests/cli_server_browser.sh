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

[ -x "$chromium" ] ||
  { echo "FAIL: no chromium at $chromium for the browser test (bash scripts/install-deps installs it)"; exit 1; }
. "$here/server/serve_lib.sh"
install_node_modules "$here/server" || exit 1

work="$(mktemp -d)"
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

start_server -m "$model" --index "$work/idx" || exit 1

export OLMOE_URL="$url" CHROMIUM="$chromium"
(cd "$here/server" && node --test --test-reporter=spec browser.test.mjs)
rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: browser test (server log below)"; sed 's/^/    /' "$work/serve.log" | tail -n 40; fi
exit "$rc"
