#!/usr/bin/env bash
# Soak test: builds the hub and the soak program into a temporary
# directory, runs the hub as its own process on a loopback port, sends it
# a bounded, mixed load (3 minutes unless -duration says otherwise), waits
# for idle connections to close, and prints the hub's resident memory,
# goroutines and open descriptors along the way. Fails on a wrong response,
# an unexpected answer, or goroutines or descriptors that did not come back
# down. Flags go to the soak program (go doc ./examples/soak):
#
#	scripts/soak.sh                          # 3 minutes of load
#	scripts/soak.sh -duration 5m
#	scripts/soak.sh -duration 15s -settle 5s # a quick smoke run
#	scripts/soak.sh -big 1073741824          # 1 GiB up and down; peak RSS under 64 MiB
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/hub" ./examples/hub
go build -o "$bin/soak" ./examples/soak
"$bin/soak" -hub "$bin/hub" "$@"
