#!/bin/sh
# Install the Debian 12 packages the project builds, runs and tests with.
# Runs apt-get only when something is missing, so a second run is instant.
set -e
PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
libxml2-dev libxml2-utils libxslt1-dev xsltproc libssl-dev libsqlite3-dev
libldap-dev slapd ldap-utils liblua5.4-dev libevent-dev libedit-dev
python3 python3-pytest python3-pexpect swaks openssl"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# slapd asks questions at install time; the project runs its own slapd.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get install -y -qq --no-install-recommends $missing
