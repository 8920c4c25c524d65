/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The xstate size model: CPUID leaf 0xD in, XSAVE buffer sizes out, computed
 * exactly as the kernel's xstate_calculate_size() does
 * (arch/x86/kernel/fpu/xstate.c), so that a size read from the kernel can be
 * checked against the size the same features need.
 *
 * A CPU model is a set of raw CPUID register values, read from the running
 * CPU or from a model file (docs/cpu-model-format.md). Everything else
 * (supported XCR0/XSS, component sizes, offsets, alignment, XFD) is derived
 * from those registers, never stored twice.
 */
#ifndef XSW_XSTATE_H
#define XSW_XSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xsw_err.h"

/* Component numbers, as in the kernel's enum xfeature (asm/fpu/types.h). */
enum xsw_xfeature {
	XSW_XF_FP = 0,
	XSW_XF_SSE = 1,
	XSW_XF_YMM = 2,
	XSW_XF_BNDREGS = 3,
	XSW_XF_BNDCSR = 4,
	XSW_XF_OPMASK = 5,
	XSW_XF_ZMM_HI256 = 6,
	XSW_XF_HI16_ZMM = 7,
	XSW_XF_PT = 8,
	XSW_XF_PKRU = 9,
	XSW_XF_PASID = 10,
	XSW_XF_CET_USER = 11,
	XSW_XF_CET_KERNEL = 12,
	XSW_XF_HDC = 13,
	XSW_XF_UINTR = 14,
	XSW_XF_LBR = 15,
	XSW_XF_HWP = 16,
	XSW_XF_XTILE_CFG = 17,
	XSW_XF_XTILE_DATA = 18,
	XSW_XF_APX = 19,
	XSW_XF_MAX = 64,
};

#define XSW_XF_MASK(nr)		(1ULL << (nr))
#define XSW_XF_MASK_FPSSE	(XSW_XF_MASK(XSW_XF_FP) | XSW_XF_MASK(XSW_XF_SSE))
#define XSW_XF_MASK_AVX512	(XSW_XF_MASK(XSW_XF_OPMASK) | \
				 XSW_XF_MASK(XSW_XF_ZMM_HI256) | \
				 XSW_XF_MASK(XSW_XF_HI16_ZMM))
#define XSW_XF_MASK_MPX		(XSW_XF_MASK(XSW_XF_BNDREGS) | XSW_XF_MASK(XSW_XF_BNDCSR))
#define XSW_XF_MASK_AMX		(XSW_XF_MASK(XSW_XF_XTILE_CFG) | XSW_XF_MASK(XSW_XF_XTILE_DATA))

/* Legacy area (512) + XSAVE header (64): sizeof(struct xregs_state). */
#define XSW_XSAVE_BASE_SIZE	576u

struct xsw_cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

struct xsw_cpuid_entry {
	uint32_t leaf, subleaf;
	struct xsw_cpuid_regs r;
};

#define XSW_CPU_MODEL_MAX_ENTRIES 128

struct xsw_cpu_model {
	char name[128];		/* "host", or the model file's "# cpu:" line */
	char source[256];	/* where the registers came from */
	unsigned int nr_entries;
	struct xsw_cpuid_entry entries[XSW_CPU_MODEL_MAX_ENTRIES];
};

/* Per-component facts derived from CPUID.0xD.i (i >= 2). */
#define XSW_XCOMP_SUPERVISOR	(1u << 0)	/* ECX bit 0: IA32_XSS, not XCR0 */
#define XSW_XCOMP_ALIGN64	(1u << 1)	/* ECX bit 1: 64-byte aligned when compacted */
#define XSW_XCOMP_XFD		(1u << 2)	/* ECX bit 2: XFD-capable (dynamic) */

struct xsw_xcomp {
	uint32_t size;		/* EAX */
	uint32_t offset;	/* EBX: standard-format offset (0 for supervisor) */
	uint32_t flags;		/* XSW_XCOMP_* */
};

/* --- CPU models -------------------------------------------------------- */

