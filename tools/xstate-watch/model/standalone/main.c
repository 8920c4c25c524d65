// SPDX-License-Identifier: GPL-2.0
/*
 * xsw-model: the `model` command of xstate-watch as a program of its own,
 * for tests and for builds without the collector's front end.
 */
#include "model.h"

int main(int argc, char **argv)
{
	return xsw_model_main(argc, argv);
}
