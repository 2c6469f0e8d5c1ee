#!/usr/bin/env bash
# `olmoe index` on a hand-made three-token index (one document: 1 2):
# JSON output forms, usage errors (exit 2) and bad indexes (exit 1), each
# error one line on stderr naming the flag or file.
# Usage: cli_index.sh SHARED_DIR OLMOE_BINARY
set -uo pipefail
olmoe="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
passed=0

# expect_out NAME EXPECTED CMD...: exit 0 and exactly EXPECTED on stdout.
expect_out() {
  local name="$1" want="$2"
  shift 2
  local got
  got=$("$@" 2>"$work/err")
  local rc=$?
  if [ "$rc" -ne 0 ] || [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $rc, stdout '$got' (want '$want'), stderr: $(cat "$work/err")"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# expect_fail NAME STATUS PATTERN CMD...: exit STATUS and one stderr line matching PATTERN.
expect_fail() {
  local name="$1" status="$2" pattern="$3"
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$work/err")
  if [ "$rc" -ne "$status" ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pattern" "$work/err"; then
    echo "FAIL $name: exit $rc (want $status), stderr ($lines lines):"
    sed 's/^/    /' "$work/err"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# tokenized: separator, 1, 2 (u16 LE). Suffixes in byte order: "01 00 02 00"
# (byte 2), "02 00" (byte 4), "ff ff ..." (byte 0): table 02 04 00 with
# 1-byte pointers; one document at byte 0.
idx="$work/idx"
mkdir -p "$idx"
printf '\xff\xff\x01\x00\x02\x00' >"$idx/tokenized.0"
printf '\x02\x04\x00' >"$idx/table.0"
printf '\x00\x00\x00\x00\x00\x00\x00\x00' >"$idx/offset.0"
echo '{"format": "infini-gram", "version": 4, "token_width": 2}' >"$idx/olmoe-index.json"

expect_out "count json" '{"count": 1}' "$olmoe" index count --index "$idx" --ids 1,2 --json
expect_out "count absent" '{"count": 0}' "$olmoe" index count --index "$idx" --ids 2,1 --json
expect_out "count across a boundary" '{"count": 0}' "$olmoe" index count --index "$idx" --ids 2,65535 --json
expect_out "count empty" '{"count": 3}' "$olmoe" index count --index "$idx" --ids "" --json
expect_out "count twice" '{"count": 2}' "$olmoe" index count --index "$idx" --index "$idx" --ids 1 --json
expect_out "count human" 'count: 1' "$olmoe" index count --index "$idx" --ids 2
expect_out "cnf ids" '{"count": 1}' "$olmoe" index count --index "$idx" --cnf-ids '1 | 7 & 2' --json
expect_out "prob" '{"prompt_cnt": 1, "cont_cnt": 1, "prob": 1}' "$olmoe" index prob --index "$idx" --ids 1,2 --json
expect_out "info" '{"n_shards":1,"n_tokens":3,"n_docs":1,"token_width":2,"tokenizer":null,"eos_token_id":-1}' \
  "$olmoe" index info --index "$idx" --json
expect_out "doc" '{"doc_ix":0,"doc_len":2,"disp_len":2,"needle_offset":0,"metadata":"","token_ids":[1,2]}' \
  "$olmoe" index doc --index "$idx" --doc-ix 0 --json

expect_fail "missing index" 1 "no-such-dir" "$olmoe" index count --index "$work/no-such-dir" --ids 1
expect_fail "not an index" 1 "no tokenized" "$olmoe" index count --index "$work" --ids 1
expect_fail "no --index" 2 "\-\-index DIR is required" "$olmoe" index count --ids 1
expect_fail "unknown option" 2 "unknown option '--frob'" "$olmoe" index count --index "$idx" --frob 1
expect_fail "bad ids" 2 "\-\-ids expects" "$olmoe" index count --index "$idx" --ids 1,,2
expect_fail "bad width" 2 "\-\-token-width" "$olmoe" index count --index "$idx" --ids 1 --token-width 3
expect_fail "no query" 2 "exactly one of" "$olmoe" index count --index "$idx"
expect_fail "two queries" 2 "exactly one of" "$olmoe" index count --index "$idx" --ids 1 --text a
expect_fail "no tokenizer" 1 "no tokenizer" "$olmoe" index count --index "$idx" --text hello
expect_fail "unknown subcommand" 2 "unknown subcommand" "$olmoe" index frob --index "$idx"
expect_fail "doc without --doc-ix" 2 "\-\-doc-ix" "$olmoe" index doc --index "$idx"

bad="$work/bad"
cp -r "$idx" "$bad"
rm "$bad/olmoe-index.json"
expect_fail "no manifest" 1 "token width" "$olmoe" index count --index "$bad" --ids 1
expect_out "no manifest, width given" '{"count": 1}' "$olmoe" index count --index "$bad" --ids 1 --token-width 2 --json
printf '\x02\x04' >"$bad/table.0"
expect_fail "truncated table" 1 "table.0" "$olmoe" index count --index "$bad" --ids 1 --token-width 2
rm "$bad/table.0"
expect_fail "missing table" 1 "table.0: missing" "$olmoe" index count --index "$bad" --ids 1 --token-width 2

echo "cli_index: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
