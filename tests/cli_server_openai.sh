#!/usr/bin/env bash
# olmoe serve against the official OpenAI Node SDK (tests/server/openai.test.mjs):
# starts the server with the tiny model on a free port, runs the SDK's chat
# (plain and streamed), completions, models.list and an error case, then
# stops the server with SIGTERM (it must exit 0).
# Usage: cli_server_openai.sh SHARED_DIR OLMOE_BINARY (working directory: tests/)
set -uo pipefail
olmoe="$2"
here="$(cd "$(dirname "$0")" && pwd)"
model="$here/../models/olmoe-tiny"

. "$here/server/serve_lib.sh"
install_node_modules "$here/server" || exit 1

work="$(mktemp -d)"
trap cleanup EXIT

start_server -m "$model" -np 2 || exit 1

OLMOE_BASE_URL="$url/v1" node "$here/server/openai.test.mjs"
rc=$?

stop_server || rc=1
exit $rc
