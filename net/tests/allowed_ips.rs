//! Cryptokey routing table: the cases of Linux's allowedips selftest
//! (drivers/net/wireguard/selftest/allowedips.c) and a randomized comparison
//! against a linear-scan reference.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::Rng;
use net::allowed_ips::{AllowedIps, CidrError, IpCidr};

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// An IPv6 address from four 32-bit words, as the Linux selftest writes them.
fn ip6(a: u32, b: u32, c: u32, d: u32) -> IpAddr {
    let bits =
        (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d);
    IpAddr::V6(Ipv6Addr::from_bits(bits))
}

fn cidr(addr: IpAddr, len: u8) -> IpCidr {
    IpCidr::new(addr, len).expect("test prefix is valid")
}

fn insert(table: &mut AllowedIps<char>, addr: IpAddr, len: u8, peer: char) {
    table.insert(cidr(addr, len), peer).expect("insert");
}

/// The fixed table of the Linux selftest, peers named 'a'..='h'.
fn linux_table() -> AllowedIps<char> {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(192, 168, 4, 0), 24, 'a');
    insert(&mut t, ip4(192, 168, 4, 4), 32, 'b');
    insert(&mut t, ip4(192, 168, 0, 0), 16, 'c');
    insert(&mut t, ip4(192, 95, 5, 64), 27, 'd');
    // Same /27 with host bits set: replaces 'd'.
    insert(&mut t, ip4(192, 95, 5, 65), 27, 'c');
    insert(&mut t, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, 'd');
    insert(&mut t, ip6(0x26075300, 0x60006b00, 0, 0), 64, 'c');
    insert(&mut t, ip4(0, 0, 0, 0), 0, 'e');
    insert(&mut t, ip6(0, 0, 0, 0), 0, 'e');
    // Replaces the IPv6 default route.
    insert(&mut t, ip6(0, 0, 0, 0), 0, 'f');
    insert(&mut t, ip6(0x24046800, 0, 0, 0), 32, 'g');
    insert(
        &mut t,
        ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef),
        64,
        'h',
    );
    insert(
        &mut t,
        ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef),
        128,
        'a',
    );
    insert(
        &mut t,
        ip6(0x24446800, 0x40e40800, 0xdeaebeef, 0x0defbeef),
        128,
        'c',
    );
    insert(&mut t, ip6(0x24446800, 0xf0e40800, 0xeeaebeef, 0), 98, 'b');
    insert(&mut t, ip4(64, 15, 112, 0), 20, 'g');
    insert(&mut t, ip4(64, 15, 123, 211), 25, 'h');
    insert(&mut t, ip4(10, 0, 0, 0), 25, 'a');
    insert(&mut t, ip4(10, 0, 0, 128), 25, 'b');
    insert(&mut t, ip4(10, 1, 0, 0), 30, 'a');
    insert(&mut t, ip4(10, 1, 0, 4), 30, 'b');
    insert(&mut t, ip4(10, 1, 0, 8), 29, 'c');
    insert(&mut t, ip4(10, 1, 0, 16), 29, 'd');
    t
}

