#!/usr/bin/env bash
# Builds the test image gantry-test/gameserver:1 FROM scratch, with no registry: a root file system
# of Debian's static busybox (+ applet links) and test/images/gameserver/gameserver.sh, imported
# with `docker import` (no builder needed: works with any client against the 20.10 engine).
# The image carries the label gantry.test.hash = sha256 of its inputs; when the image already has
# the current hash nothing is done. `--force` rebuilds anyway. Contract: test/images/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

IMAGE=${GANTRY_TEST_IMAGE:-gantry-test/gameserver:1}
BUSYBOX=/bin/busybox
SCRIPT="$HERE/gameserver/gameserver.sh"
BUILD_DIR="$HERE/.build"
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

t0=$(gantry_now)
timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 ||
  gantry_die "test image: no Docker engine answers (run: bash scripts/setup.sh)"
gantry_ensure_busybox

# Everything that goes into the image, and this script (it defines the layout).
hash=$( {
  echo "gantry-test-image/1"
  sha256sum <"$BUSYBOX"
  sha256sum <"$SCRIPT"
  sha256sum <"${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-32)

current_hash() { docker image inspect -f '{{index .Config.Labels "gantry.test.hash"}}' "$IMAGE" 2>/dev/null || true; }

if [ "$FORCE" = 0 ] && [ "$(current_hash)" = "$hash" ]; then
  gantry_log "test image: $IMAGE up to date (hash ${hash:0:12})"
  exit 0
fi

gantry_lock $GANTRY_FD_IMAGE test-image 600
if [ "$FORCE" = 0 ] && [ "$(current_hash)" = "$hash" ]; then
  gantry_log "test image: $IMAGE built by a concurrent set-up (hash ${hash:0:12})"
  exit 0
fi
old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)

# ---- root file system ----------------------------------------------------------------------------
rootfs="$BUILD_DIR/gameserver/rootfs"
rm -rf "$BUILD_DIR/gameserver"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,data,tmp,root}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp "$BUSYBOX" "$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
while IFS= read -r applet; do
  case $applet in bin/busybox | linuxrc | */) continue ;; esac
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done < <("$BUSYBOX" --list-full)
[ -e "$rootfs/bin/sh" ] || ln -s /bin/busybox "$rootfs/bin/sh"
# /usr/bin/env exists for `#!/usr/bin/env sh` scripts; bash-less on purpose.
install -m 755 "$SCRIPT" "$rootfs/gameserver.sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

tarball="$BUILD_DIR/gameserver/rootfs.tar"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$tarball" .

# ---- import --------------------------------------------------------------------------------------
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SERVER_PORT=25565' \
  --change 'EXPOSE 25565/tcp' \
  --change 'WORKDIR /data' \
  --change 'CMD ["/gameserver.sh"]' \
  --change "LABEL gantry.test.hash=$hash" \
  --change 'LABEL org.opencontainers.image.title="gantry test game server"' \
  --message "gantry test image $hash" \
  "$tarball" "$IMAGE" >/dev/null

[ "$(current_hash)" = "$hash" ] || gantry_die "test image: $IMAGE was imported but does not carry hash $hash"
new_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  # The previous build is now untagged: remove it unless a container still uses it.
  docker rmi "$old_id" >/dev/null 2>&1 || true
fi
rm -rf "$BUILD_DIR/gameserver"
gantry_log "test image: built $IMAGE from scratch ($(du -k "$BUSYBOX" | cut -f1) KiB busybox, hash ${hash:0:12}, $(gantry_elapsed "$t0"))"
