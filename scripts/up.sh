#!/usr/bin/env bash
# Starts polarstack in local mode with a real PostgreSQL cluster (examples/cluster.yaml:
# 1 primary + 2 readers).
#  - installs missing Debian packages and builds (first run takes a few minutes)
#  - starts `polarstack server` in the background unless it is already running
#  - applies the example cluster, waits until it is Ready, and prints how to connect
# Safe to run again. State lives in $POLARSTACK_HOME (default ~/.polarstack); databases
# in /var/lib/polarstack as root, else $POLARSTACK_HOME/data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HOME_DIR=${POLARSTACK_HOME:-$HOME/.polarstack}
BIN=$ROOT/build/bin

step() { printf '\n==> %s\n' "$*"; }

step "Building (installs missing Debian packages first)"
scripts/build.sh

running() {
  [ -f "$HOME_DIR/server.pid" ] || return 1
  local pid
  pid=$(cat "$HOME_DIR/server.pid")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "polarstack server"
}

# A server still running a binary that has since been rebuilt is restarted (state is kept).
if running && readlink "/proc/$(cat "$HOME_DIR/server.pid")/exe" | grep -q ' (deleted)$'; then
  step "Restarting polarstack server: its binary was rebuilt"
  "$BIN/polarstack" stop --home "$HOME_DIR"
fi

if running; then
  step "polarstack server is already running (pid $(cat "$HOME_DIR/server.pid"))"
else
  step "Starting polarstack server (log: $HOME_DIR/server.log)"
  mkdir -p "$HOME_DIR" && chmod 700 "$HOME_DIR"
  rm -f "$HOME_DIR/kubeconfig"
  POLARSTACK_HOME=$HOME_DIR setsid "$BIN/polarstack" server --home "$HOME_DIR" >>"$HOME_DIR/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    if [ -f "$HOME_DIR/kubeconfig" ] && POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" get namespaces >/dev/null 2>&1; then
      break
    fi
    if ! running && [ -f "$HOME_DIR/server.pid" ]; then break; fi
    sleep 0.1
  done
  if ! POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" get namespaces >/dev/null 2>&1; then
    echo "polarstack server did not come up; last lines of $HOME_DIR/server.log:" >&2
    tail -n 20 "$HOME_DIR/server.log" >&2 || true
    exit 1
  fi
fi

step "Applying examples/cluster.yaml"
POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" apply -f examples/cluster.yaml

step "Waiting until the cluster is Ready"
PCTL() { POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" "$@"; }
if ! PCTL wait polardbcluster/demo --for=condition=Ready --timeout=5m; then
  echo "the cluster demo is not Ready; its status and events:" >&2
  PCTL describe polardbcluster demo >&2 || true
  echo "server log: $HOME_DIR/server.log" >&2
  exit 1
fi
PCTL get polardbcluster demo -o wide

cat <<TXT

polarstack is running in local mode with a PostgreSQL 15 cluster "demo".
  open psql (read-write):   $BIN/polarctl psql demo
  read-only (the readers):  $BIN/polarctl psql demo --ro
  connection URI:           $BIN/polarctl connect demo
  status:                   $BIN/polarctl describe pdb demo
  scale:                    $BIN/polarctl scale demo --readers 3
  kubectl:                  KUBECONFIG=$HOME_DIR/kubeconfig kubectl get polardbclusters
  stop everything:          $BIN/polarctl down            (data kept; run this script again to resume)
  remove everything:        $BIN/polarctl down --delete
TXT
