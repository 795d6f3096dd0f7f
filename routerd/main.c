/*
 * routerd - entry point (being built: see the foundation issue).
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "routerd: not yet implemented\n");
	return 1;
}
