#!/usr/bin/env bash
# Builds what `eif run --emulate` and test/emulate need into a project-local cache (qemu-emulation.md):
#   <cache>/bin/qemu-system-x86_64   QEMU 10.0.2 (Debian's +ds source) with the nitro-enclave machine and libcbor
#   <cache>/bin/vhost-device-vsock   optional: rust-vmm's vsock backend (Debian sid's .deb, extracted here, not
#                                    installed), kept only for the test of the fallback path. `eif run --emulate`
#                                    uses eifkit's own backend (native/vsock-backend.c, built by
#                                    scripts/build-native.mjs), which routes the enclave's CID 3 as on Nitro.
#   <cache>/firmware/                bios-microvm.bin (seabios) + linuxboot_dma.bin (qemu-system-data), for `-L`
#   <cache>/kernel/                  Debian's 6.12 cloud kernel (bookworm-backports) + the modules test images need
# Nothing is installed system-wide except QEMU's build dependencies from Debian bookworm (apt, as root). Packages from
# bookworm-backports and sid are fetched with apt-get through a private source list under <cache>/apt, so the host's
# apt configuration is left alone. Reused when present: a second run only checks. Exits 0 with a message when
# something cannot be had (the emulation tests then skip and say why); `--strict` makes that exit 1.
#
# Usage: scripts/build-qemu.sh [--strict]     (cache: $EIF_QEMU_CACHE or <repo>/.cache/qemu)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${EIF_QEMU_CACHE:-$repo/.cache/qemu}
strict=0
[ "${1:-}" = "--strict" ] && strict=1
QEMU_VERSION=10.0.2
arch=$(uname -m)

fail() {
  echo "build-qemu: $*" >&2
  [ $strict = 1 ] && exit 1
  exit 0
}
note() { echo "build-qemu: $*"; }

case "$arch" in
  x86_64) target=x86_64; debarch=amd64 ;;
  aarch64) target=aarch64; debarch=arm64 ;;
  *) fail "unsupported host architecture $arch (x86_64 or aarch64)" ;;
esac

have_all() {
  [ -x "$cache/bin/qemu-system-$target" ] &&
    [ -f "$cache/firmware/bios-microvm.bin" ] && [ -f "$cache/firmware/linuxboot_dma.bin" ] &&
    [ -f "$cache/kernel/vmlinuz" ] && [ -f "$cache/kernel/modules/vmw_vsock_virtio_transport.ko" ]
}
if have_all; then
  note "cache complete at $cache (delete it to rebuild)"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: this script needs Debian/Ubuntu (see docs/launcher.md, 'Emulation', to build QEMU by hand)"

mkdir -p "$cache"/{bin,firmware,kernel/modules,debs,root,src,apt/lists/partial,apt/cache/archives/partial}

# --- 1. QEMU's build dependencies (bookworm main), system-wide as root ------------------------------------------------
need=()
for p in libglib2.0-dev libgnutls28-dev flex bison libcbor-dev libfdt-dev libpixman-1-dev ninja-build pkg-config xz-utils gcc make; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing build dependencies ${need[*]}: run as root or install them (apt-get install ${need[*]})"
  note "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    fail "apt-get install ${need[*]} failed"
fi

# --- 2. Private apt view of bookworm-backports (+ sid for the optional vhost-device-vsock only) ---------------------
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$cache/apt/sources.list" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm-backports main
deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=$keyring] http://deb.debian.org/debian sid main
EOF
APT=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache" -o APT::Default-Release=bookworm-backports
  -o APT::Sandbox::User=root)
if [ ! -f "$cache/apt/updated" ]; then
  apt-get "${APT[@]}" update -qq >/dev/null 2>&1 || fail "apt-get update of bookworm-backports/sid failed (is deb.debian.org reachable?)"
  touch "$cache/apt/updated"
