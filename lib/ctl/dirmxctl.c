/*
 * dirmxctl - the admin tool (being built).
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dirmxctl: not yet implemented\n");
	return 1;
}
