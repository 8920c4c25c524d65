// SPDX-License-Identifier: GPL-2.0
/*
 * XSAVE buffer sizes from CPUID leaf 0xD, as the kernel computes them in
 * arch/x86/kernel/fpu/xstate.c: xstate_calculate_size() takes the topmost
 * component of the mask and returns its offset plus its size; the offset is
 * CPUID's standard offset in the standard format, and in the compacted
 * format the sum of the sizes of the lower components present, each
 * 64-byte aligned first when CPUID.0xD.i:ECX[1] says so
 * (xfeature_get_offset()).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xstate.h"

#define ALIGN64(x) (((x) + 63u) & ~63u)

uint64_t xsw_xcr0_supported(const struct xsw_cpu_model *m)
{
	struct xsw_cpuid_regs r = xsw_cpu_model_get(m, 0xd, 0);

	return ((uint64_t)r.edx << 32) | r.eax;
}

uint64_t xsw_xss_supported(const struct xsw_cpu_model *m)
{
	struct xsw_cpuid_regs r = xsw_cpu_model_get(m, 0xd, 1);

	return ((uint64_t)r.edx << 32) | r.ecx;
}

bool xsw_has_xsavec(const struct xsw_cpu_model *m)
{
	return xsw_cpu_model_get(m, 0xd, 1).eax & (1u << 1);
}

bool xsw_has_xsaves(const struct xsw_cpu_model *m)
{
	return xsw_cpu_model_get(m, 0xd, 1).eax & (1u << 3);
}

bool xsw_has_xfd(const struct xsw_cpu_model *m)
{
	return xsw_cpu_model_get(m, 0xd, 1).eax & (1u << 4);
}

bool xsw_kernel_uses_compacted(const struct xsw_cpu_model *m)
{
	/* X86_FEATURE_XCOMPACTED is set when XSAVES or XSAVEC is usable. */
	return xsw_has_xsaves(m) || xsw_has_xsavec(m);
}

struct xsw_xcomp xsw_xcomp(const struct xsw_cpu_model *m, unsigned int nr)
{
	struct xsw_xcomp c = { 0 };
	struct xsw_cpuid_regs r;

	if (nr == XSW_XF_FP) {
		c.size = 160;	/* within the 512-byte legacy area */
		return c;
	}
	if (nr == XSW_XF_SSE) {
		c.offset = 160;
		c.size = 256;
		return c;
	}
	if (nr >= 63)
		return c;
	r = xsw_cpu_model_get(m, 0xd, nr);
	c.size = r.eax;
	c.offset = r.ebx;
	c.flags = r.ecx & (XSW_XCOMP_SUPERVISOR | XSW_XCOMP_ALIGN64 | XSW_XCOMP_XFD);
	return c;
}

uint64_t xsw_xfeatures_dynamic(const struct xsw_cpu_model *m)
{
	uint64_t all = xsw_xcr0_supported(m) | xsw_xss_supported(m), dyn = 0;
	unsigned int i;

	if (!xsw_has_xfd(m))
		return 0;
	for (i = 2; i < 63; i++)
		if ((all & XSW_XF_MASK(i)) && (xsw_xcomp(m, i).flags & XSW_XCOMP_XFD))
			dyn |= XSW_XF_MASK(i);
	return dyn;
}

uint64_t xsw_xfeatures_supervisor(const struct xsw_cpu_model *m)
{
	uint64_t sup = 0;
	unsigned int i;

	for (i = 2; i < 63; i++)
		if (xsw_xcomp(m, i).flags & XSW_XCOMP_SUPERVISOR)
			sup |= XSW_XF_MASK(i);
	return sup | xsw_xss_supported(m);
}

static int topmost(uint64_t mask)
{
	return mask ? 63 - __builtin_clzll(mask) : -1;
}

