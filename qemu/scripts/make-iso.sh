#!/usr/bin/env bash
# Builds a hybrid BIOS/UEFI-bootable ISO (grub-mkrescue) that boots the
# gateway image with GRUB's `multiboot2`, its configuration as a `module2`.
# Used by `make iso` and by the harness's GRUB tests: one builder for both.
#
#   make-iso.sh -o OUT.iso [-c CONFIG] [-a "kernel args"] IMAGE
#
# The ISO holds /boot/wgate.elf, /boot/NAME (the configuration, NAME being
# its file name) and /boot/grub/grub.cfg:
#
#   multiboot2 /boot/wgate.elf config=NAME [kernel args]
#   module2 /boot/NAME
#
# Reproducible: the same image and configuration give the same ISO, bit for
# bit, wherever, whenever and by whomever it is built, as long as the same
# GRUB, xorriso and mtools packages are installed (their files are copied
# into the ISO). grub-mkrescue reads the clock for the ISO's volume date,
# which is also the UUID GRUB's EFI image searches for, and mformat seeds the
# EFI partition's serial number from it; so the whole build runs under
# faketime with the clock stopped at SOURCE_DATE_EPOCH, in UTC, and xorriso
# (which honours SOURCE_DATE_EPOCH) stamps every file with that date.
set -euo pipefail
# The ISO holds the configuration and so its private key: readable by its
# owner only. A fixed umask also keeps the file modes recorded in the ISO
# the same whoever builds it.
umask 077

usage() {
  echo "usage: $0 -o OUT.iso [-c CONFIG] [-a \"kernel args\"] IMAGE" >&2
  exit 2
}

out="" config="" args=""
while getopts "o:c:a:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    c) config=$OPTARG ;;
    a) args=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] && [ -n "$out" ] || usage
image=$1

fail() {
  echo "make-iso: $*" >&2
  exit 1
}
[ -f "$image" ] || fail "no image at $image (make image builds it)"
for tool in grub-mkrescue xorriso mformat faketime; do
  command -v "$tool" >/dev/null || fail "$tool is missing (make setup installs it)"
done
# Both platforms, or the ISO would boot only one way.
for platform in i386-pc x86_64-efi; do
  [ -d "/usr/lib/grub/$platform" ] || fail "GRUB for $platform is missing (make setup installs it)"
done

# A fixed default keeps `make iso` reproducible without a git checkout
# (2024-01-01 00:00:00 UTC); the Makefile passes the last commit's date.
epoch=${SOURCE_DATE_EPOCH:-1704067200}
[[ $epoch =~ ^[0-9]+$ ]] || fail "SOURCE_DATE_EPOCH must be a number of seconds: $epoch"

work=$(mktemp -d "${TMPDIR:-/tmp}/wgate-iso.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/boot/grub"
cp "$image" "$root/boot/wgate.elf"

cmdline=$args
module=""
if [ -n "$config" ]; then
  [ -f "$config" ] || fail "no configuration file at $config"
  name=$(basename "$config")
  # The name goes on GRUB's command line unquoted.
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || fail "configuration file name must be letters, digits, . _ -: $name"
  [ "$name" != wgate.elf ] || fail "the configuration cannot be named wgate.elf"
  cp "$config" "$root/boot/$name"
  cmdline="config=$name${args:+ $args}"
  module="    module2 /boot/$name"
fi

# Modes as the umask gives them, whatever the image's own mode was.
find "$root" -type d -exec chmod 0700 {} + -o -type f -exec chmod 0600 {} +

# The gateway's console is COM1; GRUB prints there too. No menu: the one
# entry boots at once.
cat >"$root/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry "wgate" {
    multiboot2 /boot/wgate.elf $cmdline
$module
    boot
}
EOF

fake_now=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M:%S')
# x0: the faked clock does not advance, so every read gives the same second.
if ! TZ=UTC SOURCE_DATE_EPOCH=$epoch faketime -f "@$fake_now x0" \
  grub-mkrescue --locales= --themes= --fonts= -o "$out" "$root" -- -volid WGATE \
  >"$work/log" 2>&1; then
  cat "$work/log" >&2
  fail "grub-mkrescue failed"
fi
echo "$out"
