// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID table edits for leaf 0xD and the feature flags that go with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpuid.h"

struct kvm_cpuid2 *vl_cpuid_dup(const struct kvm_cpuid2 *c)
{
	size_t size = sizeof(*c) + c->nent * sizeof(c->entries[0]);
	struct kvm_cpuid2 *d = malloc(size);

	if (d)
		memcpy(d, c, size);
	return d;
}

struct kvm_cpuid_entry2 *vl_cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				       uint32_t index)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

/* Leaves whose sub-leaf index KVM must match (the ones this file edits). */
static bool index_significant(uint32_t function)
{
	return function == 0x7 || function == 0xd || function == 0x1d || function == 0x1e;
}

int vl_cpuid_set(struct kvm_cpuid2 **c, uint32_t function, uint32_t index,
		 const struct xsw_cpuid_regs *r)
{
	struct kvm_cpuid_entry2 *e = vl_cpuid_find(*c, function, index);

	if (!e) {
		struct kvm_cpuid2 *n;

		n = realloc(*c, sizeof(**c) + ((*c)->nent + 1) * sizeof(e[0]));
		if (!n)
			return -ENOMEM;
		*c = n;
		e = &n->entries[n->nent++];
		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = index;
		if (index_significant(function))
			e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	}
	e->eax = r->eax;
	e->ebx = r->ebx;
	e->ecx = r->ecx;
	e->edx = r->edx;
	return 0;
}

void vl_cpuid_remove(struct kvm_cpuid2 *c, uint32_t function, int64_t index)
{
	unsigned int out = 0;

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == function && (index < 0 || e->index == index))
			continue;
		c->entries[out++] = *e;
	}
	c->nent = out;
}

bool vl_cpuid_equal(const struct kvm_cpuid2 *a, const struct kvm_cpuid2 *b)
{
	return a->nent == b->nent &&
	       !memcmp(a->entries, b->entries, a->nent * sizeof(a->entries[0]));
}

static struct xsw_cpuid_regs regs_of(struct kvm_cpuid2 *c, uint32_t function,
				     uint32_t index)
{
	struct kvm_cpuid_entry2 *e = vl_cpuid_find(c, function, index);
	struct xsw_cpuid_regs r = { 0 };

	if (e) {
		r.eax = e->eax;
		r.ebx = e->ebx;
		r.ecx = e->ecx;
		r.edx = e->edx;
	}
	return r;
}

uint64_t vl_cpuid_xcr0(const struct kvm_cpuid2 *c)
{
	struct xsw_cpuid_regs r = regs_of((struct kvm_cpuid2 *)c, 0xd, 0);

	return ((uint64_t)r.edx << 32) | r.eax;
}

uint64_t vl_cpuid_xss(const struct kvm_cpuid2 *c)
{
	struct xsw_cpuid_regs r = regs_of((struct kvm_cpuid2 *)c, 0xd, 1);

	return ((uint64_t)r.edx << 32) | r.ecx;
}

void vl_cpuid_to_model(const struct kvm_cpuid2 *c, struct xsw_cpu_model *m,
		       const char *name)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->source, sizeof(m->source), "KVM CPUID table");
	for (unsigned int i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		struct xsw_cpuid_regs r = { e->eax, e->ebx, e->ecx, e->edx };

		if (xsw_cpu_model_set(m, e->function, e->index, &r))
			break;	/* full: the leaves the size model reads come first */
	}
}

