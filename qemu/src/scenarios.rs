//! The boot tests `make test` runs, each a QEMU boot under TCG.

use crate::machine::{BootMedium, Machine, Transcript};
use crate::verdict::{self, address_after, selftest_passed, EXIT_FAILURE};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Longest a healthy boot test may take under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the harness waits before calling a silent kernel hung, in the
/// harness's own hang test.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(8);

/// What the scenarios need.
pub struct Context {
    /// The kernel ELF.
    pub image: PathBuf,
    /// Scratch directory for the GRUB ISO.
    pub work_dir: PathBuf,
}

/// One boot test.
pub struct Scenario {
    /// Short name.
    pub name: &'static str,
    /// Runs it: `Ok(detail)` or `Err(reason)`.
    pub run: fn(&Context) -> Result<String, String>,
}

/// Every boot test, in the order `make test` runs them.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "pvh-selftest-cpu-max",
            run: pvh_selftest_cpu_max,
        },
        Scenario {
            name: "pvh-selftest-qemu64-virtio-rng",
            run: pvh_selftest_qemu64_virtio_rng,
        },
        Scenario {
            name: "microvm-selftest-qemu64-virtio-rng-device",
            run: microvm_selftest_qemu64_virtio_rng_device,
        },
        Scenario {
            name: "multiboot2-grub-selftest",
            run: multiboot2_grub_selftest,
        },
        Scenario {
            name: "multiboot2-grub-uefi-selftest",
            run: multiboot2_grub_uefi_selftest,
        },
        Scenario {
            name: "refuses-without-entropy",
            run: refuses_without_entropy,
        },
        Scenario {
            name: "refuses-cpu-without-nx",
            run: refuses_cpu_without_nx,
        },
        Scenario {
            name: "catches-write-to-read-only",
            run: catches_write_to_read_only,
        },
        Scenario {
            name: "catches-exec-from-heap",
            run: catches_exec_from_heap,
        },
        Scenario {
            name: "catches-stack-overflow",
            run: catches_stack_overflow,
        },
        Scenario {
            name: "harness-fails-a-panicking-kernel",
            run: harness_fails_panic,
        },
        Scenario {
            name: "harness-fails-a-triple-faulting-kernel",
            run: harness_fails_triple_fault,
        },
        Scenario {
            name: "harness-fails-a-hanging-kernel",
            run: harness_fails_hang,
        },
        Scenario {
            name: "aead-backend-measured-at-boot-cpu-max",
            run: aead_backend_cpu_max,
        },
        Scenario {
            name: "aead-backend-measured-at-boot-qemu64",
            run: aead_backend_qemu64,
        },
    ]
}

/// The boot log's AEAD line: `crypto: AEAD backend NAME (clock units per
/// seal, 1420 B / 64 B: portable a/b sse2 c/d ...)`. Checks that exactly the
/// backends `expected` were timed, each with two figures, and that the one
/// chosen is among them and no slower than the others at both sizes combined.
fn aead_line_names(t: &Transcript, expected: &[&str]) -> Result<String, String> {
    let (_, line) = t
        .find("AEAD backend")
        .ok_or("no AEAD backend line in the boot log")?;
    let after = line
        .split("AEAD backend ")
        .nth(1)
        .ok_or("malformed AEAD line")?;
    let chosen = after.split_whitespace().next().ok_or("no backend named")?;
    let figures = after
        .split(':')
        .nth(1)
        .and_then(|f| f.split(')').next())
        .ok_or("no figures")?;
    let words: Vec<&str> = figures.split_whitespace().collect();
    let mut measured = Vec::new();
    for pair in words.chunks(2) {
        let [name, costs] = pair else {
            return Err(format!("odd figures in `{line}`"));
        };
        let (big, small) = costs
            .split_once('/')
            .ok_or_else(|| format!("no a/b figures in `{line}`"))?;
        let big: u64 = big
            .parse()
            .map_err(|_| format!("not a number in `{line}`"))?;
        let small: u64 = small
            .parse()
            .map_err(|_| format!("not a number in `{line}`"))?;
        if big == 0 || small == 0 {
            return Err(format!("a zero timing in `{line}`"));
        }
        measured.push((*name, big, small));
    }
    let names: Vec<&str> = measured.iter().map(|m| m.0).collect();
    if names != expected {
        return Err(format!("timed {names:?}, expected {expected:?}: `{line}`"));
    }
    let score = |m: &(&str, u64, u64)| {
        let best_big = measured.iter().map(|m| m.1).min().unwrap_or(1);
        let best_small = measured.iter().map(|m| m.2).min().unwrap_or(1);
        m.1 as f64 / best_big as f64 + m.2 as f64 / best_small as f64
    };
    let chosen_score = measured
        .iter()
        .find(|m| m.0 == chosen)
        .map(score)
        .ok_or_else(|| format!("chose an untimed backend: `{line}`"))?;
    if measured.iter().any(|m| score(m) < chosen_score - 1e-9) {
        return Err(format!(
            "a faster backend was measured than the one chosen: `{line}`"
        ));
    }
    Ok(format!("timed {names:?} at boot and chose {chosen}"))
}

