#!/bin/bash
# start-rabbitmq.sh installs RabbitMQ (Debian package rabbitmq-server) when it
# is missing, starts it unless it already runs, waits until it accepts
# connections and prints the broker URL for the tests on stdout:
#
#	SSEGATE_AMQP_URL=$(sseconn/amqp/testdata/start-rabbitmq.sh)
#
# Run it as root on Debian or Ubuntu. All progress goes to stderr. The URL uses
# the default guest account, which RabbitMQ accepts from localhost only.
# Environment: RABBITMQ_START_TIMEOUT (seconds, default 180).
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
export PATH
timeout=${RABBITMQ_START_TIMEOUT:-180}

log() { echo "start-rabbitmq: $*" >&2; }

if ! command -v rabbitmq-server >/dev/null 2>&1; then
	log "installing rabbitmq-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends rabbitmq-server >&2
fi

if rabbitmqctl -q --timeout 10 ping >/dev/null 2>&1; then
	log "already running"
else
	# The node is named rabbit@<short host name>, which must resolve; in
	# containers it often does not. Name it rabbit@localhost instead, in
	# the file that both the server and rabbitmqctl read.
	envconf=/etc/rabbitmq/rabbitmq-env.conf
	if ! getent hosts "$(hostname -s)" >/dev/null 2>&1 &&
		! grep -qs '^NODENAME=' "$envconf"; then
		log "host name does not resolve: naming the node rabbit@localhost"
		mkdir -p /etc/rabbitmq
		echo "NODENAME=rabbit@localhost" >>"$envconf"
	fi
	log "starting"
	if [ -x /etc/init.d/rabbitmq-server ] && command -v service >/dev/null 2>&1; then
		# The init script starts the node as user rabbitmq in the
		# background and waits for it; without systemd (containers) it is
		# what "service" runs.
		timeout "$timeout" service rabbitmq-server start >&2 || true
	fi
	if ! rabbitmqctl -q --timeout 10 ping >/dev/null 2>&1; then
		rabbitmq-server -detached >&2
	fi
fi

log "waiting up to ${timeout}s"
deadline=$((SECONDS + timeout))
# await_startup fails at once while the Erlang node is not up yet: retry.
until rabbitmqctl -q await_startup --timeout 30 >/dev/null 2>&1; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log "RabbitMQ did not start; see /var/log/rabbitmq"
		rabbitmqctl -q await_startup --timeout 1 >&2 || true
		exit 1
	fi
	sleep 1
done
# The node has booted; make sure the AMQP listener answers too.
until (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		log "port 5672 does not answer"
		exit 1
	fi
	sleep 1
done
# A test run killed in the middle of TestBlocked leaves a memory alarm
# raised; clear it (a runtime setting, back to the default).
rabbitmqctl -q set_vm_memory_high_watermark 0.4 >&2 || true
log "ready"
echo "amqp://guest:guest@127.0.0.1:5672/"