/* Read leaves 0, 1, 7.{0,1}, every sub-leaf of 0xD, 0x1D.{0,1}, 0x1E.0. */
int xsw_cpu_model_from_host(struct xsw_cpu_model *m, struct xsw_err *err);
/* Parse a model file; errors name the file, the line and the field. */
int xsw_cpu_model_load(struct xsw_cpu_model *m, const char *path, struct xsw_err *err);
int xsw_cpu_model_parse(struct xsw_cpu_model *m, FILE *f, const char *fname,
			struct xsw_err *err);
/* Write in the model-file format (what `--dump-cpu` prints). */
int xsw_cpu_model_write(const struct xsw_cpu_model *m, FILE *f);
/* Add or replace one entry. */
int xsw_cpu_model_set(struct xsw_cpu_model *m, uint32_t leaf, uint32_t subleaf,
		      const struct xsw_cpuid_regs *r);
/* Registers of (leaf, subleaf); all-zero when the model does not list it. */
struct xsw_cpuid_regs xsw_cpu_model_get(const struct xsw_cpu_model *m,
					uint32_t leaf, uint32_t subleaf);

/* --- derived facts ----------------------------------------------------- */

uint64_t xsw_xcr0_supported(const struct xsw_cpu_model *m);	/* 0xD.0 EDX:EAX */
uint64_t xsw_xss_supported(const struct xsw_cpu_model *m);	/* 0xD.1 EDX:ECX */
bool xsw_has_xsavec(const struct xsw_cpu_model *m);		/* 0xD.1 EAX bit 1 */
bool xsw_has_xsaves(const struct xsw_cpu_model *m);		/* 0xD.1 EAX bit 3 */
bool xsw_has_xfd(const struct xsw_cpu_model *m);		/* 0xD.1 EAX bit 4 */
/* Component i (2 <= i < 64) as leaf 0xD sub-leaf i describes it. */
struct xsw_xcomp xsw_xcomp(const struct xsw_cpu_model *m, unsigned int nr);
/* Features that are XFD-capable (dynamic), supervisor, user. */
uint64_t xsw_xfeatures_dynamic(const struct xsw_cpu_model *m);
uint64_t xsw_xfeatures_supervisor(const struct xsw_cpu_model *m);

/*
 * XSAVE buffer size for @xfeatures, standard (uABI, KVM_GET_XSAVE2) or
 * compacted (XSAVEC/XSAVES, the kernel's fpstate) format; what
 * xstate_calculate_size() returns for the same mask.
 */
uint32_t xsw_xstate_size(const struct xsw_cpu_model *m, uint64_t xfeatures, bool compacted);
/* Compacted offset of component @nr within a buffer holding @xfeatures. */
uint32_t xsw_xstate_compacted_offset(const struct xsw_cpu_model *m, uint64_t xfeatures,
				     unsigned int nr);
/*
 * The format the kernel's own buffers use on this CPU: compacted when
 * XSAVES or XSAVEC is available (os_xsave() uses XSAVES, else XSAVEC).
 */
bool xsw_kernel_uses_compacted(const struct xsw_cpu_model *m);

/*
 * Dependency rules the kernel and KVM enforce on an xfeature mask: x87 is
 * always set, YMM needs SSE, the AVX-512 components all or none (and need
 * YMM), MPX's two components together, XTILECFG and XTILEDATA together.
 * Returns 0 when @mask is valid, else -EINVAL with the broken rule in @err.
 */
int xsw_xfeatures_check_deps(uint64_t mask, struct xsw_err *err);

/* --- names ------------------------------------------------------------- */

/* Short kernel-style name of one component ("avx", "xtiledata"), or NULL. */
const char *xsw_xfeature_name(unsigned int nr);
/*
 * "x87|sse|avx|pkru" for 0x207; unknown bits as "bit23"; "none" for 0.
 * Returns @buf. 256 bytes always suffice.
 */
char *xsw_xfeatures_format(uint64_t mask, char *buf, size_t len);
/*
 * Parse "0x207", "519", "x87|sse|avx|pkru", "x87,sse,avx" (names are
 * case-insensitive; "amx" = xtilecfg|xtiledata, "avx512" = the three
 * AVX-512 components). Unknown names are an error naming the token.
 */
int xsw_xfeatures_parse(const char *s, uint64_t *mask, struct xsw_err *err);

#endif /* XSW_XSTATE_H */
