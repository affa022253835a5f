//! Interoperability of our WireGuard engine with wireguard-go, over real sockets and a real
//! (virtual) link, inside two network namespaces this test creates and removes.
//!
//! ```text
//!  netns A                                         netns B
//!  wireguard-go (tun wgi<pid>, 10.200.0.1/24)      wg-peer (our engine; host 10.200.0.2)
//!  UDP 172.31.250.1:51820  <--- veth pair --->     UDP 172.31.250.2:51821 (then roams)
//! ```
//!
//! Checked, in this order (each failure names the step and shows wg-peer's transcript):
//! 1. wireguard-go initiates: a ping from A before we sent anything completes a handshake
//!    in which we only responded.
//! 2. We initiate: a fresh wg-peer (new engine, same keys) handshakes on command.
//! 3. ICMP echo both ways: `ping` in A gets replies from our host, and our pings get
//!    replies from A's kernel.
//! 4. A forced rekey completes a new handshake (wireguard-go's latest-handshake moves) and
//!    traffic still flows.
//! 5. Roaming: after wg-peer moves to a new UDP port and sends, wireguard-go's endpoint is
//!    the new port and pings from A still arrive.
//!
//! Requirements: root (namespaces, tun) and `ip`, `wg`, `wireguard-go`, `ping`, `sh` (the
//! project's `qemu/scripts/setup.sh` installs them). A missing requirement FAILS the test:
//! it is part of `cargo test --workspace` on purpose and must never pass by skipping.
//!
//! Network safety: both namespaces have only loopback and their end of the veth pair, no
//! default route, and every interface is created inside a namespace; the host's interfaces
//! and routes are never touched. Names carry the test's PID, so concurrent runs do not
//! collide. A guard removes the namespaces and stops every process this test started (by
//! PID) on success, failure or panic.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crypto::PrivateKey;
use rand_core::OsRng;

const WG_PEER: &str = env!("CARGO_BIN_EXE_wg-peer");

const A_OUTER: &str = "172.31.250.1";
const B_OUTER: &str = "172.31.250.2";
const A_PORT: u16 = 51820;
const B_PORT: u16 = 51821;
const A_TUNNEL: &str = "10.200.0.1";
const B_TUNNEL: &str = "10.200.0.2";

