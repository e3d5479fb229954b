#!/usr/bin/env bash
# compare-nitro-cli.sh — build the same container image with nitro-cli and with eifkit, and diff the results.
#
# For a host that has Docker and nitro-cli (an EC2 instance with Nitro Enclaves, or any Linux box with the
# aws-nitro-enclaves-cli package and its blobs). eifkit itself needs neither; this script is how to check, on such a
# host, that `eif build --docker-archive` gives nitro-cli's ramdisks and PCRs for your image (issue 11 "Debugging a
# mismatch"; the rules are in docs/oci.md and the shared notes oci-build.md §1).
#
# Usage:
#   scripts/compare-nitro-cli.sh IMAGE [WORKDIR]
#     IMAGE    an image in the local Docker daemon, as you pass it to nitro-cli (`app:latest`); build or pull it first
#     WORKDIR  where the files go (default: a new folder under ${TMPDIR:-/tmp}); kept afterwards for inspection
#
# Environment:
#   NITRO_CLI_BLOBS  blobs folder for both tools (default /usr/share/nitro_enclaves/blobs)
#   NITRO_CLI        nitro-cli command (default: nitro-cli)
#   DOCKER           docker command (default: docker)
#   EIF              eifkit command (default: node <this repo>/bin/eif.js; or `npx eif`, or `eif` when installed)
#
# What it does:
#   1. nitro-cli build-enclave --docker-uri IMAGE --output-file WORKDIR/nitro-cli.eif, with NITRO_CLI_ARTIFACTS set to
#      WORKDIR/nitro-cli-artifacts so that linuxkit's ramdisks stay there (linuxkit names them
#      `bootstrap-initrd.img-initrd.img` and `customer-initrd.img-initrd.img`).
#   2. docker save IMAGE -o WORKDIR/image.docker-archive.tar
#   3. eif build --docker-archive WORKDIR/image.docker-archive.tar --image IMAGE --blobs $NITRO_CLI_BLOBS
#        --output WORKDIR/eifkit.eif --emit-ramdisks WORKDIR/eifkit-ramdisks
#   4. compares PCR0, PCR1, PCR2 of both builds, and runs `eif ramdisk diff` on each pair of ramdisks (first
#      differences: entry, field, both values). The EIF files themselves always differ: their metadata section holds
#      the build time and Docker's view of the image, which no PCR covers.
#
# Exit status: 0 same PCRs and ramdisks; 1 a difference (printed); 2 usage error or a missing tool / failed build.
#
# Known reasons for a difference that are not eifkit's (oci-build.md §1.4):
#   - Docker ≥ 27 (nitro-cli #746) or an image whose architecture is not the host's: linuxkit silently falls back to
#     its own cache instead of `docker export`, with another entry order and no init layer → another PCR2.
#   - The image has directories no layer lists (made by Docker at pull time) or a WORKDIR missing from its layers
#     (made by `docker create`): their times are the host's, so nitro-cli itself differs from host to host. eifkit
#     warns about both.
#   - userns-remap, rootless Docker or a storage driver other than overlay2 change owners and directory attributes.
#   - nitro-cli picks the kernel by the HOST's architecture, eifkit by the image's (PCR0/PCR1 differ if they differ).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "compare-nitro-cli: $*" >&2; exit 2; }

[ $# -ge 1 ] && [ $# -le 2 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
IMAGE=$1
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$(mktemp -d "${TMPDIR:-/tmp}/compare-nitro-cli.XXXXXX")}
BLOBS=${NITRO_CLI_BLOBS:-/usr/share/nitro_enclaves/blobs}
NITRO_CLI=${NITRO_CLI:-nitro-cli}
DOCKER=${DOCKER:-docker}
if [ -z "${EIF:-}" ]; then EIF="node $REPO/bin/eif.js"; fi

