# wgate: a WireGuard gateway that is its own operating system.
#
#   make run        the demo: the gateway between a LAN host and a WireGuard peer
#   make run CONFIG=gateway.conf OUTER_TAP=tap0 INNER_TAP=tap1   your own setup
#   make test       every test: host unit tests, boot tests in QEMU, reproducibility
#   make image      build the bootable ELF; prints its path as the last line
#                   (SIMD=avx2: the x86-64-v3 build with AVX2 crypto)
#   make bench      print the figures (image size, boot times, heap use, engine speed)
#   make reproduce  build the image twice in different places and compare hashes
#
# The kernel is built for kernel/x86_64-wgate.json (hard-float, SSE2) with
# core/alloc rebuilt from the pinned toolchain's rust-src; see README.md,
# "Toolchain".

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := image

TOOLCHAIN   := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
# SIMD=avx2 builds for x86-64-v3 (AVX2 statically enabled: the fastest
# crypto, for CPUs that have it); the default runs on any x86-64.
SIMD        ?=
TARGET_NAME := x86_64-wgate$(if $(SIMD),-$(SIMD))
TARGET_JSON := kernel/$(TARGET_NAME).json
IMAGE       := target/$(TARGET_NAME)/release/wgate
AVX2_IMAGE  := target/x86_64-wgate-avx2/release/wgate
BUILD       := build
HARNESS     := target/release/wgate-qemu

CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
# Absolute paths that would otherwise end up in panic messages: the source
# tree, the crate registry and the toolchain's own sources.
REMAP = --remap-path-prefix=$(CURDIR)=/wgate \
        --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo \
        --remap-path-prefix=$$(rustc --print sysroot)=/rustc-sysroot
KERNEL_CARGO_FLAGS := --locked --release -p gateway-kernel --target $(TARGET_JSON) \
        -Zbuild-std=core,alloc,compiler_builtins -Zbuild-std-features=compiler-builtins-mem \
        -Zjson-target-spec

.PHONY: setup image image-only harness test host-test boot-test reproduce run bench clean

setup:
	@bash qemu/scripts/setup.sh

# The build itself, without the setup step (used by `make reproduce`).
image-only:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(REMAP)" cargo build $(KERNEL_CARGO_FLAGS)
	@echo "$(abspath $(IMAGE))"

image: setup
	@$(MAKE) --no-print-directory image-only

harness: setup
	cargo build --locked --release -p gateway-qemu

host-test: setup
	cargo test --locked --workspace --exclude gateway-kernel

boot-test: image harness
	@$(MAKE) --no-print-directory image-only SIMD=avx2
	@mkdir -p $(BUILD)/boot-tests
	WGATE_AVX2_IMAGE=$(AVX2_IMAGE) $(HARNESS) test $(IMAGE) $(BUILD)/boot-tests

reproduce: setup
	bash qemu/scripts/reproduce.sh

test: setup
	bash qemu/scripts/test-all.sh

# Without CONFIG: the demo (LAN host, gateway, wireguard-go peer in network
# namespaces). With CONFIG=file: your configuration, NICs on your taps.
OUTER_TAP ?= wgate-outer
INNER_TAP ?= wgate-inner
run: image harness
ifeq ($(CONFIG),)
	$(HARNESS) demo $(IMAGE)
else
	$(HARNESS) run $(IMAGE) --config $(CONFIG) --outer-tap $(OUTER_TAP) --inner-tap $(INNER_TAP) -device virtio-rng-pci
endif

# The engine benchmark runs three times, once per crypto backend choice:
# RustCrypto's run-time CPU detection (the default), Poly1305 forced to its
# portable backend (what the image uses), and AVX2 enabled statically (no
# per-message setup cost; needs an AVX2 CPU). See README "Toolchain".
bench: image harness
	@echo "=== engine, backends chosen at run time: against raw AEAD and boringtun (host, one core)"
	cargo bench --locked -p gateway-net --bench engine
	@echo "=== engine, Poly1305 forced portable (as in the image)"
	RUSTFLAGS="--cfg poly1305_force_soft" CARGO_TARGET_DIR=target/bench-soft cargo bench --locked -p gateway-net --bench engine
	@if grep -qw avx2 /proc/cpuinfo; then \
	  echo "=== engine, AVX2 enabled statically"; \
	  RUSTFLAGS="-C target-feature=+avx2" CARGO_TARGET_DIR=target/bench-avx2 cargo bench --locked -p gateway-net --bench engine; \
	fi
	@echo "=== allowed IPs: lookups at 10,000 peers"
	cargo bench --locked -p gateway-net --bench allowed_ips
	@echo "=== image and gateway figures (QEMU, TCG)"
	$(HARNESS) bench $(IMAGE)

clean:
	cargo clean
	rm -rf $(BUILD)
