#!/usr/bin/env bash
# Cross-builds the native addon for arm64 (native/arm64/, binding.gyp's target_arch=='arm64')
# into build-arm64/Release/vmtrace_kvm.node, with node-gyp against the host Node's headers (N-API
# headers do not depend on the architecture) and the aarch64-linux-gnu toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build-arm64
nodedir=$(node -p "require('path').resolve(process.execPath, '../..')")
[ -f "$nodedir/include/node/node_api.h" ] || { echo "arm64-addon: no Node headers in $nodedir/include/node" >&2; exit 1; }
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
# node-gyp builds in ./build: a copy of the sources keeps the host's own build/ untouched.
cp -r binding.gyp native "$out.tmp/"
ln -s "$PWD/node_modules" "$out.tmp/node_modules"
(cd "$out.tmp" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  timeout 300 node "$OLDPWD/node_modules/node-gyp/bin/node-gyp.js" rebuild --arch=arm64 --nodedir="$nodedir" --loglevel=warn >build.log 2>&1) \
  || { grep -m5 -E 'error|Error' "$out.tmp/build.log" >&2; echo "arm64-addon: node-gyp failed, see $out.tmp/build.log" >&2; exit 1; }
mkdir -p "$out/Release"
cp "$out.tmp/build/Release/vmtrace_kvm.node" "$out/Release/vmtrace_kvm.node"
rm -rf "$out.tmp"
file "$out/Release/vmtrace_kvm.node" | grep -q 'ARM aarch64' || { echo "arm64-addon: the result is not an aarch64 object" >&2; exit 1; }
echo "$out/Release/vmtrace_kvm.node"