command -v "${NITRO_CLI%% *}" >/dev/null || die "no nitro-cli (set NITRO_CLI)"
command -v "${DOCKER%% *}" >/dev/null || die "no docker (set DOCKER)"
command -v node >/dev/null || die "no node (eifkit needs Node >= 20.19)"
[ -d "$BLOBS" ] || die "no blobs folder $BLOBS (set NITRO_CLI_BLOBS)"
$DOCKER image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE is not in the local Docker daemon (docker build / docker pull it first)"
mkdir -p "$WORK"
echo "compare-nitro-cli: working in $WORK" >&2

server=$($DOCKER version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)
case "$server" in
  2[7-9].*|[3-9][0-9].*) echo "compare-nitro-cli: warning: Docker $server — nitro-cli's linuxkit may not find the local image (nitro-cli #746) and take its cache path" >&2 ;;
esac
image_arch=$($DOCKER image inspect --format '{{.Architecture}}' "$IMAGE")
host_arch=$(uname -m)
case "$host_arch:$image_arch" in
  x86_64:amd64|aarch64:arm64) ;;
  *) echo "compare-nitro-cli: warning: image is $image_arch, host is $host_arch — nitro-cli uses the host's kernel and linuxkit its cache path" >&2 ;;
esac

# 1. nitro-cli
ART="$WORK/nitro-cli-artifacts"
mkdir -p "$ART"
NITRO_CLI_ARTIFACTS="$ART" NITRO_CLI_BLOBS="$BLOBS" $NITRO_CLI build-enclave --docker-uri "$IMAGE" \
  --output-file "$WORK/nitro-cli.eif" > "$WORK/nitro-cli.json" || die "nitro-cli build-enclave failed"
pick() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; echo ""; }
N_BOOT=$(pick "$ART/bootstrap-initrd.img-initrd.img" "$ART/bootstrap-initrd.img")
N_CUST=$(pick "$ART/customer-initrd.img-initrd.img" "$ART/customer-initrd.img")
[ -n "$N_CUST" ] || die "nitro-cli left no customer ramdisk in $ART (files: $(ls "$ART" | tr '\n' ' '))"

# 2. the same image as a docker save archive
$DOCKER save -o "$WORK/image.docker-archive.tar" "$IMAGE"

# 3. eifkit, without the daemon
$EIF build --docker-archive "$WORK/image.docker-archive.tar" --image "$IMAGE" --blobs "$BLOBS" \
  --output "$WORK/eifkit.eif" --emit-ramdisks "$WORK/eifkit-ramdisks" > "$WORK/eifkit.json" || die "eif build failed"

# 4. compare
pcrs() { node -e '
  const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).Measurements;
  for (const k of ["PCR0", "PCR1", "PCR2"]) console.log(k + " " + m[k]);' "$1"; }
status=0
paste -d' ' <(pcrs "$WORK/nitro-cli.json") <(pcrs "$WORK/eifkit.json") | while read -r k a _ b; do
  if [ "$a" = "$b" ]; then echo "$k same      $a"; else echo "$k DIFFERENT nitro-cli $a"; echo "$k           eifkit    $b"; fi
done
if ! diff -q <(pcrs "$WORK/nitro-cli.json") <(pcrs "$WORK/eifkit.json") >/dev/null; then status=1; fi
for pair in "bootstrap:$N_BOOT:$WORK/eifkit-ramdisks/bootstrap-initrd.img" "customer:$N_CUST:$WORK/eifkit-ramdisks/customer-initrd.img"; do
  IFS=: read -r what a b <<< "$pair"
  [ -n "$a" ] || { echo "$what ramdisk: nitro-cli's not found, not compared"; continue; }
  if cmp -s "$a" "$b"; then echo "$what ramdisk: identical ($(wc -c < "$a") bytes)"
  else
    status=1
    echo "$what ramdisk: DIFFERENT — eif ramdisk diff nitro-cli eifkit:"
    $EIF ramdisk diff "$a" "$b" || true
  fi
done
echo "files kept in $WORK" >&2
exit $status
