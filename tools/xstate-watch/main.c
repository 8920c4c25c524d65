// SPDX-License-Identifier: GPL-2.0
/*
 * xstate-watch: observe and check how the kernel sizes x86 guest FPU state.
 * The first argument picks the mode; live is the default.
 */
#include <argp.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef XSW_HAVE_MODEL
#include "model/model.h"
#endif

int main(int argc, char **argv)
{
	/* Sinks write to stdout while a pipe reads it: line-buffer it. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* argp names the program after argv[0] in its messages. */
	if (argc > 1 && !strcmp(argv[1], "run")) {
		argv[1] = (char *)"xstate-watch run";
		return xsw_run_main(argc - 1, argv + 1);
	}
	if (argc > 1 && !strcmp(argv[1], "replay")) {
		argv[1] = (char *)"xstate-watch replay";
		return xsw_replay_main(argc - 1, argv + 1);
	}
	if (argc > 1 && !strcmp(argv[1], "model")) {
		argv[1] = (char *)"xstate-watch model";
#ifdef XSW_HAVE_MODEL
		return xsw_model_main(argc - 1, argv + 1);
#else
		fprintf(stderr, "xstate-watch: built without the pKVM model "
			"(tools/xstate-watch/model)\n");
		return XSW_EXIT_ERROR;
#endif
	}
	return xsw_live_main(argc, argv);
}
