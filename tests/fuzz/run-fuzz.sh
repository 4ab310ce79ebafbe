#!/bin/sh
# run-fuzz.sh FUZZER SEEDS WORKDIR [LIBFUZZER-OPTION...]
#
# Runs FUZZER on a fresh copy of the seed corpus SEEDS under WORKDIR, so
# the committed corpus is never written to.  New inputs land in
# WORKDIR/corpus, crashes in WORKDIR/artifacts.  The exit status is
# libFuzzer's (0: nothing found).
set -eu

if [ $# -lt 3 ]; then
    echo "usage: $0 FUZZER SEEDS WORKDIR [LIBFUZZER-OPTION...]" >&2
    exit 2
fi
fuzzer=$1
seeds=$2
work=$3
shift 3

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -R "$seeds/." "$work/corpus/"

rc=0
"$fuzzer" -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" \
    "$work/corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
    for f in "$work"/artifacts/*; do
        [ -e "$f" ] || continue
        echo "run-fuzz.sh: reproduce with: $fuzzer $f" >&2
    done
fi
exit "$rc"
