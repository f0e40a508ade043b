#!/usr/bin/env bash
# Checks that a fresh checkout installs and passes `npm test` on a machine with no C/C++
# toolchain, no make, no Python, no GNU binutils and no KVM: every test that needs one of them
# must skip and say why.
#
# What it does: clones this repository into a temp directory and lays the work tree's current
# files over the clone (so uncommitted edits are tested too; build/, dist/ and node_modules/
# are left out as in any fresh clone), makes a directory of symlinks to only the programs
# needed (node, npm, npx, git, a shell and coreutils), checks that g++, gcc, cc, c++, make,
# python3, python, as, ld, objdump and nm are not found on that PATH, then runs `npm ci` and
# `npm test` there with VMTRACE_KVM_DEVICE pointing at a device that does not exist.
#
#   bash scripts/test-no-toolchain.sh            # temp dir, removed afterwards unless it fails
#   bash scripts/test-no-toolchain.sh --keep     # keep the temp dir (its path is printed)
#
# Needs the npm registry (or a warm npm cache) for `npm ci`. Exits non-zero if anything fails.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmtrace-no-toolchain.XXXXXX")
chmod 755 "$WORK" # as a clone would be: tests that run the CLI as another user (nobody) must reach it
DEST="$WORK/vmtrace"
BIN="$WORK/bin"
LOG="$WORK/npm-test.log"
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then echo "no-toolchain: kept $WORK (log: $LOG)" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# 1. A fresh clone, with the work tree's files (tracked and untracked, not ignored) laid over it.
git clone -q --no-hardlinks "$SRC" "$DEST"
(
  cd "$SRC"
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done |
    tar --null -T - -cf -
) | tar -C "$DEST" -xf -
# files deleted in the work tree but not yet in a commit
(cd "$SRC" && git ls-files -z --deleted) | (cd "$DEST" && xargs -0 -r rm -f --)

# 2. A PATH with only what npm and the tests need.
mkdir -p "$BIN"
# coreutils, findutils, grep, sed, diffutils, tar, gzip and a few others every machine has
NEEDED="node npm npx git sh bash dash env
  cat cp mv rm ln ls mkdir rmdir mktemp mkfifo mknod chmod chown chgrp touch truncate stat du df
  dirname basename readlink realpath pwd uname id whoami groups hostname nproc date sleep timeout
  nice nohup true false test [ printf echo expr seq yes tty printenv getconf
  grep egrep fgrep sed awk tr cut paste join head tail sort uniq wc tee xargs find diff cmp comm
  od dd split tac base64 sha256sum md5sum sync kill ps which
  tar gzip gunzip"
for t in $NEEDED; do
  p=$(command -v "$t" 2>/dev/null || true)
  case "$p" in /*) ln -sf "$p" "$BIN/$t" ;; esac
done
for t in node npm npx git sh; do
  [ -e "$BIN/$t" ] || { echo "no-toolchain: $t not found on this machine" >&2; exit 1; }
done
MISSING="g++ gcc cc c++ clang clang++ make gmake python3 python as ld objdump nm"
for t in $MISSING; do
  if PATH="$BIN" command -v "$t" >/dev/null 2>&1; then
    echo "no-toolchain: $t is still on the stripped PATH ($(PATH="$BIN" command -v "$t"))" >&2
    exit 1
  fi
done
echo "no-toolchain: PATH=$BIN has none of: $MISSING"

# 3. npm ci and npm test there, without a toolchain and without KVM.
run() {
  (cd "$DEST" && env -u CC -u CXX -u MAKE -u PYTHON -u npm_config_python -u NODE_OPTIONS \
    PATH="$BIN" VMTRACE_KVM_DEVICE="$WORK/no-such-kvm" NO_COLOR=1 "$@")
}
echo "no-toolchain: npm ci in $DEST"
run npm ci --no-audit --no-fund --prefer-offline 2>&1 | grep -E '^(vmtrace:|added )' || true
[ ! -e "$DEST/build/Release/vmtrace_kvm.node" ] || { echo "no-toolchain: the addon was built, so the toolchain was not hidden" >&2; exit 1; }
echo "no-toolchain: npm test (full log: $LOG)"
set +e
run npm test >"$LOG" 2>&1
rc=$?
set -e
sed -i 's/\x1b\[[0-9;]*m//g' "$LOG"
# The skip reasons the tests printed (once each), then vitest's summary lines.
echo "no-toolchain: skip reasons printed by the tests:"
grep -E '^\[[^]]+\] |SKIPPING' "$LOG" | sort -u | sed 's/^/  /' || true
grep -E '^ *(Test Files|Tests|Duration) ' "$LOG" || true
if [ "$rc" != 0 ]; then
  grep -E '^ *(FAIL|×) ' "$LOG" | head -n 40 || true
  echo "no-toolchain: npm test failed (exit $rc)" >&2
  exit "$rc"
fi
echo "no-toolchain: OK"
