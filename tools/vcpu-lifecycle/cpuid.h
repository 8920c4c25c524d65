/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPUID tables as KVM_SET_CPUID2 takes them, and the edits a VMM makes to
 * leaf 0xD (pure functions, unit-tested in tests/unit/test_vcpu_lifecycle_cpuid.c).
 *
 * Leaf 0xD sizes are never typed in: they come from the project's size
 * model (tools/lib/xstate.h) fed with the table's own sub-leaves.
 */
#ifndef VL_CPUID_H
#define VL_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "xstate.h"

struct kvm_cpuid2 *vl_cpuid_dup(const struct kvm_cpuid2 *c);
struct kvm_cpuid_entry2 *vl_cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				       uint32_t index);
/* Add or replace (function, index); may move *@c. */
int vl_cpuid_set(struct kvm_cpuid2 **c, uint32_t function, uint32_t index,
		 const struct xsw_cpuid_regs *r);
/* Delete every entry of @function (index -1) or one (function, index). */
void vl_cpuid_remove(struct kvm_cpuid2 *c, uint32_t function, int64_t index);
/* Same entries in the same order: what KVM requires after the first KVM_RUN. */
bool vl_cpuid_equal(const struct kvm_cpuid2 *a, const struct kvm_cpuid2 *b);

/* Leaf 0xD.0 EDX:EAX and 0xD.1 EDX:ECX. */
uint64_t vl_cpuid_xcr0(const struct kvm_cpuid2 *c);
uint64_t vl_cpuid_xss(const struct kvm_cpuid2 *c);
/* The table as a size-model CPU model (so its own sub-leaves size things). */
void vl_cpuid_to_model(const struct kvm_cpuid2 *c, struct xsw_cpu_model *m,
		       const char *name);

/*
 * Shrink the guest's xfeatures to @xcr0 (a subset of the table's): leaf
 * 0xD.0 EAX/EDX, 0xD.0 EBX/ECX and 0xD.1 EBX recomputed with the size
 * model, sub-leaves of removed features deleted, and the CPUID feature
 * flags that announce them (AVX, AVX2, AVX-512*, PKU, AMX*) cleared.
 */
int vl_cpuid_restrict_xcr0(struct kvm_cpuid2 **c, uint64_t xcr0, struct xsw_err *err);

/*
 * Install a CPU model's leaf 0xD (and its leaf 7 AMX bits), masked to what
 * the table (KVM_GET_SUPPORTED_CPUID) supports: 0xD.0 xcr0 = model &
 * table, each present component's sub-leaf as the model gives it, sizes
 * in 0xD.0/0xD.1 computed by the size model from the model's sub-leaves.
 * *@installed gets the resulting xcr0.
 */
int vl_cpuid_install_model(struct kvm_cpuid2 **c, const struct xsw_cpu_model *model,
			   uint64_t *installed, struct xsw_err *err);

#endif /* VL_CPUID_H */
