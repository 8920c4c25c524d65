// SPDX-License-Identifier: GPL-2.0
/*
 * Guest code bytes, with the assembly they encode. All of it runs in real
 * mode (CS = 0, 16-bit default operand size; 0x66 selects 32-bit operands).
 */
#include <string.h>

#include "guest.h"

static const uint8_t guest_hello[] = {
	0xe6, VL_PORT_DONE,		/* out  VL_PORT_DONE, al */
	0xf4,				/* hlt */
};

static const uint8_t guest_exit_loop[] = {
	0xe6, VL_PORT_DONE,		/* 0: out  VL_PORT_DONE, al */
	0x66, 0x49,			/* 2: dec  ecx */
	0x75, 0xfa,			/* 4: jnz  0 */
	0xf4,				/* 6: hlt */
};

static const uint8_t guest_xsetbv[] = {
	0x0f, 0x20, 0xe3,		/* mov  ebx, cr4 */
	0x66, 0x81, 0xcb,		/* or   ebx, X86_CR4_OSXSAVE (bit 18) */
	0x00, 0x00, 0x04, 0x00,
	0x0f, 0x22, 0xe3,		/* mov  cr4, ebx */
	0x66, 0x31, 0xc9,		/* xor  ecx, ecx (XCR0) */
	0x0f, 0x01, 0xd1,		/* xsetbv (XCR0 = edx:eax) */
	0xe6, VL_PORT_DONE,		/* out  VL_PORT_DONE, al */
	0xf4,				/* hlt */
};

void vl_guest_load(uint8_t *mem)
{
	memset(mem, 0, VL_GUEST_MEM_SIZE);
	memcpy(mem + VL_GUEST_HELLO, guest_hello, sizeof(guest_hello));
	memcpy(mem + VL_GUEST_EXIT_LOOP, guest_exit_loop, sizeof(guest_exit_loop));
	memcpy(mem + VL_GUEST_XSETBV, guest_xsetbv, sizeof(guest_xsetbv));

	for (unsigned int v = 0; v < VL_GUEST_NR_VECTORS; v++) {
		uint16_t handler = VL_GUEST_FAULT_HANDLERS + v * 8;
		uint8_t *h = mem + handler;
		uint8_t *ivt = mem + v * 4;	/* real-mode IVT: offset, segment */

		h[0] = 0xb0;			/* mov  al, v */
		h[1] = (uint8_t)v;
		h[2] = 0xe6;			/* out  VL_PORT_FAULT, al */
		h[3] = VL_PORT_FAULT;
		h[4] = 0xf4;			/* hlt */
		ivt[0] = handler & 0xff;
		ivt[1] = handler >> 8;
		ivt[2] = 0;
		ivt[3] = 0;
	}
}

const char *vl_vector_name(unsigned int vector)
{
	static const char *const names[VL_GUEST_NR_VECTORS] = {
		[0] = "#DE", [1] = "#DB", [2] = "NMI", [3] = "#BP", [4] = "#OF",
		[5] = "#BR", [6] = "#UD", [7] = "#NM", [8] = "#DF", [10] = "#TS",
		[11] = "#NP", [12] = "#SS", [13] = "#GP", [14] = "#PF",
		[16] = "#MF", [17] = "#AC", [18] = "#MC", [19] = "#XM",
		[20] = "#VE", [21] = "#CP",
	};

	if (vector < VL_GUEST_NR_VECTORS && names[vector])
		return names[vector];
	return "vector";
}