#[test]
fn linux_selftest_lookups() {
    let t = linux_table();
    let cases = [
        (ip4(192, 168, 4, 20), 'a'),
        (ip4(192, 168, 4, 0), 'a'),
        (ip4(192, 168, 4, 4), 'b'),
        (ip4(192, 168, 200, 182), 'c'),
        (ip4(192, 95, 5, 68), 'c'),
        (ip4(192, 95, 5, 96), 'e'),
        (ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 'd'),
        (ip6(0x26075300, 0x60006b00, 0, 0xc02e01ee), 'c'),
        (ip6(0x26075300, 0x60006b01, 0, 0), 'f'),
        (ip6(0x24046800, 0x40040806, 0, 0x1006), 'g'),
        (ip6(0x24046800, 0x40040806, 0x1234, 0x5678), 'g'),
        (ip6(0x240467ff, 0x40040806, 0x1234, 0x5678), 'f'),
        (ip6(0x24046801, 0x40040806, 0x1234, 0x5678), 'f'),
        (ip6(0x24046800, 0x40040800, 0x1234, 0x5678), 'h'),
        (ip6(0x24046800, 0x40040800, 0, 0), 'h'),
        (ip6(0x24046800, 0x40040800, 0x10101010, 0x10101010), 'h'),
        (ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 'a'),
        (ip4(64, 15, 116, 26), 'g'),
        (ip4(64, 15, 127, 3), 'g'),
        (ip4(64, 15, 123, 1), 'g'),
        (ip4(64, 15, 123, 128), 'h'),
        (ip4(64, 15, 123, 129), 'h'),
        (ip4(10, 0, 0, 52), 'a'),
        (ip4(10, 0, 0, 220), 'b'),
        (ip4(10, 1, 0, 2), 'a'),
        (ip4(10, 1, 0, 6), 'b'),
        (ip4(10, 1, 0, 10), 'c'),
        (ip4(10, 1, 0, 20), 'd'),
    ];
    for (index, (addr, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            t.lookup(addr),
            Some(expected),
            "case {} ({addr})",
            index + 1
        );
    }
}

#[test]
fn linux_selftest_remove_by_peer() {
    let mut t = linux_table();
    let hosts = [1, 64, 128, 192, 255].map(|first| ip4(first, 0, 0, 0));
    for host in hosts {
        insert(&mut t, host, 32, 'a');
    }
    let before = t.len();
    let a_prefixes = t.prefixes_of('a').count();
    assert_eq!(t.remove_peer('a'), a_prefixes);
    assert_eq!(t.len(), before - a_prefixes);
    for host in hosts {
        assert_ne!(t.lookup(host), Some('a'), "{host}");
        // The IPv4 default route of 'e' now answers.
        assert_eq!(t.lookup(host), Some('e'), "{host}");
    }
    assert_eq!(t.prefixes_of('a').count(), 0);
    // Other peers are untouched.
    assert_eq!(t.lookup(ip4(10, 0, 0, 220)), Some('b'));
    assert_eq!(t.lookup(ip4(10, 1, 0, 20)), Some('d'));
}

#[test]
fn linux_selftest_remove_nested_prefixes_of_one_peer() {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(192, 168, 0, 0), 16, 'a');
    insert(&mut t, ip4(192, 168, 0, 0), 24, 'a');
    assert_eq!(t.remove_peer('a'), 2);
    assert_eq!(t.lookup(ip4(192, 168, 0, 1)), None);
    assert!(t.is_empty());
}

/// Deep, one-sided chains of /128s, which a careless recursive free or a
/// depth-limited stack would choke on.
#[test]
fn linux_selftest_deep_chains() {
    let mut t = AllowedIps::new();
    for shift in 0..64 {
        let part = u128::from(u64::MAX << shift);
        let high = IpAddr::V6(Ipv6Addr::from_bits((u128::from(u64::MAX) << 64) | part));
        let low = IpAddr::V6(Ipv6Addr::from_bits(part << 64));
        insert(&mut t, high, 128, 'a');
        insert(&mut t, low, 128, 'b');
    }
    insert(&mut t, IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128, 'c');
    assert_eq!(t.len(), 129);
    for (prefix, _) in t.iter().collect::<Vec<_>>() {
        assert_eq!(t.lookup(prefix.addr()), t.get(prefix));
    }
    assert_eq!(t.remove_peer('a'), 64);
    assert_eq!(t.remove_peer('b'), 64);
    assert_eq!(t.remove_peer('c'), 1);
    assert!(t.is_empty());
    assert_eq!(t.iter().count(), 0);
}

