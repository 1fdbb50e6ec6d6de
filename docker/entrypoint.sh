#!/usr/bin/env bash
# The image's entrypoint: check the configuration, install the index templates (waiting while the
# cluster starts), then become `exim-shipper run` (exec: SIGTERM reaches it directly, it drains and
# exits 0).
#
#   entrypoint.sh [run] [ARG…]   setup with retries, then exec `exim-shipper run ARG…` (the default)
#   entrypoint.sh setup [ARG…]   setup with retries, then exit (compose's one-shot `setup` service)
#   entrypoint.sh COMMAND [ARG…] exec `exim-shipper COMMAND ARG…` (backfill, parse, trace, health, …)
#
# The container is configured by the program's EXIM_SHIPPER_* variables, not by flags: `run` and the
# setup before it must use the same cluster, index prefix, credentials and retention, so for `run` and
# `setup` those flags (--opensearch-url --index-prefix --username --ca-certs --retention) are refused
# with a line naming the variable to set. Other flags pass through (`run --server-name mx1 PATH`,
# `setup --dashboards-url URL`). This script also reads
#   EXIM_SHIPPER_SETUP_TIMEOUT      whole seconds to keep retrying setup while the cluster is unreachable
#                                   (default 300; 0 skips this step: `run` waits for the cluster for
#                                   ever, then only checks that the templates are there)
#   EXIM_SHIPPER_SETUP_RETRY_DELAY  seconds between attempts (default 3)
# Errors are one line on stderr and exit status 1.
set -euo pipefail

die() {
	printf 'exim-shipper: %s\n' "$*" >&2
	exit 1
}

mode=run
case "${1:-}" in
run | setup)
	mode=$1
	shift
	;;
"" | -*) ;; # no command, or only flags: they are `run`'s
*) exec exim-shipper "$@" ;;
esac

# Flags of the settings setup and run share, each with its variable; argparse also takes any unique
# abbreviation (--index-p), so a prefix of one of these names is refused too. Only the name is
# printed: the value may be a URL with a password in it.
shared_flags=(opensearch-url index-prefix username ca-certs retention)
for arg in "$@"; do
	[[ $arg != -- ]] || break
	[[ $arg == --?* ]] || continue
	for flag in "${shared_flags[@]}"; do
		if [[ --$flag == "${arg%%=*}"* ]]; then
			name=${flag//-/_}
			die "--$flag: the container takes this setting from the environment, set EXIM_SHIPPER_${name^^} instead (setup and run must agree on it)"
		fi
	done
done

timeout=${EXIM_SHIPPER_SETUP_TIMEOUT:-300}
delay=${EXIM_SHIPPER_SETUP_RETRY_DELAY:-3}
[[ $timeout =~ ^[0-9]+$ ]] || die "EXIM_SHIPPER_SETUP_TIMEOUT must be whole seconds, not '$timeout'"
[[ $delay =~ ^[0-9]+([.][0-9]+)?$ ]] || die "EXIM_SHIPPER_SETUP_RETRY_DELAY must be seconds, not '$delay'"

if [[ -n ${EXIM_SHIPPER_CONFIG:-} ]]; then
	[[ -f $EXIM_SHIPPER_CONFIG && -r $EXIM_SHIPPER_CONFIG ]] ||
		die "EXIM_SHIPPER_CONFIG names $EXIM_SHIPPER_CONFIG, which is not a readable file"
elif [[ -z ${EXIM_SHIPPER_OPENSEARCH_URL:-} ]]; then
	die "EXIM_SHIPPER_OPENSEARCH_URL is not set (the cluster's URL, e.g. http://opensearch:9200)"
fi

if [[ $mode == run && -n ${EXIM_SHIPPER_STATE_DIR:-} ]]; then
	# On a read-only root file system a forgotten volume shows up here, not as a failed checkpoint later.
	state=$EXIM_SHIPPER_STATE_DIR
	{ mkdir -p -- "$state" && [[ -w $state ]]; } 2>/dev/null ||
		die "state directory $state is not writable by uid $(id -u) (mount a writable volume there)"
fi

# Worth another attempt: the cluster or Dashboards is not up yet, as the CLI's own one-line errors
# say (shipper.opensearch.connection.translate, shipper.opensearch.dashboards); anything else
# (credentials, TLS, a bad setting) will not mend itself and ends the container at once.
transient() {
	[[ $1 =~ cannot\ connect|timed\ out|HTTP\ (429|5[0-9][0-9]) ]]
}

setup() {
	local deadline=$((SECONDS + timeout)) err status
	while :; do
		status=0
		# stdout (what setup changed) passes through; stderr is kept to judge the failure.
		{ err=$(exim-shipper setup "$@" 2>&1 1>&3 3>&-); } 3>&1 || status=$?
		if ((status == 0)); then
			[[ -z $err ]] || printf '%s\n' "$err" >&2
			return 0
		fi
		# Failures it reported on stdout (saved objects refused one by one) end the script as they are.
		[[ -n $err ]] || exit "$status"
		err=${err##*$'\n'}
		err=${err#exim-shipper: }
		transient "$err" || die "$err"
		((SECONDS < deadline)) || die "OpenSearch still unavailable after ${timeout}s: $err"
		printf 'exim-shipper: waiting for OpenSearch (%s)\n' "$err" >&2
		# In the background so that a stop request interrupts the wait at once.
		sleep "$delay" >/dev/null 2>&1 &
		sleeper=$!
		wait "$sleeper"
		sleeper=
	done
}

sleeper=
stopped() { # $1: exit status, $2: what was interrupted
	[[ -z $sleeper ]] || kill "$sleeper" 2>/dev/null || true
	printf 'exim-shipper: stopped %s\n' "$2" >&2
	exit "$1"
}

if [[ $mode == setup ]]; then
	trap 'stopped 143 "before setup completed"' TERM INT
	setup "$@"
	exit 0
fi

if ((timeout > 0)); then
	# Like `run` itself, a stop request while the cluster is away is an orderly exit.
	trap 'stopped 0 "while waiting for OpenSearch"' TERM INT
	setup
	trap - TERM INT
fi
exec exim-shipper run "$@"