fi
fetch_deb() { # fetch_deb NAME[/suite] -> extracted into $cache/root
  local name=$1 base=${1%%/*}
  ls "$cache/debs/${base}"_*.deb >/dev/null 2>&1 || (cd "$cache/debs" && apt-get "${APT[@]}" download -qq "$name" >/dev/null 2>&1) ||
    fail "apt-get download $name failed"
  dpkg-deb -x "$(ls "$cache/debs/${base}"_*.deb | head -1)" "$cache/root" || fail "cannot extract $name"
}

# --- 3. firmware (+ the optional fallback vsock backend) -------------------------------------------------------------
# vhost-device-vsock is not required (eifkit's backend is): when it cannot be had, say so and go on
if [ ! -x "$cache/bin/vhost-device-vsock" ]; then
  if ls "$cache/debs/vhost-device-vsock"_*.deb >/dev/null 2>&1 ||
    (cd "$cache/debs" && apt-get "${APT[@]}" download -qq vhost-device-vsock/sid >/dev/null 2>&1); then
    dpkg-deb -x "$(ls "$cache/debs/vhost-device-vsock"_*.deb | head -1)" "$cache/root" &&
      cp "$cache/root/usr/bin/vhost-device-vsock" "$cache/bin/" &&
      "$cache/bin/vhost-device-vsock" --version >/dev/null 2>&1 ||
      { rm -f "$cache/bin/vhost-device-vsock"; note "vhost-device-vsock (optional, fallback test only) does not run here: skipped"; }
  else
    note "vhost-device-vsock (optional, fallback test only) could not be fetched from sid: skipped"
  fi
fi
if [ ! -f "$cache/firmware/bios-microvm.bin" ]; then
  fetch_deb seabios
  cp "$cache/root/usr/share/seabios/bios-microvm.bin" "$cache/firmware/" || fail "bios-microvm.bin not in seabios"
fi
if [ ! -f "$cache/firmware/linuxboot_dma.bin" ]; then
  fetch_deb qemu-system-data
  cp -L "$cache/root/usr/share/qemu/linuxboot_dma.bin" "$cache/firmware/" || fail "linuxboot_dma.bin not in qemu-system-data"
fi

# --- 4. Test kernel: Debian's 6.12 cloud kernel and the modules an enclave needs (uncompressed for busybox insmod) ---
if [ ! -f "$cache/kernel/modules/vmw_vsock_virtio_transport.ko" ]; then
  kpkg=$(apt-cache "${APT[@]}" depends "linux-image-cloud-$debarch" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$kpkg" ] || fail "no linux-image-cloud-$debarch in bookworm-backports"
  fetch_deb "$kpkg"
  kver=${kpkg#linux-image-}
  if [ "$target" = x86_64 ]; then cp "$cache/root/boot/vmlinuz-$kver" "$cache/kernel/vmlinuz"; else
    # arm64 enclaves boot an uncompressed Image; Debian ships vmlinuz as a gzip-compressed Image
    gzip -dc "$cache/root/boot/vmlinuz-$kver" >"$cache/kernel/vmlinuz"; fi
  cp "$cache/root/boot/config-$kver" "$cache/kernel/config"
  for m in virtio_mmio nsm vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport; do
    f=$(find "$cache/root/lib/modules/$kver" -name "$m.ko*" | head -1)
    [ -n "$f" ] || fail "module $m not in $kpkg"
    case "$f" in
      *.xz) xz -dc "$f" >"$cache/kernel/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" >"$cache/kernel/modules/$m.ko" ;;
      *) cp "$f" "$cache/kernel/modules/$m.ko" ;;
    esac
  done
  echo "$kver" >"$cache/kernel/version"
fi

# --- 5. QEMU with the nitro-enclave machine --------------------------------------------------------------------------
if [ ! -x "$cache/bin/qemu-system-$target" ]; then
  fetch_deb meson          # >= 1.5 (bookworm has 1.0)
  fetch_deb python3-pycotap # the +ds tarball drops QEMU's bundled Python wheels
  tarball="$cache/src/qemu_${QEMU_VERSION}+ds.orig.tar.xz"
  if [ ! -f "$tarball" ]; then
    (cd "$cache/src" && apt-get "${APT[@]}" source --download-only -qq qemu >/dev/null 2>&1)
    [ -f "$tarball" ] || fail "could not fetch qemu_${QEMU_VERSION}+ds.orig.tar.xz from bookworm-backports"
  fi
  srcdir="$cache/src/qemu-$QEMU_VERSION"
  rm -rf "$srcdir" && tar -C "$cache/src" -xf "$tarball" || fail "cannot unpack $tarball"
  # the +ds tarball strips the EDK2 firmware blobs: never try to unpack them
  sed -i 's/^\(\s*\)unpack_edk2_blobs = bzip2.found()/\1unpack_edk2_blobs = false/' "$srcdir/meson.build"
  # a devices file with only the machine (and what it selects): ~2 min on 2 cores instead of ~2.5 min for all
  printf 'CONFIG_NITRO_ENCLAVE=y\n' >"$srcdir/configs/devices/$target-softmmu/eifkit-nitro.mak"
  pypath=$cache/root/usr/lib/python3/dist-packages
  start=$(date +%s)
  (
    cd "$srcdir" && mkdir -p build && cd build &&
      PYTHONPATH=$pypath ../configure --python=/usr/bin/python3 --target-list=$target-softmmu \
        --without-default-features --without-default-devices --with-devices-$target=eifkit-nitro \
        --enable-kvm --enable-libcbor --enable-gnutls --enable-fdt=system --enable-vhost-user \
        --disable-docs --disable-tools --disable-install-blobs >"$cache/src/configure.log" 2>&1 &&
      PYTHONPATH=$pypath ninja -j"$(nproc)" "qemu-system-$target" >"$cache/src/build.log" 2>&1
  ) || fail "QEMU build failed: see $cache/src/configure.log and $cache/src/build.log"
  cp "$srcdir/build/qemu-system-$target" "$cache/bin/" || fail "no qemu-system-$target after the build"
  "$cache/bin/qemu-system-$target" -machine help | grep -q nitro-enclave || fail "the built QEMU lacks the nitro-enclave machine"
  note "QEMU built in $(($(date +%s) - start)) s"
  rm -rf "$srcdir" # the binary is all that is needed (keeps the cache at ~60 MB)
fi
rm -rf "$cache/root"
have_all || fail "incomplete cache at $cache"
note "ready: $cache/bin/qemu-system-$target, $cache/firmware, $cache/kernel$([ -x "$cache/bin/vhost-device-vsock" ] && echo ", $cache/bin/vhost-device-vsock (fallback)")"