/// How long an expected event may take: generous for a veth link, since the test runs
/// beside QEMU boot tests on a loaded host; waiting costs nothing when events come on time.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The engine sends at most one initiation per Rekey-Timeout (5 s) to a peer.
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn interoperates_with_wireguard_go() {
    require_root_and_tools();
    let started = Instant::now();

    let wg_go_key = PrivateKey::generate(&mut OsRng);
    let our_key = PrivateKey::generate(&mut OsRng);
    let wg_go_public = wg_go_key.public_key().to_base64().as_str().to_string();
    let our_public = our_key.public_key().to_base64().as_str().to_string();

    let mut lab = Lab::create();
    lab.start_wireguard_go(&format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {A_PORT}\n\n\
         [Peer]\nPublicKey = {our_public}\nAllowedIPs = {B_TUNNEL}/32\nEndpoint = {B_OUTER}:{B_PORT}\n",
        wg_go_key.to_base64().as_str()
    ));
    let peer_config = lab.write_secret(
        "wg-peer.conf",
        &format!(
            "[Interface]\nPrivateKey = {}\nListenPort = {B_PORT}\nAddress = {B_TUNNEL}/24\n\n\
             [Peer]\nPublicKey = {wg_go_public}\nAllowedIPs = {A_TUNNEL}/32\nEndpoint = {A_OUTER}:{A_PORT}\n",
            our_key.to_base64().as_str()
        ),
    );

    // --- 1. wireguard-go initiates -------------------------------------------------------
    step("1: wireguard-go initiates the handshake");
    let mut peer = WgPeer::start(&lab, &peer_config);
    peer.expect("wg-peer to start", |l| {
        l == format!("ready port={B_PORT} public_key={our_public}")
    });
    // Nothing has been sent by us yet; the ping makes wireguard-go handshake first.
    // One ping a second until the first reply, for up to 15 s.
    let out = lab.in_a(&["ping", "-c", "1", "-w", "15", B_TUNNEL]);
    assert!(
        out.status.success(),
        "step 1: ping from wireguard-go's namespace to {B_TUNNEL} (which needs a handshake \
         initiated by wireguard-go) failed:\n{}\nwg-peer transcript:\n{}",
        text(&out),
        peer.transcript()
    );
    peer.expect("step 1: our engine to report the handshake", |l| {
        l.starts_with("handshake complete total=1 ")
    });
    peer.expect(
        "step 1: our host to answer wireguard-go's echo request",
        |l| l.starts_with(&format!("echo request from={A_TUNNEL} ")) && l.ends_with(" answered"),
    );
    let stats = peer.stats();
    assert_eq!(
        stats["initiations_sent"], "0",
        "step 1: the handshake must have been initiated by wireguard-go, but our engine sent \
         an initiation; stats: {stats:?}"
    );
    assert!(
        lab.latest_handshake() > 0,
        "step 1: `wg show latest-handshakes` still reports no handshake"
    );
    drop(peer); // ends wg-peer; the next one starts with fresh engine state

    // --- 2. we initiate ------------------------------------------------------------------
    step("2: our engine initiates the handshake");
    let mut peer = WgPeer::start(&lab, &peer_config);
    peer.expect("wg-peer to restart", |l| {
        l.starts_with(&format!("ready port={B_PORT} "))
    });
    peer.command("handshake");
    peer.expect("step 2: the initiation to be sent", |l| {
        l == "ok handshake initiation_sent=true"
    });
    let initiated_at = Instant::now();
    peer.expect(
        "step 2: wireguard-go's response to complete our handshake",
        |l| l == "handshake complete total=1 initiations_sent=1",
    );

    // --- 3. ICMP echo both ways --------------------------------------------------------------
    step("3: ping both ways");
    lab.ping_from_a(3, "step 3", &mut peer);
    peer.command(&format!("ping 3 {A_TUNNEL}"));
    for seq in 1..=3 {
        peer.expect(
            &format!("step 3: echo reply seq={seq} from {A_TUNNEL} to our ping"),
            |l| l == format!("echo reply from={A_TUNNEL} seq={seq}"),
        );
    }

    // --- 4. forced rekey -------------------------------------------------------------------
    step("4: forced rekey");
    let before = lab.latest_handshake();
    assert!(
        before > 0,
        "step 4: wireguard-go reports no handshake before the rekey"
    );
    // The engine refuses a second initiation within Rekey-Timeout, and wg reports handshake
    // times in whole seconds: wait until a new handshake is both allowed and visible.
    sleep_until(initiated_at + REKEY_TIMEOUT + Duration::from_millis(200));
    while unix_seconds() <= before {
        std::thread::sleep(Duration::from_millis(50));
    }
    peer.command("rekey");
    peer.expect("step 4: the rekey initiation to be sent", |l| {
        l == "ok rekey initiation_sent=true"
    });
    peer.expect("step 4: the new handshake to complete", |l| {
        l == "handshake complete total=2 initiations_sent=2"
    });
    // Data on the new session is what confirms it for wireguard-go (the responder).
    peer.command(&format!("ping 2 {A_TUNNEL}"));
    for seq in 4..=5 {
        peer.expect(
            &format!("step 4: echo reply seq={seq} after the rekey"),
            |l| l == format!("echo reply from={A_TUNNEL} seq={seq}"),
        );
    }
    let after = wait_for(EVENT_TIMEOUT, || {
        let t = lab.latest_handshake();
        (t > before).then_some(t)
    });
    assert!(
        after.is_some(),
        "step 4: wireguard-go's latest handshake did not change after the rekey (still {before})"
    );
    lab.ping_from_a(2, "step 4 (after rekey)", &mut peer);

    // --- 5. roaming ------------------------------------------------------------------------
    step("5: roaming to a new UDP port");
    peer.command("rebind");
    let line = peer.expect("step 5: wg-peer to bind a new port", |l| {
        l.starts_with("bound port=")
    });
    let new_port: u16 = line["bound port=".len()..]
        .parse()
        .unwrap_or_else(|e| panic!("step 5: bad port in {line:?}: {e}"));
    assert_ne!(new_port, B_PORT, "step 5: rebind kept the old port");
    // The old socket is closed, so this reply can only arrive if wireguard-go follows us.
    peer.command(&format!("ping 1 {A_TUNNEL}"));
    peer.expect("step 5: echo reply on the new port", |l| {
        l == format!("echo reply from={A_TUNNEL} seq=6")
    });
    let endpoints = lab.wg_show("endpoints");
    assert!(
        endpoints.contains(&format!("{B_OUTER}:{new_port}")),
        "step 5: wireguard-go did not learn our new endpoint {B_OUTER}:{new_port}; \
         `wg show endpoints`: {endpoints:?}"
    );
    lab.ping_from_a(2, "step 5 (after roaming)", &mut peer);

    let stats = peer.stats();
    // Not asserted to be free of drops: wireguard-go may still send a keepalive on the
    // session of the first wg-peer, which the second one rightly drops as an unknown index.
    println!("wg-peer final stats: {stats:?}");
    lab.assert_wireguard_go_running();
    println!(
        "interop with wireguard-go passed in {:.1?}",
        started.elapsed()
    );
}

