//! Throughput of the cryptokey routing table at gateway scale:
//! 10,000 peers with 10 prefixes each (5 IPv4, 5 IPv6), in two layouts:
//! uniformly random prefixes (the worst case for a trie: every level is a
//! cache miss) and address pools as a real deployment assigns them.
//!
//! Run with `cargo bench -p gateway-net --bench allowed_ips`. It prints
//! figures; it asserts nothing about speed, which depends on the machine.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use net::{AllowedIps, IpCidr};

const PREFIXES_PER_FAMILY: u32 = 5;
const LOOKUPS: usize = 2_000_000;

/// xorshift64*: deterministic, dependency-free randomness for the workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Number of peers; `ALLOWED_IPS_BENCH_PEERS` overrides the default of 10,000.
fn peer_count() -> u32 {
    std::env::var("ALLOWED_IPS_BENCH_PEERS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000)
}

fn main() {
    let peers = peer_count();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut table = AllowedIps::new();
    let mut v4_hits = Vec::new();
    let mut v6_hits = Vec::new();

    let started = Instant::now();
    for peer in 0..peers {
        for _ in 0..PREFIXES_PER_FAMILY {
            let v4 = Ipv4Addr::from_bits(rng.next() as u32);
            let v4_len = 16 + (rng.next() % 17) as u8;
            table
                .insert(
                    IpCidr::new(IpAddr::V4(v4), v4_len).expect("valid prefix"),
                    peer,
                )
                .expect("insert");
            v4_hits.push(v4);

            let v6 = Ipv6Addr::from_bits(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            let v6_len = 32 + (rng.next() % 97) as u8;
            table
                .insert(
                    IpCidr::new(IpAddr::V6(v6), v6_len).expect("valid prefix"),
                    peer,
                )
                .expect("insert");
            v6_hits.push(v6);
        }
    }
    let build = started.elapsed();
    println!(
        "random prefixes: built {} prefixes for {peers} peers in {:.1} ms",
        table.len(),
        build.as_secs_f64() * 1e3
    );

    // Addresses inside inserted prefixes (deep walks that end in a match)
    // and uniformly random ones (mostly early misses).
    let v4_inside: Vec<Ipv4Addr> = (0..LOOKUPS).map(|i| v4_hits[i % v4_hits.len()]).collect();
    let v4_random: Vec<Ipv4Addr> = (0..LOOKUPS)
        .map(|_| Ipv4Addr::from_bits(rng.next() as u32))
        .collect();
    let v6_inside: Vec<Ipv6Addr> = (0..LOOKUPS).map(|i| v6_hits[i % v6_hits.len()]).collect();
    let v6_random: Vec<Ipv6Addr> = (0..LOOKUPS)
        .map(|_| Ipv6Addr::from_bits(u128::from(rng.next()) << 64 | u128::from(rng.next())))
        .collect();

    for compacted in [false, true] {
        if compacted {
            let started = Instant::now();
            table.compact().expect("compact");
            println!(
                "compacted in {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
        }
        measure("IPv4, matching", &v4_inside, |addr| table.lookup_v4(*addr));
        measure("IPv4, random", &v4_random, |addr| table.lookup_v4(*addr));
        measure("IPv6, matching", &v6_inside, |addr| table.lookup_v6(*addr));
        measure("IPv6, random", &v6_random, |addr| table.lookup_v6(*addr));
    }

    pools(&mut rng, peers);

    let started = Instant::now();
    let mut removed = 0;
    let removals = peers.min(1_000);
    for peer in 0..removals {
        removed += table.remove_peer(peer);
    }
    let elapsed = started.elapsed();
    println!(
        "removed {removals} peers ({removed} prefixes) in {:.1} ms ({:.1} us per peer)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / f64::from(removals.max(1))
    );
}

fn measure<A>(label: &str, addresses: &[A], lookup: impl Fn(&A) -> Option<u32>) {
    let started = Instant::now();
    let mut found = 0usize;
    for addr in addresses {
        if black_box(lookup(black_box(addr))).is_some() {
            found += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{label:<16} {:>6.1} M lookups/s ({:.0} ns each, {found} of {} matched)",
        addresses.len() as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64() * 1e9 / addresses.len() as f64,
        addresses.len()
    );
}

/// Each peer gets a tunnel address, a site subnet and a few more prefixes
/// carved sequentially out of fixed pools, like a provisioning script would.
fn pools(rng: &mut Rng, peers: u32) {
    let v4_pools: [(u32, u8); 5] = [
        (0x0a00_0000, 32), // 10.0.0.0/8: one tunnel address per peer
        (0x6440_0000, 24), // 100.64.0.0/10: one /24 site per peer
        (0xac10_0000, 28), // 172.16.0.0/12: one /28 per peer
        (0xc612_0000, 31), // 198.18.0.0/15: one /31 per peer
        (0x0b00_0000, 22), // 11.0.0.0/8: one /22 per peer
    ];
    let v6_pools: [(u128, u8); 5] = [
        (0xfd00_u128 << 112, 128),
        (0xfd01_u128 << 112, 64),
        (0xfd02_u128 << 112, 112),
        (0xfd03_u128 << 112, 56),
        (0xfd04_u128 << 112, 96),
    ];
    let mut table = AllowedIps::new();
    let started = Instant::now();
    for peer in 0..peers {
        for (base, len) in v4_pools {
            let addr = base + (peer << (32 - u32::from(len)));
            table
                .insert(
                    IpCidr::new(IpAddr::V4(Ipv4Addr::from_bits(addr)), len).expect("valid"),
                    peer,
                )
                .expect("insert");
        }
        for (base, len) in v6_pools {
            let addr = base + (u128::from(peer) << (128 - u32::from(len)));
            table
                .insert(
                    IpCidr::new(IpAddr::V6(Ipv6Addr::from_bits(addr)), len).expect("valid"),
                    peer,
                )
                .expect("insert");
        }
    }
    let build = started.elapsed();
    println!(
        "address pools: built {} prefixes for {peers} peers in {:.1} ms",
        table.len(),
        build.as_secs_f64() * 1e3
    );
    // A random host inside a random peer's prefix from a random pool.
    let v4: Vec<Ipv4Addr> = (0..LOOKUPS)
        .map(|_| {
            let (base, len) = v4_pools[(rng.next() % 5) as usize];
            let peer = (rng.next() % u64::from(peers)) as u32;
            let host_bits = (rng.next() as u32).checked_shr(u32::from(len)).unwrap_or(0);
            Ipv4Addr::from_bits(base + (peer << (32 - u32::from(len))) + host_bits)
        })
        .collect();
    let v6: Vec<Ipv6Addr> = (0..LOOKUPS)
        .map(|_| {
            let (base, len) = v6_pools[(rng.next() % 5) as usize];
            let peer = rng.next() % u64::from(peers);
            let random = u128::from(rng.next()) << 64 | u128::from(rng.next());
            let host_bits = random.checked_shr(u32::from(len)).unwrap_or(0);
            Ipv6Addr::from_bits(base + (u128::from(peer) << (128 - u32::from(len))) + host_bits)
        })
        .collect();
    measure("IPv4, pools", &v4, |addr| table.lookup_v4(*addr));
    measure("IPv6, pools", &v6, |addr| table.lookup_v6(*addr));
    table.compact().expect("compact");
    println!("compacted");
    measure("IPv4, pools", &v4, |addr| table.lookup_v4(*addr));
    measure("IPv6, pools", &v6, |addr| table.lookup_v6(*addr));
}