/* CPUID feature flags that announce an xfeature (Intel SDM vol. 2, CPUID). */
enum reg { EAX, EBX, ECX, EDX };
static const struct {
	uint64_t xfeatures;	/* any of these removed: clear the flag */
	uint32_t function, index;
	enum reg reg;
	uint32_t bit;
} xfeature_flags[] = {
	{ XSW_XF_MASK(XSW_XF_YMM), 0x1, 0, ECX, 28 },		/* AVX */
	{ XSW_XF_MASK(XSW_XF_YMM), 0x1, 0, ECX, 12 },		/* FMA */
	{ XSW_XF_MASK(XSW_XF_YMM), 0x1, 0, ECX, 29 },		/* F16C */
	{ XSW_XF_MASK(XSW_XF_YMM), 0x7, 0, EBX, 5 },		/* AVX2 */
	{ XSW_XF_MASK(XSW_XF_YMM), 0x7, 1, EAX, 4 },		/* AVX-VNNI */
	{ XSW_XF_MASK(XSW_XF_YMM), 0x7, 1, EAX, 23 },		/* AVX-IFMA */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 16 },		/* AVX512F */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 17 },		/* AVX512DQ */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 21 },		/* AVX512_IFMA */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 26 },		/* AVX512PF */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 27 },		/* AVX512ER */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 28 },		/* AVX512CD */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 30 },		/* AVX512BW */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EBX, 31 },		/* AVX512VL */
	{ XSW_XF_MASK_AVX512, 0x7, 0, ECX, 1 },			/* AVX512_VBMI */
	{ XSW_XF_MASK_AVX512, 0x7, 0, ECX, 6 },			/* AVX512_VBMI2 */
	{ XSW_XF_MASK_AVX512, 0x7, 0, ECX, 11 },		/* AVX512_VNNI */
	{ XSW_XF_MASK_AVX512, 0x7, 0, ECX, 12 },		/* AVX512_BITALG */
	{ XSW_XF_MASK_AVX512, 0x7, 0, ECX, 14 },		/* AVX512_VPOPCNTDQ */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EDX, 2 },			/* AVX512_4VNNIW */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EDX, 3 },			/* AVX512_4FMAPS */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EDX, 8 },			/* AVX512_VP2INTERSECT */
	{ XSW_XF_MASK_AVX512, 0x7, 0, EDX, 23 },		/* AVX512_FP16 */
	{ XSW_XF_MASK_AVX512, 0x7, 1, EAX, 5 },			/* AVX512_BF16 */
	{ XSW_XF_MASK(XSW_XF_PKRU), 0x7, 0, ECX, 3 },		/* PKU */
	{ XSW_XF_MASK(XSW_XF_PKRU), 0x7, 0, ECX, 4 },		/* OSPKE */
	{ XSW_XF_MASK_AMX, 0x7, 0, EDX, 22 },			/* AMX_BF16 */
	{ XSW_XF_MASK_AMX, 0x7, 0, EDX, 24 },			/* AMX_TILE */
	{ XSW_XF_MASK_AMX, 0x7, 0, EDX, 25 },			/* AMX_INT8 */
	{ XSW_XF_MASK_AMX, 0x7, 1, EAX, 21 },			/* AMX_FP16 */
	{ XSW_XF_MASK_AMX, 0x7, 1, EDX, 8 },			/* AMX_COMPLEX */
};

static uint32_t *reg_ptr(struct kvm_cpuid_entry2 *e, enum reg reg)
{
	switch (reg) {
	case EAX: return &e->eax;
	case EBX: return &e->ebx;
	case ECX: return &e->ecx;
	default:  return &e->edx;
	}
}

/* Clear the flags of @removed xfeatures; drop the AMX leaves with AMX. */
static void clear_feature_flags(struct kvm_cpuid2 *c, uint64_t removed)
{
	for (size_t i = 0; i < sizeof(xfeature_flags) / sizeof(xfeature_flags[0]); i++) {
		struct kvm_cpuid_entry2 *e;

		if (!(xfeature_flags[i].xfeatures & removed))
			continue;
		e = vl_cpuid_find(c, xfeature_flags[i].function, xfeature_flags[i].index);
		if (e)
			*reg_ptr(e, xfeature_flags[i].reg) &= ~(1u << xfeature_flags[i].bit);
	}
	if (removed & XSW_XF_MASK_AMX) {
		vl_cpuid_remove(c, 0x1d, -1);	/* tile information */
		vl_cpuid_remove(c, 0x1e, -1);	/* TMUL information */
	}
}

/* 0xD.0 EBX/ECX and 0xD.1 EBX for @xcr0, sized by @sizes' sub-leaves. */
static void set_leaf_d_sizes(struct kvm_cpuid2 *c, const struct xsw_cpu_model *sizes,
			     uint64_t xcr0)
{
	struct kvm_cpuid_entry2 *d0 = vl_cpuid_find(c, 0xd, 0);
	struct kvm_cpuid_entry2 *d1 = vl_cpuid_find(c, 0xd, 1);
	uint32_t standard = xsw_xstate_size(sizes, xcr0, false);

	if (d0) {
		d0->eax = (uint32_t)xcr0;
		d0->edx = (uint32_t)(xcr0 >> 32);
		/*
		 * EBX is for the XCR0 the guest has enabled, ECX for all it may
		 * enable; KVM reports both as the latter and refreshes EBX when
		 * the guest writes XCR0.
		 */
		d0->ebx = standard;
		d0->ecx = standard;
	}
	/* XSAVEC (bit 1) or XSAVES (bit 3): EBX is the compacted size. */
	if (d1 && (d1->eax & ((1u << 1) | (1u << 3))))
		d1->ebx = xsw_xstate_size(sizes, xcr0 | vl_cpuid_xss(c), true);
}

