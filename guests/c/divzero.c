/* divzero.c - division by zero caught by the guest's own IDT: the #DE handler reports the
 * faulting instruction and resumes at a recovery point; an invalid opcode (ud2, #UD) is handled
 * too, by skipping it.
 * guest: 32 64 console=0xe9
 */
#include "rt/rt.h"

/* Where the #DE handler sends execution: set by safe_divide around its idiv. */
extern const char divide_insn[], divide_fixup[];
static unsigned faults;

/* Divides, or returns 0 with *ok = 0 when the idiv raised #DE. Not inlined: the labels are unique. */
__attribute__((noinline, noclone)) static int safe_divide(int a, int b, int *ok)
{
	int q, flag;
	__asm__ volatile(
		"mov $1, %[flag]\n\t"
		"cltd\n"
		"divide_insn:\n\t"
		"idivl %[b]\n\t"
		"jmp 1f\n"
		"divide_fixup:\n\t"
		"xor %[flag], %[flag]\n\t"
		"xor %%eax, %%eax\n"
		"1:"
		: "=a"(q), [flag] "=&r"(flag)
		: "a"(a), [b] "r"(b)
		: "edx", "cc");
	*ok = flag;
	return q;
}

static void on_divide_error(struct trap_frame *f)
{
	faults++;
	printf("  #DE (vector %u) at %s, resuming at the fixup\n", (unsigned)f->vector,
	       f->ip == (uintptr_t)divide_insn ? "the idiv" : "an unexpected address");
	f->ip = (uintptr_t)divide_fixup;
}

static void on_invalid_opcode(struct trap_frame *f)
{
	const uint8_t *insn = (const uint8_t *)f->ip;
	printf("  #UD (vector %u) at %p: %02x %02x, skipping it\n", (unsigned)f->vector, (void *)f->ip, insn[0], insn[1]);
	f->ip += 2; /* ud2 is 0f 0b */
}

int main(void)
{
	idt_init();
	trap_set_handler(0, on_divide_error);
	trap_set_handler(6, on_invalid_opcode);
	static const int cases[][2] = { { 100, 7 }, { -45, 4 }, { 1, 0 }, { 1 << 30, -3 }, { 42, 0 } };
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int ok;
		int q = safe_divide(cases[i][0], cases[i][1], &ok);
		if (ok)
			printf("%d / %d = %d\n", cases[i][0], cases[i][1], q);
		else
			printf("%d / %d: division by zero caught\n", cases[i][0], cases[i][1]);
	}
	__asm__ volatile("ud2");
	printf("%u divide errors handled\n", faults);
	return 0;
}