fn aead_backend_cpu_max(ctx: &Context) -> Result<String, String> {
    let t = boot(&Machine::kernel(&ctx.image, "test=boot"), BOOT_TIMEOUT)?;
    // TCG's `max` has SSE2 and AVX2 (and no AVX-512).
    with_transcript(aead_line_names(&t, &["portable", "sse2", "avx2"]), &t)
}

fn aead_backend_qemu64(ctx: &Context) -> Result<String, String> {
    let mut machine = Machine::kernel(&ctx.image, "test=boot");
    machine.cpu = "qemu64".into();
    machine.extra = vec!["-device".into(), "virtio-rng-pci".into()];
    let t = boot(&machine, BOOT_TIMEOUT)?;
    // The same image on a CPU without AVX: only the SSE2 and portable backends run.
    with_transcript(aead_line_names(&t, &["portable", "sse2"]), &t)
}

fn boot(machine: &Machine, timeout: Duration) -> Result<Transcript, String> {
    machine
        .run(timeout, |_| false)
        .map_err(|e| format!("cannot start {}: {e}", crate::machine::QEMU))
}

fn with_transcript(result: Result<String, String>, t: &Transcript) -> Result<String, String> {
    result.map_err(|reason| format!("{reason}\n--- console ---\n{}", t.text()))
}

fn pvh_selftest_cpu_max(ctx: &Context) -> Result<String, String> {
    let t = boot(&Machine::kernel(&ctx.image, "test=boot"), BOOT_TIMEOUT)?;
    let result = selftest_passed(&t).and_then(|detail| {
        let simd = t.find("simd-preserved: ok").ok_or("SIMD check missing")?;
        if !simd.1.contains("YMM") {
            return Err(format!(
                "-cpu max has AVX, but the check ran without it: {}",
                simd.1
            ));
        }
        Ok(detail)
    });
    with_transcript(result, &t)
}

fn pvh_selftest_qemu64_virtio_rng(ctx: &Context) -> Result<String, String> {
    let mut machine = Machine::kernel(&ctx.image, "test=boot");
    machine.cpu = "qemu64".into();
    machine.extra = vec!["-device".into(), "virtio-rng-pci".into()];
    let t = boot(&machine, BOOT_TIMEOUT)?;
    let result = selftest_passed(&t).and_then(|detail| {
        t.find("seeded from VirtioRng")
            .ok_or("the CSPRNG was not seeded from virtio-rng")?;
        Ok(format!(
            "{detail}; seeded from virtio-rng on a CPU without RDRAND"
        ))
    });
    with_transcript(result, &t)
}

/// The self-tests on QEMU `microvm,acpi=off` (no PCI, no port 0x61): the
/// clock calibrated against PIT channel 0 (the timer-rate test checks it
/// against the TSC), the CMOS clock, and the CSPRNG seeded from a
/// virtio-rng device over virtio-mmio on a CPU without RDRAND.
fn microvm_selftest_qemu64_virtio_rng_device(ctx: &Context) -> Result<String, String> {
    let mut machine = Machine::kernel(&ctx.image, "test=boot");
    machine.cpu = "qemu64".into();
    let kind = crate::machine::MachineKind::Microvm;
    machine.extra = kind.machine_args().iter().map(|a| a.to_string()).collect();
    machine
        .extra
        .extend(["-device".into(), "virtio-rng-device".into()]);
    let t = boot(&machine, BOOT_TIMEOUT)?;
    let result = selftest_passed(&t).and_then(|detail| {
        t.find("seeded from VirtioRng")
            .ok_or("the CSPRNG was not seeded from virtio-rng")?;
        t.find("virtio-mmio: EntropySource")
            .ok_or("no virtio-mmio virtio-rng device found")?;
        Ok(format!(
            "{detail}; seeded from virtio-rng over virtio-mmio on a CPU without RDRAND"
        ))
    });
    with_transcript(result, &t)
}

