/* COM1 driven by polling LSR, as a boot console does. */
#include "guest.h"

#define COM1 0x3f8
#define UART_TX 0
#define UART_RX 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

void con_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80);   /* DLAB */
	outb(COM1 + UART_DLL, 1);      /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03);   /* 8n1 */
	/* FCR untouched: changing its FIFO-enable bit clears the receive FIFO on some UARTs
	 * (QEMU's, per the datasheet), losing input that arrived before this point. */
	outb(COM1 + UART_MCR, 0x03);   /* DTR, RTS */
}

void con_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
		;
	outb(COM1 + UART_TX, (uint8_t)c);
}

void con_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		con_putc(s[i]);
}

int con_getc(void)
{
	while (!(inb(COM1 + UART_LSR) & UART_LSR_DR))
		;
	return inb(COM1 + UART_RX);
}

static void put_num(uint64_t v, unsigned base, int width, char pad, bool neg)
{
	char buf[24];
	int n = 0;

	do {
		unsigned d = (unsigned)(v % base);

		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	while (n < width && n < (int)sizeof(buf))
		buf[n++] = pad;
	while (n)
		con_putc(buf[--n]);
}

void vprintk(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;

		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(s < 0 ? (uint64_t)-s : (uint64_t)s, 10, width, pad, s < 0);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			put_num(u, *fmt == 'x' ? 16 : 10, width, pad, false);
			break;
		case 'p':
			con_write("0x", 2);
			put_num((uint64_t)(uintptr_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			con_write(str ? str : "(null)", str ? strlen(str) : 6);
			break;
		}
		case 'c':
			con_putc((char)va_arg(ap, int));
			break;
		case '%':
			con_putc('%');
			break;
		default:
			return;
		}
	}
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}
