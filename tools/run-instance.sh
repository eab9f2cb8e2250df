#!/bin/sh
# make run: create an instance (once) and open the msconfig shell on it.
# Until the workers exist, this is what "running the server" means.
set -e
build=$1
instance=$2
export SERVERROOT="$instance"
export MS_DATADIR="$(pwd)/$build/schema"
if [ ! -f "$instance/config/config.xml" ]; then
	"$build/msconfig/init-config" -y --port-offset 10000 \
		--hostname "$(hostname -f 2>/dev/null || hostname)" \
		--domain "${MS_DOMAIN:-example.com}" \
		--postmaster "postmaster@${MS_DOMAIN:-example.com}"
fi
echo "instance: $instance (SERVERROOT)"
exec "$build/msconfig/msconfig"