/// `qemu/scripts/make-iso.sh`, the ISO builder `make iso` runs too, carried
/// in the harness so that it needs no path to the source tree.
const MAKE_ISO: &str = include_str!("../scripts/make-iso.sh");

/// Builds a hybrid BIOS/UEFI GRUB ISO at `iso` (with `make-iso.sh`) whose one
/// menu entry loads `image` with `multiboot2` and, if given, `config` with
/// `module2` (named by `config=FILE NAME` on the command line), `args` added
/// to the kernel command line.
pub fn build_iso(
    image: &Path,
    iso: &Path,
    config: Option<&Path>,
    args: &str,
) -> Result<PathBuf, String> {
    if let Some(dir) = iso.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut command = Command::new("bash");
    command.args(["-c", MAKE_ISO, "make-iso.sh", "-o"]).arg(iso);
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    if !args.is_empty() {
        command.args(["-a", args]);
    }
    let output = command
        .arg(image)
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "make-iso.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(iso.to_owned())
}

fn multiboot2_grub_selftest(ctx: &Context) -> Result<String, String> {
    let iso = build_iso(
        &ctx.image,
        &ctx.work_dir.join("selftest.iso"),
        None,
        "test=boot",
    )?;
    let mut machine = Machine::kernel(&ctx.image, "");
    machine.medium = BootMedium::Cdrom(iso);
    let t = boot(&machine, BOOT_TIMEOUT)?;
    let result = selftest_passed(&t).and_then(|detail| {
        t.find("boot protocol Multiboot2")
            .ok_or("the kernel did not report a Multiboot2 boot")?;
        Ok(format!("{detail}, booted by GRUB through Multiboot2"))
    });
    with_transcript(result, &t)
}

/// OVMF's code image (Debian's `ovmf` package), for booting ISOs through UEFI.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";

/// OVMF starts slowly under TCG (about 15 s of firmware before GRUB).
const UEFI_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The same kind of ISO as `multiboot2-grub-selftest`, booted through UEFI
/// firmware (OVMF): GRUB's x86_64-efi image, then Multiboot2.
fn multiboot2_grub_uefi_selftest(ctx: &Context) -> Result<String, String> {
    if !Path::new(OVMF_CODE).exists() {
        return Err(format!("{OVMF_CODE} is missing (make setup installs ovmf)"));
    }
    let iso = build_iso(
        &ctx.image,
        &ctx.work_dir.join("selftest-uefi.iso"),
        None,
        "test=boot",
    )?;
    let mut machine = Machine::kernel(&ctx.image, "");
    machine.medium = BootMedium::Cdrom(iso);
    // OVMF itself needs more than the 32 MiB the other boot tests give
    // (with 32 MiB it faults before it reaches GRUB).
    machine.memory_mib = 128;
    machine.extra = vec![
        "-drive".into(),
        format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
    ];
    let t = boot(&machine, UEFI_BOOT_TIMEOUT)?;
    let result = selftest_passed(&t).and_then(|detail| {
        t.find("boot protocol Multiboot2")
            .ok_or("the kernel did not report a Multiboot2 boot")?;
        Ok(format!(
            "{detail}, booted by OVMF (UEFI) and GRUB's EFI image through Multiboot2"
        ))
    });
    with_transcript(result, &t)
}

fn expect_refusal(t: &Transcript, message: &str) -> Result<String, String> {
    let (_, line) = t
        .find(message)
        .ok_or_else(|| format!("no `{message}` message"))?;
    if t.find("kernel ready").is_some() {
        return Err("the kernel reached `kernel ready` anyway".into());
    }
    if t.exit_code() != Some(EXIT_FAILURE) {
        return Err(format!(
            "expected exit status {EXIT_FAILURE}, got {:?}",
            t.exit_code()
        ));
    }
    Ok(format!("refused: {}", line.trim()))
}

