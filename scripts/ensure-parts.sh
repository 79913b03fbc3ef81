#!/usr/bin/env bash
# Makes sure the local parts that tests and the sandbox run are on this machine:
#   scripts/ensure-parts.sh docker-registry shellcheck
# Each name is both the command and its Debian package. As root with apt-get, a missing one is
# installed (and said so); otherwise the exact command to run is printed, and the tests that
# need it print SKIPPED. Never fails: a missing part is not a reason to skip the other tests.
set -uo pipefail

missing=()
for part in "$@"; do
  command -v "$part" >/dev/null 2>&1 || missing+=("$part")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "pushrun: ${missing[*]} missing: installing with apt-get install -y ${missing[*]}"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; then
    exit 0
  fi
  echo "pushrun: apt-get could not install ${missing[*]}; the tests that need them will print SKIPPED"
else
  echo "pushrun: ${missing[*]} missing; install with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
fi
if ! command -v gcloud >/dev/null 2>&1; then
  echo "pushrun: gcloud missing: the Pub/Sub and Firestore emulator tests will print SKIPPED (install the Google Cloud CLI with its pubsub-emulator and cloud-firestore-emulator components)"
fi
exit 0
