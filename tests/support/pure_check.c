/*
 * pure_check - linked with the whole of dirmx_pure and nothing but zlib
 * and libidn2: if a pure core calls libevent, GnuTLS, libldap, c-ares or
 * one of the I/O modules, this program does not link and the build fails.
 */
#include <stdio.h>

int main(void)
{
	puts("dirmx_pure links alone");
	return 0;
}
