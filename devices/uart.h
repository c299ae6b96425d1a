/* 8250/16550A UART as found at COM1: registers, 16-byte receive FIFO, interrupt identification
 * with the 16550's priorities, loopback mode, and an IRQ line raised while an enabled condition
 * is pending. Output is written to a file descriptor as the guest writes THR; a stalled reader
 * costs a bounded wait, then output is dropped and counted. */
#ifndef MINIVMM_UART_H
#define MINIVMM_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ 4
#define UART_NR_REGS 8
#define UART_FIFO_SIZE 16

struct uart_ops {
	/* Sets the level of the UART's interrupt line. */
	void (*set_irq)(void *opaque, int level);
	/* Called (outside the UART's lock) when the receive FIFO had filled up and the guest has
	 * since drained it, so the producer may resume pushing input. */
	void (*rx_ready)(void *opaque);
};

struct uart;

/* Everything the guest can observe, for snapshots: the registers, the receive FIFO in order,
 * and the pending THR-empty interrupt. */
struct uart_state {
	uint8_t ier, lcr, mcr, lsr, scr, fcr, dll, dlm;
	uint8_t thr_ipending;
	uint8_t fifo_count;
	uint8_t fifo[UART_FIFO_SIZE];   /* fifo[0] is read first */
};

/* How long a transmitted byte waits for a reader that does not keep up before output is
 * dropped (uart.c says why). */
#define UART_STALL_WAIT_MS 100

/* @out_fd: where transmitted bytes go (-1 drops them), non-blocking. The UART does not own
 * it. */
struct uart *uart_create(int out_fd, const struct uart_ops *ops, void *opaque);
/* Bytes the guest transmitted that its output's reader never took. */
uint64_t uart_tx_dropped(struct uart *u);
void uart_destroy(struct uart *u);

/* The bus handler; register it for UART_NR_REGS ports with the uart as opaque. */
void uart_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len, bool is_write,
	     void *opaque);

/* Host → guest input: pushes up to @len bytes into the receive FIFO and returns how many were
 * taken (0 when full: the caller waits for rx_ready). */
size_t uart_push_input(struct uart *u, const uint8_t *buf, size_t len);

void uart_get_state(struct uart *u, struct uart_state *s);
/* Checks what a guest could not have produced (FIFO count, reserved register bits) and
 * refuses it with -EINVAL; sets the IRQ line to match. */
int uart_set_state(struct uart *u, const struct uart_state *s);

#endif
