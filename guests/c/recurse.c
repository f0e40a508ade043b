/* recurse.c - recursive functions: Fibonacci, Ackermann, the towers of Hanoi and a recursive
 * descent evaluator of an arithmetic expression.
 * guest: 32 64 console=0xe9
 */
#include "rt/rt.h"

static unsigned calls;

static unsigned fib(unsigned n)
{
	calls++;
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static unsigned ackermann(unsigned m, unsigned n)
{
	calls++;
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ackermann(m - 1, 1);
	return ackermann(m - 1, ackermann(m, n - 1));
}

static unsigned hanoi(int n, int from, int to, int via)
{
	if (n == 0)
		return 0;
	unsigned moves = hanoi(n - 1, from, via, to);
	moves++;
	return moves + hanoi(n - 1, via, to, from);
}

/* expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*; factor := num | '(' expr ')' | '-' factor */
static const char *pos;
static int expr(void);

static int factor(void)
{
	if (*pos == '(') {
		pos++;
		int v = expr();
		pos++; /* ')' */
		return v;
	}
	if (*pos == '-') {
		pos++;
		return -factor();
	}
	int v = 0;
	while (*pos >= '0' && *pos <= '9')
		v = v * 10 + (*pos++ - '0');
	return v;
}

static int term(void)
{
	int v = factor();
	while (*pos == '*' || *pos == '/') {
		char op = *pos++;
		int r = factor();
		v = op == '*' ? v * r : v / r;
	}
	return v;
}

static int expr(void)
{
	int v = term();
	while (*pos == '+' || *pos == '-') {
		char op = *pos++;
		int r = term();
		v = op == '+' ? v + r : v - r;
	}
	return v;
}

int main(void)
{
	calls = 0;
	unsigned f = fib(15);
	printf("fib(15) = %u (%u calls)\n", f, calls);
	calls = 0;
	unsigned a = ackermann(2, 3);
	printf("ackermann(2, 3) = %u (%u calls)\n", a, calls);
	printf("hanoi(7) = %u moves\n", hanoi(7, 1, 3, 2));
	static const char *const exprs[] = { "2+3*4", "(2+3)*4", "100/(7-2)-(-3)", "-(1+2)*(3+4)*5" };
	for (unsigned i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
		pos = exprs[i];
		printf("%s = %d\n", exprs[i], expr());
	}
	return 0;
}
