/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guests: a few bytes of 16-bit real-mode code each, loaded into every
 * VM at fixed guest-physical addresses. Real mode needs no page tables or
 * descriptor tables, and PIO and HLT exits reach user space without an
 * in-kernel irqchip, which is all a lifecycle driver needs.
 *
 * Protocol with the VMM (vm.c):
 *   OUT VL_PORT_DONE, AL     the guest's result byte (the vCPU id, a count)
 *   OUT VL_PORT_FAULT, AL    an exception was taken; AL is its vector
 *   HLT                      the guest is finished
 */
#ifndef VL_GUEST_H
#define VL_GUEST_H

#include <stddef.h>
#include <stdint.h>

#define VL_GUEST_MEM_SIZE	0x10000u	/* 64 KiB at guest-physical 0 */
#define VL_GUEST_STACK		0x8000u		/* SS:SP = 0:0x8000 */

#define VL_PORT_DONE		0x10
#define VL_PORT_FAULT		0x11

/* out VL_PORT_DONE, al; hlt. */
#define VL_GUEST_HELLO		0x1000u
/* Loops ECX times over "out VL_PORT_DONE, al"; then hlt. ECX must be >= 1. */
#define VL_GUEST_EXIT_LOOP	0x1100u
/*
 * Sets CR4.OSXSAVE, then XSETBV with XCR0 = EDX:EAX (ECX = 0), then
 * out VL_PORT_DONE, al; hlt. A #UD or #GP lands in the fault handlers.
 */
#define VL_GUEST_XSETBV		0x1200u
/* One handler per vector 0..31: mov al, VECTOR; out VL_PORT_FAULT, al; hlt. */
#define VL_GUEST_FAULT_HANDLERS	0x1400u
#define VL_GUEST_NR_VECTORS	32

/* Copy every guest and the real-mode IVT into @mem (VL_GUEST_MEM_SIZE bytes). */
void vl_guest_load(uint8_t *mem);
/* "#GP", "#UD"... for an exception vector. */
const char *vl_vector_name(unsigned int vector);

#endif /* VL_GUEST_H */