#[test]
fn linux_selftest_iterate_one_peers_prefixes() {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(192, 95, 5, 93), 27, 'a');
    insert(&mut t, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, 'a');
    insert(&mut t, ip4(10, 1, 0, 20), 29, 'a');
    insert(
        &mut t,
        ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523),
        83,
        'a',
    );
    insert(
        &mut t,
        ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523),
        21,
        'a',
    );
    let found: Vec<IpCidr> = t.prefixes_of('a').collect();
    // Host bits are gone, IPv4 comes first, each family in address order.
    let expected = vec![
        cidr(ip4(10, 1, 0, 16), 29),
        cidr(ip4(192, 95, 5, 64), 27),
        cidr(ip6(0x26075000, 0, 0, 0), 21),
        cidr(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128),
        cidr(ip6(0x26075300, 0x6d8a6bf8, 0xdab1e000, 0), 83),
    ];
    assert_eq!(found, expected);
}

#[test]
fn inserting_an_existing_prefix_moves_it() {
    let mut t = AllowedIps::new();
    assert_eq!(t.insert(cidr(ip4(10, 0, 0, 0), 8), 1u32), Ok(None));
    assert_eq!(t.insert(cidr(ip4(10, 0, 0, 0), 8), 1u32), Ok(Some(1)));
    assert_eq!(t.insert(cidr(ip4(10, 9, 9, 9), 8), 2u32), Ok(Some(1)));
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(ip4(10, 1, 2, 3)), Some(2));
    assert_eq!(t.prefixes_of(1).count(), 0);
    assert_eq!(
        t.prefixes_of(2).collect::<Vec<_>>(),
        vec![cidr(ip4(10, 0, 0, 0), 8)]
    );
}

#[test]
fn default_routes_and_host_routes() {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(0, 0, 0, 0), 0, 'v');
    insert(&mut t, ip6(0, 0, 0, 0), 0, 's');
    insert(&mut t, ip4(203, 0, 113, 5), 32, 'h');
    insert(&mut t, ip6(0x20010db8, 0, 0, 5), 128, 'H');
    assert_eq!(t.lookup(ip4(203, 0, 113, 5)), Some('h'));
    assert_eq!(t.lookup(ip4(203, 0, 113, 4)), Some('v'));
    assert_eq!(t.lookup(ip4(255, 255, 255, 255)), Some('v'));
    assert_eq!(t.lookup(ip6(0x20010db8, 0, 0, 5)), Some('H'));
    assert_eq!(t.lookup(ip6(0x20010db8, 0, 0, 6)), Some('s'));
    assert_eq!(
        t.lookup(ip6(u32::MAX, u32::MAX, u32::MAX, u32::MAX)),
        Some('s')
    );
    assert_eq!(t.remove(cidr(ip4(0, 0, 0, 0), 0)), Some('v'));
    assert_eq!(t.lookup(ip4(203, 0, 113, 4)), None);
    assert_eq!(t.lookup(ip4(203, 0, 113, 5)), Some('h'));
}

#[test]
fn ipv4_and_ipv6_are_separate() {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(0, 0, 0, 0), 0, '4');
    assert_eq!(t.lookup(ip6(0, 0, 0, 1)), None);
    // ::ffff:10.0.0.1 is an IPv6 address; it does not match IPv4 routes.
    insert(&mut t, ip4(10, 0, 0, 1), 32, 'x');
    assert_eq!(
        t.lookup(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped())),
        None
    );
    insert(&mut t, ip6(0, 0, 0, 0), 0, '6');
    assert_eq!(t.lookup(ip4(1, 2, 3, 4)), Some('4'));
    assert_eq!(t.lookup(ip6(1, 2, 3, 4)), Some('6'));
    // The same numeric prefix in both families: two entries.
    insert(&mut t, ip6(0, 0, 0, 0), 32, 'y');
    assert_eq!(t.get(cidr(ip4(0, 0, 0, 0), 32)), None);
    assert_eq!(t.get(cidr(ip6(0, 0, 0, 0), 32)), Some('y'));
}

