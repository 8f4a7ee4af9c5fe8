# cpu-window.sh — sourced by bench/ceiling.sh and bench/fanout-variants.sh:
# a client's CPU over a C fan-out server's broadcast window, sampled
# twice so that the sampling costs the client nothing measurable. The
# caller sets $tmp (a directory it removes) before sourcing.
# shellcheck shell=bash

treecpu() { # PID: its CPU seconds and its children's, waited for or not
	{ awk '{print ($14+$15+$16+$17)/100}' /proc/$1/stat
	  for k in $(pgrep -P $1); do awk '{print ($14+$15)/100}' /proc/$k/stat; done
	} 2>/dev/null | awk '{s+=$1} END {printf "%.2f", s}'
}
# nap SECONDS: sleep without starting a process (the readers share the
# machine with this loop).
mkfifo "$tmp/nap"
exec 9<>"$tmp/nap"
nap() { read -rt "$1" -u 9 _ || true; }
has_line() { # FILE LINE
	local l
	while read -r l; do [ "$l" = "$2" ] && return 0; done < "$1"
	return 1
}
# window SERVER_LOG PID: the client's CPU seconds when the server starts
# broadcasting (cpu0) and when it is done (cpu1, if the client still runs
# then; a C reader exits after its last message). Two samples, no more.
window() {
	while kill -0 "$2" 2>/dev/null && ! has_line "$1" broadcasting; do nap 0.05; done
	kill -0 "$2" 2>/dev/null && echo "cpu0 $(treecpu "$2")"
	while kill -0 "$2" 2>/dev/null && ! has_line "$1" done; do nap 0.05; done
	kill -0 "$2" 2>/dev/null && echo "cpu1 $(treecpu "$2")"
	return 0
}
