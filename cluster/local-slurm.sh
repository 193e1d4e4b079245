#!/usr/bin/env bash
# A real one-node SLURM cluster (slurmctld + slurmd + munged) on this machine, for trying the
# sbatch scripts by hand and for the `slurm` tests. Needs root (slurmd launches jobs as their
# owner) and, the first time, apt-get (Debian/Ubuntu packages slurm-wlm and munge).
#
#   cluster/local-slurm.sh install            apt-get install slurm-wlm and munge if missing
#   cluster/local-slurm.sh up   [STATE_DIR]   start the daemons, print the SLURM_CONF to export
#   cluster/local-slurm.sh down [STATE_DIR]   cancel all jobs, stop the daemons, delete STATE_DIR
#   cluster/local-slurm.sh status [STATE_DIR] say whether the daemons run, show sinfo/squeue
#
# Everything (config, munge key and socket, spool, logs, pid files) lives under STATE_DIR
# (default $MHEIGHT_SLURM_DIR, else /tmp/mheight-slurm), so nothing in /etc or /run is touched
# and a system SLURM or munge, if any, keeps running. Clients find this cluster through
# SLURM_CONF=STATE_DIR/slurm.conf; the munge socket path is part of that config (AuthInfo).
# Keep STATE_DIR short: Ray puts Unix sockets below it in the tests (107-byte path limit).
set -euo pipefail

usage() { sed -n '6,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

[[ $# -ge 1 ]] || usage
cmd=$1
state=${2:-${MHEIGHT_SLURM_DIR:-/tmp/mheight-slurm}}
conf=$state/slurm.conf
export SLURM_CONF=$conf
# Seconds to wait for a daemon to come up or go away before giving up.
WAIT_S=${MHEIGHT_SLURM_WAIT_S:-30}

die() { echo "local-slurm: $*" >&2; exit 1; }

# True while the process named in pid file $1 is alive.
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get to install them"
    echo "local-slurm: installing slurm-wlm and munge" >&2
    # Package lists may be missing on a fresh container; update once and retry.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; }
}

write_config() {
    local host node
    host=$(hostname -s)
    # `slurmd -C` prints this machine's node line (CPUs, sockets, memory) exactly as slurmd
    # will register it; a node declared bigger than it is would be drained as invalid.
    node=$(slurmd -C | head -n 1)
    cat >"$conf" <<EOF
ClusterName=mheight-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
MpiDefault=none
# cgroup tracking lets scancel kill every process of a job, including daemons Ray forks.
ProctrackType=proctrack/cgroup
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Seconds between SIGTERM and SIGKILL on scancel / time limit (default 30: slow for tests).
KillWait=5
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
MailProg=/bin/true
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    # proctrack/cgroup reads cgroup.conf next to slurm.conf; let it detect v1 or v2.
    echo "CgroupPlugin=autodetect" >"$state/cgroup.conf"
}

start_munge() {
    local m=$state/munge
    alive "$m/munged.pid" && return
    # munged refuses to run as root and refuses directories others can write, so the key,
    # socket and logs go in a directory owned by the munge user.
    install -d -o munge -g munge -m 0755 "$m"
    if [[ ! -s $m/munge.key ]]; then
        dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none
        chown munge:munge "$m/munge.key"
        chmod 0400 "$m/munge.key"
    fi
    runuser -u munge -- munged --socket="$m/munge.socket" --key-file="$m/munge.key" \
        --pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed"
    wait_for "$WAIT_S" bash -c "munge -S '$m/munge.socket' -n | unmunge -S '$m/munge.socket' >/dev/null 2>&1" ||
        die "munged did not answer (see $m/munged.log)"
}

node_idle() { [[ $(sinfo -h -o %T 2>/dev/null) == idle ]]; }

up() {
    [[ $EUID -eq 0 ]] || die "must run as root"
    install_packages
    # 0755: the munge user must be able to reach its own directory below STATE_DIR.
    install -d -m 0755 "$state" "$state/spool/ctld" "$state/spool/d" "$state/log" "$state/run"
    start_munge
    [[ -s $conf ]] || write_config
    alive "$state/run/slurmctld.pid" || slurmctld
    alive "$state/run/slurmd.pid" || slurmd
    wait_for "$WAIT_S" node_idle ||
        die "node not idle after ${WAIT_S}s (see $state/log/slurmctld.log and slurmd.log)"
    echo "local-slurm: up; run: export SLURM_CONF=$conf" >&2
    echo "export SLURM_CONF=$conf"
}

# stop PIDFILE: SIGTERM the daemon, wait for it to exit, SIGKILL if it does not.
stop() {
    alive "$1" || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid"
    wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
}

down() {
    [[ -d $state ]] || { echo "local-slurm: nothing at $state" >&2; return; }
    # Cancel jobs while slurmd still runs, so their processes (Ray daemons too) are killed
    # rather than orphaned; KillWait bounds how long that takes.
    if alive "$state/run/slurmctld.pid"; then
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        # shellcheck disable=SC2016  # expanded by the inner bash, on every poll
        wait_for "$WAIT_S" bash -c '[[ -z $(squeue -h -o %i -t PD,R,CG) ]]' ||
            echo "local-slurm: jobs still listed after ${WAIT_S}s; stopping anyway" >&2
    fi
    stop "$state/run/slurmd.pid"
    stop "$state/run/slurmctld.pid"
    stop "$state/munge/munged.pid"
    rm -rf "$state"
    echo "local-slurm: down" >&2
}

status() {
    local f
    for f in munge/munged.pid run/slurmctld.pid run/slurmd.pid; do
        if alive "$state/$f"; then echo "$(basename "$f" .pid): running"; else echo "$(basename "$f" .pid): stopped"; fi
    done
    if alive "$state/run/slurmctld.pid"; then sinfo; squeue; fi
}

case $cmd in
    install) install_packages ;;
    up) up ;;
    down) down ;;
    status) status ;;
    *) usage ;;
esac
