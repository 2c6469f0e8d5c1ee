#!/usr/bin/env bash
# Bad input through the CLI: each case must fail with a non-zero status (not
# a crash), and a one-line error on stderr naming the file, tensor or field.
# Usage: cli_bad_input.sh SHARED_DIR OLMOE_BINARY
set -uo pipefail
shared="$1"
olmoe="$2"
ref="$shared/reference/models"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
passed=0

# expect_fail NAME PATTERN CMD...: non-zero exit below 128 (no signal), and
# stderr of exactly one line matching PATTERN.
expect_fail() {
  local name="$1" pattern="$2"
  shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$work/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pattern" "$work/err"; then
    echo "FAIL $name: exit $rc, stderr ($lines lines):"
    sed 's/^/    /' "$work/err"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# copy_model SRC NAME: a writable copy of a reference model folder.
copy_model() {
  mkdir -p "$work/$2"
  cp "$ref/$1"/* "$work/$2/"
  chmod -R u+w "$work/$2"
  echo "$work/$2"
}

m=$(copy_model olmoe-tiny ok)

expect_fail "missing folder" "no-such-dir" "$olmoe" generate -m "$work/no-such-dir" -p hi
expect_fail "no -m" "\-m MODEL_DIR is required" "$olmoe" generate -p hi
expect_fail "unknown option" "unknown option '--frobnicate'" "$olmoe" generate -m "$m" --frobnicate 1 -p hi
expect_fail "bad number" "\-n expects an integer" "$olmoe" generate -m "$m" -p hi -n lots
expect_fail "unknown command" "unknown command 'frob'" "$olmoe" frob

d=$(copy_model olmoe-tiny noconfig); rm "$d/config.json"
expect_fail "missing config" "config.json" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny badjson); echo '{"architectures": ["OlmoeForCausalLM"], ' >"$d/config.json"
expect_fail "bad JSON" "config.json: invalid JSON" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny arch); sed -i 's/OlmoeForCausalLM/LlamaForCausalLM/' "$d/config.json"
expect_fail "unknown architecture" "architecture 'LlamaForCausalLM' is not supported" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny rope); sed -i 's/"rope_scaling": null/"rope_scaling": {"rope_type": "yarn", "factor": 4.0}/' "$d/config.json"
expect_fail "unsupported rope_scaling" "rope_scaling type 'yarn' is not supported" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny field); sed -i 's/"hidden_size": 32,/"hidden_size": "32",/' "$d/config.json"
expect_fail "wrong field type" "field 'hidden_size' must be an integer" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny act); sed -i 's/"hidden_act": "silu"/"hidden_act": "gelu"/' "$d/config.json"
expect_fail "unsupported activation" "hidden_act 'gelu'" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny shape); sed -i 's/"intermediate_size": 16,/"intermediate_size": 24,/' "$d/config.json"
expect_fail "wrong shape" "tensor 'model.layers.0.mlp.experts.0.gate_proj.weight' has shape \[16, 32\], expected \[24, 32\]" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny layers); sed -i 's/"num_hidden_layers": 2,/"num_hidden_layers": 3,/' "$d/config.json"
expect_fail "missing tensor" "tensor 'model.layers.2.self_attn.q_proj.weight' is missing" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny trunc); head -c 5000000 "$ref/olmoe-tiny/model.safetensors" >"$d/model.safetensors"
expect_fail "truncated weights" "model.safetensors: tensor '.*': data_offsets .* (truncated file?)" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny tiny); head -c 4 "$ref/olmoe-tiny/model.safetensors" >"$d/model.safetensors"
expect_fail "weights without header" "model.safetensors: truncated" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny noweights); rm "$d/model.safetensors"
expect_fail "missing weights" "no model.safetensors" "$olmoe" info -m "$d"

d=$(copy_model olmoe-gqa-bf16 shard); rm "$d/model-00002-of-00003.safetensors"
expect_fail "missing shard" "model-00002-of-00003.safetensors" "$olmoe" info -m "$d"

d=$(copy_model olmoe-gqa-bf16 index); sed -i 's/"model.norm.weight"/"model.renamed.weight"/' "$d/model.safetensors.index.json"
expect_fail "index lists absent tensor" "tensor 'model.renamed.weight' listed in the index is missing" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny notok); rm "$d/tokenizer.json"
expect_fail "missing tokenizer" "tokenizer.json" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny badtok); head -c 1000 "$ref/olmoe-tiny/tokenizer.json" >"$d/tokenizer.json"
expect_fail "truncated tokenizer" "tokenizer.json" "$olmoe" info -m "$d"

d=$(copy_model olmoe-tiny badtc); echo '{"chat_template": 5}' >"$d/tokenizer_config.json"
expect_fail "bad chat_template" "chat_template" "$olmoe" info -m "$d"

long=$(printf 'word %.0s' $(seq 1 100))
expect_fail "prompt longer than context" "prompt has 101 tokens but the context holds 16" "$olmoe" generate -m "$m" -p "$long" -c 16 -n 4
expect_fail "logits beyond context" "do not fit the context" "$olmoe" logits -m "$m" --text "$long" -c 16 --json
expect_fail "id outside vocabulary" "token id 999999 at position 1 is outside the vocabulary" "$olmoe" logits -m "$m" --ids 1,999999 --json
expect_fail "bad ids list" "\-\-ids expects comma-separated token ids" "$olmoe" logits -m "$m" --ids 1,x --json
expect_fail "missing prompt file" "nofile.txt" "$olmoe" tokenize -m "$m" --file "$work/nofile.txt"
echo '[{"role": "user"}]' >"$work/msgs.json"
expect_fail "message without content" "message 0 needs string fields" "$olmoe" template -m "$m" --messages "$work/msgs.json" --json
echo '[{"role": "user", "content": "hi"}' >"$work/bad.json"
expect_fail "messages not JSON" "expected a JSON list" "$olmoe" template -m "$m" --messages "$work/bad.json" --json

# GGUF files and conversion
g="$shared/reference/gguf/olmoe-tiny-q8_0.gguf"
head -c 3000000 "$g" >"$work/trunc.gguf"
expect_fail "truncated GGUF" "trunc.gguf" "$olmoe" info -m "$work/trunc.gguf"
printf 'GGUX\003\000\000\000' >"$work/magic.gguf"; head -c 200 "$g" | tail -c 192 >>"$work/magic.gguf"
expect_fail "GGUF bad magic" "magic.gguf" "$olmoe" info -m "$work/magic.gguf"
expect_fail "convert unknown type" "unknown type 'q5_k'" "$olmoe" convert -m "$m" -o "$work/x.gguf" --type q5_k
[ ! -e "$work/x.gguf" ] && [ ! -e "$work/x.gguf.tmp" ] || { echo "FAIL convert left a file behind"; failures=$((failures + 1)); }
expect_fail "convert into a missing folder" "no-dir/x.gguf" "$olmoe" convert -m "$m" -o "$work/no-dir/x.gguf" --type q8_0
expect_fail "random-init unknown preset" "unknown preset 'llama'" "$olmoe" random-init --preset llama -o "$work/ri"
expect_fail "bench without model" "\-m MODEL is required" "$olmoe" bench -p 8
expect_fail "bench no sequences" "\-np expects an integer in \[1, 64\]" "$olmoe" bench -m "$m" -np 0

# bench/run.sh writes 13.5 GB of random weights only into its default folder
# unless asked: an empty -m elsewhere stops it before anything is built or
# written.
mkdir -p "$work/empty-model"
expect_fail "bench script into an empty -m" "pass \-\-random-init" bash ../bench/run.sh -m "$work/empty-model" --no-build
[ -z "$(ls -A "$work/empty-model")" ] || { echo "FAIL bench/run.sh wrote into an empty -m folder"; failures=$((failures + 1)); }

# olmoe serve: flags and the model path are checked before it listens (the
# model itself loads in the background); `timeout` guards against a server
# that starts anyway.
expect_fail "serve bad port" "\-\-port expects an integer" timeout 20 "$olmoe" serve -m "$m" --port 70000
expect_fail "serve bad slots" "\-np expects an integer" timeout 20 "$olmoe" serve -m "$m" -np 0
expect_fail "serve bad queue" "\-\-queue expects an integer" timeout 20 "$olmoe" serve -m "$m" --queue -1
expect_fail "serve missing model" "no-such-dir" timeout 20 "$olmoe" serve -m "$work/no-such-dir" --port 0
expect_fail "serve no -m" "\-m MODEL_DIR is required" timeout 20 "$olmoe" serve --port 0
expect_fail "serve bad host" "\-\-host expects an IPv4 address" timeout 20 "$olmoe" serve -m "$m" --host example.org --port 0
expect_fail "serve unknown option" "unknown option '\-\-frob'" timeout 20 "$olmoe" serve -m "$m" --frob 1
expect_fail "serve missing index" "cannot open index" timeout 20 "$olmoe" serve -m "$m" --index "$work/no-index" --port 0

echo "cli_bad_input: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
