#!/bin/sh
# make run: create an instance (once), start every enabled service with
# start-msg, open the msconfig shell on it, and stop everything with
# stop-msg when the shell ends or on Ctrl-C.
set -e
build=$1
instance=$2
export SERVERROOT="$instance"
export MS_DATADIR="$(pwd)/$build/schema"
# The service programs of the build tree (an installed tree finds them by itself).
export MS_PROGPATH="$(pwd)/$build/workers/watcher:$(pwd)/$build/workers/store:$(pwd)/$build/workers/mta:$(pwd)/$build/workers/mmp:$(pwd)/$build/msconfig"
if [ ! -f "$instance/config/config.xml" ]; then
	"$build/msconfig/init-config" -y --port-offset 10000 --local-directory \
		--hostname "$(hostname -f 2>/dev/null || hostname)" \
		--domain "${MS_DOMAIN:-example.com}" \
		--postmaster "postmaster@${MS_DOMAIN:-example.com}"
fi
echo "instance: $instance (SERVERROOT)"
stop() {
	trap - INT TERM EXIT
	"$build/workers/watcher/stop-msg" || true
}
trap stop INT TERM EXIT
"$build/workers/watcher/start-msg" || true
echo "logs: $instance/data/log (watcher, default); the shell's exit stops the services"
"$build/msconfig/msconfig" || true
