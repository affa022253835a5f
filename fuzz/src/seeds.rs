//! Valid inputs for every target, so that fuzzing starts deep: real
//! handshake and transport messages, a handshake sequence for the engine, a
//! real configuration, real packets, ARP and NDP frames, and real boot
//! structures and firmware tables. `tests/corpus.rs` checks they reach what
//! they should, and writes them into a corpus directory on request (see the
//! README).

use crypto::{create_initiation, CookieState, Tai64N};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::boot_info::BASE;
use crate::firmware::fix_checksum;
use crate::input::fix_ipv4_checksum;
use crate::wg::{cookie_reply_seed, fixture, GATEWAY_INDEX, NOW};

/// The seeds of the target `name` (empty for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "wg_messages" => wg_messages(),
        "engine_receive" => engine_receive(),
        "replay_window" => replay_window(),
        "config_parser" => config_parser(),
        "router" => router(),
        "neighbor" => neighbor(),
        "boot_pvh" => boot_pvh(),
        "boot_multiboot2" => boot_multiboot2(),
        "boot_cmdline" => boot_cmdline(),
        "gateway_frames" => gateway_frames(),
        "uapi" => uapi(),
        "firmware" => firmware(),
        _ => Vec::new(),
    }
}

fn prefixed(mode: u8, message: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(message);
    v
}

fn wg_messages() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut initiation = [0u8; 148];
    create_initiation(
        &f.peer_gateway,
        &mut CookieState::new(),
        0x3333_3333,
        Tai64N::from_unix(1_700_000_001, 0),
        NOW,
        &mut rng,
        &mut initiation,
    )
    .expect("an initiation");
    let mut seeds = vec![
        prefixed(0, &initiation),
        prefixed(0, &f.peer_response),
        prefixed(0, &cookie_reply_seed()),
    ];
    // The initiation with a broken MAC1, which mode 1 repairs.
    let mut broken = initiation;
    broken[120] ^= 1;
    seeds.push(prefixed(1, &broken));
    for (counter, len) in [(0u64, 0usize), (1, 16), (7, 64)] {
        let mut message = vec![0u8; 32 + len];
        f.peer_session
            .send
            .seal_message(GATEWAY_INDEX, counter, &mut message, len)
            .expect("sealed");
        seeds.push(prefixed(0, &message));
    }
    seeds
}

fn engine_receive() -> Vec<Vec<u8>> {
    let advance_secs = 6 | 1 << 3;
    let advance_minutes = 6 | 3 << 3;
    vec![
        // The peer initiates, then data both ways, then time passes.
        vec![
            3,
            1,
            0,
            2,
            0,
            4,
            10,
            1,
            0,
            1,
            0,
            5,
            10,
            2,
            0,
            4,
            200,
            1,
            0,
            advance_secs,
            15,
            0,
            2,
            0,
            1,
            0,
        ],
        // The gateway has a packet for the peer: it initiates.
        vec![5, 10, 2, 0, 1, 0, 2, 0, 4, 5, 1, 0, 4, 6, 1, 0, 5, 0, 2, 0],
        // A handshake, then data replayed (kept in the queue) and roaming.
        vec![
            3,
            1,
            0,
            2,
            0,
            4,
            20,
            1 | 1 << 3,
            0,
            1,
            0,
            4,
            3,
            1 | 4 << 3,
            0,
            5,
            1,
            2,
            0,
        ],
        // Sessions expire and come back.
        vec![
            3,
            1,
            0,
            2,
            0,
            4,
            1,
            1,
            0,
            advance_minutes,
            4,
            0,
            4,
            1,
            2,
            0,
            1,
            0,
            2,
            0,
            1,
            0,
        ],
        // Both sides initiate at once.
        vec![3, 7, 1, 0, 2, 0, 2, 0, 1, 0, 4, 9, 5, 9, 1, 0, 2, 0, 1, 0],
        // Garbage, then a corrupted initiation.
        vec![0, 4, 1, 0, 0, 0, 3, 1 | 2 << 3, 0, 40, 0, 7],
    ]
}