int vl_cpuid_restrict_xcr0(struct kvm_cpuid2 **c, uint64_t xcr0, struct xsw_err *err)
{
	uint64_t cur = vl_cpuid_xcr0(*c);
	struct xsw_cpu_model *sizes;
	char a[256], b[256];
	int ret;

	if (!vl_cpuid_find(*c, 0xd, 0))
		return xsw_err_set(err, EINVAL, "the CPUID table has no leaf 0xD");
	if (xcr0 & ~cur)
		return xsw_err_set(err, EINVAL,
				   "xfeatures 0x%llx (%s) are not all in the table's 0x%llx (%s)",
				   (unsigned long long)xcr0, xsw_xfeatures_format(xcr0, a, sizeof(a)),
				   (unsigned long long)cur, xsw_xfeatures_format(cur, b, sizeof(b)));
	ret = xsw_xfeatures_check_deps(xcr0, err);
	if (ret)
		return ret;

	sizes = malloc(sizeof(*sizes));
	if (!sizes)
		return xsw_err_set(err, ENOMEM, "out of memory");
	vl_cpuid_to_model(*c, sizes, "KVM_GET_SUPPORTED_CPUID");
	set_leaf_d_sizes(*c, sizes, xcr0);
	free(sizes);

	for (unsigned int nr = 2; nr < 63; nr++)
		if ((cur & ~xcr0) & XSW_XF_MASK(nr))
			vl_cpuid_remove(*c, 0xd, nr);
	clear_feature_flags(*c, cur & ~xcr0);
	return 0;
}

int vl_cpuid_install_model(struct kvm_cpuid2 **c, const struct xsw_cpu_model *model,
			   uint64_t *installed, struct xsw_err *err)
{
	uint64_t host = vl_cpuid_xcr0(*c), host_xss = vl_cpuid_xss(*c);
	uint64_t xcr0 = xsw_xcr0_supported(model) & host;
	uint64_t xss = xsw_xss_supported(model) & host_xss;
	struct xsw_cpuid_regs host_d1 = regs_of(*c, 0xd, 1);
	struct xsw_cpuid_regs r;
	struct xsw_err deps;
	char a[256];
	int ret;

	if (!vl_cpuid_find(*c, 0xd, 0))
		return xsw_err_set(err, EINVAL, "the CPUID table has no leaf 0xD");
	ret = xsw_xfeatures_check_deps(xcr0, &deps);
	if (ret)
		return xsw_err_set(err, EINVAL,
				   "model xcr0 masked to the host's is 0x%llx (%s): %s",
				   (unsigned long long)xcr0,
				   xsw_xfeatures_format(xcr0, a, sizeof(a)), deps.msg);

	/* Sub-leaves: the model's for every feature kept, none for the rest. */
	for (unsigned int nr = 2; nr < 63; nr++) {
		if ((xcr0 | xss) & XSW_XF_MASK(nr)) {
			r = xsw_cpu_model_get(model, 0xd, nr);
			ret = vl_cpuid_set(c, 0xd, nr, &r);
			if (ret)
				return xsw_err_set(err, -ret, "out of memory");
		} else {
			vl_cpuid_remove(*c, 0xd, nr);
		}
	}
	/* 0xD.1: instructions (XSAVEOPT, XSAVEC, XGETBV1, XSAVES, XFD) both have. */
	r = xsw_cpu_model_get(model, 0xd, 1);
	r.eax &= host_d1.eax;
	r.ebx = 0;
	r.ecx = (uint32_t)xss;
	r.edx = (uint32_t)(xss >> 32);
	ret = vl_cpuid_set(c, 0xd, 1, &r);
	if (ret)
		return xsw_err_set(err, -ret, "out of memory");
	set_leaf_d_sizes(*c, model, xcr0);

	/* Leaf 7 AMX bits: the model's, where the host has them too. */
	for (size_t i = 0; i < sizeof(xfeature_flags) / sizeof(xfeature_flags[0]); i++) {
		struct kvm_cpuid_entry2 *e;
		struct xsw_cpuid_regs mr;
		uint32_t bit, *reg, model_reg;

		if (xfeature_flags[i].xfeatures != XSW_XF_MASK_AMX)
			continue;
		e = vl_cpuid_find(*c, xfeature_flags[i].function, xfeature_flags[i].index);
		if (!e)
			continue;
		mr = xsw_cpu_model_get(model, xfeature_flags[i].function,
				       xfeature_flags[i].index);
		bit = 1u << xfeature_flags[i].bit;
		reg = reg_ptr(e, xfeature_flags[i].reg);
		model_reg = xfeature_flags[i].reg == EAX ? mr.eax :
			    xfeature_flags[i].reg == EBX ? mr.ebx :
			    xfeature_flags[i].reg == ECX ? mr.ecx : mr.edx;
		if (!(model_reg & bit))
			*reg &= ~bit;
	}
	clear_feature_flags(*c, host & ~xcr0);
	*installed = xcr0;
	return 0;
}
