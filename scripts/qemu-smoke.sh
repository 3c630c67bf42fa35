#!/usr/bin/env bash
# Proves a cross-compiled binary works on its target architecture by running
# it under qemu user-mode emulation (Debian's qemu-user-static):
# `edgeplane version`, then a one-node `agent -dev` on a free loopback port
# where `kv put` then `kv get` round-trip (client commands run emulated
# too), then a clean SIGTERM shutdown. Every wait is bounded.
#
#   scripts/qemu-smoke.sh BINARY [QEMU]
#
# QEMU defaults from the binary's architecture (qemu-aarch64-static,
# qemu-arm-static, qemu-riscv64-static); "" runs the binary natively.
# EXPECT_VERSION, when set, must appear in `edgeplane version`.
set -euo pipefail

bin=$1
if [ $# -ge 2 ]; then
	qemu=$2
else
	case "$(file -b "$bin" 2>/dev/null || true)" in
	*aarch64*) qemu="qemu-aarch64-static" ;;
	*ARM*) qemu="qemu-arm-static" ;;
	*RISC-V*) qemu="qemu-riscv64-static" ;;
	*) qemu= ;;
	esac
fi
name="$(basename "$bin")${qemu:+ under $qemu}"

work=$(mktemp -d)
agent_pid=
cleanup() {
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		kill -KILL "$agent_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "qemu-smoke: $name: $*" >&2
	if [ -f "$work/agent.log" ]; then
		echo "--- agent log" >&2
		cat "$work/agent.log" >&2
	fi
	exit 1
}

out=$(timeout 60 "${qemu:-env}" "$bin" version) || fail "version failed"
echo "$name: $out"
case "$out" in
"edgeplane "*) ;;
*) fail "unexpected version output: $out" ;;
esac
if [ -n "${EXPECT_VERSION:-}" ] && [[ $out != *"$EXPECT_VERSION"* ]]; then
	fail "version does not say $EXPECT_VERSION"
fi

${qemu:+"$qemu"} "$bin" agent -dev -http-addr 127.0.0.1:0 >"$work/agent.log" 2>&1 &
agent_pid=$!
addr=
for _ in $(seq 600); do # up to 60 s: emulation is slow
	addr=$(grep -o 'msg="agent started".*http_addr=[0-9.:]*' "$work/agent.log" | grep -o 'http_addr=[0-9.:]*' | cut -d= -f2 || true)
	[ -z "$addr" ] || break
	kill -0 "$agent_pid" 2>/dev/null || fail "agent exited before serving"
	sleep 0.1 # polling the log with a deadline
done
[ -n "$addr" ] || fail "agent did not start within 60 s"

value="hello from $(basename "$bin") $$"
timeout 60 "${qemu:-env}" "$bin" kv put -http-addr "$addr" smoke/key "$value" >/dev/null || fail "kv put failed"
got=$(timeout 60 "${qemu:-env}" "$bin" kv get -http-addr "$addr" smoke/key) || fail "kv get failed"
[ "$got" = "$value" ] || fail "kv get returned '$got', want '$value'"
echo "$name: agent on $addr: kv put then kv get round-trips"

kill -TERM "$agent_pid"
for _ in $(seq 600); do
	kill -0 "$agent_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$agent_pid" 2>/dev/null && fail "agent did not exit within 60 s of SIGTERM"
code=0
wait "$agent_pid" || code=$?
agent_pid=
[ "$code" -eq 0 ] || fail "agent exited with $code after SIGTERM"
echo "$name: clean shutdown"