fn replay_window() -> Vec<Vec<u8>> {
    vec![
        // Counters 0, 1, 2, ... and again.
        vec![7, 0, 0, 7, 1, 0, 7, 2, 0, 7, 1, 0, 7, 0, 0],
        // A jump ahead, then back to the window's edge and past it.
        vec![
            7, 5, 0, 5, 10, 3, 0, 3, 1, 3, 0xff, 3, 0xfe, 2, 0, 0x20, 3, 0,
        ],
        // Near the end of the counter space.
        vec![
            4, 0xfe, 4, 0xff, 4, 0, 4, 1, 6, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
        // Checks only (bit 3), then updates.
        vec![1 | 8, 4, 0, 1, 4, 0, 1 | 8, 4, 0, 2 | 8, 4, 0],
    ]
}

/// A complete configuration in the format README shows.
pub const CONFIG: &str = "\
# A gateway with two peers.
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51820
Address = 10.99.0.1/24, fd00:99::1/64
MTU = 1420
DNS = 10.99.0.1
PostUp = true

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=
AllowedIPs = 10.99.0.0/24, fd00:99::/64
Endpoint = 192.0.2.2:51820
PersistentKeepalive = 25

[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
AllowedIPs = 10.98.0.0/16
Endpoint = [2001:db8::2]:51821

[Outer]
Address = 192.0.2.1/24
Gateway = 192.0.2.254
MAC = 52:54:00:12:34:01

[Inner]
Address = 192.168.77.1/24, fd00:77::1/64
MAC = 52:54:00:12:34:02
";

fn config_parser() -> Vec<Vec<u8>> {
    let dhcp = CONFIG
        .replace("Address = 192.0.2.1/24", "Address = dhcp")
        .replace("Gateway = 192.0.2.254\n", "");
    let minimal = "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
                   [Outer]\nAddress = 192.0.2.1/24\n[Inner]\nAddress = 192.168.1.1/24\n";
    let broken = CONFIG.replace("AllowedIPs = 10.98.0.0/16", "AllowedIPs = 10.98.0.0/33");
    vec![
        CONFIG.as_bytes().to_vec(),
        dhcp.into_bytes(),
        minimal.as_bytes().to_vec(),
        broken.into_bytes(),
    ]
}

/// An IPv4 packet with a valid header checksum.
fn ipv4(src: [u8; 4], dst: [u8; 4], ttl: u8, dont_fragment: bool, total: usize) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    if dont_fragment {
        p[6] = 0x40;
    }
    p[8] = ttl;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    fix_ipv4_checksum(&mut p);
    p
}

/// An IPv6 UDP-ish packet.
fn ipv6(src: [u16; 8], dst: [u16; 8], hop_limit: u8, next: u8, total: usize) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    p[6] = next;
    p[7] = hop_limit;
    for (i, s) in src.iter().enumerate() {
        p[8 + 2 * i..10 + 2 * i].copy_from_slice(&s.to_be_bytes());
    }
    for (i, s) in dst.iter().enumerate() {
        p[24 + 2 * i..26 + 2 * i].copy_from_slice(&s.to_be_bytes());
    }
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = (i * 5 + 1) as u8;
    }
    p
}

