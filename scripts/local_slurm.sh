#!/usr/bin/env bash
# A one-node Slurm on this machine, for trying the study runner's Slurm backend
# (and for its tests).  Debian/Ubuntu, as root, no systemd needed:
#
#   apt-get install slurm-wlm munge          # (make sysdeps does it)
#   eval "$(scripts/local_slurm.sh start)"   # prints: export SLURM_CONF=...
#   sinfo; python src/study.py run studies/demo.yaml --backend slurm
#   scripts/local_slurm.sh stop
#
# Everything it writes (slurm.conf, spool, state, logs, pid files) is under
# $SLURM_LOCAL_DIR (default /tmp/chainer-compare-slurm); it starts munged only
# if no munged runs, and `stop` stops exactly the daemons `start` started.
# Accounting is off, so submitit prints harmless sacct warnings.
set -euo pipefail
DIR=${SLURM_LOCAL_DIR:-/tmp/chainer-compare-slurm}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))

need() { command -v "$1" >/dev/null || { echo "local_slurm: $1 not found; install slurm-wlm and munge (apt-get install slurm-wlm munge)" >&2; exit 1; }; }

write_conf() {
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat > "$CONF" <<CONF
ClusterName=chainercompare
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
# A requeued job waits for the credential lifetime (default 120 s) before it may
# start again, and the scheduler passes every 60 s: both short for trying things.
AuthInfo=cred_expire=10
SchedulerParameters=sched_interval=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

start() {
  need slurmctld; need slurmd; need munged
  [ "$(id -u)" = 0 ] || { echo "local_slurm: run as root (slurmd needs it)" >&2; exit 1; }
  write_conf
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c "munged --force" 2>/dev/null || munged --force
    else munged --force; fi
    touch "$DIR/started-munged"
    for _ in $(seq 40); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.25; done
  fi
  export SLURM_CONF=$CONF
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "local_slurm: the node did not become idle in 30 s; see $DIR/log/" >&2
  exit 1
}

stop() {
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$DIR/started-munged" ]; then
    pkill -x munged || true
    for _ in $(seq 40); do pgrep -x munged >/dev/null || break; sleep 0.25; done
    rm -f "$DIR/started-munged"
  fi
  for _ in $(seq 20); do pgrep -f "slurm(ctld|d) -f $CONF" >/dev/null || break; sleep 0.5; done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  conf) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|conf" >&2; exit 2 ;;
esac
