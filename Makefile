# wgate: a WireGuard gateway that is its own operating system.
#
#   make run        the demo: the gateway between a LAN host and a WireGuard peer
#   make run CONFIG=gateway.conf OUTER_TAP=tap0 INNER_TAP=tap1   your own setup
#   make test       every test: host unit tests, boot tests in QEMU, reproducibility
#   make image      build the bootable ELF; prints its path as the last line
#   make bench      print the figures (AEAD and engine speed, image size, boot
#                   times, heap use, the tunnel under QEMU with its stage table)
#   make iso CONFIG=gateway.conf   a hybrid BIOS/UEFI-bootable GRUB ISO holding
#                   the image and your configuration (bare metal, Proxmox...);
#                   prints its path (build/wgate.iso, or ISO=path) as the last line
#   make reproduce  build the image (and an ISO) twice in different places and
#                   compare hashes
#   make lint       rustfmt --check and clippy -D warnings (host crates and kernel)
#   make fuzz       run the fuzz targets (FUZZ_SECONDS each, default 60; FUZZ_TARGETS=...)
#
# The kernel is built for kernel/x86_64-wgate.json (hard-float, SSE2) with
# core/alloc rebuilt from the pinned toolchain's rust-src; see README.md,
# "Toolchain".

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := image

TOOLCHAIN   := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
# One image for every x86-64 CPU: the data path's AEAD backend (portable,
# SSE2, AVX2) is chosen at boot by timing each one (see README, "Crypto").
TARGET_NAME := x86_64-wgate
TARGET_JSON := kernel/$(TARGET_NAME).json
IMAGE       := target/$(TARGET_NAME)/release/wgate
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

.PHONY: setup image image-only iso iso-only harness test host-test boot-test reproduce run bench fuzz clean \
        lint fmt-check clippy clippy-host clippy-kernel

setup:
	@bash qemu/scripts/setup.sh

# The build itself, without the setup step (used by `make reproduce`).
image-only:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(REMAP)" cargo build $(KERNEL_CARGO_FLAGS)
	@echo "$(abspath $(IMAGE))"

image: setup
	@$(MAKE) --no-print-directory image-only

# The ISO's dates come from SOURCE_DATE_EPOCH: the last commit's time in a
# git checkout, else a fixed date (see qemu/scripts/make-iso.sh).
ISO ?= $(BUILD)/wgate.iso
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1704067200)
iso: setup
	@$(MAKE) --no-print-directory iso-only

# The ISO from the image as it is, without the setup step (used by `make reproduce`).
iso-only: image-only
ifeq ($(CONFIG),)
	@echo "make iso: give the configuration: make iso CONFIG=gateway.conf" >&2; exit 2
endif
	@mkdir -p $(dir $(ISO))
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) bash qemu/scripts/make-iso.sh -o $(ISO) -c $(CONFIG) $(IMAGE) >/dev/null
	@echo "$(abspath $(ISO))"

harness: setup
	cargo build --locked --release -p gateway-qemu

host-test: setup
	cargo test --locked --workspace --exclude gateway-kernel

boot-test: image harness
	@mkdir -p $(BUILD)/boot-tests
	$(HARNESS) test $(IMAGE) $(BUILD)/boot-tests

reproduce: setup
	bash qemu/scripts/reproduce.sh

# Hygiene that `make test` enforces. The fuzz crates sit outside the
# workspace, so rustfmt is pointed at each of them. Clippy runs with the lints
# the crates declare (workspace `[lints]` in Cargo.toml, such as
# `clippy::undocumented_unsafe_blocks`), the kernel for its bare-metal target.
lint: fmt-check clippy

fmt-check:
	cargo fmt --all --check
	for manifest in $$(find . -name target -prune -o \( -path '*/fuzz/Cargo.toml' -o -path '*/fuzz/libfuzzer/Cargo.toml' \) -print); do \
	  cargo fmt --check --manifest-path "$$manifest"; \
	done

clippy: clippy-host clippy-kernel

clippy-host:
	cargo clippy --locked --workspace --exclude gateway-kernel --all-targets -- -D warnings

clippy-kernel:
	RUSTC_BOOTSTRAP=1 cargo clippy $(KERNEL_CARGO_FLAGS) -- -D warnings

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

# Figures only, never asserted: the AEAD backends against RustCrypto and ring,
# the engine against boringtun with the backend the image would pick, the
# allowed-IPs table, then the image under QEMU (boot, crypto ceiling, the
# tunnel on both TCG CPU models with its per-stage cycle table, first ping,
# smallest RAM).
bench: image harness
	@echo "=== ChaCha20-Poly1305: each fast_aead backend, RustCrypto and ring (host, one core)"
	cargo bench --locked -p gateway-fast-aead --bench aead
	@echo "=== engine against boringtun and the bare AEAD (host, one core)"
	cargo bench --locked -p gateway-net --bench engine
	@echo "=== allowed IPs: lookups at 10,000 peers"
	cargo bench --locked -p gateway-net --bench allowed_ips
	@echo "=== image and gateway figures (QEMU, TCG)"
	$(HARNESS) bench $(IMAGE)

# Coverage-guided fuzzing (libFuzzer through cargo-fuzz), FUZZ_SECONDS per
# target, FUZZ_TARGETS to pick some (default: all). cargo-fuzz's -Z flags
# are accepted from the pinned stable compiler with RUSTC_BOOTSTRAP=1, as
# for the kernel build. New inputs go into the committed corpora
# (fuzz/corpus/<target>/, minimise with `cargo fuzz cmin`; see README,
# "Fuzzing"); a crash stops the run and leaves its input in
# fuzz/libfuzzer/artifacts/<target>/.
FUZZ_SECONDS ?= 60
GATEWAY_FUZZ_TARGETS := wg_messages engine_receive replay_window config_parser router \
        neighbor boot_pvh boot_multiboot2 boot_cmdline gateway_frames uapi firmware
FUZZ_TARGETS ?= $(GATEWAY_FUZZ_TARGETS) aead_differential
FUZZ_RUN = RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none
fuzz: setup
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	@for target in $(FUZZ_TARGETS); do \
	  echo "=== fuzz $$target ($(FUZZ_SECONDS) s)"; \
	  if [ "$$target" = aead_differential ]; then \
	    (cd crypto/fast-aead/fuzz && $(FUZZ_RUN) aead_differential -- -max_total_time=$(FUZZ_SECONDS)); \
	  else \
	    mkdir -p fuzz/corpus/$$target && \
	    $(FUZZ_RUN) --fuzz-dir fuzz/libfuzzer $$target fuzz/corpus/$$target -- \
	      -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024; \
	  fi || exit 1; \
	done

clean:
	cargo clean
	rm -rf $(BUILD)
