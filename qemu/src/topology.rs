//! Test networks made of network namespaces: a LAN host, the gateway's
//! QEMU with its two NICs on tap devices, and a WAN host running a
//! WireGuard peer (wireguard-go configured with `wg`).
//!
//! ```text
//!  [lan ns] eth0 ──veth── [gw ns] bridge ── tap ── inner NIC ┐
//!                                                            wgate (QEMU)
//!  [wan ns] eth0 ──veth── [gw ns] bridge ── tap ── outer NIC ┘
//!     └ wg<pid>n<k> (wireguard-go)
//! ```
//!
//! Every namespace and process is owned by a guard that removes or kills
//! it (by PID) when dropped, so a failing test leaves nothing behind. The
//! namespaces have no route to anything outside themselves.

use crate::machine::MachineKind;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Runs a command, failing with its output if it does not succeed.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Runs a command inside a namespace.
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

/// A network namespace, deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates the namespace with its loopback up.
    pub fn new(name: String) -> Result<Self, String> {
        let _ = sh(&["ip", "netns", "del", &name]); // a leftover from a killed run
        sh(&["ip", "netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n <ns> ...`
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Result<String, String> {
        in_ns(&self.name, args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// A child process, killed (by PID) and reaped on drop.
pub struct Process {
    /// The child.
    pub child: Child,
}

impl Process {
    /// Waits for the process to end and collects what it printed.
    pub fn wait_output(&mut self) -> std::io::Result<std::process::Output> {
        use std::io::Read;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_end(&mut stdout)?;
        }
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_end(&mut stderr)?;
        }
        let status = self.child.wait()?;
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Waits until the process prints a line containing `needle` on stdout,
    /// which it must flush at once (as `wgate-nettool`'s `listening` is). The
    /// pipe is read byte by byte, so nothing after that line is consumed and
    /// [`Process::wait_output`] still collects the rest. On an error the
    /// stdout pipe stays with the reading thread: drop the process then.
    pub fn wait_for_stdout_line(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let stdout = self.child.stdout.take().ok_or("stdout is not piped")?;
        let (stdout, _) = read_until_line(stdout, needle, timeout)?;
        self.child.stdout = Some(stdout);
        Ok(())
    }
}

/// Reads `reader` in a thread until a line containing `needle` has arrived
/// and gives the reader back with the text read, or fails with that text if
/// the stream ends or `timeout` passes first (a fixed sleep instead would
/// be too short on a loaded host one day).
pub fn read_until_line<R: std::io::Read + Send + 'static>(
    mut reader: R,
    needle: &str,
    timeout: Duration,
) -> Result<(R, String), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = needle.to_string();
    thread::spawn(move || {
        let mut text = Vec::new();
        let mut line_start = 0;
        let mut byte = [0u8; 1];
        let found = loop {
            match reader.read(&mut byte) {
                Ok(1) => {
                    text.push(byte[0]);
                    if byte[0] == b'\n' {
                        let line = String::from_utf8_lossy(&text[line_start..]);
                        if line.contains(wanted.as_str()) {
                            break true;
                        }
                        line_start = text.len();
                    }
                }
                Ok(_) => break false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        // The receiver is gone only after a timeout; nothing is waiting then.
        let _ = tx.send(if found { Ok((reader, text)) } else { Err(text) });
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(text)) => Err(format!(
            "the stream ended without a `{needle}` line: {text}"
        )),
        Err(_) => Err(format!("no `{needle}` line within {} s", timeout.as_secs())),
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines a process printed, shared with the thread that reads them.
#[derive(Clone, Default)]
pub struct Console {
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Console {
    /// Starts copying `stream` line by line into the console (and, when
    /// `echo` is set, onto our stdout).
    pub fn capture(stream: impl std::io::Read + Send + 'static, echo: bool) -> Self {
        let console = Self::default();
        let shared = console.lines.clone();
        thread::spawn(move || {
            crate::machine::for_each_line(stream, |line| {
                if echo {
                    println!("{line}");
                    let _ = std::io::stdout().flush();
                }
                let (lines, changed) = &*shared;
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                changed.notify_all();
                true
            });
        });
        console
    }

    /// Waits until a line containing `needle` appears; returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lines, changed) = &*self.lines;
        let mut guard = lines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(line) = guard.iter().find(|l| l.contains(needle)) {
                return Ok(line.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no `{needle}` on the console within {} s",
                    timeout.as_secs()
                ));
            }
            guard = changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Everything printed so far.
    pub fn text(&self) -> String {
        self.lines
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

/// Addresses of the standard test network. All of them exist only inside
/// the namespaces (192.0.2.0/24 is TEST-NET-1, the rest private ranges).
pub mod addr {
    /// The WAN host.
    pub const WAN_HOST: &str = "192.0.2.2";
    /// The gateway's outer address.
    pub const GATEWAY_OUTER: &str = "192.0.2.1";
    /// The gateway's LAN address.
    pub const GATEWAY_INNER: &str = "192.168.77.1";
    /// The gateway's LAN address, IPv6.
    pub const GATEWAY_INNER6: &str = "fd00:77::1";
    /// The LAN host.
    pub const LAN_HOST: &str = "192.168.77.2";
    /// The LAN host, IPv6.
    pub const LAN_HOST6: &str = "fd00:77::2";
    /// The peer's tunnel address.
    pub const PEER_TUNNEL: &str = "10.99.0.2";
    /// The peer's tunnel address, IPv6.
    pub const PEER_TUNNEL6: &str = "fd00:99::2";
    /// The gateway's own tunnel address.
    pub const GATEWAY_TUNNEL: &str = "10.99.0.1";
}

/// A WireGuard key pair made with `wg genkey` / `wg pubkey`.
pub struct KeyPair {
    /// Base64 private key.
    pub private: String,
    /// Base64 public key.
    pub public: String,
}

impl KeyPair {
    /// Generates a fresh pair.
    pub fn generate() -> Result<Self, String> {
        let private = sh(&["wg", "genkey"])?.trim().to_string();
        let mut child = Command::new("wg")
            .arg("pubkey")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run wg pubkey: {e}"))?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(private.as_bytes())
            .map_err(|e| e.to_string())?;
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        Ok(Self {
            private,
            public: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        })
    }
}

/// The three namespaces and their links.
pub struct Network {
    /// Holds QEMU, the taps and the bridges.
    pub gw: Netns,
    /// The WAN host with the WireGuard peer.
    pub wan: Netns,
    /// The LAN host.
    pub lan: Netns,
    /// Scratch directory for configs and keys.
    pub dir: PathBuf,
}

impl Network {
    /// Builds the namespaces, bridges, taps and veths. `tag` names the
    /// scenario; the process id is appended so that two runs of the same
    /// scenario (two checkouts tested at once) never share a namespace.
    pub fn new(tag: &str) -> Result<Self, String> {
        let tag = &format!("{tag}{}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("wgate-{tag}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let network = Self {
            gw: Netns::new(format!("wgt-gw-{tag}"))?,
            wan: Netns::new(format!("wgt-wan-{tag}"))?,
            lan: Netns::new(format!("wgt-lan-{tag}"))?,
            dir,
        };
        let gw = &network.gw;
        for (bridge, tap, veth, far) in [
            ("wgbr0", "tapo", "vo", &network.wan),
            ("wgbr1", "tapi", "vi", &network.lan),
        ] {
            gw.ip(&["link", "add", bridge, "type", "bridge"])?;
            gw.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
            gw.ip(&[
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", &far.name,
            ])?;
            for dev in [tap, veth] {
                gw.ip(&["link", "set", dev, "master", bridge])?;
                gw.ip(&["link", "set", dev, "up"])?;
            }
            gw.ip(&["link", "set", bridge, "up"])?;
            far.ip(&["link", "set", "eth0", "up"])?;
        }
        network
            .wan
            .ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"])?;
        network
            .lan
            .ip(&["addr", "add", "192.168.77.2/24", "dev", "eth0"])?;
        network
            .lan
            .ip(&["-6", "addr", "add", "fd00:77::2/64", "dev", "eth0", "nodad"])?;
        network
            .lan
            .ip(&["route", "add", "default", "via", addr::GATEWAY_INNER])?;
        network
            .lan
            .ip(&["-6", "route", "add", "default", "via", addr::GATEWAY_INNER6])?;
        Ok(network)
    }

    /// A second WAN host on the outer link (beside the first one's veth on
    /// the outer bridge), at `address` (CIDR), in its own namespace.
    pub fn add_wan_host(&self, label: &str, address: &str) -> Result<Netns, String> {
        let tag = self.gw.name.trim_start_matches("wgt-gw-");
        let ns = Netns::new(format!("wgt-{label}-{tag}"))?;
        let veth = format!("v{label}");
        self.gw.ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ])?;
        self.gw.ip(&["link", "set", &veth, "master", "wgbr0"])?;
        self.gw.ip(&["link", "set", &veth, "up"])?;
        ns.ip(&["addr", "add", address, "dev", "eth0"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        Ok(ns)
    }

    /// Path of a file in the scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A wireguard-go interface name no other run on this machine uses:
/// wireguard-go's UAPI socket (`/var/run/wireguard/<name>.sock`) is shared
/// by every namespace, so two checkouts' `wg0` would collide. `wg` plus the
/// harness's pid and a counter (at most 15 bytes, Linux's limit).
pub fn peer_interface_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
    format!("wg{}n{n}", std::process::id() % 100_000)
}

/// wireguard-go running in the WAN namespace.
pub struct WireguardGo {
    /// The wireguard-go process (foreground mode).
    pub process: Process,
    /// Its namespace's name.
    pub ns: String,
    /// Its interface ([`peer_interface_name`] unless started otherwise).
    pub iface: String,
}

impl WireguardGo {
    /// Starts wireguard-go in the WAN namespace, configured with `wg` to
    /// know the gateway (at its outer address) as its peer.
    pub fn start(
        network: &Network,
        keys: &KeyPair,
        gateway_public: &str,
        listen_port: u16,
    ) -> Result<Self, String> {
        let endpoint = format!("{}:51820", addr::GATEWAY_OUTER);
        Self::start_in(
            &network.wan,
            &network.dir,
            keys,
            gateway_public,
            listen_port,
            Some(&endpoint),
        )
    }

    /// Starts wireguard-go in `ns` (as [`peer_interface_name`]), knowing the gateway as its
    /// peer at `endpoint` (or learning where it is, for `None`), with the
    /// standard tunnel addresses and routes to the LAN.
    pub fn start_in(
        ns: &Netns,
        dir: &Path,
        keys: &KeyPair,
        gateway_public: &str,
        listen_port: u16,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        Self::start_with_address(
            ns,
            dir,
            keys,
            gateway_public,
            listen_port,
            endpoint,
            &peer_interface_name(),
            "10.99.0.2/24",
        )
    }

    /// As [`WireguardGo::start_in`], as interface `iface` (its UAPI socket
    /// name must be unique on the machine, whatever the namespace) with
    /// tunnel address `tunnel` (CIDR).
    #[allow(clippy::too_many_arguments)]
    pub fn start_with_address(
        ns: &Netns,
        dir: &Path,
        keys: &KeyPair,
        gateway_public: &str,
        listen_port: u16,
        endpoint: Option<&str>,
        iface: &str,
        tunnel: &str,
    ) -> Result<Self, String> {
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "wireguard-go", "-f", iface])
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start wireguard-go: {e}"))?;
        let wg = Self {
            process: Process { child },
            ns: ns.name.clone(),
            iface: iface.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while ns.ip(&["link", "show", iface]).is_err() {
            if Instant::now() > deadline {
                return Err(format!("wireguard-go did not create {iface} within 10 s"));
            }
            thread::sleep(Duration::from_millis(50));
        }
        let key_file = dir.join(format!("peer-{}.key", ns.name));
        fs::write(&key_file, &keys.private).map_err(|e| e.to_string())?;
        let port = listen_port.to_string();
        let mut set = vec![
            "wg",
            "set",
            iface,
            "private-key",
            path(&key_file),
            "listen-port",
            &port,
            "peer",
            gateway_public,
            "allowed-ips",
            "10.99.0.1/32,192.168.77.0/24,fd00:77::/64,fd00:99::1/128",
        ];
        if let Some(endpoint) = endpoint {
            set.extend(["endpoint", endpoint]);
        }
        ns.exec(&set)?;
        ns.ip(&["addr", "add", tunnel, "dev", iface])?;
        ns.ip(&["-6", "addr", "add", "fd00:99::2/64", "dev", iface, "nodad"])?;
        ns.ip(&["link", "set", iface, "up"])?;
        ns.ip(&["route", "add", "192.168.77.0/24", "dev", iface])?;
        ns.ip(&["-6", "route", "add", "fd00:77::/64", "dev", iface])?;
        Ok(wg)
    }

    /// `wg show <iface> <what>` in its namespace.
    pub fn show(&self, what: &str) -> Result<String, String> {
        in_ns(&self.ns, &["wg", "show", &self.iface, what])
    }
}

impl Drop for WireguardGo {
    /// Stops wireguard-go (killed, it cannot remove its UAPI socket) and
    /// removes the socket it leaves in /var/run/wireguard, unless something
    /// answers on it (another run's wireguard-go with the same name).
    fn drop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        let socket = uapi_socket(&self.iface);
        if std::os::unix::net::UnixStream::connect(&socket).is_err() {
            let _ = fs::remove_file(&socket);
        }
    }
}

/// Lossless display of a path for command lines.
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

/// The gateway configuration file for the standard network.
pub fn gateway_config(gateway: &KeyPair, peer: &KeyPair, extra_peer_lines: &str) -> String {
    format!(
        "# wgate test configuration\n\
         [Interface]\n\
         PrivateKey = {}\n\
         ListenPort = 51820\n\
         Address = 10.99.0.1/24, fd00:99::1/64\n\
         \n\
         [Peer]\n\
         PublicKey = {}\n\
         AllowedIPs = 10.99.0.0/24, fd00:99::/64\n\
         Endpoint = {}:51820\n\
         {extra_peer_lines}\n\
         [Outer]\n\
         Address = 192.0.2.1/24\n\
         \n\
         [Inner]\n\
         Address = 192.168.77.1/24, fd00:77::1/64\n",
        gateway.private,
        peer.public,
        addr::WAN_HOST
    )
}

/// The gateway image running in QEMU inside the gateway namespace.
pub struct Gateway {
    /// QEMU.
    pub process: Process,
    /// Its serial console.
    pub console: Console,
    /// The name `wg` knows it by (`wg show <interface>`).
    pub interface: String,
}

impl Gateway {
    /// Boots `image` with `config_file` as its initrd, under TCG.
    pub fn boot(
        network: &Network,
        image: &Path,
        config_file: &Path,
        memory_mib: u32,
        echo: bool,
    ) -> Result<Self, String> {
        Self::boot_with(network, image, config_file, memory_mib, echo, false)
    }

    /// As [`Gateway::boot`], under KVM (`-cpu host`) when `kvm` is set.
    pub fn boot_with(
        network: &Network,
        image: &Path,
        config_file: &Path,
        memory_mib: u32,
        echo: bool,
        kvm: bool,
    ) -> Result<Self, String> {
        let (accel, cpu) = if kvm { ("kvm", "host") } else { ("tcg", "max") };
        Self::boot_on(network, image, config_file, memory_mib, echo, accel, cpu)
    }

    /// As [`Gateway::boot`], with the accelerator and `-cpu` model given.
    pub fn boot_on(
        network: &Network,
        image: &Path,
        config_file: &Path,
        memory_mib: u32,
        echo: bool,
        accel: &str,
        cpu: &str,
    ) -> Result<Self, String> {
        Self::boot_kind(
            network,
            image,
            config_file,
            (memory_mib, echo),
            (accel, cpu),
            MachineKind::Pc,
        )
    }

    /// As [`Gateway::boot_on`], on the machine type `kind` (its NICs and
    /// virtio-serial device are the models that machine takes).
    pub fn boot_kind(
        network: &Network,
        image: &Path,
        config_file: &Path,
        (memory_mib, echo): (u32, bool),
        (accel, cpu): (&str, &str),
        kind: MachineKind,
    ) -> Result<Self, String> {
        let cmdline = crate::machine::with_extra_args(&format!(
            "config={}",
            config_file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("gateway.conf")
        ));
        let medium = [
            "-kernel",
            path(image),
            "-initrd",
            path(config_file),
            "-append",
            &cmdline,
        ];
        Self::launch(network, &medium, (memory_mib, echo), (accel, cpu), kind)
    }

    /// Boots a GRUB ISO whose `grub.cfg` loads the image with `multiboot2`
    /// and the configuration with `module2` (see `qemu/scripts/make-iso.sh`),
    /// under TCG `-cpu max`: from QEMU's BIOS (`-cdrom`, `-boot d`), or with
    /// `uefi_firmware` (OVMF's code image) through UEFI, the CD first in the
    /// boot order.
    pub fn boot_iso(
        network: &Network,
        iso: &Path,
        memory_mib: u32,
        echo: bool,
        uefi_firmware: Option<&Path>,
    ) -> Result<Self, String> {
        match uefi_firmware {
            None => {
                let medium = ["-cdrom", path(iso), "-boot", "d"];
                Self::launch(
                    network,
                    &medium,
                    (memory_mib, echo),
                    ("tcg", "max"),
                    MachineKind::Pc,
                )
            }
            Some(firmware) => {
                let flash = format!("if=pflash,format=raw,readonly=on,file={}", path(firmware));
                let drive = format!("if=none,id=cd,media=cdrom,readonly=on,file={}", path(iso));
                let medium = [
                    "-drive",
                    &flash,
                    "-drive",
                    &drive,
                    "-device",
                    "ide-cd,drive=cd,bootindex=0",
                ];
                Self::launch(
                    network,
                    &medium,
                    (memory_mib, echo),
                    ("tcg", "max"),
                    MachineKind::Pc,
                )
            }
        }
    }

    /// Starts QEMU in the gateway namespace with the NICs on the taps, the
    /// userspace API socket, on machine type `kind`, and `medium` (the arguments that say what to boot).
    fn launch(
        network: &Network,
        medium: &[&str],
        (memory_mib, echo): (u32, bool),
        (accel, cpu): (&str, &str),
        kind: MachineKind,
    ) -> Result<Self, String> {
        let memory = format!("{memory_mib}M");
        let outer_nic = format!("{},netdev=outer,mac=52:54:00:12:34:01", kind.net_device());
        let inner_nic = format!("{},netdev=inner,mac=52:54:00:12:34:02", kind.net_device());
        // The userspace API: QEMU serves the socket `wg` looks for, the guest
        // answers on the virtio-serial port `wg-uapi`.
        let interface = uapi_interface(network);
        fs::create_dir_all(UAPI_DIR).map_err(|e| format!("{UAPI_DIR}: {e}"))?;
        let socket = uapi_socket(&interface);
        let chardev = format!("socket,id=uapi,path={},server=on,wait=off", path(&socket));
        let mut child = Command::new("ip")
            .args(["netns", "exec", &network.gw.name, crate::machine::QEMU])
            .args(kind.machine_args())
            .args([
                "-accel",
                accel,
                "-cpu",
                cpu,
                "-m",
                &memory,
                "-nodefaults",
                "-no-reboot",
            ])
            .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
            .args(medium)
            .args([
                "-netdev",
                "tap,id=outer,ifname=tapo,script=no,downscript=no",
            ])
            .args(["-device", &outer_nic])
            .args([
                "-netdev",
                "tap,id=inner,ifname=tapi,script=no,downscript=no",
            ])
            .args(["-device", &inner_nic])
            .args(["-device", kind.serial_device(), "-chardev", &chardev])
            .args(["-device", "virtserialport,chardev=uapi,name=wg-uapi"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start QEMU: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let console = Console::capture(stdout, echo);
        let _ = Console::capture(stderr, true);
        Ok(Self {
            process: Process { child },
            console,
            interface,
        })
    }

    /// `wg <args…>` against this gateway's userspace API, from the host
    /// (given a minute at most, so a gateway that never answers fails the
    /// check instead of hanging the suite).
    pub fn wg(&self, args: &[&str]) -> Result<String, String> {
        sh(&["timeout", "60", "wg"]
            .into_iter()
            .chain(args.iter().copied())
            .collect::<Vec<_>>())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // QEMU removes its socket when it exits; a killed QEMU may not.
        let _ = fs::remove_file(uapi_socket(&self.interface));
    }
}

/// Where `wg` looks for userspace interfaces' sockets.
pub const UAPI_DIR: &str = "/var/run/wireguard";

/// The interface name `wg` knows the gateway of `network` by (at most 15
/// characters, as interface names go).
pub fn uapi_interface(network: &Network) -> String {
    let tag = network.gw.name.trim_start_matches("wgt-gw-");
    let mut name = format!("wgt-{tag}");
    name.truncate(15);
    name
}

/// The socket of the userspace interface `name`.
pub fn uapi_socket(name: &str) -> PathBuf {
    Path::new(UAPI_DIR).join(format!("{name}.sock"))
}
