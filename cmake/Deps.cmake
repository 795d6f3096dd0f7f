# Find every library dirmx links against. A missing one stops the configure
# step and names the Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config "
    "(or run deploy/install-deps.sh)")
endif()

function(dirmx_require target module debpkg)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debpkg} "
      "(or run deploy/install-deps.sh)")
  endif()
endfunction()

dirmx_require(LDAP ldap libldap2-dev)
dirmx_require(LBER lber libldap2-dev)
dirmx_require(SASL libsasl2 libsasl2-dev)
# Kerberos SMTP AUTH in authd: the keytab (authd/smtpkeytab.c) and the
# GSSAPI acceptor identity (authd/smtpsasl.c).
dirmx_require(KRB5 krb5 libkrb5-dev)
dirmx_require(GSSAPI krb5-gssapi libkrb5-dev)
dirmx_require(CARES libcares libc-ares-dev)
dirmx_require(GNUTLS gnutls libgnutls28-dev)
dirmx_require(EVENT libevent libevent-dev)
dirmx_require(CMOCKA cmocka libcmocka-dev)
# sd_notify() for Type=notify units (lib/sdnotify.c).
dirmx_require(SYSTEMD libsystemd libsystemd-dev)
