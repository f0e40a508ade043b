/* cet.c - a C guest built with gcc -fcf-protection=full (Intel CET: indirect branch tracking),
 * so that every function of it and of the runtime starts with ENDBR64 (ENDBR32 in the 32-bit
 * build). Those are hint NOPs, but kvm_pvm single-steps an ENDBR and the instruction after it as
 * one step: replaying its --step trace needs the trace's hostModel.step (docs/exit-semantics.md,
 * "Single-step"). It calls a few functions through pointers and prints the results to 0xe9.
 * guest: 32 64 console=0xe9 cet
 */
#include "rt/rt.h"

typedef unsigned (*op_fn)(unsigned, unsigned);

__attribute__((noinline)) static unsigned add(unsigned a, unsigned b) { return a + b; }
__attribute__((noinline)) static unsigned mul(unsigned a, unsigned b) { return a * b; }
__attribute__((noinline)) static unsigned rotl(unsigned a, unsigned b) { return (a << (b & 31)) | (a >> ((32 - b) & 31)); }

static const struct { const char *name; op_fn fn; } ops[] = { { "add", add }, { "mul", mul }, { "rotl", rotl } };

/* volatile: the calls stay indirect (through an ENDBR-checked target) */
static op_fn volatile pick;

int main(void)
{
	unsigned acc = 7;
	for (unsigned round = 0; round < 4; round++)
		for (unsigned k = 0; k < sizeof ops / sizeof ops[0]; k++) {
			pick = ops[k].fn;
			acc = pick(acc, round + k + 1);
			printf("%s(%u) -> %x\n", ops[k].name, round + k + 1, acc);
		}
	return 0;
}
