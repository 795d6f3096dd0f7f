/*
 * ctl-dns - placeholder until its module lands; replaced, not kept.
 */
#include <stdio.h>

#include "ctl.h"

int ctl_dns(const struct ctl_context *ctx, int argc, char **argv)
{
	fprintf(stderr, "dirmxctl: dns: not built yet\n");
	return 1;
}