fn step(name: &str) {
    println!("--- step {name}");
}

/// Fails (never skips) when the test cannot run as intended.
fn require_root_and_tools() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("Uid line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "the wireguard-go interop test must run as root (it creates network namespaces and a \
         tun device); it is not skipped, so run `cargo test` as root"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["ip", "wg", "wireguard-go", "ping", "sh"] {
        let found = std::env::split_paths(&path).any(|dir| dir.join(tool).is_file());
        assert!(
            found,
            "`{tool}` is not on PATH; the interop test needs wireguard-go, wireguard-tools, \
             iproute2 and iputils-ping (`bash qemu/scripts/setup.sh`, or \
             `apt-get install -y wireguard-go wireguard-tools iproute2 iputils-ping`)"
        );
    }
    assert!(
        Path::new("/dev/net/tun").exists(),
        "/dev/net/tun is missing: wireguard-go needs a tun device"
    );
}

fn text(out: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Runs a command to completion; panics with its output if it fails.
fn run(args: &[&str]) -> String {
    let out = run_status(args, None);
    assert!(
        out.status.success(),
        "`{}` failed:\n{}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command to completion with optional stdin, whatever its exit status.
fn run_status(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", args.join(" ")));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("writing to `{}`: {e}", args.join(" ")));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{}`: {e}", args.join(" ")))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// Polls `probe` every 50 ms until it yields a value or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The two namespaces, the veth pair between them and wireguard-go. Dropping it stops
/// wireguard-go and deletes the namespaces (with every interface in them).
struct Lab {
    ns_a: String,
    ns_b: String,
    /// wireguard-go's interface, also the name of its control socket.
    interface: String,
    dir: PathBuf,
    /// Namespaces this test created, so that cleanup never deletes anything else.
    created: Vec<String>,
    wireguard_go: Option<Child>,
}

impl Lab {
    fn create() -> Lab {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("wg-interop-{pid}"));
        // The guard exists before anything is created, so a failure half-way is cleaned up.
        let mut lab = Lab {
            ns_a: format!("wgi-a-{pid}"),
            ns_b: format!("wgi-b-{pid}"),
            interface: format!("wgi{pid}"),
            dir,
            created: Vec::new(),
            wireguard_go: None,
        };
        fs::create_dir_all(&lab.dir).expect("create the test's temporary directory");
        for ns in [lab.ns_a.clone(), lab.ns_b.clone()] {
            // A leftover from a killed run whose PID this one reuses.
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            run(&["ip", "netns", "add", &ns]);
            lab.created.push(ns);
        }
        let (a, b) = (lab.ns_a.as_str(), lab.ns_b.as_str());
        // Created inside A with its peer directly in B: no interface ever exists on the host.
        run(&[
            "ip", "-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
            "netns", b,
        ]);
        run(&[
            "ip",
            "-n",
            a,
            "addr",
            "add",
            &format!("{A_OUTER}/30"),
            "dev",
            "veth-a",
        ]);
        run(&[
            "ip",
            "-n",
            b,
            "addr",
            "add",
            &format!("{B_OUTER}/30"),
            "dev",
            "veth-b",
        ]);
        for (ns, dev) in [(a, "veth-a"), (b, "veth-b"), (a, "lo"), (b, "lo")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    /// Starts wireguard-go in namespace A, configures it with `config` (`wg setconf`
    /// format) and gives its interface the tunnel address.
    fn start_wireguard_go(&mut self, config: &str) {
        let log = File::create(self.dir.join("wireguard-go.log")).expect("create log file");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns_a,
                "wireguard-go",
                "-f",
                &self.interface,
            ])
            // Its Linux banner says "use the kernel module": this test is about wireguard-go.
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .env("LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start wireguard-go");
        self.wireguard_go = Some(child);
        let socket = self.control_socket();
        let up = wait_for(EVENT_TIMEOUT, || {
            self.assert_wireguard_go_running();
            socket.exists().then_some(())
        });
        assert!(
            up.is_some(),
            "wireguard-go did not create its control socket {} within {EVENT_TIMEOUT:?}; log:\n{}",
            socket.display(),
            self.wireguard_go_log()
        );
        let out = run_status(
            &[
                "ip",
                "netns",
                "exec",
                &self.ns_a,
                "wg",
                "setconf",
                &self.interface,
                "/dev/stdin",
            ],
            Some(config),
        );
        assert!(
            out.status.success(),
            "`wg setconf` of wireguard-go failed:\n{}",
            text(&out)
        );
        let (a, interface) = (self.ns_a.as_str(), self.interface.as_str());
        run(&[
            "ip",
            "-n",
            a,
            "addr",
            "add",
            &format!("{A_TUNNEL}/24"),
            "dev",
            interface,
        ]);
        run(&["ip", "-n", a, "link", "set", interface, "up"]);
    }

    fn control_socket(&self) -> PathBuf {
        Path::new("/var/run/wireguard").join(format!("{}.sock", self.interface))
    }

    fn wireguard_go_log(&self) -> String {
        fs::read_to_string(self.dir.join("wireguard-go.log")).unwrap_or_default()
    }

    fn assert_wireguard_go_running(&mut self) {
        let child = self
            .wireguard_go
            .as_mut()
            .expect("wireguard-go was started");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "wireguard-go exited ({status}); log:\n{}",
                self.wireguard_go_log()
            );
        }
    }

    /// Writes a file only we can read (it holds a private key).
    fn write_secret(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        file.write_all(contents.as_bytes())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Runs a command in namespace A.
    fn in_a(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.ns_a];
        full.extend_from_slice(args);
        run_status(&full, None)
    }

    /// `wg show <interface> <field>` in namespace A.
    fn wg_show(&self, field: &str) -> String {
        let out = self.in_a(&["wg", "show", &self.interface, field]);
        assert!(
            out.status.success(),
            "`wg show {field}` failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// wireguard-go's latest handshake with us, in Unix seconds (0: none yet).
    fn latest_handshake(&self) -> u64 {
        let shown = self.wg_show("latest-handshakes");
        shown
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("cannot read `wg show latest-handshakes` output {shown:?}"))
    }

    /// `count` pings from A to our host, every one of which must be answered.
    fn ping_from_a(&self, count: u32, context: &str, peer: &mut WgPeer) {
        let count_text = count.to_string();
        let out = self.in_a(&["ping", "-c", &count_text, "-i", "0.2", "-W", "2", B_TUNNEL]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("{count} received")),
            "{context}: `ping -c {count} {B_TUNNEL}` from wireguard-go's namespace did not get \
             every reply:\n{}\nwg-peer transcript:\n{}",
            text(&out),
            peer.transcript()
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.wireguard_go.take() {
            // SIGTERM first: wireguard-go then removes its interface and control socket.
            let pid = child.id().to_string();
            let _ = Command::new("sh")
                .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
                .status();
            let exited = wait_for(Duration::from_secs(3), || child.try_wait().ok().flatten());
            if exited.is_none() {
                eprintln!("wireguard-go (pid {pid}) ignored SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let socket = self.control_socket();
        if socket.exists() {
            let _ = fs::remove_file(&socket);
        }
        for ns in self.created.drain(..).rev() {
            let out = run_status(&["ip", "netns", "del", &ns], None);
            if !out.status.success() {
                eprintln!("cleanup: could not delete netns {ns}:\n{}", text(&out));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A running wg-peer in namespace B, driven through its stdin and stdout. Dropping it ends
/// the process.
struct WgPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl WgPeer {
    fn start(lab: &Lab, config: &Path) -> WgPeer {
        let config = config.to_str().expect("UTF-8 temp path");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns_b, WG_PEER, config])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wg-peer");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tx_err = tx.clone();
        // Both streams go into one channel; stderr is marked so no expectation matches it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx_err.send(format!("[stderr] {line}")).is_err() {
                    break;
                }
            }
        });
        WgPeer {
            stdin: child.stdin.take(),
            child,
            lines,
            transcript: Vec::new(),
        }
    }

    fn command(&mut self, line: &str) {
        self.transcript.push(format!("> {line}"));
        let stdin = self.stdin.as_mut().expect("wg-peer's stdin is open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            panic!(
                "cannot send {line:?} to wg-peer ({e}); transcript:\n{}",
                self.transcript()
            );
        }
    }

    /// Waits up to [`EVENT_TIMEOUT`] for a line matching `matches`, and returns it.
    fn expect(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out after {EVENT_TIMEOUT:?} waiting for {what}; wg-peer transcript:\n{}",
                    self.transcript()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait();
                    panic!(
                        "wg-peer exited ({status:?}) while waiting for {what}; transcript:\n{}",
                        self.transcript()
                    )
                }
            }
        }
    }

    /// The `stats` line as key/value pairs.
    fn stats(&mut self) -> HashMap<String, String> {
        self.command("stats");
        let line = self.expect("a stats line", |l| l.starts_with("stats "));
        line.split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Everything seen so far, including lines not yet consumed.
    fn transcript(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.transcript.push(line);
        }
        self.transcript.join("\n")
    }
}

impl Drop for WgPeer {
    fn drop(&mut self) {
        // End of input asks wg-peer to exit; kill it (by PID) if it does not.
        drop(self.stdin.take());
        if wait_for(Duration::from_secs(2), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
