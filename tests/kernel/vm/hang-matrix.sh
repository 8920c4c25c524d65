#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The nested KVM_RUN hang investigation: boot the test guest BOOTS times per
# variant with plan.smoke (kvm-smoke --runs 5, 30 s step timeout) and count
# boots where a step hung. Results: one line per variant on stdout, every
# console log under OUTDIR/<variant>/<n>/.
#
#   tests/kernel/vm/hang-matrix.sh BZIMAGE INITRAMFS OUTDIR [BOOTS] [VARIANT...]
#
# A variant is NAME:QEMU_OPTIONS:KERNEL_ARGS, e.g.
#   "smp2-poll:--smp 2:kvm.halt_poll_ns=200000"
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kernel=${1:?usage: hang-matrix.sh BZIMAGE INITRAMFS OUTDIR [BOOTS] [VARIANT...]}
initrd=${2:?} outdir=${3:?} boots=${4:-5}
shift 4 2>/dev/null || shift $#
[ $# -gt 0 ] || set -- \
	"max-smp1-nopoll:--cpu max --smp 1:" \
	"max-smp1-poll:--cpu max --smp 1:kvm.halt_poll_ns=200000" \
	"max-smp2-nopoll:--cpu max --smp 2:" \
	"max-smp2-poll:--cpu max --smp 2:kvm.halt_poll_ns=200000" \
	"epyc-smp1-nopoll:--cpu EPYC --smp 1:" \
	"max-smp1-hpet:--cpu max --smp 1:clocksource=hpet" \
	"max-smp1-idlepoll:--cpu max --smp 1:idle=poll"

for variant in "$@"; do
	IFS=: read -r name qopts kargs <<<"$variant"
	hung=0 ok=0 other=0 secs=()
	for n in $(seq 1 "$boots"); do
		dir=$outdir/$name/$n
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086 # qopts are words
		"$here/run-qemu.sh" --plan smoke --timeout 120 $qopts --append "$kargs" \
			"$kernel" "$initrd" "$dir"
		rc=$?
		secs+=("$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")")
		if grep -aq '^XSW-STEP-HUNG' "$dir/console.log"; then
			hung=$((hung + 1))
		elif [ $rc -eq 0 ] && grep -aq '^XSW-STEP-END kvm-smoke rc=0' "$dir/console.log"; then
			ok=$((ok + 1))
		else
			other=$((other + 1))
		fi
	done
	printf '%-20s boots=%d ok=%d hung=%d other=%d seconds=%s\n' "$name" "$boots" $ok $hung \
		$other "${secs[*]}"
done
