//! `wgate-qemu`: boot the gateway image in QEMU, run the boot tests, print
//! the boot benchmarks.
//!
//! ```text
//! wgate-qemu test  <image> <work-dir>    boot and gateway tests; ends with "N passed, M failed"
//! wgate-qemu e2e   <image> <work-dir>    the gateway tests only
//! wgate-qemu run   <image> --config FILE [--outer-tap TAP --inner-tap TAP] [qemu args]
//!                                        boot on your own config, console on this terminal
//! wgate-qemu bench <image>               every figure: boot, crypto ceiling, tunnel, first ping, RAM
//! wgate-qemu tunnel-bench <image>        the tunnel figures only (throughput, pps, RTT, stage table)
//! wgate-qemu tunnel-bench <image> <machine>…  the same on each machine (pc, pc-intx, q35, q35-intx, microvm)
//! wgate-qemu grub-bench <image>          the GRUB ISO's boot times only (BIOS and UEFI)
//! wgate-qemu demo  <image>               the gateway between a LAN host and a WireGuard peer
//! ```

use harness::machine::{Machine, QEMU};
use harness::scenarios::{self, Context};
use harness::verdict;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") if args.len() == 3 => {
            test(PathBuf::from(&args[1]), PathBuf::from(&args[2]), true)
        }
        Some("e2e") if args.len() == 3 => {
            test(PathBuf::from(&args[1]), PathBuf::from(&args[2]), false)
        }
        Some("run") if args.len() >= 2 => run(PathBuf::from(&args[1]), &args[2..]),
        Some("bench") if args.len() == 2 => bench(PathBuf::from(&args[1])),
        Some("tunnel-bench") if args.len() == 2 => {
            match harness::gwbench::tunnel(&PathBuf::from(&args[1])) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tunnel benchmark failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("tunnel-bench") if args.len() > 2 => {
            // `tunnel-bench <image> <machine>…`: the tunnel figures on each
            // machine (pc, pc-intx, q35, q35-intx, microvm).
            let kinds: Option<Vec<_>> = args[2..]
                .iter()
                .map(|name| harness::machine::MachineKind::from_name(name))
                .collect();
            let Some(kinds) = kinds else {
                eprintln!("machines: pc, pc-intx, q35, q35-intx, microvm");
                return ExitCode::FAILURE;
            };
            match harness::gwbench::tunnel_on(&PathBuf::from(&args[1]), &kinds) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tunnel benchmark failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("grub-bench") if args.len() == 2 => {
            match harness::gwbench::grub(&PathBuf::from(&args[1])) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("GRUB boot benchmark failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("boot-bench") if args.len() == 2 => {
            match harness::gwbench::boot_figures(&PathBuf::from(&args[1])) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("boot benchmark failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("demo") if args.len() == 2 => match harness::demo::run(&PathBuf::from(&args[1])) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: wgate-qemu test <image> <work-dir> | run <image> [qemu args] | bench <image> | tunnel-bench <image> [machine…] | grub-bench <image> | boot-bench <image> | demo <image>");
            ExitCode::from(2)
        }
    }
}

/// Runs the boot tests (if `boot_tests`) and the gateway's end-to-end tests.
fn test(image: PathBuf, work_dir: PathBuf, boot_tests: bool) -> ExitCode {
    let ctx = Context { image, work_dir };
    let (mut passed, mut failed) = (0, 0);
    // WGATE_BOOT_ONLY=TEXT: only the boot tests whose name contains TEXT
    // (with WGATE_E2E_ONLY=none, no end-to-end test), while debugging.
    let boot_only = std::env::var("WGATE_BOOT_ONLY").ok();
    let scenarios = if boot_tests {
        scenarios::all()
            .into_iter()
            .filter(|s| boot_only.as_deref().is_none_or(|o| s.name.contains(o)))
            .collect()
    } else {
        Vec::new()
    };
    for scenario in scenarios {
        let started = std::time::Instant::now();
        match (scenario.run)(&ctx) {
            Ok(detail) => {
                passed += 1;
                println!(
                    "boot test {} ... ok ({:.1} s): {detail}",
                    scenario.name,
                    started.elapsed().as_secs_f64()
                );
            }
            Err(reason) => {
                failed += 1;
                println!(
                    "boot test {} ... FAILED ({:.1} s): {reason}",
                    scenario.name,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let only = std::env::var("WGATE_E2E_ONLY").ok();
    for (name, result) in harness::e2e::all(&ctx.image, &ctx.work_dir, only.as_deref()) {
        match result {
            Ok(detail) => {
                passed += 1;
                println!("gateway test {name} ... ok: {detail}");
            }
            Err(reason) => {
                failed += 1;
                println!("gateway test {name} ... FAILED: {reason}");
            }
        }
    }
    println!("boot tests: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `run <image> --config FILE [--outer-tap TAP --inner-tap TAP] [qemu args]`:
/// boots the image on the user's own configuration, its two NICs on tap
/// devices the user created and named, with the console on this terminal.
fn run(image: PathBuf, args: &[String]) -> ExitCode {
    let mut machine = Machine::kernel(&image, "");
    let mut extra = Vec::new();
    let mut taps = [None, None];
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match (args[i].as_str(), value) {
            ("--config", Some(file)) => {
                let name = std::path::Path::new(&file)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("gateway.conf")
                    .to_string();
                // `wg` knows the gateway by the config file's name: gateway.conf → gateway.
                let interface = std::path::Path::new(&name)
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or("gateway")
                    .to_string();
                let _ = std::fs::create_dir_all(harness::topology::UAPI_DIR);
                let socket = harness::topology::uapi_socket(&interface);
                extra.extend([
                    "-device".into(),
                    "virtio-serial-pci".into(),
                    "-chardev".into(),
                    format!(
                        "socket,id=uapi,path={},server=on,wait=off",
                        socket.display()
                    ),
                    "-device".into(),
                    "virtserialport,chardev=uapi,name=wg-uapi".into(),
                ]);
                println!("wgate-qemu: manage the running gateway with `wg show {interface}`, `wg set {interface} …`");
                machine.medium = harness::machine::BootMedium::Kernel {
                    image: image.clone(),
                    cmdline: format!("config={name}"),
                    initrd: Some(PathBuf::from(file)),
                };
                i += 2;
            }
            ("--outer-tap", Some(tap)) => {
                taps[0] = Some(tap);
                i += 2;
            }
            ("--inner-tap", Some(tap)) => {
                taps[1] = Some(tap);
                i += 2;
            }
            _ => {
                extra.push(args[i].clone());
                i += 1;
            }
        }
    }
    for (role, tap) in ["outer", "inner"].iter().zip(&taps) {
        if let Some(tap) = tap {
            extra.extend([
                "-netdev".into(),
                format!("tap,id={role},ifname={tap},script=no,downscript=no"),
                "-device".into(),
                format!("virtio-net-pci,netdev={role}"),
            ]);
        }
    }
    machine.memory_mib = 64;
    if harness::machine::kvm_boots(&image) {
        println!("wgate-qemu: KVM boots guests here; using it");
        machine.accel = "kvm".into();
        machine.cpu = "host".into();
    } else {
        println!("wgate-qemu: KVM unavailable or not working here; using TCG (software emulation)");
    }
    machine.extra = extra;
    let mut args = machine.args();
    // Console on this terminal; Ctrl-A X quits QEMU.
    if let Some(i) = args.iter().position(|a| a == "stdio") {
        args[i] = "mon:stdio".into();
    }
    if let Some(i) = args.iter().position(|a| a == "-monitor") {
        args.drain(i..i + 2);
    }
    println!("wgate-qemu: {QEMU} {}", args.join(" "));
    println!("wgate-qemu: press Ctrl-A then X to stop");
    match Command::new(QEMU).args(&args).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("wgate-qemu: QEMU exited with {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("wgate-qemu: cannot start {QEMU}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(image: PathBuf) -> ExitCode {
    let size = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0);
    println!("image size: {size} bytes ({})", image.display());
    for cpu in ["qemu64", "max"] {
        let mut banner_ms = Vec::new();
        let mut ready_ms = Vec::new();
        let mut peak = String::new();
        for _ in 0..5 {
            let mut machine = Machine::kernel(&image, "");
            machine.cpu = cpu.into();
            // qemu64 has no RDRAND: give it the host's entropy instead.
            machine.extra = vec!["-device".into(), "virtio-rng-pci".into()];
            let Ok(t) = machine.run(Duration::from_secs(30), |l| l.contains("kernel ready")) else {
                eprintln!("cannot start {QEMU}");
                return ExitCode::FAILURE;
            };
            let banner = t
                .lines
                .iter()
                .find(|(_, l)| verdict::is_banner(l))
                .map(|(at, _)| *at);
            let ready = t.find("kernel ready");
            match (banner, ready) {
                (Some(b), Some((r, line))) => {
                    banner_ms.push(b.as_secs_f64() * 1000.0);
                    ready_ms.push(r.as_secs_f64() * 1000.0);
                    peak = line.rsplit(", ").next().unwrap_or("").to_string();
                }
                _ => {
                    eprintln!("boot on -cpu {cpu} did not reach ready:\n{}", t.text());
                    return ExitCode::FAILURE;
                }
            }
        }
        println!(
            "TCG -cpu {cpu:7}: QEMU start -> boot banner {:.0} ms, -> kernel ready {:.0} ms (median of 5); {peak} at ready",
            median(&mut banner_ms),
            median(&mut ready_ms)
        );
    }
    match harness::gwbench::run(&image) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