fn router() -> Vec<Vec<u8>> {
    const LAN_HOST: [u8; 4] = [192, 168, 1, 20];
    const PEER_NET: [u8; 4] = [10, 99, 0, 5];
    const LAN_HOST6: [u16; 8] = [0xfd00, 1, 0, 0, 0, 0, 0, 0x20];
    const PEER_NET6: [u16; 8] = [0xfd00, 0x99, 0, 0, 0, 0, 0, 5];
    let with = |selector: u8, mtu: u16, packet: Vec<u8>| {
        let mut v = vec![selector];
        v.extend_from_slice(&mtu.to_le_bytes());
        v.extend(packet);
        v
    };
    vec![
        with(0, 0, ipv4(LAN_HOST, PEER_NET, 64, true, 100)),
        with(0, 0, ipv4(LAN_HOST, PEER_NET, 1, true, 60)),
        with(0, 0, ipv4(LAN_HOST, [8, 8, 8, 8], 64, true, 80)),
        with(0, 0, ipv4(LAN_HOST, PEER_NET, 64, true, 1500)),
        with(0, 0, ipv4(LAN_HOST, PEER_NET, 64, false, 1500)),
        with(1, 0, ipv4(PEER_NET, LAN_HOST, 64, true, 1400)),
        with(1, 0, ipv4(PEER_NET, [192, 168, 1, 1], 64, true, 84)),
        with(0, 0, ipv6(LAN_HOST6, PEER_NET6, 64, 17, 100)),
        with(0, 0, ipv6(LAN_HOST6, PEER_NET6, 64, 17, 1500)),
        with(1, 0, ipv6(PEER_NET6, LAN_HOST6, 64, 17, 1400)),
        with(
            0,
            0,
            ipv6(LAN_HOST6, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 64, 0, 120),
        ),
        with(0, 0, ipv6(LAN_HOST6, PEER_NET6, 64, 44, 120)),
        with(2, 576, ipv4(LAN_HOST, PEER_NET, 64, false, 1400)),
        with(2 | 16 | 32, 600, ipv4(LAN_HOST, PEER_NET, 64, false, 1000)),
        with(2 | 16, 1280, ipv6(LAN_HOST6, PEER_NET6, 64, 17, 1400)),
    ]
}

const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x20];
const OUR_MAC: [u8; 6] = crate::neighbor::OUR_MAC;

/// An ARP frame: `oper` 1 (request) or 2 (reply) from the host 192.168.1.`host`.
fn arp(oper: u8, host: u8, dst_mac: [u8; 6]) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, oper]);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[192, 168, 1, host]);
    f.extend_from_slice(&if oper == 2 { OUR_MAC } else { [0; 6] });
    f.extend_from_slice(&[192, 168, 1, 1]);
    f
}

/// A neighbor advertisement (136) or solicitation (135) from fd00:1::`host`
/// (checksum left for the target to fix).
fn ndp(kind: u8, host: u16) -> Vec<u8> {
    let mut f = OUR_MAC.to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    let ours = [0xfd00, 1, 0, 0, 0, 0, 0, 1];
    let theirs = [0xfd00, 1, 0, 0, 0, 0, 0, host];
    let mut ip = ipv6(theirs, ours, 255, 58, 72);
    let icmp = &mut ip[40..];
    icmp.fill(0);
    icmp[0] = kind;
    let target = if kind == 136 { theirs } else { ours };
    if kind == 136 {
        icmp[4] = 0x60; // solicited, override
    }
    for (i, s) in target.iter().enumerate() {
        icmp[8 + 2 * i..10 + 2 * i].copy_from_slice(&s.to_be_bytes());
    }
    icmp[24] = if kind == 136 { 2 } else { 1 }; // target / source link-layer address
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&HOST_MAC);
    f.extend_from_slice(&ip[..72]);
    f
}

fn neighbor() -> Vec<Vec<u8>> {
    let frame = |fix: bool, f: Vec<u8>| {
        let mut v = vec![
            if fix { 4 } else { 0 } | ((f.len() >> 8) as u8) << 6,
            f.len() as u8,
        ];
        v.extend(f);
        v
    };
    let mut arp_flow = vec![3, 0, 4, 1, 0, 0];
    arp_flow.extend(frame(false, arp(2, 16, OUR_MAC)));
    arp_flow.extend([2, 0, 1, 0xff, 0xff]);
    let mut ndp_flow = vec![3, 1, 4, 3, 1, 2, 1, 0, 0];
    ndp_flow.extend(frame(true, ndp(136, 0x20)));
    let mut asked = frame(false, arp(1, 18, [0xff; 6]));
    asked.extend(frame(true, ndp(135, 0x22)));
    asked.extend([2, 4, 2, 5, 1 | 4, 0x80, 0]);
    vec![
        arp_flow,
        ndp_flow,
        asked,
        // Holds with nobody answering: requests, then giving up.
        vec![
            3,
            6,
            2,
            3,
            7,
            2,
            1 | 4,
            1,
            0,
            1 | 4,
            1,
            0,
            1 | 4,
            1,
            0,
            1 | 4,
            1,
            0,
        ],
    ]
}