fn refuses_without_entropy(ctx: &Context) -> Result<String, String> {
    let mut machine = Machine::kernel(&ctx.image, "test=boot");
    machine.cpu = "qemu64".into();
    let t = boot(&machine, BOOT_TIMEOUT)?;
    with_transcript(expect_refusal(&t, "no entropy source"), &t)
}

fn refuses_cpu_without_nx(ctx: &Context) -> Result<String, String> {
    let mut machine = Machine::kernel(&ctx.image, "test=boot");
    machine.cpu = "qemu64,-nx".into();
    let t = boot(&machine, BOOT_TIMEOUT)?;
    with_transcript(expect_refusal(&t, "missing feature: NX"), &t)
}

/// Boots a fault mode and checks the page fault was reported at the
/// address the kernel announced, with the right access kind.
fn expect_page_fault(
    ctx: &Context,
    mode: &str,
    announced: &str,
    reported: &str,
) -> Result<String, String> {
    let t = boot(
        &Machine::kernel(&ctx.image, &format!("test={mode}")),
        BOOT_TIMEOUT,
    )?;
    let result = (|| {
        let target =
            address_after(&t, announced).ok_or_else(|| format!("no `{announced}` line"))?;
        let fault = address_after(&t, reported).ok_or_else(|| format!("no `{reported}` report"))?;
        if fault != target {
            return Err(format!(
                "fault reported at {fault:#x}, expected {target:#x}"
            ));
        }
        t.find("protection violation")
            .ok_or("fault not reported as a protection violation")?;
        if t.exit_code() != Some(EXIT_FAILURE) {
            return Err(format!(
                "machine not stopped with the failure code: {:?}",
                t.exit_code()
            ));
        }
        Ok(format!("caught and reported at {fault:#x}"))
    })();
    with_transcript(result, &t)
}

fn catches_write_to_read_only(ctx: &Context) -> Result<String, String> {
    expect_page_fault(
        ctx,
        "fault-write",
        "writing to read-only address",
        "page fault: write at address",
    )
}

fn catches_exec_from_heap(ctx: &Context) -> Result<String, String> {
    expect_page_fault(
        ctx,
        "fault-exec",
        "executing heap address",
        "page fault: instruction fetch at address",
    )
}

fn catches_stack_overflow(ctx: &Context) -> Result<String, String> {
    let t = boot(
        &Machine::kernel(&ctx.image, "test=stack-overflow"),
        BOOT_TIMEOUT,
    )?;
    let result = (|| {
        t.find("EXCEPTION: double fault")
            .ok_or("no double fault report")?;
        let (_, line) = t
            .find("stack overflow: RSP")
            .ok_or("the guard page was not identified")?;
        Ok(line.to_string())
    })();
    with_transcript(result, &t)
}

/// The harness's own tests: a broken kernel must be judged a failure.
fn expect_harness_failure(
    ctx: &Context,
    mode: &str,
    timeout: Duration,
    reason: &str,
) -> Result<String, String> {
    let t = boot(
        &Machine::kernel(&ctx.image, &format!("test={mode}")),
        timeout,
    )?;
    match verdict::selftest_passed(&t) {
        Ok(_) => Err(format!("the harness passed a kernel run with test={mode}")),
        Err(why) if why.contains(reason) => Ok(format!("judged a failure: {why}")),
        Err(why) => Err(format!(
            "failed for the wrong reason (wanted `{reason}`): {why}"
        )),
    }
}

fn harness_fails_panic(ctx: &Context) -> Result<String, String> {
    expect_harness_failure(ctx, "panic", BOOT_TIMEOUT, "panicked")
}

fn harness_fails_triple_fault(ctx: &Context) -> Result<String, String> {
    expect_harness_failure(ctx, "triple-fault", BOOT_TIMEOUT, "triple fault")
}

fn harness_fails_hang(ctx: &Context) -> Result<String, String> {
    expect_harness_failure(ctx, "hang", HANG_TIMEOUT, "hangs")
}