uint32_t xsw_xstate_compacted_offset(const struct xsw_cpu_model *m, uint64_t xfeatures,
				     unsigned int nr)
{
	uint32_t offs = XSW_XSAVE_BASE_SIZE;
	unsigned int i;

	if (nr <= XSW_XF_SSE)
		return xsw_xcomp(m, nr).offset;
	for (i = 2; i < 63; i++) {
		if (!(xfeatures & XSW_XF_MASK(i)) && i != nr)
			continue;
		if (xsw_xcomp(m, i).flags & XSW_XCOMP_ALIGN64)
			offs = ALIGN64(offs);
		if (i == nr)
			break;
		offs += xsw_xcomp(m, i).size;
	}
	return offs;
}

uint32_t xsw_xstate_size(const struct xsw_cpu_model *m, uint64_t xfeatures, bool compacted)
{
	int top;

	/*
	 * Supervisor components have no standard-format location (CPUID gives
	 * them offset 0): the uABI buffer never holds them.
	 */
	if (!compacted)
		xfeatures &= ~xsw_xfeatures_supervisor(m);
	top = topmost(xfeatures);
	if (top <= XSW_XF_SSE)
		return XSW_XSAVE_BASE_SIZE;
	if (compacted)
		return xsw_xstate_compacted_offset(m, xfeatures, top) + xsw_xcomp(m, top).size;
	return xsw_xcomp(m, top).offset + xsw_xcomp(m, top).size;
}

