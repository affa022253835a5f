//! Starting QEMU and capturing its serial console.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// The QEMU machine type the gateway runs on, and the device models that
/// go with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineKind {
    /// `pc` (i440FX, PCI through the configuration ports): QEMU's default.
    /// QEMU's virtio-net-pci offers MSI-X there, and the image uses it.
    Pc,
    /// `pc` with the NICs' MSI-X turned off (`vectors=0`): INTx through
    /// the I/O APIC.
    PcIntx,
    /// `q35` (ICH9, PCIe, ECAM from the ACPI MCFG table); the NICs offer
    /// MSI-X.
    Q35,
    /// `q35` with the NICs' MSI-X turned off (`vectors=0`): INTx.
    Q35Intx,
    /// `microvm` with `acpi=off`: no PCI, virtio-mmio devices that QEMU
    /// lists on the kernel command line (`virtio_mmio.device=`), as
    /// Firecracker does.
    Microvm,
}

impl MachineKind {
    /// Every machine, by name, for command-line options.
    pub const ALL: [MachineKind; 5] = [
        Self::Pc,
        Self::PcIntx,
        Self::Q35,
        Self::Q35Intx,
        Self::Microvm,
    ];

    /// Short name, for check names, figures and command-line options.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pc => "pc",
            Self::PcIntx => "pc-intx",
            Self::Q35 => "q35",
            Self::Q35Intx => "q35-intx",
            Self::Microvm => "microvm",
        }
    }

    /// The machine called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The `-M` arguments (none for `pc`, QEMU's default).
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            Self::Pc | Self::PcIntx => &[],
            Self::Q35 | Self::Q35Intx => &["-M", "q35"],
            Self::Microvm => &["-M", "microvm,acpi=off"],
        }
    }

    /// The virtio-net device model (with its options, before `netdev=`).
    pub fn net_device(self) -> &'static str {
        match self {
            Self::Pc | Self::Q35 => "virtio-net-pci",
            Self::PcIntx | Self::Q35Intx => "virtio-net-pci,vectors=0",
            Self::Microvm => "virtio-net-device",
        }
    }

    /// The virtio-serial device model.
    pub fn serial_device(self) -> &'static str {
        match self {
            Self::Microvm => "virtio-serial-device",
            _ => "virtio-serial-pci",
        }
    }
}

/// How the image is handed to QEMU.
#[derive(Clone, Debug)]
pub enum BootMedium {
    /// `-kernel image -append cmdline` (PVH).
    Kernel {
        /// The ELF image.
        image: PathBuf,
        /// Kernel command line.
        cmdline: String,
        /// Optional `-initrd` file (the gateway configuration).
        initrd: Option<PathBuf>,
    },
    /// `-cdrom iso` (GRUB, Multiboot2).
    Cdrom(PathBuf),
}

/// A QEMU invocation.
#[derive(Clone, Debug)]
pub struct Machine {
    /// What to boot.
    pub medium: BootMedium,
    /// `-cpu` model.
    pub cpu: String,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// `tcg` or `kvm`.
    pub accel: String,
    /// Extra arguments (devices, NICs).
    pub extra: Vec<String>,
}

