/* pagefault.c - page faults handled by the guest (long mode, on the page tables vmtrace built):
 * it marks a 2 MiB page not present, touches it, and its #PF handler reads CR2 and the error
 * code, maps the page again and returns so the access is retried; then the same for a write to
 * a page it made read-only (CR0.WP), and for an alias that it maps on demand.
 * guest: 64 console=0xe9
 */
#include "rt/rt.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PS 0x80ull
#define ADDR_MASK 0x000ffffffffff000ull
#define PAGE_2M 0x200000ull

static unsigned faults;
static uint64_t alias_target; /* physical page the handler maps at ALIAS on demand */

#define TEST_PAGE 0x800000ull  /* 8 MiB: inside RAM, away from the image and stacks */
#define ALIAS 0x40000000ull    /* 1 GiB: not RAM; the handler maps it onto TEST_PAGE */

/* The page-directory entry mapping `va`, found by walking the tables from CR3. */
static volatile uint64_t *pde_for(uint64_t va)
{
	uint64_t *pml4 = (uint64_t *)(read_cr3() & ADDR_MASK);
	uint64_t *pdpt = (uint64_t *)(pml4[(va >> 39) & 511] & ADDR_MASK);
	uint64_t *pd = (uint64_t *)(pdpt[(va >> 30) & 511] & ADDR_MASK);
	return &pd[(va >> 21) & 511];
}

static void on_page_fault(struct trap_frame *f)
{
	uint64_t cr2 = read_cr2();
	volatile uint64_t *pde = pde_for(cr2);
	faults++;
	printf("  #PF at cr2=%p error=0x%x (%s, %s) pde=%p\n", (void *)cr2, (unsigned)f->error,
	       f->error & 1 ? "protection" : "not present", f->error & 2 ? "write" : "read", (void *)*pde);
	if ((cr2 & ~(PAGE_2M - 1)) == ALIAS && alias_target)
		*pde = alias_target | PTE_P | PTE_W | PTE_PS;
	else
		*pde |= PTE_P | PTE_W;
	invlpg((void *)cr2);
}

int main(void)
{
	idt_init();
	trap_set_handler(14, on_page_fault);
	volatile uint32_t *p = (volatile uint32_t *)(TEST_PAGE + 0x120);
	*p = 0xc0ffee;

	volatile uint64_t *pde = pde_for(TEST_PAGE);
	printf("pde for %p = %p\n", (void *)TEST_PAGE, (void *)*pde);
	*pde &= ~PTE_P;
	invlpg(p);
	printf("read after unmapping: 0x%x\n", *p);

	*pde &= ~PTE_W;
	invlpg(p);
	*p = 0xbeef;
	printf("write after write-protecting: 0x%x\n", *p);

	volatile uint64_t *apde = pde_for(ALIAS);
	*apde &= ~PTE_P;
	invlpg((void *)ALIAS);
	alias_target = TEST_PAGE;
	printf("alias read: 0x%x\n", *(volatile uint32_t *)(ALIAS + 0x120));
	printf("%u page faults handled\n", faults);
	return 0;
}
