#!/bin/bash
# start-rabbitmq.sh starts a RabbitMQ node of its own for the tests: its own
# node name, AMQP port, distribution port and data folder, so that it never
# reuses, nor disturbs, a broker that something else runs on this machine.
# It installs RabbitMQ (Debian package rabbitmq-server) when it is missing,
# waits until the node accepts connections and prints the broker URL for the
# tests on stdout:
#
#	SSEGATE_AMQP_URL=$(sseconn/amqp/testdata/start-rabbitmq.sh)
#	...
#	sseconn/amqp/testdata/start-rabbitmq.sh stop
#
# "stop" stops that node and removes its data folder. Both commands read the
# same environment:
#
#	RABBITMQ_NODENAME   node name (default ssegate-test@localhost); export it
#	                    for the tests too, so that the rabbitmqctl they run
#	                    (the memory alarm test) targets this node
#	RABBITMQ_NODE_PORT  AMQP port (default 5682, not RabbitMQ's 5672)
#	SSEGATE_RABBITMQ_DIR data, logs and pid file
#	                    (default /tmp/ssegate-rabbitmq-<port>)
#	RABBITMQ_START_TIMEOUT seconds to wait for the node (default 180)
#
# Run it as root on Debian or Ubuntu. All progress goes to stderr. The URL uses
# the default guest account, which RabbitMQ accepts from localhost only.
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
export PATH
timeout=${RABBITMQ_START_TIMEOUT:-180}

export RABBITMQ_NODENAME=${RABBITMQ_NODENAME:-ssegate-test@localhost}
export RABBITMQ_NODE_PORT=${RABBITMQ_NODE_PORT:-5682}
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=$((RABBITMQ_NODE_PORT + 20000))
dir=${SSEGATE_RABBITMQ_DIR:-/tmp/ssegate-rabbitmq-$RABBITMQ_NODE_PORT}
export RABBITMQ_MNESIA_BASE=$dir/mnesia
export RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
# No plugins: the management plugin's port would clash with another node's.
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
# A configuration file of its own, so that the system's cannot move the port.
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf

log() { echo "start-rabbitmq: $*" >&2; }

ctl() { rabbitmqctl -q -n "$RABBITMQ_NODENAME" "$@"; }

if [ "${1:-}" = stop ]; then
	# Only a node that this script started, in this folder: a start that
	# failed (say, because the port is taken by another node of ours,
	# whose folder has the same default name) must not touch the other
	# node or its data.
	if [ "$(cat "$dir/node" 2>/dev/null)" != "$RABBITMQ_NODENAME" ]; then
		log "$dir holds no node $RABBITMQ_NODENAME: nothing to stop"
		exit 0
	fi
	log "stopping $RABBITMQ_NODENAME"
	if ctl --timeout 30 stop "$RABBITMQ_PID_FILE" >&2 2>/dev/null; then
		log "stopped"
	else
		log "$RABBITMQ_NODENAME was not running"
	fi
	case $dir in /tmp/ssegate-rabbitmq-*) rm -rf "$dir" ;; esac
	exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
	log "installing rabbitmq-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends rabbitmq-server >&2
fi

if ctl --timeout 10 ping >/dev/null 2>&1; then
	log "$RABBITMQ_NODENAME already runs (left by an earlier run?): restarting it"
	ctl --timeout 30 stop >&2 || true
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_NODE_PORT") 2>/dev/null; then
	log "port $RABBITMQ_NODE_PORT is taken by something else; set RABBITMQ_NODE_PORT"
	exit 1
fi

rm -rf "$dir"
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
echo "$RABBITMQ_NODENAME" >"$dir/node" # whose folder this is, for stop
echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
printf 'listeners.tcp.default = %s\nloopback_users.guest = true\n' "$RABBITMQ_NODE_PORT" >"$RABBITMQ_CONFIG_FILE"
if id rabbitmq >/dev/null 2>&1; then
	chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
fi

log "starting $RABBITMQ_NODENAME on port $RABBITMQ_NODE_PORT, data in $dir"
# Open files: as many as the hard limit allows. Debian's rabbitmq-server
# switches to the rabbitmq user with su, whose PAM session sets the soft
# limit back to 1024; a node with more durable queues than that (the AMQP
# soak's 2,000) then hangs recovering them after a restart. As root, start
# the node as the rabbitmq user without su, so that it keeps the limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 &&
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
	(cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq setpriv --reuid rabbitmq --regid rabbitmq --init-groups \
		/usr/lib/rabbitmq/bin/rabbitmq-server -detached) >&2
else
	rabbitmq-server -detached >&2
fi

log "waiting up to ${timeout}s"
deadline=$((SECONDS + timeout))
# await_startup fails at once while the Erlang node is not up yet: retry.
until ctl await_startup --timeout 30 >/dev/null 2>&1; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log "RabbitMQ did not start; see $RABBITMQ_LOG_BASE"
		ctl await_startup --timeout 1 >&2 || true
		exit 1
	fi
	sleep 1
done
# The node has booted; make sure the AMQP listener answers too.
until (exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_NODE_PORT") 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log "port $RABBITMQ_NODE_PORT does not answer"
		exit 1
	fi
	sleep 1
done
log "ready"
echo "amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/"
