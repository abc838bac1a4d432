#!/usr/bin/env bash
# petrad's command line: help, config checking, and a table of bad inputs with the exit code
# and message each must give.
set -u
bin=${PETRA_BIN:?}/petrad
src=${PETRA_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
expect() { # expect NAME CODE PATTERN -- CMD...
  local name=$1 code=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL $name: exit $rc (want $code), output:"; echo "$out" | head -5; fail=$((fail+1))
  else
    pass=$((pass+1))
  fi
}
expect help 0 'usage: petrad' -- "$bin" --help
expect version 0 '^petrad [0-9]' -- "$bin" --version
expect help_config 0 'trainer.batch = 64' -- "$bin" --help-config
for conf in "$src"/configs/*.conf; do
  expect "config_$(basename "$conf")" 0 'configuration ok' -- "$bin" --check-config --config "$conf"
done
printf 'trainer.batch = 0\n' > "$tmp/a.conf"
expect bad_value 2 'a.conf:1: trainer.batch = 0: expected an integer in \[1, 65536\]' -- "$bin" --check-config --config "$tmp/a.conf"
printf '# x\nfoo = 1\n' > "$tmp/b.conf"
expect unknown_key 2 "b.conf:2: unknown key 'foo'" -- "$bin" --check-config --config "$tmp/b.conf"
printf 'model.spec = seq gru=0\n' > "$tmp/c.conf"
expect bad_spec 2 'model.spec: model spec: gru=0' -- "$bin" --check-config --config "$tmp/c.conf"
expect missing_file 2 'cannot open' -- "$bin" --check-config --config "$tmp/none.conf"
expect bad_set 2 '--set trainer.batch: expected KEY=VALUE' -- "$bin" --check-config --set trainer.batch
expect bad_set_value 2 'trainer.lr = abc' -- "$bin" --check-config --set trainer.lr=abc
expect bad_option 2 'usage' -- "$bin" --no-such-option
expect bad_run_for 2 'run-for -1' -- "$bin" --run-for -1
expect bad_log_format 2 'log-format xml' -- "$bin" --log-format xml
expect stray_arg 2 "unexpected argument 'extra'" -- "$bin" extra
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
