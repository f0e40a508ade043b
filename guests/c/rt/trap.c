/* trap.c - the guest's own IDT: gates for the 32 exception vectors, dispatch to C handlers. */
#include "rt.h"

#define VECTORS 32

#ifdef __x86_64__
struct gate {
	uint16_t offset_low, selector;
	uint8_t ist, type_attr;
	uint16_t offset_mid;
	uint32_t offset_high, reserved;
};
#else
struct gate {
	uint16_t offset_low, selector;
	uint8_t zero, type_attr;
	uint16_t offset_high;
};
#endif

struct __attribute__((packed)) idt_pointer {
	uint16_t limit;
	uintptr_t base;
};

/* isr.S: one entry stub per vector, in order. */
extern const uintptr_t isr_stubs[VECTORS];

static struct gate idt[VECTORS] __attribute__((aligned(16)));
static trap_handler handlers[VECTORS];

static const char *const names[VECTORS] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
	"#UD invalid opcode", "#NM no FPU", "#DF double fault", "coprocessor overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection", "#PF page fault", "vector 15",
	"#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error", "#VE virtualization",
	"#CP control protection",
};

void idt_init(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs)); /* whatever code segment the loader gave us */
	for (int v = 0; v < VECTORS; v++) {
		uintptr_t a = isr_stubs[v];
		struct gate *g = &idt[v];
		g->offset_low = (uint16_t)a;
		g->selector = cs;
		g->type_attr = 0x8e; /* present, DPL 0, interrupt gate */
#ifdef __x86_64__
		g->ist = 0;
		g->offset_mid = (uint16_t)(a >> 16);
		g->offset_high = (uint32_t)(a >> 32);
		g->reserved = 0;
#else
		g->zero = 0;
		g->offset_high = (uint16_t)(a >> 16);
#endif
	}
	struct idt_pointer p = { sizeof idt - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}

void trap_set_handler(int vector, trap_handler h)
{
	handlers[vector] = h;
}

/* Called by isr.S with the saved state; returning resumes the interrupted code. */
void trap_dispatch(struct trap_frame *f)
{
	if (f->vector < VECTORS && handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	const char *name = f->vector < sizeof names / sizeof names[0] && names[f->vector] ? names[f->vector] : "exception";
	printf("unhandled %s (vector %u, error 0x%x) at ip %p\n", name, (unsigned)f->vector, (unsigned)f->error, (void *)f->ip);
	exit(0x7f);
}
