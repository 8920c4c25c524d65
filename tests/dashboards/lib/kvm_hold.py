#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Hold a small VM open: KVM_CREATE_VM, N x KVM_CREATE_VCPU, each given the
KVM_GET_SUPPORTED_CPUID table with KVM_SET_CPUID2; print
"ready PID NR GUEST_PERM CPUID_XCR0" and keep the fds until stdin reaches
end of file. Its task name is "kvm-hold", so its vCPUs are easy to pick out
of the collector's per-vCPU metrics.

GUEST_PERM is ARCH_GET_XCOMP_GUEST_PERM ("-" on a kernel without it) and
CPUID_XCR0 the 0xD.0 EDX:EAX of the table it set: with them the test
computes, from this host's kernel and KVM, the sizes the collector must
report (the guest fpstate is sized for the guest permission, the guest's
state for the CPUID's xcr0).

  kvm_hold.py [NR_VCPUS] [/dev/kvm]
"""
import ctypes
import fcntl
import os
import struct
import sys

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
KVM_GET_SUPPORTED_CPUID = 0xC008AE05	# _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
KVM_SET_CPUID2 = 0x4008AE90		# _IOW(KVMIO, 0x90, struct kvm_cpuid2)
PR_SET_NAME = 15
SYS_arch_prctl = 158			# x86_64
ARCH_GET_XCOMP_GUEST_PERM = 0x1024
MAX_ENTRIES = 256
ENTRY_SIZE = 40				# struct kvm_cpuid_entry2


def guest_perm(libc):
    perm = ctypes.c_uint64()
    if libc.syscall(SYS_arch_prctl, ARCH_GET_XCOMP_GUEST_PERM, ctypes.byref(perm)):
        return "-"
    return hex(perm.value)


def cpuid_xcr0(cpuid):
    nent = struct.unpack_from("I", cpuid, 0)[0]
    for i in range(nent):
        fn, idx, _, eax, _, _, edx = struct.unpack_from("7I", cpuid, 8 + i * ENTRY_SIZE)
        if fn == 0xD and idx == 0:
            return hex(edx << 32 | eax)
    return "0x0"


def main():
    nr = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    dev = sys.argv[2] if len(sys.argv) > 2 else "/dev/kvm"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, b"kvm-hold", 0, 0, 0)
    try:
        kvm = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        cpuid = bytearray(8 + MAX_ENTRIES * ENTRY_SIZE)
        struct.pack_into("I", cpuid, 0, MAX_ENTRIES)
        fcntl.ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid, True)
        vcpus = []
        for i in range(nr):
            vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, i)
            fcntl.ioctl(vcpu, KVM_SET_CPUID2, cpuid, True)
            vcpus.append(vcpu)
    except OSError as e:
        sys.exit(f"kvm_hold: {dev}: {e}")
    print(f"ready {os.getpid()} {nr} {guest_perm(libc)} {cpuid_xcr0(cpuid)}", flush=True)
    sys.stdin.read()


main()
