#!/usr/bin/env bash
# A real single-node Slurm cluster for the test suite (Debian 12: Slurm 22.05, munge, MariaDB).
#
#   tests/slurm/cluster.sh start    install packages if needed, start everything, wait for the node
#   tests/slurm/cluster.sh stop     cancel all jobs, wait for them, stop the daemons this script started
#   tests/slurm/cluster.sh status   print the state; exit 0 when the cluster is up, else 1
#   tests/slurm/cluster.sh env      print the `export ...` lines a client (sbatch, sacct, ...) needs
#
# Everything lives under ${SLURM_TEST_STATE:-/tmp/recipes-slurm}: config, munge key and socket,
# MariaDB datadir, Slurm state/spool, pid files and logs. All traffic goes to 127.0.0.1.
# Daemons: munged (as user munge, private socket), mariadbd (127.0.0.1, spare port), slurmdbd,
# slurmctld, slurmd. `stop` only signals pids from our own pid files, after checking /proc/PID/comm.
# See docs/slurm_testing.md.
set -euo pipefail

S="${SLURM_TEST_STATE:-/tmp/recipes-slurm}"
CLUSTER_NAME=recipes
NODE_WAIT_S="${SLURM_TEST_START_TIMEOUT:-60}"
# SLURM_TEST_GPUS=N: the node advertises N GPUs (stand-in device nodes, see write_config), so that jobs asking
# for GPUs are scheduled on this CPU machine and accounted (AllocTRES gres/gpu=N); nothing makes them usable.
GPUS="${SLURM_TEST_GPUS:-0}"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

