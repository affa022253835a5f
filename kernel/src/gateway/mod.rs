//! The gateway in the kernel: configuration, the two virtio-net NICs, and
//! the glue that runs the sans-IO gateway loop (`net::gateway`) on them:
//! interrupts, halting, the clock, entropy and the console reports.

mod config;
mod nics;
mod report;
mod uapi;

use crate::entropy::KernelRng;
use crate::{interrupts, kprintln, time};
use boot::BootInfo;
use drivers::virtio::msix::InterruptRoute;
use drivers::virtio::net::Nic;
use net::engine::{Engine, Now, PeerId};
use net::gateway::Gateway;
use net::Instant;
use report::{DropReport, InterruptReport, PeerWatch, StageReport};

/// Stops before forwarding anything: prints why, then idles for ever so
/// the console stays readable (and QEMU's test harness can see the line).
fn refuse(reason: core::fmt::Arguments) -> ! {
    log::error!("{reason}");
    kprintln!("gateway refused to start: {reason}");
    kprintln!("nothing is forwarded; fix the problem above and reboot");
    loop {
        time::idle_until(None);
    }
}

/// The engine's view of the current time.
fn now() -> Now {
    Now::new(
        Instant::from_nanos(time::uptime_nanos()),
        core::time::Duration::from_nanos(time::wall_clock_nanos()),
    )
}

fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    crate::entropy::fill(&mut seed);
    u64::from_le_bytes(seed)
}

/// Loads the configuration, brings up the NICs and runs the gateway.
/// Returns only if no configuration was given at all.
pub fn run(boot: &BootInfo) {
    let config = match config::load(boot) {
        Ok(config) => config,
        Err(config::LoadError::Missing) => {
            log::info!("no configuration given (pass a WireGuard config file as the initrd)");
            return;
        }
        Err(config::LoadError::Unreadable(why) | config::LoadError::Invalid(why)) => {
            refuse(format_args!("configuration error: {why}"))
        }
    };
    if let Err(why) = time::wall_clock() {
        refuse(format_args!(
            "{why}. WireGuard peers reject handshakes whose timestamp is not newer than the \
             last one they saw, so a gateway starting from a wrong date would be locked out; \
             set the host or hypervisor clock (QEMU: -rtc base=utc)"
        ))
    }
    for ignored in &config.ignored_keys {
        log::info!(
            "config line {}: {} is a wg-quick setting; ignored",
            ignored.line,
            ignored.key
        );
    }
    for ignored in &config.ignored_peers {
        log::warn!(
            "{}:{}: this [Peer] has the interface's own public key; ignored, as Linux and \
             wireguard-go ignore it",
            config::file_name(boot),
            ignored.line
        );
    }
    let engine = Engine::from_config(&config, &mut KernelRng).unwrap_or_else(|e| {
        refuse(format_args!(
            "configuration error: {}: {e}",
            config::file_name(boot)
        ))
    });
    for (index, peer) in config.peers.iter().enumerate() {
        if !engine.peer_is_usable(PeerId(index as u32)) {
            log::warn!(
                "{}: peer {index} ({}): public key has small order, no secure handshake is \
                 possible; nothing will be sent to it",
                config::file_name(boot),
                peer.public_key
            );
        }
    }
    if let Some(why) = crate::devices::refusal() {
        refuse(format_args!("{why}"));
    }
    let nics =
        nics::bring_up(&config, boot.cmdline()).unwrap_or_else(|why| refuse(format_args!("{why}")));
    let mut uapi = uapi::Uapi::start(&config);
    let routes = [nics.outer.interrupt_route(), nics.inner.interrupt_route()];
    let [outer_irq, inner_irq] = routes.map(|route| match route {
        InterruptRoute::Intx { line } => line,
        InterruptRoute::Msix { .. } => None,
    });
    let peers = engine.peer_count();
    let mut gateway = Gateway::new(
        &config,
        engine,
        nics.outer,
        nics.inner,
        now().monotonic,
        random_seed(),
        time::rdtsc,
    )
    .unwrap_or_else(|why| refuse(format_args!("{why}")));
    kprintln!(
        "gateway ready: {} peer(s), listening on UDP port {}, public key {}",
        gateway.engine().peer_count(),
        config.interface.listen_port,
        gateway.engine().public_key()
    );
    let mut watch = PeerWatch::new(peers);
    let mut drops = DropReport::default();
    let mut stages = StageReport::default();
    let mut interrupt_report = InterruptReport::new(routes);
    let lines = [
        outer_irq,
        inner_irq,
        uapi.as_ref().and_then(|u| u.irq_line()),
    ];
    // Receive interrupts only while halted: the loop polls whenever it runs.
    let (outer, inner) = gateway.nics();
    outer.quiesce_interrupts();
    inner.quiesce_interrupts();
    loop {
        let pending = interrupts::take_pending_devices();
        if pending != 0 {
            let (outer, inner) = gateway.nics();
            outer.ack_interrupt();
            inner.ack_interrupt();
            if let Some(uapi) = uapi.as_mut() {
                uapi.ack_interrupt();
            }
            for pin in lines.into_iter().flatten() {
                if pending & (1 << pin) != 0 {
                    interrupts::device_serviced(pin);
                }
            }
        }
        let mut busy = gateway.poll(now(), &mut KernelRng);
        if let Some(uapi) = uapi.as_mut() {
            busy |= uapi.service(&mut gateway, now(), &mut KernelRng);
        }
        let at = now().monotonic.as_nanos();
        crate::entropy::reseed_if_due(at);
        watch.check(gateway.engine(), at);
        drops.check(&mut gateway, at);
        stages.check(&gateway, at);
        interrupt_report.check(at);
        // Halt as soon as there is nothing to do. (Polling on for 300 µs
        // after the last frame, as NAPI's busy polling does, was measured:
        // under TCG on two host cores it made ping RTT through the tunnel
        // worse, 1.05 ms instead of 0.66-0.73 ms at the minimum, because the
        // spinning vCPU competes with QEMU's I/O thread and the peer.)
        if busy {
            continue;
        }
        // Idle: let the devices interrupt again, and halt unless a frame
        // slipped in meanwhile.
        let (outer, inner) = gateway.nics();
        let arrived = outer.arm_interrupts() | inner.arm_interrupts();
        if !arrived {
            let deadline = gateway.next_deadline().map(|d| d.as_nanos());
            let halted_from = time::rdtsc();
            time::idle_until(deadline);
            stages.add_halted(time::rdtsc().wrapping_sub(halted_from));
        }
        let (outer, inner) = gateway.nics();
        outer.quiesce_interrupts();
        inner.quiesce_interrupts();
    }
}

/// The NIC type the loop runs on.
pub type VirtioGateway = Gateway<Nic, Nic>;
