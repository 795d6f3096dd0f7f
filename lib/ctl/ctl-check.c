/*
 * ctl-check - placeholder until its module lands; replaced, not kept.
 */
#include <stdio.h>

#include "ctl.h"

int ctl_check(const struct ctl_context *ctx, int argc, char **argv)
{
	fprintf(stderr, "dirmxctl: check: not built yet\n");
	return 1;
}
