// The 32-bit entry points and the trampoline into 64-bit long mode.
//
// Both loaders we support (QEMU/Firecracker/Cloud Hypervisor through the PVH
// note, GRUB through Multiboot2) start us in 32-bit protected mode with paging
// off. This file checks the CPU, enables the FPU/SSE (and AVX where present)
// before any compiled Rust runs, builds a temporary identity map of the low
// 4 GiB, turns on long mode with NX and write protection, and calls
// `gateway_main(protocol, info_paddr)` on the boot stack. The kernel replaces
// these page tables with its own fine-grained ones straight away.

.set MB2_MAGIC,          0xE85250D6
.set MB2_LOADER_MAGIC,   0x36D76289
.set PROTOCOL_PVH,       1
.set PROTOCOL_MULTIBOOT2, 2
.set XEN_ELFNOTE_PHYS32_ENTRY, 18

// ---------------------------------------------------------------- headers
.section .multiboot2, "a"
.balign 8
mb2_header_start:
    .long MB2_MAGIC
    .long 0                                  // architecture: i386 protected mode
    .long mb2_header_end - mb2_header_start
    .long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header_start))
    .balign 8
    .short 0, 0                              // end tag
    .long 8
mb2_header_end:

.section .note.Xen, "a", @note
.balign 4
    .long 4                                  // name size ("Xen\0")
    .long 4                                  // descriptor size
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long pvh_entry

// ---------------------------------------------------------------- 32-bit code
.section .boot.text, "ax"
.code32

// Stops with `msg` unless bit `bit` of `reg` is set.
.macro require reg, bit, msg
    lea ebp, [\msg]
    test \reg, 1 << \bit
    jz fail32
.endm

.global pvh_entry
pvh_entry:
    cli
    mov edi, PROTOCOL_PVH
    mov esi, ebx                             // physical address of hvm_start_info
    jmp common_entry32

.global multiboot2_entry
multiboot2_entry:
    cli
    cmp eax, MB2_LOADER_MAGIC
    jne unknown_loader
    mov edi, PROTOCOL_MULTIBOOT2
    mov esi, ebx                             // physical address of the boot information
    jmp common_entry32

unknown_loader:
    lea ebp, [msg_unknown_loader]
    jmp fail32

common_entry32:
    lea esp, [boot_stack_top]
    // CPUID exists iff EFLAGS.ID can be toggled.
    pushfd
    pop eax
    mov ecx, eax
    xor eax, 1 << 21
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    lea ebp, [msg_no_cpuid]
    jz fail32

    // Extended leaves: long mode and NX.
    mov eax, 0x80000000
    cpuid
    lea ebp, [msg_no_long_mode]
    cmp eax, 0x80000001
    jb fail32
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz fail32
    lea ebp, [msg_no_nx]
    test edx, 1 << 20
    jz fail32

    // Leaf 1: the instruction-set extensions the image is compiled for
    // (x86-64 baseline: FXSR, SSE, SSE2) plus APIC and TSC, which the
    // kernel's clock needs.
    mov eax, 1
    cpuid
    mov [cpuid1_ecx], ecx
    lea ebp, [msg_no_fxsr]
    test edx, 1 << 24
    jz fail32
    lea ebp, [msg_no_sse]
    test edx, 1 << 25
    jz fail32
    lea ebp, [msg_no_sse2]
    test edx, 1 << 26
    jz fail32
    lea ebp, [msg_no_tsc]
    test edx, 1 << 4
    jz fail32
    lea ebp, [msg_no_apic]
    test edx, 1 << 9
    jz fail32

    // The AVX2 build (kernel/x86_64-wgate-avx2.json, x86-64-v3) needs more.
    cmp byte ptr [WGATE_IMAGE_NEEDS_AVX2], 0
    je 9f
    mov ecx, [cpuid1_ecx]
    require ecx, 0, msg_no_sse3
    require ecx, 9, msg_no_ssse3
    require ecx, 12, msg_no_fma
    require ecx, 19, msg_no_sse4_1
    require ecx, 20, msg_no_sse4_2
    require ecx, 22, msg_no_movbe
    require ecx, 23, msg_no_popcnt
    require ecx, 26, msg_no_xsave
    require ecx, 28, msg_no_avx
    xor eax, eax
    cpuid
    lea ebp, [msg_no_avx2]
    cmp eax, 7
    jb fail32
    mov eax, 7
    xor ecx, ecx
    cpuid
    require ebx, 3, msg_no_bmi1
    require ebx, 5, msg_no_avx2
    require ebx, 8, msg_no_bmi2
    mov eax, 0x80000001
    cpuid
    require ecx, 5, msg_no_lzcnt
9:
    // FPU and SSE: CR0.MP on, CR0.EM off; CR4.OSFXSR and CR4.OSXMMEXCPT.
    mov eax, cr0
    and eax, ~(1 << 2)
    or eax, 1 << 1
    mov cr0, eax
    mov eax, cr4
    or eax, (1 << 9) | (1 << 10) | (1 << 5)  // OSFXSR, OSXMMEXCPT, PAE
    mov cr4, eax

    // AVX where present: needs XSAVE enabled by the OS (CR4.OSXSAVE) and
    // the YMM state turned on in XCR0. Interrupt entry then saves state with
    // XSAVE instead of FXSAVE (see kernel/src/interrupts/entry.s).
    mov ecx, [cpuid1_ecx]
    test ecx, 1 << 26                        // XSAVE
    jz 1f
    mov eax, cr4
    or eax, 1 << 18                          // OSXSAVE
    mov cr4, eax
    mov byte ptr [xsave_enabled], 1
    xor ecx, ecx
    xgetbv
    or eax, 0x3                              // x87 | SSE
    mov ecx, [cpuid1_ecx]
    test ecx, 1 << 28                        // AVX
    jz 2f
    or eax, 0x4                              // | AVX (upper YMM)