#[test]
fn remove_exact_prefix_only() {
    let mut t = AllowedIps::new();
    insert(&mut t, ip4(10, 0, 0, 0), 8, 'a');
    insert(&mut t, ip4(10, 1, 0, 0), 16, 'b');
    assert_eq!(t.remove(cidr(ip4(10, 0, 0, 0), 9)), None);
    assert_eq!(t.remove(cidr(ip4(10, 1, 0, 0), 24)), None);
    assert_eq!(t.len(), 2);
    // Host bits are ignored on removal as on insertion.
    assert_eq!(t.remove(cidr(ip4(10, 77, 0, 1), 8)), Some('a'));
    assert_eq!(t.lookup(ip4(10, 1, 2, 3)), Some('b'));
    assert_eq!(t.lookup(ip4(10, 2, 2, 3)), None);
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.lookup(ip4(10, 1, 2, 3)), None);
}

#[test]
fn cidr_parse_and_display() {
    let parsed: IpCidr = "10.0.0.1/24".parse().unwrap();
    assert_eq!(parsed.addr(), ip4(10, 0, 0, 1));
    assert_eq!(parsed.prefix_len(), 24);
    assert_eq!(parsed.network().to_string(), "10.0.0.0/24");
    assert!(parsed.contains(ip4(10, 0, 0, 200)));
    assert!(!parsed.contains(ip4(10, 0, 1, 0)));
    assert!(!parsed.contains(ip6(0, 0, 0, 0)));
    assert_eq!(
        "fd00::1/64"
            .parse::<IpCidr>()
            .unwrap()
            .network()
            .to_string(),
        "fd00::/64"
    );
    assert_eq!("2001:db8::7".parse::<IpCidr>().unwrap().prefix_len(), 128);
    assert_eq!("192.0.2.1".parse::<IpCidr>().unwrap().prefix_len(), 32);
    assert_eq!(
        "0.0.0.0/0".parse::<IpCidr>().unwrap().network().to_string(),
        "0.0.0.0/0"
    );
    assert_eq!(
        "10.0.0.0/33".parse::<IpCidr>(),
        Err(CidrError::PrefixTooLong { max: 32 })
    );
    assert_eq!(
        "::/129".parse::<IpCidr>(),
        Err(CidrError::PrefixTooLong { max: 128 })
    );
    for bad in [
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0.0/8/8",
        "10.0.0.0/0008",
        "10.0.0.0/ 8",
    ] {
        assert_eq!(
            bad.parse::<IpCidr>(),
            Err(CidrError::InvalidPrefixLength),
            "{bad}"
        );
    }
    for bad in ["", "10.0.0/8", "host/8", "10.0.0.0.0/8", " 10.0.0.0/8"] {
        assert_eq!(
            bad.parse::<IpCidr>(),
            Err(CidrError::InvalidAddress),
            "{bad}"
        );
    }
    assert_eq!(
        IpCidr::new(ip4(1, 2, 3, 4), 33),
        Err(CidrError::PrefixTooLong { max: 32 })
    );
}

/// The obviously correct table: a list scanned in full for every lookup.
struct Reference {
    routes: Vec<(IpCidr, u32)>,
}

impl Reference {
    fn insert(&mut self, prefix: IpCidr, peer: u32) {
        let network = prefix.network();
        self.routes.retain(|(existing, _)| *existing != network);
        self.routes.push((network, peer));
    }

    fn remove_peer(&mut self, peer: u32) -> usize {
        let before = self.routes.len();
        self.routes.retain(|&(_, owner)| owner != peer);
        before - self.routes.len()
    }

    fn lookup(&self, addr: IpAddr) -> Option<u32> {
        self.routes
            .iter()
            .filter(|(prefix, _)| prefix.contains(addr))
            .max_by_key(|(prefix, _)| prefix.prefix_len())
            .map(|&(_, peer)| peer)
    }
}

fn random_addr(rng: &mut Rng, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from_bits(rng.next_u128()))
    } else {
        IpAddr::V4(Ipv4Addr::from_bits(rng.next_u64() as u32))
    }
}

