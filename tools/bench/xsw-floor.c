// SPDX-License-Identifier: GPL-2.0
/*
 * xsw-floor: attach empty programs to one set of the syscall tier's hooks
 * and wait for SIGINT/SIGTERM, so that `make bench` can measure what the
 * attach points cost by themselves.
 *
 *   xsw-floor --hooks events   syscalls:sys_{enter,exit}_{ioctl,arch_prctl},
 *                              sys_enter_close (the default hooks)
 *   xsw-floor --hooks raw      tp_btf raw_syscalls sys_enter/sys_exit
 *                              (--syscall-hooks=raw)
 *
 * Prints "xsw-floor: attached (HOOKS)" on stderr once every program is in.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "bpf/xsw_floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct xsw_floor *skel;
	struct sigaction sa = { .sa_handler = on_signal };
	bool raw;
	int ret;

	if (argc != 3 || strcmp(argv[1], "--hooks") ||
	    (strcmp(argv[2], "events") && strcmp(argv[2], "raw"))) {
		fprintf(stderr, "usage: xsw-floor --hooks events|raw\n");
		return 2;
	}
	raw = !strcmp(argv[2], "raw");
	skel = xsw_floor__open();
	if (!skel) {
		fprintf(stderr, "xsw-floor: opening the BPF object failed: %s\n", strerror(errno));
		return 1;
	}
	bpf_program__set_autoload(skel->progs.floor_ioctl_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_ioctl_exit, !raw);
	bpf_program__set_autoload(skel->progs.floor_prctl_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_prctl_exit, !raw);
	bpf_program__set_autoload(skel->progs.floor_close_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_close_range_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_dup2_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_dup3_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_raw_sys_enter, raw);
	bpf_program__set_autoload(skel->progs.floor_raw_sys_exit, raw);
	ret = xsw_floor__load(skel);
	if (!ret)
		ret = xsw_floor__attach(skel);
	if (ret) {
		fprintf(stderr, "xsw-floor: loading or attaching the %s hooks failed: %s\n",
			argv[2], strerror(-ret));
		xsw_floor__destroy(skel);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "xsw-floor: attached (%s)\n", argv[2]);
	while (!stop)
		pause();
	xsw_floor__destroy(skel);
	return 0;
}