int xsw_xfeatures_check_deps(uint64_t mask, struct xsw_err *err)
{
	char b[256];

	if (!(mask & XSW_XF_MASK(XSW_XF_FP)))
		return xsw_err_set(err, EINVAL, "0x%" PRIx64 " (%s): x87 (bit 0) must always be set",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	if ((mask & XSW_XF_MASK(XSW_XF_YMM)) && !(mask & XSW_XF_MASK(XSW_XF_SSE)))
		return xsw_err_set(err, EINVAL, "0x%" PRIx64 " (%s): avx (YMM) needs sse",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	if ((mask & XSW_XF_MASK_AVX512) && (mask & XSW_XF_MASK_AVX512) != XSW_XF_MASK_AVX512)
		return xsw_err_set(err, EINVAL,
				   "0x%" PRIx64 " (%s): the AVX-512 components (opmask|zmm_hi256|hi16_zmm) go all or none",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	if ((mask & XSW_XF_MASK_AVX512) && !(mask & XSW_XF_MASK(XSW_XF_YMM)))
		return xsw_err_set(err, EINVAL, "0x%" PRIx64 " (%s): AVX-512 needs avx (YMM)",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	if ((mask & XSW_XF_MASK_MPX) && (mask & XSW_XF_MASK_MPX) != XSW_XF_MASK_MPX)
		return xsw_err_set(err, EINVAL, "0x%" PRIx64 " (%s): bndregs and bndcsr go together",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	if ((mask & XSW_XF_MASK_AMX) && (mask & XSW_XF_MASK_AMX) != XSW_XF_MASK_AMX)
		return xsw_err_set(err, EINVAL, "0x%" PRIx64 " (%s): xtilecfg and xtiledata go together",
				   mask, xsw_xfeatures_format(mask, b, sizeof(b)));
	return 0;
}

/* Names as the kernel's xfeature_names[] abbreviate them in its own tools. */
static const char *const xfeature_names[] = {
	[XSW_XF_FP] = "x87",
	[XSW_XF_SSE] = "sse",
	[XSW_XF_YMM] = "avx",
	[XSW_XF_BNDREGS] = "bndregs",
	[XSW_XF_BNDCSR] = "bndcsr",
	[XSW_XF_OPMASK] = "opmask",
	[XSW_XF_ZMM_HI256] = "zmm_hi256",
	[XSW_XF_HI16_ZMM] = "hi16_zmm",
	[XSW_XF_PT] = "pt",
	[XSW_XF_PKRU] = "pkru",
	[XSW_XF_PASID] = "pasid",
	[XSW_XF_CET_USER] = "cet_user",
	[XSW_XF_CET_KERNEL] = "cet_kernel",
	[XSW_XF_HDC] = "hdc",
	[XSW_XF_UINTR] = "uintr",
	[XSW_XF_LBR] = "lbr",
	[XSW_XF_HWP] = "hwp",
	[XSW_XF_XTILE_CFG] = "xtilecfg",
	[XSW_XF_XTILE_DATA] = "xtiledata",
	[XSW_XF_APX] = "apx",
};

const char *xsw_xfeature_name(unsigned int nr)
{
	if (nr >= sizeof(xfeature_names) / sizeof(xfeature_names[0]))
		return NULL;
	return xfeature_names[nr];
}

char *xsw_xfeatures_format(uint64_t mask, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!mask) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (i = 0; i < 64; i++) {
		const char *n;
		int w;

		if (!(mask & XSW_XF_MASK(i)))
			continue;
		n = xsw_xfeature_name(i);
		if (n)
			w = snprintf(buf + off, len - off, "%s%s", off ? "|" : "", n);
		else
			w = snprintf(buf + off, len - off, "%sbit%u", off ? "|" : "", i);
		if (w < 0 || (size_t)w >= len - off) {
			buf[len - 1] = '\0';
			break;
		}
		off += w;
	}
	return buf;
}

static int parse_name(const char *tok, uint64_t *mask)
{
	unsigned int i;

	if (!strcasecmp(tok, "amx")) {
		*mask |= XSW_XF_MASK_AMX;
		return 0;
	}
	if (!strcasecmp(tok, "avx512")) {
		*mask |= XSW_XF_MASK_AVX512;
		return 0;
	}
	if (!strcasecmp(tok, "fp") || !strcasecmp(tok, "x87")) {
		*mask |= XSW_XF_MASK(XSW_XF_FP);
		return 0;
	}
	if (!strcasecmp(tok, "ymm")) {
		*mask |= XSW_XF_MASK(XSW_XF_YMM);
		return 0;
	}
	if (!strncasecmp(tok, "bit", 3) && isdigit((unsigned char)tok[3])) {
		char *end;
		unsigned long b = strtoul(tok + 3, &end, 10);

		if (*end || b > 63)
			return -EINVAL;
		*mask |= XSW_XF_MASK(b);
		return 0;
	}
	for (i = 0; i < sizeof(xfeature_names) / sizeof(xfeature_names[0]); i++) {
		if (xfeature_names[i] && !strcasecmp(tok, xfeature_names[i])) {
			*mask |= XSW_XF_MASK(i);
			return 0;
		}
	}
	return -EINVAL;
}

int xsw_xfeatures_parse(const char *s, uint64_t *mask, struct xsw_err *err)
{
	char *copy, *tok, *save = NULL, *end;
	uint64_t m = 0;
	int ret = 0;

	if (!s || !*s)
		return xsw_err_set(err, EINVAL, "empty xfeature mask");
	if (isdigit((unsigned char)s[0])) {
		errno = 0;
		m = strtoull(s, &end, 0);
		if (errno || *end)
			return xsw_err_set(err, EINVAL, "'%s': not a number or a list of xfeature names", s);
		*mask = m;
		return 0;
	}
	copy = strdup(s);
	if (!copy)
		return xsw_err_set(err, ENOMEM, "out of memory");
	for (tok = strtok_r(copy, "|,+ ", &save); tok; tok = strtok_r(NULL, "|,+ ", &save)) {
		if (parse_name(tok, &m)) {
			ret = xsw_err_set(err, EINVAL,
					  "'%s': unknown xfeature name '%s' (known: x87 sse avx bndregs bndcsr opmask zmm_hi256 hi16_zmm pt pkru pasid cet_user cet_kernel hdc uintr lbr hwp xtilecfg xtiledata apx, amx, avx512, bitN)",
					  s, tok);
			break;
		}
	}
	free(copy);
	if (!ret)
		*mask = m;
	return ret;
}
