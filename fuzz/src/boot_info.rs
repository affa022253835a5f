//! The boot-information parsers: PVH `hvm_start_info` with its memory map,
//! Multiboot2 tags, and the kernel command line.

use boot::virtio_mmio::{self, MmioArgError, MmioDevice};
use boot::{BootInfo, BufferMemory, MAX_CMDLINE, MAX_PHYSICAL_ADDRESS, MAX_REGIONS};

/// Where the fuzz input lies in "physical memory": pointers inside it are
/// absolute addresses from here.
pub const BASE: u64 = 0x1000;

/// What the kernel relies on in a parsed `BootInfo`: a memory map of at
/// most `MAX_REGIONS` non-empty regions that end within the physical
/// address space (so page rounding and totals cannot overflow), the same
/// for the module, and a command line without NUL.
fn check(info: &BootInfo) {
    let regions = info.memory_regions();
    assert!(!regions.is_empty() && regions.len() <= MAX_REGIONS);
    let mut total = 0u64;
    for region in regions {
        assert!(region.len > 0, "an empty region");
        assert!(
            region
                .start
                .checked_add(region.len)
                .is_some_and(|end| end <= MAX_PHYSICAL_ADDRESS),
            "a region beyond physical memory: {region:?}"
        );
        total = total
            .checked_add(region.len)
            .expect("a total that overflows");
    }
    assert_eq!(info.usable_bytes(), total);
    let cmdline = info.cmdline();
    assert!(cmdline.len() <= MAX_CMDLINE && !cmdline.contains('\0'));
    if let Some(module) = info.initrd {
        assert!(
            module.start.checked_add(module.len).is_some(),
            "a module that wraps around"
        );
    }
}

fn parse(protocol: u32, data: &[u8]) -> Option<BootInfo> {
    let memory = BufferMemory {
        base: BASE,
        bytes: data,
    };
    let info = BootInfo::parse(protocol, BASE, &memory).ok()?;
    check(&info);
    Some(info)
}

/// The input as the memory holding a PVH `hvm_start_info` (at its start)
/// and whatever it points to.
pub fn boot_pvh(data: &[u8]) {
    let _ = parse(1, data);
}

/// The input as the memory holding a Multiboot2 information structure (at
/// its start).
pub fn boot_multiboot2(data: &[u8]) {
    let _ = parse(2, data);
}

/// Offsets in the PVH structure `pvh_with_cmdline` lays out.
const CMDLINE_AT: usize = 0x80;
const MEMMAP_AT: usize = 0x40;

/// A valid PVH `hvm_start_info` (version 1, one RAM region) whose command
/// line is `cmdline`.
pub fn pvh_with_cmdline(cmdline: &[u8]) -> Vec<u8> {
    let mut mem = vec![0u8; CMDLINE_AT];
    let put32 =
        |mem: &mut Vec<u8>, at: usize, v: u32| mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |mem: &mut Vec<u8>, at: usize, v: u64| mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put32(&mut mem, 0, boot::pvh::START_INFO_MAGIC);
    put32(&mut mem, 4, 1);
    put64(&mut mem, 24, BASE + CMDLINE_AT as u64);
    put64(&mut mem, 40, BASE + MEMMAP_AT as u64);
    put32(&mut mem, 48, 1);
    put64(&mut mem, MEMMAP_AT, 0x10_0000);
    put64(&mut mem, MEMMAP_AT + 8, 0x1f0_0000);
    put32(&mut mem, MEMMAP_AT + 16, boot::pvh::MEMMAP_TYPE_RAM);
    mem.extend_from_slice(cmdline);
    mem
}

/// The input as the kernel command line of an otherwise valid PVH boot:
/// the line kept is the input up to its first NUL, cut at `MAX_CMDLINE`
/// bytes (empty if that is not UTF-8), and an option's value is the rest of
/// a whole `key=value` word of it. The same line's `virtio_mmio.device=`
/// arguments are checked by [`check_virtio_mmio`].
pub fn boot_cmdline(data: &[u8]) {
    let info = parse(1, &pvh_with_cmdline(data)).expect("a valid structure");
    let expected = data.split(|&b| b == 0).next().unwrap_or_default();
    let expected = &expected[..expected.len().min(MAX_CMDLINE)];
    assert_eq!(info.cmdline(), core::str::from_utf8(expected).unwrap_or(""));
    let words: Vec<&str> = info.cmdline().split_whitespace().collect();
    for key in ["config", "test", "", "config=x"] {
        match info.cmdline_option(key) {
            Some(value) => {
                assert!(!value.contains(char::is_whitespace));
                let word = format!("{key}={value}");
                assert!(words.contains(&word.as_str()), "{word:?} is not a word");
            }
            None => assert!(
                !words.iter().any(|w| w.starts_with(&format!("{key}="))),
                "an option of {key:?} missed"
            ),
        }
    }
    check_virtio_mmio(info.cmdline());
}

/// The `virtio_mmio.device=` arguments of `line`: one item per word
/// (split at ASCII whitespace, as Linux splits its command line) that
/// starts with the argument's name, in order; every device accepted has a
/// window of at least `MIN_WINDOW` bytes ending by `MAX_ADDRESS` (so the
/// kernel can map it without overflow), and no two accepted windows share
/// a byte (no two drivers on one register block); and an argument whose
/// value parses on its own is refused only because an earlier accepted
/// device has the same window (`Duplicate`) or shares bytes with it
/// (`Overlaps`, naming that device).
fn check_virtio_mmio(line: &str) {
    let words: Vec<&str> = line
        .split_ascii_whitespace()
        .filter(|w| w.starts_with(virtio_mmio::ARGUMENT))
        .collect();
    let items: Vec<_> = virtio_mmio::arguments(line).collect();
    assert_eq!(items.len(), words.len());
    let mut accepted: Vec<MmioDevice> = Vec::new();
    for (item, word) in items.iter().zip(&words) {
        assert_eq!(item.text, *word);
        let alone = virtio_mmio::parse_device(&word[virtio_mmio::ARGUMENT.len()..]);
        match (item.device, alone) {
            (Ok(device), Ok(parsed)) => {
                assert_eq!(device, parsed);
                assert!(device.size >= virtio_mmio::MIN_WINDOW, "{device:?}");
                assert!(
                    device
                        .base
                        .checked_add(device.size)
                        .is_some_and(|end| end <= virtio_mmio::MAX_ADDRESS),
                    "{device:?}"
                );
                assert!(
                    accepted
                        .iter()
                        .all(|a| a.base >= device.end() || device.base >= a.end()),
                    "{device:?} overlaps one of {accepted:?}"
                );
                accepted.push(device);
            }
            (Err(MmioArgError::Duplicate), Ok(parsed)) => assert!(
                accepted
                    .iter()
                    .any(|a| a.base == parsed.base && a.size == parsed.size),
                "{parsed:?} is no duplicate"
            ),
            (Err(MmioArgError::Overlaps(earlier)), Ok(parsed)) => {
                assert!(accepted.contains(&earlier), "{earlier:?} was not accepted");
                assert!(parsed.overlaps(earlier.base, earlier.end()));
                assert!(earlier.base != parsed.base || earlier.size != parsed.size);
            }
            (Err(why), Ok(parsed)) => panic!("{parsed:?} refused: {why:?}"),
            (Ok(device), Err(why)) => panic!("{device:?} accepted, alone {why:?}"),
            (Err(why), Err(alone)) => assert_eq!(why, alone),
        }
    }
}
