// Interrupt and exception entry stubs.
//
// Every vector enters through a tiny stub that makes the stack look the same
// (a dummy error code where the CPU pushes none, then the vector number) and
// jumps to `interrupt_common`. That saves all general-purpose registers and
// the whole FPU/SSE/AVX state (XSAVE when the boot path enabled it, FXSAVE
// otherwise), calls the Rust dispatcher with a pointer to the saved frame,
// and restores everything. The kernel is compiled with SSE, so any handler
// may use vector registers; saving them here is what keeps the interrupted
// code's SIMD state intact.

.set XSAVE_AREA_BYTES, 1088                  // legacy 512 + header 64 + YMM 256, rounded up

.macro stub_noerror vector
    .balign 16
interrupt_stub_\vector:
    push 0
    push \vector
    jmp interrupt_common
.endm

.macro stub_error vector
    .balign 16
interrupt_stub_\vector:
    push \vector
    jmp interrupt_common
.endm

.section .text.interrupts, "ax"
.code64

interrupt_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rbp, rsp                             // rbp -> saved registers (the TrapFrame)
    sub rsp, XSAVE_AREA_BYTES
    and rsp, -64
    cld
    cmp byte ptr [rip + xsave_enabled], 0
    je 1f
    // XRSTOR faults on a non-zero XCOMP_BV or reserved header bytes, and
    // XSAVE writes only XSTATE_BV, so clear the header first.
    xor eax, eax
    mov [rsp + 512], rax
    mov [rsp + 520], rax
    mov [rsp + 528], rax
    mov [rsp + 536], rax
    mov [rsp + 544], rax
    mov [rsp + 552], rax
    mov [rsp + 560], rax
    mov [rsp + 568], rax
    mov eax, -1
    mov edx, -1
    xsave64 [rsp]
    jmp 2f
1:
    fxsave64 [rsp]
2:
    mov rdi, rbp
    call interrupt_dispatch
    cmp byte ptr [rip + xsave_enabled], 0
    je 3f
    mov eax, -1
    mov edx, -1
    xrstor64 [rsp]
    jmp 4f
3:
    fxrstor64 [rsp]
4:
    mov rsp, rbp
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                              // vector and error code
    iretq

// Exceptions 0-31: the CPU pushes an error code for 8, 10-14, 17, 21, 29, 30.
stub_noerror 0
stub_noerror 1
stub_noerror 2
stub_noerror 3
stub_noerror 4
stub_noerror 5
stub_noerror 6
stub_noerror 7
stub_error 8
stub_noerror 9
stub_error 10
stub_error 11
stub_error 12
stub_error 13
stub_error 14
stub_noerror 15
stub_noerror 16
stub_error 17
stub_noerror 18
stub_noerror 19
stub_noerror 20
stub_error 21
stub_noerror 22
stub_noerror 23
stub_noerror 24
stub_noerror 25
stub_noerror 26
stub_noerror 27
stub_noerror 28
stub_error 29
stub_error 30
stub_noerror 31
// External interrupts 32-255.
.altmacro
.set next_vector, 32
.rept 224
    stub_noerror %next_vector
    .set next_vector, next_vector + 1
.endr

// The stubs' addresses, indexed by vector, for building the IDT.
.section .rodata.interrupts, "a"
.balign 8
.global interrupt_stub_table
interrupt_stub_table:
.macro stub_address vector
    .quad interrupt_stub_\vector
.endm
.set next_vector, 0
.rept 256
    stub_address %next_vector
    .set next_vector, next_vector + 1
.endr
