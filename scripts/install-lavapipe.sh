#!/usr/bin/env bash
# Installs Mesa's lavapipe (software Vulkan) on a Debian bookworm machine without a GPU,
# taking Mesa 25 from bookworm-backports (3-6x faster compute than bookworm's Mesa 22.3).
# The backports source reuses the mirror this machine's apt already uses, so no host name
# is written here. Needs root (or sudo). A machine with a real GPU needs none of this.
set -euo pipefail
if ! command -v apt-get >/dev/null; then echo "install-lavapipe: not a Debian-like system" >&2; exit 1; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/debian.sources
bpo=/etc/apt/sources.list.d/backports.sources
list=/etc/apt/sources.list
if grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  :  # backports already configured
elif [ -f "$src" ] && grep -q "bookworm" "$src"; then
  uris=$(sed -n '/^URIs:/{p;q}' "$src")
  printf '%s\n' "Types: deb" "$uris" "Suites: bookworm-backports" "Components: main" \
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" | $SUDO tee "$bpo" >/dev/null
elif [ -f "$list" ] && grep -qE "^deb .* bookworm main" "$list"; then
  # The classic one-line format: the same mirror, the backports suite.
  line=$(grep -m1 -E "^deb .* bookworm main" "$list" | sed 's/ bookworm main.*/ bookworm-backports main/')
  echo "$line" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
else
  echo "install-lavapipe: no bookworm source found; installing this release's Mesa" >&2
fi
$SUDO apt-get update -qq
# Capture first: `apt-cache ... | grep -q` under pipefail fails when grep exits early.
policy=$(apt-cache policy mesa-vulkan-drivers)
if grep -q bpo <<<"$policy"; then
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
dpkg-query -W -f='mesa-vulkan-drivers ${Version}\n' mesa-vulkan-drivers
