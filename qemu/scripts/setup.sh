#!/usr/bin/env bash
# Installs what building, running and testing the gateway needs, idempotently
# and without questions: Debian packages and the pinned Rust toolchain.
set -euo pipefail

packages=(
  qemu-system-x86   # runs the image
  grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools faketime   # make iso: hybrid BIOS/UEFI GRUB ISO
  ovmf   # UEFI firmware for QEMU: the ISO's UEFI boot test
  wireguard-go wireguard-tools iperf3 iputils-ping iproute2 tcpdump nftables dnsmasq-base   # peers and traffic
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v rustup >/dev/null; then
  echo "setup: rustup is required (https://rustup.rs); it installs the pinned toolchain" >&2
  exit 1
fi
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1 \
   || [ ! -d "$(rustup run "$toolchain" rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
  echo "setup: installing Rust $toolchain with rust-src"
  rustup toolchain install "$toolchain" --profile minimal --component rust-src,clippy,rustfmt >/dev/null
fi
# rust-toolchain.toml lists the components, but rustup may be told not to
# install anything by itself (RUSTUP_AUTO_INSTALL=0), so add them here.
installed=$(rustup component list --toolchain "$toolchain" --installed)
components=()
for c in rust-src clippy rustfmt; do
  grep -q "^$c\(-\|\$\)" <<<"$installed" || components+=("$c")
done
if ((${#components[@]})); then
  echo "setup: adding ${components[*]} to Rust $toolchain"
  rustup component add --toolchain "$toolchain" "${components[@]}" >/dev/null
fi