2:
    xor ecx, ecx
    xor edx, edx
    xsetbv
1:
    // Temporary identity map of the low 4 GiB with 2 MiB pages.
    lea eax, [boot_pdpt]
    or eax, 0x3
    mov [boot_pml4], eax
    xor ecx, ecx
3:
    mov eax, ecx
    shl eax, 12
    lea eax, [boot_pd + eax]
    or eax, 0x3
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jb 3b
    xor ecx, ecx                             // ecx = 2 MiB page number, 0..2048
4:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83                             // present, writable, huge
    mov [boot_pd + ecx * 8], eax
    mov eax, ecx
    shr eax, 11
    mov [boot_pd + ecx * 8 + 4], eax         // bits 32.. of the address
    inc ecx
    cmp ecx, 2048
    jb 4b

    lea eax, [boot_pml4]
    mov cr3, eax
    mov ecx, 0xC0000080                      // EFER
    rdmsr
    or eax, (1 << 8) | (1 << 11)             // LME, NXE
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) | 1        // PG, WP, PE
    mov cr0, eax

    lgdt [boot_gdt_pointer]
    push 0x08
    lea eax, [long_mode_entry]
    push eax
    retf

// Print the NUL-terminated string at ebp on COM1, then stop. The message
// names the missing CPU feature so the user knows why we did not boot.
fail32:
    mov ebx, ebp
    lea ebp, [msg_prefix]
    call print32
    mov ebp, ebx
    call print32
    lea ebp, [msg_newline]
    call print32
    mov dx, 0xf4                             // isa-debug-exit, when present
    mov al, 0x11
    out dx, al
5:
    cli
    hlt
    jmp 5b

print32:
    mov dx, 0x3fd
6:
    in al, dx
    test al, 0x20
    jz 6b
    mov al, [ebp]
    test al, al
    jz 7f
    mov dx, 0x3f8
    out dx, al
    inc ebp
    jmp print32
7:
    ret

// ---------------------------------------------------------------- 64-bit code
.code64
long_mode_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    lea rsp, [rip + boot_stack_top]
    xor ebp, ebp
    // edi = protocol, esi = info address: already the first two arguments.
    call gateway_main
8:
    cli
    hlt
    jmp 8b

// ---------------------------------------------------------------- data
.section .rodata.boot, "a"
.balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF                 // 0x08: 64-bit code, present, ring 0
    .quad 0x00CF92000000FFFF                 // 0x10: data, present, writable
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

msg_prefix:          .asciz "wgate: cannot boot on this CPU: "
msg_newline:         .asciz "\r\n"
msg_unknown_loader:  .asciz "unknown boot loader (expected PVH or Multiboot2)"
msg_no_cpuid:        .asciz "missing feature: CPUID"
msg_no_long_mode:    .asciz "missing feature: long mode (x86-64)"
msg_no_nx:           .asciz "missing feature: NX (no-execute pages)"
msg_no_fxsr:         .asciz "missing feature: FXSR"
msg_no_sse:          .asciz "missing feature: SSE"
msg_no_sse2:         .asciz "missing feature: SSE2"
msg_no_tsc:          .asciz "missing feature: TSC"
msg_no_apic:         .asciz "missing feature: local APIC"
msg_no_sse3:         .asciz "missing feature: SSE3 (this image is built for x86-64-v3)"
msg_no_ssse3:        .asciz "missing feature: SSSE3 (this image is built for x86-64-v3)"
msg_no_fma:          .asciz "missing feature: FMA (this image is built for x86-64-v3)"
msg_no_sse4_1:       .asciz "missing feature: SSE4.1 (this image is built for x86-64-v3)"
msg_no_sse4_2:       .asciz "missing feature: SSE4.2 (this image is built for x86-64-v3)"
msg_no_movbe:        .asciz "missing feature: MOVBE (this image is built for x86-64-v3)"
msg_no_popcnt:       .asciz "missing feature: POPCNT (this image is built for x86-64-v3)"
msg_no_xsave:        .asciz "missing feature: XSAVE (this image is built for x86-64-v3)"
msg_no_avx:          .asciz "missing feature: AVX (this image is built for x86-64-v3)"
msg_no_avx2:         .asciz "missing feature: AVX2 (this image is built for x86-64-v3)"
msg_no_bmi1:         .asciz "missing feature: BMI1 (this image is built for x86-64-v3)"
msg_no_bmi2:         .asciz "missing feature: BMI2 (this image is built for x86-64-v3)"
msg_no_lzcnt:        .asciz "missing feature: LZCNT (this image is built for x86-64-v3)"

.section .data.boot, "aw"
.balign 4
cpuid1_ecx: .long 0
.global xsave_enabled
xsave_enabled: .byte 0

.section .bss.boot, "aw", @nobits
.balign 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4096 * 4
// The boot stack (256 KiB: smoltcp and the engine keep sizeable state on
// it) is the kernel's main stack for its whole life; the page
// below it stays unmapped in the kernel's page tables as a guard.
.global boot_stack_guard
boot_stack_guard: .skip 4096
.global boot_stack_bottom
boot_stack_bottom: .skip 262144
.global boot_stack_top
boot_stack_top:
