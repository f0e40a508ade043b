/* console.c - putchar to the build's console device (rt.h). */
#include "rt.h"

#ifndef RT_CONSOLE_PORT
#define RT_CONSOLE_PORT PORT_DEBUGCON
#endif

#define UART_LSR 5
#define UART_LSR_THRE 0x20

int putchar(int c)
{
#ifdef RT_CONSOLE_UART
	while (!(inb(PORT_UART + UART_LSR) & UART_LSR_THRE))
		;
	outb(PORT_UART, (uint8_t)c);
#else
	outb(RT_CONSOLE_PORT, (uint8_t)c);
#endif
	return (uint8_t)c;
}

int puts(const char *s)
{
	while (*s)
		putchar(*s++);
	putchar('\n');
	return 0;
}
