#!/usr/bin/env bash
# install-deps.sh - install every build and test dependency of dirmx from
# Debian 12 packages (the mail filters too: OpenDKIM, rspamd and
# clamav-milter, which the milter tests start themselves).
#
# Idempotent and non-interactive. Servers used by the tests (slapd, dnsmasq,
# krb5kdc, samba, postfix) are installed for their binaries only: a
# policy-rc.d stops their maintainer scripts from starting them, and any unit
# they enable is disabled again, so no system-wide daemon is left running.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS=(
	build-essential cmake pkg-config git
	libldap2-dev libsasl2-dev libkrb5-dev libc-ares-dev libgnutls28-dev
	libevent-dev libcmocka-dev zlib1g-dev libidn2-dev
	clang libclang-rt-14-dev clang-format
	libsystemd-dev debhelper lintian
)
TEST_PKGS=(
	python3
	slapd ldap-utils
	dnsmasq-base
	krb5-kdc krb5-user krb5-admin-server libsasl2-modules-gssapi-mit
	libsasl2-modules
	samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind
	postfix postfix-ldap swaks libnet-ssleay-perl libio-socket-ssl-perl
	gnutls-bin
	msmtp gsasl
	openssl testssl.sh bsdextrautils
	iproute2 procps psmisc bind9-dnsutils
	mandoc man-db
	prometheus
	mmdebstrap systemd
	opendkim opendkim-tools rspamd clamav-daemon clamav-milter
)
SERVICES=(slapd dnsmasq krb5-kdc krb5-admin-server samba samba-ad-dc smbd nmbd
	winbind postfix prometheus opendkim rspamd clamav-daemon clamav-milter
	clamav-freshclam)

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps.sh: all packages already installed"
else
	echo "install-deps.sh: installing ${missing[*]}"
	# Keep maintainer scripts from starting any daemon.
	policy=/usr/sbin/policy-rc.d
	created_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created_policy=1
	fi
	trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

	# Answer the questions these packages would ask.
	debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
slapd slapd/no_configuration boolean true
krb5-config krb5-config/default_realm string DIRMX.TEST
krb5-config krb5-config/kerberos_servers string
krb5-config krb5-config/admin_server string
krb5-config krb5-config/add_servers_realm string DIRMX.TEST
krb5-config krb5-config/read_conf boolean true
krb5-admin-server krb5-admin-server/newrealm note
krb5-kdc krb5-kdc/debconf boolean false
samba-common samba-common/dhcp boolean false
SEL
	apt-get update -q
	apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold \
		"${missing[@]}"
fi

# No daemon of the system is left running or enabled: the tests run their own.
# systemctl disable works offline too (it only removes the unit's links).
for s in "${SERVICES[@]}"; do
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl stop "$s" >/dev/null 2>&1 || true
		fi
		systemctl disable "$s" >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$s" ]; then
		update-rc.d -f "$s" disable >/dev/null 2>&1 || true
	fi
done
echo "install-deps.sh: done"
