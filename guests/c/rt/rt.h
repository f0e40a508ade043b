/* rt.h - the vmtrace guest runtime: console output, printf, exit, port I/O, exceptions.
 *
 * Freestanding (no libc). Built for 32-bit protected mode (multiboot) and 64-bit long mode by
 * scripts/build-guests.mjs; see docs/guests.md. The console port is chosen at build time:
 * RT_CONSOLE_PORT (0xf1 console or 0xe9 debugcon, default 0xe9), or RT_CONSOLE_UART for the
 * 16550 at 0x3f8.
 */
#ifndef VMTRACE_RT_H
#define VMTRACE_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- port I/O -------------------------------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* Device ports (docs/devices.md). */
#define PORT_CONSOLE 0xf1
#define PORT_DEBUGCON 0xe9
#define PORT_UART 0x3f8
#define PORT_DEBUG_EXIT 0xf4
#define PORT_ACPI_PM1A_CNT 0x604

/* ---- console and formatted output --------------------------------------------------------- */
int putchar(int c);
int puts(const char *s); /* writes s and a newline */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);

/* ---- ending the run ------------------------------------------------------------------------ */
/* isa-debug-exit: the run ends with status (code << 1) | 1. */
__attribute__((noreturn)) void exit(int code);
/* ACPI power-off: the run ends with exit code 0. */
__attribute__((noreturn)) void poweroff(void);
/* cli; hlt: the run ends with HLT (exit code 0). What returning from main() does. */
__attribute__((noreturn)) void halt(void);

/* ---- boot information ---------------------------------------------------------------------- */
/* EAX and EBX at entry (multiboot: 0x2BADB002 and the information block's address). */
extern uint32_t rt_boot_magic;
extern uint32_t rt_boot_info;

/* ---- exceptions ---------------------------------------------------------------------------- */
struct trap_frame {
#ifdef __x86_64__
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t ip, cs, flags, sp, ss; /* pushed by the CPU */
#else
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax; /* pusha */
	uint32_t vector, error;
	uint32_t ip, cs, flags; /* pushed by the CPU (same privilege: no SS:ESP) */
#endif
};

/* A handler may change the frame (ip, registers); the interrupted code resumes with it. */
typedef void (*trap_handler)(struct trap_frame *f);

/* Loads an IDT with gates for vectors 0-31 (unhandled ones print and exit(0x7f)). */
void idt_init(void);
void trap_set_handler(int vector, trap_handler h);

static inline uintptr_t read_cr0(void) { uintptr_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uintptr_t read_cr2(void) { uintptr_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uintptr_t read_cr3(void) { uintptr_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline uintptr_t read_cr4(void) { uintptr_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void invlpg(const volatile void *p) { __asm__ volatile("invlpg (%0)" : : "r"(p) : "memory"); }

/* ---- memory and strings (also what gcc may call on its own) ------------------------------- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

int main(void);

#endif
