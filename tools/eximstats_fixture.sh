#!/bin/sh
# Remakes tests/fixtures/eximstats/: the log (bench/generate_mainlog.py --lines 3000 --seed 11, ids made
# readable by eximstats 4.96, then extra.log) and mainlog.eximstats.txt, the output of Debian 12's eximstats
# on it. eximstats comes from Debian's exim4-base package, downloaded and unpacked into a cache outside the
# work tree (exim itself is not installed). Needs apt-get, dpkg-deb and perl; run from the repository root.
set -eu
ROOT=$(pwd)
OUT="$ROOT/tests/fixtures/eximstats"
CACHE="${EXIM_SHIPPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exim-shipper}/exim4-base"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
mkdir -p "$CACHE"
if [ ! -x "$CACHE/root/usr/sbin/eximstats" ]; then
    (cd "$CACHE" && { apt-get download exim4-base || { apt-get update && apt-get download exim4-base; }; })
    dpkg-deb -x "$(ls -t "$CACHE"/exim4-base_*.deb | head -n 1)" "$CACHE/root"
fi
EXIMSTATS="$CACHE/root/usr/sbin/eximstats"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" "$ROOT/bench/generate_mainlog.py" "$TMP/generated.log" --lines 3000 --seed 11
"$PY" "$ROOT/tools/eximstats_log.py" "$TMP/generated.log" "$OUT/extra.log" > "$TMP/mainlog"
gzip -n -9 < "$TMP/mainlog" > "$OUT/mainlog.gz"
# -nvr: volumes in bytes, not rounded, so the test compares exact figures; the rest are eximstats' defaults.
(cd "$TMP" && perl "$EXIMSTATS" -nvr mainlog) > "$OUT/mainlog.eximstats.txt"
{
    echo "eximstats: $(basename "$(ls -t "$CACHE"/exim4-base_*.deb | head -n 1)")"
    echo "command: perl eximstats -nvr mainlog"
    echo "log: bench/generate_mainlog.py --lines 3000 --seed 11 | tools/eximstats_log.py + extra.log"
} > "$OUT/SOURCE"