PROG="cluster.sh"
die() { echo "$PROG: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

case "$S" in
    /*) ;;
    *) S="$(pwd)/$S" ;;
esac
case "$S" in
    *[[:space:]]*) die "cannot use SLURM_TEST_STATE with whitespace: '$S'" ;;
esac
case "$GPUS" in
    "" | *[!0-9]*) die "SLURM_TEST_GPUS must be a count of GPUs, got '$GPUS'" ;;
esac

ETC="$S/etc"
CONF="$ETC/slurm.conf"
DBDCONF="$ETC/slurmdbd.conf"
GRESCONF="$ETC/gres.conf"
PORTS_FILE="$ETC/ports"
RUN="$S/run"
LOGD="$S/log"
SPOOL="$S/spool"
MUNGE_DIR="$S/munge"
MUNGE_SOCK="$MUNGE_DIR/munge.socket"
MUNGE_KEY="$MUNGE_DIR/munge.key"
MUNGE_PID="$MUNGE_DIR/munged.pid"
DB_DIR="$S/mysql"
DB_DATA="$DB_DIR/data"
DB_SOCK="$DB_DIR/run/mysqld.sock"
DB_OWN_PID="$DB_DIR/run/mysqld.pid"  # written by mariadbd, mode 660
DB_PID="$S/run/mariadbd.pid"         # our readable copy, used by status and stop
DB_LOG="$DB_DIR/log/error.log"
DB_PASS_FILE="$ETC/dbpass"
CTLD_PID="$RUN/slurmctld.pid"
SLURMD_PID="$RUN/slurmd.pid"
DBD_PID="$RUN/slurmdbd.pid"
NODE="$(hostname -s)"

export SLURM_CONF="$CONF"   # daemons and clients (slurmdbd also finds slurmdbd.conf next to it)

# ---------------------------------------------------------------------------------------------
# pid handling: a pid counts as ours only if its pid file names a live process with that comm.

running_as() {  # running_as PID COMM: that pid is a live (non-zombie) process named COMM
    local state
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    # Exited daemons may stay zombies for a while when PID 1 is slow to reap orphans.
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

pid_of() {  # pid_of COMM PIDFILE -> prints the pid if it is alive with that comm
    local comm=$1 file=$2 pid
    [ -r "$file" ] || return 1
    pid="$(tr -dc '0-9' <"$file" 2>/dev/null)" || return 1
    [ -n "$pid" ] || return 1
    running_as "$pid" "$comm" || return 1
    echo "$pid"
}

alive() { pid_of "$1" "$2" >/dev/null; }

stop_pid() {  # stop_pid COMM PIDFILE: TERM, wait up to 30 s, then KILL (by pid, comm re-checked)
    local comm=$1 file=$2 pid i
    pid="$(pid_of "$comm" "$file")" || { rm -f "$file"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        running_as "$pid" "$comm" || { rm -f "$file"; log "stopped $comm ($pid)"; return 0; }
        sleep 0.1
    done
    if running_as "$pid" "$comm"; then
        log "$comm ($pid) ignored TERM for 30 s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

first_free_base() {  # first_free_base COUNT CANDIDATES...: first base with COUNT free ports from it
    local n=$1 base k ok; shift
    for base in "$@"; do
        ok=1
        for ((k = 0; k < n; k++)); do port_busy $((base + k)) && { ok=0; break; }; done
        [ $ok = 1 ] && { echo "$base"; return 0; }
    done
    return 1
}

wait_until() {  # wait_until SECONDS CMD...: poll every 0.2 s
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

tail_logs() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f" >&2
        tail -n 20 "$f" >&2
    done
}

# ---------------------------------------------------------------------------------------------
# status

munge_ok() { munge -n -S "$MUNGE_SOCK" 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q "is UP"; }
node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }
node_ok() {  # usable: responding and not down/drained
    local st; st="$(node_state)"
    case "$st" in
        "" | *"*"* | down* | drain* | fail* | unknown* | *maint* | future*) return 1 ;;
        *) return 0 ;;
    esac
}

cluster_up() {
    [ -f "$CONF" ] || return 1
    alive munged "$MUNGE_PID" && alive mariadbd "$DB_PID" && alive slurmdbd "$DBD_PID" \
        && alive slurmctld "$CTLD_PID" && alive slurmd "$SLURMD_PID" && ctld_ok && node_ok
}

cmd_status() {
    local name comm file pid up=0
    echo "state dir: $S"
    [ -f "$CONF" ] || { echo "cluster: down (no config)"; return 1; }
    for name in munged:"$MUNGE_PID" mariadbd:"$DB_PID" slurmdbd:"$DBD_PID" slurmctld:"$CTLD_PID" slurmd:"$SLURMD_PID"; do
        comm=${name%%:*}; file=${name#*:}
        if pid="$(pid_of "$comm" "$file")"; then printf '%-10s up (pid %s)\n' "$comm" "$pid"
        else printf '%-10s down\n' "$comm"; fi
    done
    if cluster_up; then up=1; fi
    if alive slurmctld "$CTLD_PID"; then  # sinfo retries for ~10 s when slurmctld is down
        printf 'node %s: %s\n' "$NODE" "$(node_state || true)"
    fi
    if [ $up = 1 ]; then
        echo "cluster: up (SLURM_CONF=$CONF)"
        return 0
    fi
    echo "cluster: down"
    return 1
}

cmd_env() {
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

# ---------------------------------------------------------------------------------------------
# packages

packages_missing() {
    local p installed missing=()
    installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
    for p in "${PACKAGES[@]}"; do
        grep -qx "$p install ok installed" <<<"$installed" || missing+=("$p")
    done
    echo "${missing[*]}"
}

install_packages() {
    local missing made_policy=0 rc=0 apt_log="$LOGD/apt.log"
    command -v dpkg-query >/dev/null || die "cannot start: not a Debian system (no dpkg-query)"
    missing="$(packages_missing)"
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null || die "cannot start: packages missing ($missing) and apt-get not found"
    log "installing: $missing (log: $apt_log)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep package scripts from starting daemons
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends "${PACKAGES[@]}")
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$apt_log" 2>&1; then
        log "install failed; running apt-get update and retrying"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update \
            && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; } >>"$apt_log" 2>&1; then
            rc=1
        fi
    fi
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ $rc != 0 ]; then
        tail -n 20 "$apt_log" >&2
        die "cannot start: apt-get install failed (see $apt_log)"
    fi
    missing="$(packages_missing)"
    [ -z "$missing" ] || die "cannot start: still missing after install: $missing"
}

# ---------------------------------------------------------------------------------------------
# configuration (rewritten on a cold start, i.e. when none of our daemons runs)

any_alive() {
    alive munged "$MUNGE_PID" || alive mariadbd "$DB_PID" || alive slurmdbd "$DBD_PID" \
        || alive slurmctld "$CTLD_PID" || alive slurmd "$SLURMD_PID"
}

write_config() {
    local slurm_base db_port hw cpus boards sockets cores threads mem
    mkdir -p "$ETC" "$RUN" "$LOGD" "$SPOOL/ctld" "$SPOOL/d"
    chmod 755 "$S" "$ETC" "$RUN" "$LOGD" "$SPOOL"

    # Ports: Slurm's defaults (6817-6819) unless taken; MariaDB on a spare port.
    slurm_base="$(first_free_base 3 6817 16817 26817 36817)" \
        || die "cannot start: no free port triple for slurmctld/slurmd/slurmdbd (tried 6817, 16817, 26817, 36817)"
    db_port="$(first_free_base 1 $(seq 13306 13406))" || die "cannot start: no free port in 13306-13406 for MariaDB"
    printf 'CTLD_PORT=%s\nSLURMD_PORT=%s\nDBD_PORT=%s\nDB_PORT=%s\n' \
        "$slurm_base" $((slurm_base + 1)) $((slurm_base + 2)) "$db_port" >"$PORTS_FILE"

    # Node hardware as slurmd sees it; RealMemory at ~90% so the node is not drained for low memory.
    hw="$(slurmd -C 2>/dev/null | head -n1)"
    field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
    cpus="$(field CPUs)"; boards="$(field Boards)"; sockets="$(field SocketsPerBoard)"
    cores="$(field CoresPerSocket)"; threads="$(field ThreadsPerCore)"; mem="$(field RealMemory)"
    [ -n "$cpus" ] && [ -n "$mem" ] || die "cannot start: could not parse 'slurmd -C': $hw"
    mem=$((mem * 90 / 100))

    local gres_types="" node_gres="" i
    rm -f "$GRESCONF"
    if [ "$GPUS" -gt 0 ]; then  # slurmd reads gres.conf next to slurm.conf
        # slurmd drops a gres/gpu without File=; stand-in device nodes (those of /dev/null) under the state
        # dir satisfy it. With TaskPlugin=task/none nothing constrains devices, so jobs only see the count.
        mkdir -p "$S/dev"
        for ((i = 0; i < GPUS; i++)); do [ -e "$S/dev/nvidia$i" ] || mknod -m 666 "$S/dev/nvidia$i" c 1 3; done
        # Accounting records gres/gpu only when named (sacct AllocTRES/ReqTRES).
        gres_types="GresTypes=gpu
AccountingStorageTRES=gres/gpu"; node_gres="Gres=gpu:$GPUS"
        printf '# Written by tests/slurm/cluster.sh: %s stand-in GPUs (this machine has none).\nNodeName=%s Name=gpu File=%s Count=%s\n' \
            "$GPUS" "$NODE" "$S/dev/nvidia[0-$((GPUS - 1))]" "$GPUS" >"$GRESCONF"
        chmod 644 "$GRESCONF"
    fi

    [ -s "$DB_PASS_FILE" ] || { (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DB_PASS_FILE"); }

    cat >"$CONF" <<EOF
# Written by tests/slurm/cluster.sh; rewritten on every cold start.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$slurm_base
SlurmdPort=$((slurm_base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK,cred_expire=10
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
SchedulerParameters=sched_interval=5,bf_interval=5
DependencyParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((slurm_base + 2))
# slurmctld's connection to slurmdbd takes its munge socket from here, not from AuthInfo.
AccountingStoragePass=$MUNGE_SOCK
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 $node_gres CPUs=$cpus Boards=${boards:-1} SocketsPerBoard=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=$mem State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=debug Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
    chmod 644 "$CONF"

    (umask 077; cat >"$DBDCONF" <<EOF
# Written by tests/slurm/cluster.sh; rewritten on every cold start.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$((slurm_base + 2))
SlurmUser=root
PidFile=$DBD_PID
LogFile=$LOGD/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$(cat "$DB_PASS_FILE")
StorageLoc=slurm_acct_db
EOF
    )
    chmod 600 "$DBDCONF"
}

# ---------------------------------------------------------------------------------------------
# daemons

launch() {  # launch NAME CMD...: from /, stdin /dev/null, output to log/NAME.out, lock fd 9 closed,
            # exec'd so that no shell of ours lingers holding the lock or the caller's stdout.
    local name=$1; shift
    ( cd / && exec "$@" ) </dev/null >>"$LOGD/$name.out" 2>&1 9>&-
}

start_munged() {
    if alive munged "$MUNGE_PID"; then return 0; fi
    install -d -o munge -g munge -m 711 "$MUNGE_DIR"
    if [ ! -s "$MUNGE_KEY" ]; then
        (umask 077; head -c 1024 /dev/urandom >"$MUNGE_KEY")
    fi
    chown munge:munge "$MUNGE_KEY"; chmod 400 "$MUNGE_KEY"
    launch munged runuser -u munge -- munged --socket="$MUNGE_SOCK" --key-file="$MUNGE_KEY" \
        --pid-file="$MUNGE_PID" --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
        || { tail_logs "$MUNGE_DIR/munged.log" "$LOGD/munged.out"; die "cannot start: munged failed"; }
    wait_until 10 munge_ok || { tail_logs "$MUNGE_DIR/munged.log"; die "cannot start: munged not answering on $MUNGE_SOCK"; }
}

db_sql() { mariadb --no-defaults --socket="$DB_SOCK" -u root -N -B -e "$1"; }

start_mariadb() {
    local port
    if alive mariadbd "$DB_PID"; then return 0; fi
    if alive mariadbd "$DB_OWN_PID"; then cat "$DB_OWN_PID" >"$DB_PID"; return 0; fi
    port="$(sed -n 's/^DB_PORT=//p' "$PORTS_FILE")"
    install -d -o mysql -g mysql -m 755 "$DB_DIR" "$DB_DIR/run"  # pid file readable for `status`
    install -d -o mysql -g mysql -m 750 "$DB_DIR/log"
    if [ ! -d "$DB_DATA/mysql" ]; then
        rm -rf "$DB_DATA"
        install -d -o mysql -g mysql -m 750 "$DB_DATA"
        mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DATA" --skip-test-db \
            --auth-root-authentication-method=socket >"$LOGD/mariadb-install.log" 2>&1 9>&- \
            || { tail_logs "$LOGD/mariadb-install.log"; die "cannot start: mariadb-install-db failed"; }
    fi
    # MariaDB does not daemonize: run it in the background in a session of its own.
    launch mariadbd setsid --fork mariadbd --no-defaults --user=mysql --datadir="$DB_DATA" --socket="$DB_SOCK" \
        --pid-file="$DB_OWN_PID" --log-error="$DB_LOG" --bind-address=127.0.0.1 --port="$port" \
        --skip-name-resolve --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
        --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-log-bin \
        || die "cannot start: could not launch mariadbd"
    wait_until 30 db_sql "SELECT 1" \
        || { tail_logs "$DB_LOG" "$LOGD/mariadbd.out"; die "cannot start: MariaDB not answering on $DB_SOCK"; }
    wait_until 5 alive mariadbd "$DB_OWN_PID" || die "cannot start: MariaDB wrote no pid file $DB_OWN_PID"
    cat "$DB_OWN_PID" >"$DB_PID"
    local pw; pw="$(cat "$DB_PASS_FILE")"
    db_sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
            ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
        || die "cannot start: could not create the MariaDB user for slurmdbd"
}

start_slurmdbd() {
    if alive slurmdbd "$DBD_PID"; then return 0; fi
    launch slurmdbd slurmdbd \
        || { tail_logs "$LOGD/slurmdbd.log" "$LOGD/slurmdbd.out"; die "cannot start: slurmdbd failed"; }
    wait_until 30 sacctmgr -n -P show cluster format=cluster \
        || { tail_logs "$LOGD/slurmdbd.log"; die "cannot start: slurmdbd not answering"; }
}

register_cluster() {  # before slurmctld first talks to slurmdbd, so early jobs get recorded
    local assocs
    assocs="$(sacctmgr -n -P show assoc format=cluster,account,user)"  # e.g. "recipes|acct|root"
    grep -q "^$CLUSTER_NAME|" <<<"$assocs" || sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null \
        || die "cannot start: sacctmgr add cluster failed"
    grep -q "^$CLUSTER_NAME|acct|" <<<"$assocs" || sacctmgr -i add account acct Cluster="$CLUSTER_NAME" \
        Description=tests Organization=tests >/dev/null || die "cannot start: sacctmgr add account failed"
    grep -qx "$CLUSTER_NAME|acct|root" <<<"$assocs" || sacctmgr -i add user root Account=acct \
        Cluster="$CLUSTER_NAME" >/dev/null || die "cannot start: sacctmgr add user failed"
}

start_slurmctld() {
    if alive slurmctld "$CTLD_PID"; then return 0; fi
    launch slurmctld slurmctld -f "$CONF" \
        || { tail_logs "$LOGD/slurmctld.log" "$LOGD/slurmctld.out"; die "cannot start: slurmctld failed"; }
    wait_until 30 ctld_ok || { tail_logs "$LOGD/slurmctld.log"; die "cannot start: slurmctld not UP after 30 s"; }
}

start_slurmd() {
    if alive slurmd "$SLURMD_PID"; then return 0; fi
    launch slurmd slurmd -f "$CONF" -N "$NODE" \
        || { tail_logs "$LOGD/slurmd.log" "$LOGD/slurmd.out"; die "cannot start: slurmd failed"; }
}

wait_node() {
    local deadline=$((SECONDS + NODE_WAIT_S)) resumed=0 st
    while :; do
        st="$(node_state || true)"
        case "$st" in
            idle | mixed | allocated | completing) return 0 ;;
            down* | drain*)
                if [ $resumed = 0 ]; then
                    log "node $NODE is '$st'; resuming it"
                    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
                    resumed=1
                fi ;;
        esac
        if [ $SECONDS -ge $deadline ]; then
            tail_logs "$LOGD/slurmctld.log" "$LOGD/slurmd.log"
            scontrol show node "$NODE" >&2 2>/dev/null || true
            die "cannot start: node $NODE not idle after ${NODE_WAIT_S} s (state '${st:-?}'); logs above"
        fi
        sleep 0.2
    done
}

cmd_start() {
    if [ -f "$CONF" ] && cluster_up; then
        echo "cluster: up (SLURM_CONF=$CONF)"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "cannot start: needs root (uid $(id -u)); start it as root or use a cluster already up"
    mkdir -p "$S"
    exec 9>"$S/.lock"
    flock -w 300 9 || die "cannot start: another cluster.sh holds $S/.lock"
    if cluster_up; then echo "cluster: up (SLURM_CONF=$CONF)"; return 0; fi  # started meanwhile

    mkdir -p "$LOGD"
    install_packages
    for u in munge mysql; do id -u "$u" >/dev/null 2>&1 || die "cannot start: user '$u' missing after install"; done
    if ! any_alive || [ ! -f "$CONF" ] || [ ! -f "$PORTS_FILE" ]; then
        write_config
    fi
    start_munged
    start_mariadb
    start_slurmdbd
    register_cluster
    start_slurmctld
    start_slurmd
    wait_node
    echo "cluster: up (SLURM_CONF=$CONF)"
}

cmd_stop() {
    local ids i
    [ -d "$S" ] || { echo "cluster: not running (no $S)"; return 0; }
    if [ "$(id -u)" != 0 ]; then die "cannot stop: needs root"; fi
    exec 9>"$S/.lock"
    flock -w 300 9 || die "cannot stop: another cluster.sh holds $S/.lock"
    if alive slurmctld "$CTLD_PID" && ctld_ok; then
        ids="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        if [ -n "${ids// /}" ]; then
            log "cancelling jobs: $ids"
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
        fi
        # slurmd does not kill running steps on exit: wait for all jobs to be gone (KillWait is 30 s).
        for ((i = 0; i < 600; i++)); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] || log "warning: jobs still listed after 60 s: $(squeue -h -o '%i %T' | tr '\n' ' ')"
    fi
    stop_pid slurmd "$SLURMD_PID"
    stop_pid slurmctld "$CTLD_PID"
    stop_pid slurmdbd "$DBD_PID"
    stop_pid mariadbd "$DB_PID"
    stop_pid mariadbd "$DB_OWN_PID"
    stop_pid munged "$MUNGE_PID"
    echo "cluster: stopped"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
