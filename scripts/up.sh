#!/usr/bin/env bash
# Starts polarstack in local mode and applies examples/cluster.yaml.
#  - installs missing Debian packages and builds (first run takes a few minutes)
#  - starts `polarstack server` in the background unless it is already running
#  - applies the example cluster and shows it as stored
# Safe to run again. State lives in $POLARSTACK_HOME (default ~/.polarstack).
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

step "The cluster as stored"
POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" get polardbcluster demo -o yaml

cat <<TXT

polarstack is running in local mode.
  polarctl:  export PATH=$BIN:\$PATH; polarctl get pdb
  kubectl:   KUBECONFIG=$HOME_DIR/kubeconfig kubectl get polardbclusters
  stop:      $BIN/polarstack stop --home $HOME_DIR
Databases are started by the operator, which comes in a later release: for now the
cluster is stored, validated and served through the Kubernetes-compatible API.
TXT
