#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make profile: where the kernel spends vCPU creation and KVM_SET_CPUID2.
#
#   tools/bench/profile.sh BUILD_DIR OUT_DIR
#
# perf record -g with the cpu-clock software event (no hardware counters
# here) of two workloads, then for each: the perf report text (top entries,
# --no-children, kernel and user symbols), the folded stacks and a flame graph
# drawn by tools/bench/flamegraph.py:
#   lifecycle   vcpu-lifecycle bench (create VM, create vCPUs, KVM_SET_CPUID2,
#               first KVM_RUN, destroy), many iterations; also a flame graph
#               and a self-time table of only the KVM_CREATE_VCPU stacks;
#   set-cpuid2  xsw-burst --op set-cpuid2: KVM_SET_CPUID2 in a loop on one vCPU
#               (likewise filtered to the KVM_SET_CPUID2 stacks).
set -euo pipefail

build=${1:?usage: profile.sh BUILD_DIR OUT_DIR}
out=${2:?usage: profile.sh BUILD_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
vl=$build/tools/vcpu-lifecycle/vcpu-lifecycle
burst=$build/tools/bench/xsw-burst
freq=${PROFILE_FREQ:-4999}
iterations=${PROFILE_ITERATIONS:-1500}
seconds=${PROFILE_SECONDS:-10}

die() { echo "profile: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (perf, /dev/kvm)"
command -v perf >/dev/null || die "perf not installed (Debian package linux-perf)"
[ -x "$burst" ] || die "$burst not built (make -j2 all)"
mkdir -p "$out"

# Report, folded stacks and flame graph of one recording.
# $1 name, $2 title, $3 optional frame regex for an extra filtered graph.
analyse() {
	local name=$1 title=$2 filter=${3:-}
	local data=$out/$name.perf.data
	perf report -i "$data" --stdio --no-children --sort dso,sym \
		--percent-limit 0.5 -g none 2>/dev/null >"$out/$name.report.txt"
	perf script -i "$data" 2>/dev/null >"$out/$name.script.txt"
	/usr/bin/python3 "$here/flamegraph.py" --title "$title" \
		--folded "$out/$name.folded" "$out/$name.script.txt" >"$out/$name.svg"
	if [ -n "$filter" ]; then
		/usr/bin/python3 "$here/flamegraph.py" --title "$title, stacks through /$filter/" \
			--filter "$filter" --folded "$out/$name-filtered.folded" \
			--top "$out/$name-filtered.top.txt" \
			"$out/$name.script.txt" >"$out/$name-filtered.svg"
	fi
	rm -f "$out/$name.script.txt"
	echo "profile: $out/$name.report.txt, $name.folded, $name.svg${filter:+, $name-filtered.svg, $name-filtered.top.txt}"
}

{
	echo "# make profile, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "# $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $(nproc)"
} >"$out/README.txt"

if [ -x "$vl" ]; then
	cmd=("$vl" bench --vms 1 --vcpus 4 --iterations "$iterations")
	echo "lifecycle: perf record -F $freq -e cpu-clock -g -- ${cmd[*]}" | tee -a "$out/README.txt"
	perf record -q -F "$freq" -e cpu-clock -g -o "$out/lifecycle.perf.data" -- "${cmd[@]}" >/dev/null
	analyse lifecycle "vcpu-lifecycle bench (cpu-clock)" 'kvm_vm_ioctl_create_vcpu|kvm_arch_vcpu_create'
else
	echo "lifecycle: skipped: $vl not built" | tee -a "$out/README.txt"
fi

cmd=("$burst" --op set-cpuid2 --rate 0 --duration "$seconds")
echo "set-cpuid2: perf record -F $freq -e cpu-clock -g -- ${cmd[*]}" | tee -a "$out/README.txt"
perf record -q -F "$freq" -e cpu-clock -g -o "$out/set-cpuid2.perf.data" -- "${cmd[@]}" >/dev/null
analyse set-cpuid2 "KVM_SET_CPUID2 loop (cpu-clock)" 'kvm_vcpu_ioctl_set_cpuid2|kvm_set_cpuid'
