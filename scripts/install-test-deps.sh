#!/usr/bin/env bash
# System packages the test suite uses beyond Node: Chromium (browser tests), a C compiler (the native launcher
# helper), musl-gcc and an aarch64 (or x86_64) cross compiler (the helper must compile with other libcs and on both
# architectures, as users' machines compile it at install), openssl (signing cross-checks, the EIF bench). Debian/Ubuntu, as root; elsewhere it says what
# is missing and exits 0 — those tests then skip with a message (or, for the C helper, report it missing).
set -u
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
case "$(uname -m)" in
  x86_64) command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
  aarch64) command -v x86_64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-x86-64-linux-gnu libc6-dev-amd64-cross) ;;
esac
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# container images (issue 11/12 tests): a private dockerd, skopeo, the CNCF registry, a static busybox for test images
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
# bcrypt htpasswd files for the registry's Basic-auth tests (python3's crypt is the fallback; it leaves Python 3.13)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
# QEMU with the nitro-enclave machine, firmware, the test kernel and (optional, fallback test) vhost-device-vsock (issue
# 14, test/emulate; the vsock backend itself is eifkit's native/vsock-backend.c, built by scripts/build-native.mjs):
# built into the project cache .cache/qemu by scripts/build-qemu.sh (~2-3 min on 2 cores the first time, reused
# after; it installs QEMU's build dependencies itself and exits 0 when something cannot be had). Set
# EIF_SKIP_QEMU_BUILD=1 to leave it out; the emulation tests then skip and say so.
qemu_cache() {
  [ "${EIF_SKIP_QEMU_BUILD:-0}" = 1 ] && { echo "install-test-deps: EIF_SKIP_QEMU_BUILD=1: QEMU emulation cache not built"; return; }
  "$(dirname "$0")/build-qemu.sh" || echo "install-test-deps: scripts/build-qemu.sh failed; the emulation tests will skip" >&2
}
if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-deps: all present"
  qemu_cache
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null && { qemu_cache; exit 0; }
  echo "install-test-deps: apt-get failed; the tests that need ${need[*]} will skip or fail" >&2
  qemu_cache
  exit 0
fi
echo "install-test-deps: missing ${need[*]} (install them with your package manager); related tests will skip" >&2
qemu_cache
exit 0