/// Flips a few random bits of `addr`, to land near (often inside) a route.
fn mutate(rng: &mut Rng, addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mut bits = a.to_bits();
            for _ in 0..=rng.below(3) {
                bits ^= 1 << rng.below(32);
            }
            IpAddr::V4(Ipv4Addr::from_bits(bits))
        }
        IpAddr::V6(a) => {
            let mut bits = a.to_bits();
            for _ in 0..=rng.below(3) {
                bits ^= 1 << rng.below(128);
            }
            IpAddr::V6(Ipv6Addr::from_bits(bits))
        }
    }
}

/// Random inserts (including moves and nested prefixes), removals by peer
/// and by prefix, and re-layouts, checked after each phase against the
/// reference with lookups both random and close to existing routes.
#[test]
fn randomized_against_linear_reference() {
    const PEERS: u64 = 64;
    let mut rng = Rng::new(0x0a11_0bed_1b5a_u64);
    let mut table = AllowedIps::new();
    let mut reference = Reference { routes: Vec::new() };

    for phase in 0..6 {
        for _ in 0..1_500 {
            let v6 = rng.chance(1, 2);
            let addr = if !reference.routes.is_empty() && rng.chance(1, 2) {
                // Nested or sibling prefix near an existing one.
                let (near, _) = *rng.pick(&reference.routes);
                if near.is_ipv6() == v6 {
                    mutate(&mut rng, near.addr())
                } else {
                    random_addr(&mut rng, v6)
                }
            } else {
                random_addr(&mut rng, v6)
            };
            let max = if addr.is_ipv6() { 128 } else { 32 };
            let len = rng.below(max + 1) as u8;
            let peer = rng.below(PEERS) as u32;
            let prefix = cidr(addr, len);
            let expected_previous = reference
                .routes
                .iter()
                .find(|(p, _)| *p == prefix.network())
                .map(|&(_, owner)| owner);
            assert_eq!(table.insert(prefix, peer), Ok(expected_previous));
            reference.insert(prefix, peer);
        }
        for _ in 0..4 {
            let peer = rng.below(PEERS) as u32;
            assert_eq!(
                table.remove_peer(peer),
                reference.remove_peer(peer),
                "phase {phase}"
            );
        }
        for _ in 0..200 {
            if reference.routes.is_empty() {
                break;
            }
            let index = rng.below(reference.routes.len() as u64) as usize;
            let (prefix, peer) = reference.routes.swap_remove(index);
            assert_eq!(table.remove(prefix), Some(peer));
        }
        assert_eq!(table.len(), reference.routes.len(), "phase {phase}");
        if phase % 2 == 1 {
            // Re-laying out the nodes must not change the table, and later
            // inserts and removals must work on the compacted arena.
            table.compact().expect("compact");
            assert_eq!(table.len(), reference.routes.len(), "phase {phase}");
        }

        for query in 0..10_000 {
            let addr = if rng.chance(2, 3) && !reference.routes.is_empty() {
                let (near, _) = *rng.pick(&reference.routes);
                mutate(&mut rng, near.addr())
            } else {
                let v6 = rng.chance(1, 2);
                random_addr(&mut rng, v6)
            };
            assert_eq!(
                table.lookup(addr),
                reference.lookup(addr),
                "phase {phase} query {query}: {addr}"
            );
        }

        // Iteration yields exactly the reference's routes, in sorted order.
        let listed: Vec<(IpCidr, u32)> = table.iter().collect();
        let mut expected = reference.routes.clone();
        expected.sort_by_key(|&(prefix, _)| (prefix.is_ipv6(), prefix.addr(), prefix.prefix_len()));
        assert_eq!(listed, expected, "phase {phase}");
        for (prefix, peer) in &expected {
            assert_eq!(table.get(*prefix), Some(*peer));
        }
    }

    // Emptying the table peer by peer leaves nothing behind.
    for peer in 0..PEERS as u32 {
        assert_eq!(table.remove_peer(peer), reference.remove_peer(peer));
    }
    assert!(table.is_empty());
    assert_eq!(table.iter().count(), 0);
    assert_eq!(table.lookup(random_addr(&mut rng, false)), None);
}