impl Machine {
    /// A TCG machine with 32 MiB that boots `image` with `cmdline`.
    pub fn kernel(image: &Path, cmdline: &str) -> Self {
        Self {
            medium: BootMedium::Kernel {
                image: image.to_owned(),
                cmdline: cmdline.to_owned(),
                initrd: None,
            },
            cpu: "max".into(),
            memory_mib: 32,
            accel: "tcg".into(),
            extra: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-accel",
            &self.accel,
            "-cpu",
            &self.cpu,
            "-m",
            &format!("{}M", self.memory_mib),
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match &self.medium {
            BootMedium::Kernel {
                image,
                cmdline,
                initrd,
            } => {
                args.extend([
                    "-kernel".into(),
                    image.display().to_string(),
                    "-append".into(),
                    with_extra_args(cmdline),
                ]);
                if let Some(initrd) = initrd {
                    args.extend(["-initrd".into(), initrd.display().to_string()]);
                }
            }
            BootMedium::Cdrom(iso) => args.extend(["-cdrom".into(), iso.display().to_string()]),
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// Starts QEMU with the serial console piped to us.
    pub fn spawn(&self) -> std::io::Result<Child> {
        Command::new(QEMU)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Boots, captures the console until QEMU exits, `stop` returns true
    /// for a line, or `timeout` passes (then QEMU is killed).
    pub fn run(
        &self,
        timeout: Duration,
        mut stop: impl FnMut(&str) -> bool,
    ) -> std::io::Result<Transcript> {
        let started = Instant::now();
        let mut child = self.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        let err_sender = sender.clone();
        thread::spawn(move || forward_lines(stdout, sender, false));
        thread::spawn(move || forward_lines(stderr, err_sender, true));

        let mut transcript = Transcript::default();
        let deadline = started + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok((line, from_stderr)) => {
                    let at = started.elapsed();
                    let done = !from_stderr && stop(&line);
                    if from_stderr {
                        transcript.stderr.push(line);
                    } else {
                        transcript.lines.push((at, line));
                    }
                    if done {
                        transcript.stopped_early = true;
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    transcript.timed_out = true;
                    break;
                }
            }
        }
        if transcript.timed_out || transcript.stopped_early {
            let _ = child.kill();
        }
        transcript.status = child.wait().ok();
        transcript.elapsed = started.elapsed();
        Ok(transcript)
    }
}

fn forward_lines(
    stream: impl std::io::Read,
    sender: mpsc::Sender<(String, bool)>,
    from_stderr: bool,
) {
    for_each_line(stream, |line| sender.send((line, from_stderr)).is_ok());
}

/// Reads `stream` line by line (lossy UTF-8, line ends trimmed), handing
/// each line to `each` until the stream ends or `each` returns `false`.
pub fn for_each_line(stream: impl std::io::Read, mut each: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut buf) {
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        buf.clear();
        if !each(line) {
            break;
        }
    }
}

/// What a boot printed and how it ended.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Serial console lines with their arrival time after QEMU started.
    pub lines: Vec<(Duration, String)>,
    /// QEMU's own error output.
    pub stderr: Vec<String>,
    /// QEMU's exit status (None if it could not be collected).
    pub status: Option<ExitStatus>,
    /// Whether the harness gave up waiting.
    pub timed_out: bool,
    /// Whether the stop condition ended the run.
    pub stopped_early: bool,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Transcript {
    /// The first line containing `needle`, with its arrival time.
    pub fn find(&self, needle: &str) -> Option<(Duration, &str)> {
        self.lines
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, l)| (*t, l.as_str()))
    }

    /// QEMU's exit code, if it exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The console output, for failure reports.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (_, line) in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        for line in &self.stderr {
            out.push_str("qemu: ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Whether KVM can actually boot `image` here: some hosts expose /dev/kvm
/// but cannot run ordinary guests (nested setups that hang). The answer is
/// cached per host boot in the temporary directory, since a failing probe
/// costs its whole timeout.
pub fn kvm_boots(image: &Path) -> bool {
    if std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = std::env::temp_dir().join("wgate-kvm-probe");
    if let Ok(cached) = std::fs::read_to_string(&cache) {
        if let Some(answer) = cached.strip_prefix(boot_id.trim()) {
            return answer.trim() == "yes";
        }
    }
    let mut machine = Machine::kernel(image, "test=boot");
    machine.accel = "kvm".into();
    machine.cpu = "host".into();
    let works = machine
        .run(Duration::from_secs(10), |_| false)
        .is_ok_and(|t| crate::verdict::selftest_passed(&t).is_ok());
    let _ = std::fs::write(
        &cache,
        format!("{} {}\n", boot_id.trim(), if works { "yes" } else { "no" }),
    );
    works
}

/// `cmdline` with the words of `WGATE_KERNEL_ARGS` added (e.g. `lan-gso=on`,
/// to run the tests and benchmarks with the LAN NIC's receive segmentation
/// offload): every kernel command line the harness passes goes through here.
pub fn with_extra_args(cmdline: &str) -> String {
    match std::env::var("WGATE_KERNEL_ARGS") {
        Ok(extra) if !extra.trim().is_empty() => format!("{cmdline} {}", extra.trim()),
        _ => cmdline.to_string(),
    }
}
