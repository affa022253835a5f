#!/usr/bin/env bash
# `make reproduce`: builds the image twice, from two copies of the tree at
# two different absolute paths, with different user names, home and
# CARGO_HOME directories and time zones, one after the other (so at
# different times of day), then compares the SHA-256 of the two images.
# Each build also makes the GRUB ISO (`make iso`) from the same sample
# configuration, and the two ISOs are compared too. Fails if either differs.
# (libfaketime cannot be used to shift the clock further: rustc hangs under
# it. make-iso.sh does run grub-mkrescue under faketime, stopped at
# SOURCE_DATE_EPOCH.)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d /tmp/wgate-reproduce.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo_home=${CARGO_HOME:-$HOME/.cargo}
# The ISO's dates: as `make iso` in this checkout would stamp them (the
# copies have no .git to ask).
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1704067200)}
# A sample configuration for the ISO (keys made for this purpose only).
cat >"$work/gateway.conf" <<'EOF'
[Interface]
PrivateKey = EHcQZwUhdfHctOBGVLbQBm+gxiDFHCmaDvpICQ1FlGw=
ListenPort = 51820
Address = 10.99.0.1/24

[Peer]
PublicKey = o4MiflHcCnjSa09ZfSwi/nzICuZo6/hJaZJNVnrlB3o=
AllowedIPs = 10.99.0.0/24

[Outer]
Address = dhcp

[Inner]
Address = 192.168.77.1/24
EOF
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}

copy_tree() { # destination
  mkdir -p "$1"
  tar -C "$root" --exclude=./target --exclude=./build --exclude=./.git -cf - . | tar -C "$1" -xf -
}

# A CARGO_HOME of its own per build, seeded (by hard links) with the crates
# already downloaded, so the sources unpack to a different path each time.
new_cargo_home() { # destination
  mkdir -p "$1/registry"
  for d in index cache; do
    [ -d "$cargo_home/registry/$d" ] && cp -al "$cargo_home/registry/$d" "$1/registry/"
  done
  true
}

build() { # label tree cargo_home user tz
  local label=$1 tree=$2 home=$3 user=$4 tz=$5
  echo "reproduce: build $label in $tree as $user, TZ=$tz, at $(TZ=$tz date '+%H:%M:%S %Z')" >&2
  env -i PATH="$cargo_home/bin:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME="$RUSTUP_HOME" \
    CARGO_HOME="$home" HOME="$work/home-$label" USER="$user" LOGNAME="$user" TZ="$tz" LANG=C \
    SOURCE_DATE_EPOCH="$epoch" \
    make -C "$tree" --no-print-directory iso-only CONFIG="$work/gateway.conf" ISO=build/wgate.iso \
    >"$work/$label.log" 2>&1 \
    || { cat "$work/$label.log" >&2; echo "reproduce: build $label failed" >&2; exit 1; }
  echo "$(sha256sum "$tree/target/x86_64-wgate/release/wgate" | cut -d' ' -f1)" \
    "$(sha256sum "$tree/build/wgate.iso" | cut -d' ' -f1)"
}

copy_tree "$work/a/wgate"
copy_tree "$work/b/a/much/longer/path/to/another-checkout"
new_cargo_home "$work/cargo-a"
new_cargo_home "$work/elsewhere/cargo-b"
mkdir -p "$work/home-a" "$work/home-b"

out_a=$(build a "$work/a/wgate" "$work/cargo-a" builder UTC | tail -1)
out_b=$(build b "$work/b/a/much/longer/path/to/another-checkout" "$work/elsewhere/cargo-b" \
  auditor Pacific/Kiritimati | tail -1)
read -r hash_a iso_a <<<"$out_a"
read -r hash_b iso_b <<<"$out_b"

echo "reproduce: build a sha256 $hash_a, ISO $iso_a"
echo "reproduce: build b sha256 $hash_b, ISO $iso_b"
if [ "$hash_a" != "$hash_b" ]; then
  echo "reproduce: FAILED: the two images differ"
  exit 1
fi
if [ "$iso_a" != "$iso_b" ]; then
  echo "reproduce: FAILED: the two ISOs differ (same image, same configuration)"
  exit 1
fi
echo "reproduce: ok: identical images, sha256 $hash_a; identical ISOs (SOURCE_DATE_EPOCH=$epoch), sha256 $iso_a"
