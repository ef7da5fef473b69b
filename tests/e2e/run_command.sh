#!/usr/bin/env bash
# The README's run command, tested as a new user runs it (CI runs this on its clean
# clone): ./scripts/up.sh exactly as written, a row written through the read-write
# endpoint and read back through the read-only one, up.sh a second time (it must be
# safe to run again), then `polarctl down`. Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/build/bin
HOME_DIR=${POLARSTACK_HOME:-$HOME/.polarstack}
PCTL() { POLARSTACK_HOME=$HOME_DIR "$BIN/polarctl" "$@"; }

cleanup() {
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "run command test failed (exit $rc); the cluster and the server log:" >&2
    PCTL describe pdb demo >&2 || true
    tail -n 40 "$HOME_DIR/server.log" >&2 || true
    PCTL down >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

echo "==> run command: ./scripts/up.sh"
./scripts/up.sh

token=ci-$(date +%s)-$$
echo "==> write through the read-write endpoint"
PCTL psql demo -- -v ON_ERROR_STOP=1 -qc \
  "CREATE TABLE IF NOT EXISTS ci_run_command (token text PRIMARY KEY); INSERT INTO ci_run_command VALUES ('$token');"

echo "==> read it back through the read-only endpoint"
deadline=$((SECONDS + 60))
until [ "$(PCTL psql demo --ro -- -tAqc "SELECT count(*) FROM ci_run_command WHERE token = '$token'" 2>/dev/null)" = "1" ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "the row written through the read-write endpoint is not visible through the read-only one after 60 s" >&2
    PCTL psql demo --ro -- -tAqc "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()" >&2 || true
    exit 1
  fi
  sleep 0.2  # polling replication with the deadline above
done
ro=$(PCTL psql demo --ro -- -tAqc "SELECT pg_is_in_recovery()")
if [ "$ro" != "t" ]; then
  echo "the read-only endpoint reached an instance that is not a reader (pg_is_in_recovery = $ro)" >&2
  exit 1
fi

echo "==> run command again (must be safe to repeat)"
./scripts/up.sh

echo "==> polarctl down"
PCTL down
echo "run command test passed"
