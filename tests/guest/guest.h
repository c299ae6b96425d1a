/* The test guest's tiny runtime: port I/O, a polled 16550 console, boot information, the exit
 * port, and the scenario registry. Freestanding: no libc, general registers only. */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootkind.h"

#define GUEST_EXIT_PORT 0xf4
#define GUEST_POST_PORT 0x80
#define GUEST_EXIT_FAIL 1
#define GUEST_EXIT_USAGE 2
#define GUEST_EXIT_CRASH 3

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* Decimal or 0x-hex; false on garbage. */
bool parse_u64(const char *s, size_t len, uint64_t *out);
const char *strstr_guest(const char *hay, const char *needle);

/* console.c: COM1, polled */
void con_init(void);
void con_putc(char c);
void con_write(const char *s, size_t n);
int con_getc(void); /* blocks */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, va_list ap);

/* boot.c: what the loader told us, whichever entry it used */
#define GUEST_E820_MAX 128
struct guest_e820 {
	uint64_t addr, size;
	uint32_t type;
};
struct bootinfo {
	int kind;
	const char *cmdline;
	unsigned nr_e820;
	struct guest_e820 e820[GUEST_E820_MAX];
	uint64_t initrd_addr, initrd_size;
	uint64_t rsdp;
};
extern struct bootinfo bootinfo;
void bootinfo_init(int kind, uintptr_t info);
const char *boot_kind_name(int kind);

/* Value of key=value on the command line (NULL if absent), its length in *len. */
const char *cmdline_get(const char *key, size_t *len);
bool cmdline_get_u64(const char *key, uint64_t *out);

/* main.c */
void guest_exit(unsigned code) __attribute__((noreturn));
extern volatile unsigned guest_bp_count;
extern char _end[];

/* Scenarios return the exit code. */
struct scenario {
	const char *name;
	size_t len;               /* strlen(name), fixed at compile time: every instruction before
				   * the first byte counts where guest code is emulated */
	int (*run)(void);
};
#define SCENARIO(n, fn) { n, sizeof(n) - 1, fn }

#endif