/// A PVH start_info at BASE with a command line, a module and a memory map
/// of three entries (one reserved), as QEMU lays it out.
fn boot_pvh() -> Vec<Vec<u8>> {
    let mut mem = vec![0u8; 0x180];
    let put32 =
        |m: &mut Vec<u8>, at: usize, v: u32| m[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |m: &mut Vec<u8>, at: usize, v: u64| m[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put32(&mut mem, 0, boot::pvh::START_INFO_MAGIC);
    put32(&mut mem, 4, 1);
    put32(&mut mem, 12, 1);
    put64(&mut mem, 16, BASE + 0x40);
    put64(&mut mem, 24, BASE + 0x60);
    put64(&mut mem, 40, BASE + 0x100);
    put32(&mut mem, 48, 3);
    put64(&mut mem, 0x40, 0x0100_0000);
    put64(&mut mem, 0x48, 1234);
    mem[0x60..0x7f].copy_from_slice(b"config=gateway.conf test=boot\0\0");
    for (i, (start, len, kind)) in [
        (0u64, 0x9fc00u64, 1u32),
        (0xf0000, 0x10000, 2),
        (0x10_0000, 0x1f0_0000, 1),
    ]
    .iter()
    .enumerate()
    {
        put64(&mut mem, 0x100 + i * 24, *start);
        put64(&mut mem, 0x108 + i * 24, *len);
        put32(&mut mem, 0x110 + i * 24, *kind);
    }
    vec![mem]
}

/// A Multiboot2 information structure as GRUB passes it: command line, an
/// unknown tag, a module and a memory map.
fn boot_multiboot2() -> Vec<Vec<u8>> {
    let mut mem = vec![0u8; 8];
    let tag = |mem: &mut Vec<u8>, kind: u32, body: &[u8]| {
        mem.extend_from_slice(&kind.to_le_bytes());
        mem.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
        mem.extend_from_slice(body);
        while !mem.len().is_multiple_of(8) {
            mem.push(0);
        }
    };
    tag(&mut mem, 1, b"config=gateway.conf\0");
    tag(&mut mem, 99, &[1, 2, 3]);
    let mut module = 0x20_0000u32.to_le_bytes().to_vec();
    module.extend_from_slice(&0x20_0400u32.to_le_bytes());
    module.extend_from_slice(b"gateway.conf\0");
    tag(&mut mem, 3, &module);
    let mut map = 24u32.to_le_bytes().to_vec();
    map.extend_from_slice(&0u32.to_le_bytes());
    for (start, len, kind) in [
        (0u64, 0x9f000u64, 1u32),
        (0x10_0000, 0x1ee_0000, 1),
        (0xfffc_0000, 0x4_0000, 2),
    ] {
        map.extend_from_slice(&start.to_le_bytes());
        map.extend_from_slice(&len.to_le_bytes());
        map.extend_from_slice(&kind.to_le_bytes());
        map.extend_from_slice(&0u32.to_le_bytes());
    }
    tag(&mut mem, 6, &map);
    tag(&mut mem, 0, &[]);
    let total = mem.len() as u32;
    mem[..4].copy_from_slice(&total.to_le_bytes());
    vec![mem]
}

fn boot_cmdline() -> Vec<Vec<u8>> {
    vec![
        b"config=gateway.conf test=boot".to_vec(),
        b"  test=crypto-bench\tconfig=a=b \0 config=hidden".to_vec(),
        "config=\u{e9}t\u{e9}.conf".as_bytes().to_vec(),
        vec![b'x'; 300],
        // QEMU microvm's two virtio-mmio transports (acpi=off).
        b"console=ttyS0 virtio_mmio.device=512@0xfeb00000:12 \
          virtio_mmio.device=512@0xfeb00200:13 config=gateway.conf"
            .to_vec(),
    ]
}

/// An ACPI table: header (OEM "BOCHS ", revision 1) and body, checksummed.
fn acpi_table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(signature);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.extend_from_slice(&[1, 0]);
    t.extend_from_slice(b"BOCHS BXPC    \x01\0\0\0BXPC\x01\0\0\0");
    t.extend_from_slice(body);
    fix_checksum(&mut t, 9);
    t
}

/// An ACPI-mode firmware input (`firmware.rs` reads it in this order):
/// flags, the RSDP's slot, its RSDT and XSDT selectors (table regions 0-3),
/// the four table regions, no EBDA bytes, an empty BIOS area (but for the
/// RSDP the harness writes).
fn acpi_input(flags: u8, slot: u16, rsdt: u8, xsdt: u8, tables: [&[u8]; 4]) -> Vec<u8> {
    let mut v = vec![0, flags];
    v.extend_from_slice(&slot.to_le_bytes());
    v.extend_from_slice(&[rsdt, xsdt]);
    for table in tables {
        v.extend_from_slice(&(table.len() as u16).to_le_bytes());
        v.extend_from_slice(table);
    }
    v.extend_from_slice(&[0, 0]);
    v
}

/// A PCI configuration space: vendor and device, status "capabilities
/// list", the first pointer, and capabilities (offset, bytes).
fn config_space(first: u8, capabilities: &[(u8, &[u8])]) -> Vec<u8> {
    let mut space = vec![0u8; 256];
    space[..4].copy_from_slice(&[0xf4, 0x1a, 0x41, 0x10]); // 1af4:1041
    space[0x06] = 0x10;
    space[0x34] = first;
    for (offset, bytes) in capabilities {
        let at = usize::from(*offset);
        space[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let mut v = vec![1, 0];
    v.extend_from_slice(&space);
    v
}

fn firmware() -> Vec<Vec<u8>> {
    use crate::firmware::{flags, BIOS_AREA, TABLES};
    // QEMU q35 under SeaBIOS: the RSDP at 0xF5A10, an RSDT listing the
    // FACP and the MCFG, ECAM at 0xB0000000 for buses 0-255.
    let slot = ((0xf_5a10 - BIOS_AREA) / 16) as u16;
    let mut mcfg_body = vec![0u8; 8];
    mcfg_body.extend_from_slice(&0xb000_0000u64.to_le_bytes());
    mcfg_body.extend_from_slice(&[0, 0, 0, 255, 0, 0, 0, 0]);
    let mcfg = acpi_table(b"MCFG", &mcfg_body);
    let facp = acpi_table(b"FACP", &[0; 208]);
    let mut rsdt_body = Vec::new();
    for table in [TABLES[1], TABLES[2]] {
        rsdt_body.extend_from_slice(&(table as u32).to_le_bytes());
    }
    let rsdt = acpi_table(b"RSDT", &rsdt_body);
    let q35 = acpi_input(flags::RSDP, slot, 0, 0, [&rsdt, &facp, &mcfg, &[]]);
    // ACPI 2.0: an XSDT (above 4 GiB) listing the same, the RSDP in the EBDA.
    let mut xsdt_body = Vec::new();
    for table in [TABLES[1], TABLES[2]] {
        xsdt_body.extend_from_slice(&table.to_le_bytes());
    }
    let xsdt = acpi_table(b"XSDT", &xsdt_body);
    let xsdt = acpi_input(
        flags::RSDP | flags::REVISION_2 | flags::EBDA,
        2,
        0,
        3,
        [&rsdt, &facp, &mcfg, &xsdt],
    );
    // QEMU pc: an RSDT without an MCFG.
    let pc_rsdt = acpi_table(b"RSDT", &(TABLES[1] as u32).to_le_bytes());
    let pc = acpi_input(flags::RSDP, slot, 0, 0, [&pc_rsdt, &facp, &[], &[]]);

    // virtio-net-pci (modern) as QEMU lays out its capabilities: MSI-X
    // (4 vectors, table at BAR 1 + 0, PBA at BAR 1 + 0x800), then the
    // virtio vendor capabilities: common, ISR, device, notify, PCI access.
    let vendor = |next: u8, len: u8, kind: u8, bar: u8, offset: u32, size: u32| {
        let mut c = vec![0x09, next, len, kind, bar, 0, 0, 0];
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        if kind == 2 {
            c.extend_from_slice(&4u32.to_le_bytes()); // notify multiplier
        }
        c
    };
    let msix: &[u8] = &[0x11, 0x84, 0x03, 0x00, 0x01, 0, 0, 0, 0x01, 0x08, 0, 0];
    let virtio_net = config_space(
        0x98,
        &[
            (0x98, msix),
            (0x84, &vendor(0x70, 0x14, 5, 0, 0, 4)),
            (0x70, &vendor(0x60, 0x14, 2, 4, 0x3000, 0x1000)),
            (0x60, &vendor(0x50, 0x10, 4, 4, 0x2000, 0x1000)),
            (0x50, &vendor(0x40, 0x10, 3, 4, 0x1000, 0x1000)),
            (0x40, &vendor(0x00, 0x10, 1, 4, 0x0000, 0x1000)),
        ],
    );
    // A list that loops back on itself.
    let looping = config_space(
        0x40,
        &[(0x40, &[0x11, 0x50, 0, 0]), (0x50, &[0x09, 0x40, 4, 0])],
    );
    vec![q35, xsdt, pc, virtio_net, looping]
}

/// Scripts for `gateway_frames` (operation codes as `gateway.rs` reads
/// them; two-byte numbers little-endian).
fn gateway_frames() -> Vec<Vec<u8>> {
    fn u16le(v: u16) -> [u8; 2] {
        v.to_le_bytes()
    }
    // Op 4: the LAN host sends UDP (protocol 17) to the host behind the peer.
    let lan_udp = |payload: &[u8]| {
        let mut op = vec![4, 0, 17, 64, 0, 1];
        op.extend_from_slice(&u16le(payload.len() as u16));
        op.extend_from_slice(payload);
        op.push(0); // plain receive, checksum unchecked
        op
    };
    // Op 2: the peer tunnels UDP to the LAN host.
    let peer_udp = |payload: &[u8]| {
        let mut op = vec![2, 0, 0, 5, 17, 64, 0];
        op.extend_from_slice(&u16le(payload.len() as u16));
        op.extend_from_slice(payload);
        op
    };
    let step = [6u8];
    let later = [5u8, 0x80, 0x00]; // 1 s
    let mut conversation = vec![0u8];
    conversation.extend(lan_udp(b"first packet, starts the handshake"));
    conversation.extend(step.repeat(3));
    conversation.extend(peer_udp(b"an answer from behind the peer"));
    conversation.extend(step.repeat(2));
    conversation.extend(later);
    conversation.extend(lan_udp(&[0xab; 1300]));
    conversation.extend(step);
    conversation.push(7); // the peer's last datagram, replayed
    conversation.push(0);
    conversation.extend(step);

    // With LAN offload: a 4,000-byte TCP segment left for the gateway to cut
    // (GSO, partial checksum at the TCP checksum field).
    let mut gso = vec![1u8];
    gso.extend(lan_udp(b"handshake first"));
    gso.extend(step.repeat(3));
    let mut tcp = vec![
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ];
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend(std::iter::repeat_n(0x5a, 4000));
    gso.extend_from_slice(&[4, 0, 6, 64, 0, 1]);
    gso.extend_from_slice(&u16le(tcp.len() as u16));
    gso.extend(tcp);
    gso.push(0x0e); // partial checksum, its position given, GSO TCPv4
    gso.extend_from_slice(&u16le(34));
    gso.extend_from_slice(&u16le(16));
    gso.extend_from_slice(&u16le(1200));
    gso.extend(step.repeat(2));

    // Bent headers and garbage on both NICs.
    let mut garbage = vec![0u8];
    garbage.extend_from_slice(&[1, 0x1f, 2, 0x4d, 0xca]);
    garbage.extend_from_slice(&u16le(32));
    garbage.extend_from_slice(&[4, 0, 0, 0]);
    garbage.extend_from_slice(&[0; 28]);
    garbage.extend_from_slice(&[0, 0x22, 0x40, 0x11, 0, 0, 0]);
    garbage.extend_from_slice(&[0, 60, 0]);
    garbage.extend(std::iter::repeat_n(0xff, 60));
    garbage.push(0);
    garbage.extend_from_slice(&[3, 42, 0]);
    garbage.extend(std::iter::repeat_n(0x01, 42));
    garbage.push(0);
    garbage.extend(step);
    vec![conversation, gso, garbage]
}

/// Scripts for the `uapi` target (see `uapi::uapi` for the operations).
fn uapi() -> Vec<Vec<u8>> {
    use crate::uapi::{fragment_index, hex, NEW_GATEWAY_KEY, OTHER_KEYS};
    use crypto::PrivateKey;
    let piece = |text: &str| vec![1, fragment_index(text)];
    let public = |key: [u8; 32]| {
        format!(
            "public_key={}\n",
            hex(PrivateKey::from_bytes(key).public_key().as_bytes())
        )
    };
    let peer = public(crate::fake_nic::PEER_KEY);
    let other = public(OTHER_KEYS[0]);
    let deliver_all = vec![3, 0];
    let read = |size: u16| {
        let mut op = vec![4];
        op.extend_from_slice(&size.to_le_bytes());
        op
    };
    let script = |ops: &[Vec<u8>]| ops.concat();
    let get = script(&[piece("get=1\n\n"), deliver_all.clone(), read(4095)]);
    vec![
        get.clone(),
        // A peer added with a prefix and an endpoint, read back.
        script(&[
            piece("set=1\n"),
            piece(&other),
            piece("allowed_ip=10.99.0.3/32\n"),
            piece("endpoint=192.0.2.3:51821\n"),
            piece("\n"),
            deliver_all.clone(),
            read(4095),
            get.clone(),
        ]),
        // The configured peer removed; then a bad prefix refused, changing nothing.
        script(&[
            get.clone(),
            piece("set=1\n"),
            piece(&peer),
            piece("remove=true\n"),
            piece("\n"),
            deliver_all.clone(),
            read(4095),
            get.clone(),
            piece("set=1\n"),
            piece(&other),
            vec![0, 24],
            b"allowed_ip=10.300.0.0/16\n".to_vec(),
            piece("\n"),
            deliver_all.clone(),
            read(4095),
            get.clone(),
        ]),
        // Byte by byte, a reply read a byte at a time, a client leaving mid-reply.
        script(&[
            piece("get=1\n\n"),
            vec![3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1],
            read(0),
            read(0),
            read(7),
            vec![5, 0],
            read(100),
            get.clone(),
        ]),
        // A new private key, port and allowed IPs replaced; then the key removed.
        script(&[
            piece("set=1\n"),
            piece(&format!("private_key={}\n", hex(&NEW_GATEWAY_KEY))),
            piece("listen_port=51999\n"),
            piece(&peer),
            piece("replace_allowed_ips=true\n"),
            piece("allowed_ip=fd99::3/128\n"),
            piece("persistent_keepalive_interval=25\n"),
            piece("\n"),
            deliver_all.clone(),
            read(4095),
            vec![6, 0x10, 0x27],
            get.clone(),
            piece("set=1\n"),
            piece(&format!("private_key={}\n", hex(&[0; 32]))),
            piece("\n"),
            deliver_all.clone(),
            read(4095),
            get.clone(),
        ]),
        // A client's garbage left in the stream, then the next client's request.
        script(&[
            vec![0, 7],
            b"\x01garbage".to_vec(),
            deliver_all.clone(),
            vec![5, 0, 0, 2],
            b"zz\n".to_vec(),
            get,
        ]),
    ]
}
