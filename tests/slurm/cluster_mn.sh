#!/usr/bin/env bash
# A real 2-node Slurm cluster with pyxis + enroot for the test suite, on one Debian 12 machine.
#
#   tests/slurm/cluster_mn.sh start    install/build if needed, start everything, wait for both nodes
#   tests/slurm/cluster_mn.sh stop     cancel all jobs, stop our daemons by pid, remove namespaces and route
#   tests/slurm/cluster_mn.sh status   print the state; exit 0 when the cluster is up, else 1
#   tests/slurm/cluster_mn.sh env      print the `export ...` lines a client needs (SLURM_CONF, SLURM_MN_BIN)
#
# Each node is a network namespace (rsmn-1, rsmn-2: 10.200.0.11/.12) with its own hostname (mn1, mn2), a
# private /etc/hosts and a node-local folder, all bind-mounted in a private mount namespace; the head
# namespace (rsmn-head, 10.200.0.1, bridge mnbr0) runs MariaDB, slurmdbd and slurmctld. munged runs in
# the root namespace (its unix socket is reachable from every network namespace). The root namespace
# gets `unreachable 10.200.0.0/24` for the cluster's lifetime, so no packet leaves the machine.
# Clients run through the wrappers in $S/bin (they enter the head namespace); put that folder first on
# PATH only for the processes that should use this cluster. The machine's /etc/hosts is never touched.
# Everything lives under ${SLURM_MN_STATE:-/tmp/recipes-slurm-mn}. See docs/slurm_testing.md.
set -euo pipefail

S="${SLURM_MN_STATE:-/tmp/recipes-slurm-mn}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENDOR="$HERE/vendor"
CLUSTER_NAME=recipesmn
NODES=(mn1 mn2)
NET=10.200.0
HEAD=mnhead
HEAD_NS=rsmn-head
BRIDGE=mnbr0
CTLD_PORT=7817 SLURMD_PORT=7818 DBD_PORT=7819 DB_PORT=13307   # inside the namespaces only
WAIT_S="${SLURM_TEST_START_TIMEOUT:-60}"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server libslurm-dev libbsd-dev build-essential
          squashfs-tools jq parallel zstd bsdextrautils libcap2-bin iproute2 util-linux)
command -v busybox >/dev/null || PACKAGES+=(busybox-static)  # for the test image; conflicts with `busybox`
CLIENTS=(sbatch squeue sacct scontrol scancel sinfo sacctmgr srun salloc)

PROG="cluster_mn.sh"
die() { echo "$PROG: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }
case "$S" in /*) ;; *) S="$(pwd)/$S" ;; esac
case "$S" in *[[:space:]]*) die "cannot use SLURM_MN_STATE with whitespace: '$S'" ;; esac

ETC="$S/etc" RUN="$S/run" LOGD="$S/log" SPOOL="$S/spool" BIN="$S/bin" BUILD="$S/build"
CONF="$ETC/slurm.conf" DBDCONF="$ETC/slurmdbd.conf" HOSTS="$ETC/hosts" DB_PASS_FILE="$ETC/dbpass"
LOCAL="$S/local"            # node-local folder: each node's mount namespace binds $S/node/<name> here
ENROOT="$BUILD/enroot"      # enroot install prefix
PYXIS_SO="$BUILD/pyxis/spank_pyxis.so"
MUNGE_DIR="$S/munge" MUNGE_SOCK="$S/munge/munge.socket" MUNGE_KEY="$S/munge/munge.key" MUNGE_PID="$S/munge/munged.pid"
DB_DIR="$S/mysql" DB_PID="$RUN/mariadbd.pid"
CTLD_PID="$RUN/slurmctld.pid" DBD_PID="$RUN/slurmdbd.pid"
slurmd_pid() { echo "$RUN/slurmd-$1.pid"; }
node_ns() { echo "rsmn-${1#mn}"; }
node_ip() { echo "$NET.1${1#mn}"; }
export SLURM_CONF="$CONF"

# ---------------------------------------------------------------------------------------------
# pids: ours only if the pid file names a live process with that comm

running_as() {
    local state
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
pid_of() {
    local pid
    [ -r "$2" ] || return 1
    pid="$(tr -dc '0-9' <"$2")"
    [ -n "$pid" ] && running_as "$pid" "$1" && echo "$pid"
}
alive() { pid_of "$1" "$2" >/dev/null; }
stop_pid() {
    local pid i
    pid="$(pid_of "$1" "$2")" || { rm -f "$2"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        running_as "$pid" "$1" || { rm -f "$2"; log "stopped $1 ($pid)"; return 0; }
        sleep 0.1
    done
    log "$1 ($pid) ignored TERM for 30 s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$2"
}
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}
tail_logs() { local f; for f in "$@"; do [ -s "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }; done; return 0; }

# ---------------------------------------------------------------------------------------------
# status

in_head() { nsenter --net="/run/netns/$HEAD_NS" -- "$@"; }
munge_ok() { munge -n -S "$MUNGE_SOCK" 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; }
ctld_ok() { in_head scontrol ping 2>/dev/null | grep -q "is UP"; }
node_state() { in_head sinfo -h -N -n "$1" -o %T 2>/dev/null | head -n1; }
node_ok() { case "$(node_state "$1")" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac; }
net_ok() { local n; for n in $HEAD_NS "${NODES[@]/#mn/rsmn-}"; do [ -e "/run/netns/$n" ] || return 1; done; }

cluster_up() {
    local n
    [ -f "$CONF" ] && net_ok || return 1
    alive munged "$MUNGE_PID" && alive mariadbd "$DB_PID" && alive slurmdbd "$DBD_PID" && alive slurmctld "$CTLD_PID" \
        || return 1
    for n in "${NODES[@]}"; do alive slurmd "$(slurmd_pid "$n")" || return 1; done
    ctld_ok || return 1
    for n in "${NODES[@]}"; do node_ok "$n" || return 1; done
}

cmd_status() {
    local item n
    echo "state dir: $S"
    for item in munged:"$MUNGE_PID" mariadbd:"$DB_PID" slurmdbd:"$DBD_PID" slurmctld:"$CTLD_PID" \
        slurmd:"$(slurmd_pid mn1)" slurmd:"$(slurmd_pid mn2)"; do
        if pid="$(pid_of "${item%%:*}" "${item#*:}")"; then printf '%-10s up (pid %s) %s\n' "${item%%:*}" "$pid" "${item#*:}"
        else printf '%-10s down %s\n' "${item%%:*}" "${item#*:}"; fi
    done
    if net_ok && alive slurmctld "$CTLD_PID"; then
        for n in "${NODES[@]}"; do printf 'node %s: %s\n' "$n" "$(node_state "$n" || true)"; done
    fi
    if cluster_up; then echo "cluster: up (SLURM_CONF=$CONF)"; return 0; fi
    echo "cluster: down"
    return 1
}

cmd_env() { printf 'export SLURM_CONF=%q\nexport SLURM_MN_BIN=%q\n' "$CONF" "$BIN"; }

# ---------------------------------------------------------------------------------------------
# packages and builds

install_packages() {
    local missing=() p installed made_policy=0 rc=0
    installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
    for p in "${PACKAGES[@]}"; do grep -qx "$p install ok installed" <<<"$installed" || missing+=("$p"); done
    [ ${#missing[@]} = 0 ] && return 0
    command -v apt-get >/dev/null || die "cannot start: packages missing (${missing[*]}) and apt-get not found"
    log "installing: ${missing[*]} (log: $LOGD/apt.log)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep package scripts from starting daemons
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}")
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$LOGD/apt.log" 2>&1; then
        { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update \
            && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; } >>"$LOGD/apt.log" 2>&1 || rc=1
    fi
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || { tail -n 20 "$LOGD/apt.log" >&2; die "cannot start: apt-get install failed (see $LOGD/apt.log)"; }
}

build_enroot() {  # glibc build; the tarball lacks its submodules (musl, makeself, linux-headers): not needed
    [ -x "$ENROOT/bin/enroot" ] && return 0
    local src="$BUILD/src"
    rm -rf "$src/enroot-4.1.2"; mkdir -p "$src"
    tar -xzf "$VENDOR/enroot-4.1.2.tar.gz" -C "$src"
    mkdir -p "$src/enroot-4.1.2/deps/makeself"
    printf '#!/bin/sh\necho "enroot-makeself: not built here" >&2\nexit 1\n' >"$src/enroot-4.1.2/deps/makeself/makeself.sh"
    touch "$src/enroot-4.1.2/deps/linux-headers/.stamp"
    make -C "$src/enroot-4.1.2" install prefix="$ENROOT" FORCE_GLIBC=1 \
        LDLIBS="-l:libbsd.a /usr/lib/x86_64-linux-gnu/libbsd.so" >"$LOGD/enroot-build.log" 2>&1 9>&- \
        || { tail_logs "$LOGD/enroot-build.log"; die "cannot start: building enroot failed"; }
}

build_pyxis() {
    [ -s "$PYXIS_SO" ] && return 0
    rm -rf "$BUILD/pyxis"; mkdir -p "$BUILD/pyxis"
    tar -xzf "$VENDOR/pyxis-0.24.0.tar.gz" -C "$BUILD/pyxis" --strip-components=1
    make -C "$BUILD/pyxis" >"$LOGD/pyxis-build.log" 2>&1 9>&- \
        || { tail_logs "$LOGD/pyxis-build.log"; die "cannot start: building pyxis failed"; }
}

write_wrappers() {  # clients enter the head namespace from the root one; inside the cluster they run directly
    local c
    mkdir -p "$BIN"
    readlink /proc/self/ns/net >"$ETC/root-netns"
    for c in "${CLIENTS[@]}"; do
        cat >"$BIN/$c" <<EOF
#!/bin/sh
# Written by tests/slurm/cluster_mn.sh: /usr/bin/$c against the 2-node test cluster.
export SLURM_CONF=$CONF
if [ "\$(readlink /proc/self/ns/net)" = "\$(cat $ETC/root-netns)" ]; then
    exec nsenter --net=/run/netns/$HEAD_NS -- /usr/bin/$c "\$@"
fi
exec /usr/bin/$c "\$@"
EOF
        chmod 755 "$BIN/$c"
    done
}

# ---------------------------------------------------------------------------------------------
# network namespaces

setup_net() {
    local n ns
    [ -e "/run/netns/$HEAD_NS" ] || ip netns add "$HEAD_NS"
    ip -n "$HEAD_NS" link set lo up
    ip -n "$HEAD_NS" link show "$BRIDGE" >/dev/null 2>&1 || {
        ip -n "$HEAD_NS" link add "$BRIDGE" type bridge
        ip -n "$HEAD_NS" addr add "$NET.1/24" dev "$BRIDGE"
    }
    ip -n "$HEAD_NS" link set "$BRIDGE" up
    for n in "${NODES[@]}"; do
        ns="$(node_ns "$n")"
        [ -e "/run/netns/$ns" ] || ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$HEAD_NS" link show "v$n" >/dev/null 2>&1 || {
            ip -n "$HEAD_NS" link add "v$n" type veth peer name eth0 netns "$ns"
            ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
        }
        ip -n "$HEAD_NS" link set "v$n" master "$BRIDGE" up
        ip -n "$ns" link set eth0 up
    done
    ip route show | grep -q "^unreachable $NET.0/24" || ip route add unreachable "$NET.0/24"
}

teardown_net() {
    local n
    for n in "${NODES[@]}"; do [ -e "/run/netns/$(node_ns "$n")" ] && ip netns del "$(node_ns "$n")"; done
    [ -e "/run/netns/$HEAD_NS" ] && ip netns del "$HEAD_NS"
    if ip route show | grep -q "^unreachable $NET.0/24"; then ip route del unreachable "$NET.0/24"; fi
    return 0
}

# in_host NS HOSTNAME LOCALDIR CMD...: run CMD (a daemon) in network namespace NS with its own hostname,
# the cluster's hosts file and LOCALDIR bound on $LOCAL, from /, output to log/<hostname>.out
in_host() {
    local ns=$1 host=$2 local_dir=$3; shift 3
    mkdir -p "$local_dir"
    ( cd / && exec nsenter --net="/run/netns/$ns" -- unshare --uts --mount --propagation private -- \
        /bin/sh -c 'hostname "$1" && mount --bind "$2" /etc/hosts && mount --bind "$3" "$4" && shift 4 && exec "$@"' \
        sh "$host" "$HOSTS" "$local_dir" "$LOCAL" "$@" ) </dev/null >>"$LOGD/$host.out" 2>&1 9>&-
}

# ---------------------------------------------------------------------------------------------
# configuration (rewritten on a cold start)

write_config() {
    local hw n cores mem
    mkdir -p "$ETC" "$RUN" "$LOGD" "$SPOOL/ctld" "$LOCAL"
    chmod 755 "$S" "$ETC" "$RUN" "$LOGD" "$SPOOL"
    hw="$(slurmd -C 2>/dev/null | head -n1)"
    cores="$(sed -n 's/.*[[:space:]]CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
    mem="$(sed -n 's/.*[[:space:]]RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
    [ -n "$cores" ] && [ -n "$mem" ] || die "cannot start: could not parse 'slurmd -C': $hw"
    mem=$((mem * 40 / 100))  # two nodes share this machine's memory
    [ -s "$DB_PASS_FILE" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DB_PASS_FILE")
    { printf '127.0.0.1 localhost\n%s.1 %s\n' "$NET" "$HEAD"
      for n in "${NODES[@]}"; do printf '%s %s\n' "$(node_ip "$n")" "$n"; done; } >"$HOSTS"
    chmod 644 "$HOSTS"
    # pyxis: node-local runtime dir ($LOCAL is each node's own folder); enroot finds its paths in enroot.conf.
    echo "required $PYXIS_SO runtime_path=$LOCAL/pyxis" >"$ETC/plugstack.conf"
    cat >"$ENROOT/etc/enroot/enroot.conf" <<EOF
# Written by tests/slurm/cluster_mn.sh: node-local enroot folders.
ENROOT_RUNTIME_PATH $LOCAL/enroot/runtime
ENROOT_CONFIG_PATH $LOCAL/enroot/config
ENROOT_CACHE_PATH $LOCAL/enroot/cache
ENROOT_DATA_PATH $LOCAL/enroot/data
ENROOT_TEMP_PATH $LOCAL/enroot/tmp
EOF
    cat >"$CONF" <<EOF
# Written by tests/slurm/cluster_mn.sh; rewritten on every cold start.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$HEAD($NET.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK,cred_expire=10
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd-%n.log
PlugStackConfig=$ETC/plugstack.conf
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
AccountingStorageHost=$NET.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCK
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
EOF
    for n in "${NODES[@]}"; do
        echo "NodeName=$n NodeAddr=$(node_ip "$n") CPUs=$cores RealMemory=$mem State=UNKNOWN" >>"$CONF"
    done
    echo "PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >>"$CONF"
    chmod 644 "$CONF"
    (umask 077; cat >"$DBDCONF" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=$HEAD
DbdAddr=$NET.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DBD_PID
LogFile=$LOGD/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$DB_PASS_FILE")
StorageLoc=slurm_acct_db
EOF
    )
}

# ---------------------------------------------------------------------------------------------
# daemons

start_munged() {
    alive munged "$MUNGE_PID" && return 0
    install -d -o munge -g munge -m 711 "$MUNGE_DIR"
    [ -s "$MUNGE_KEY" ] || (umask 077; head -c 1024 /dev/urandom >"$MUNGE_KEY")
    chown munge:munge "$MUNGE_KEY"; chmod 400 "$MUNGE_KEY"
    ( cd / && exec runuser -u munge -- munged --socket="$MUNGE_SOCK" --key-file="$MUNGE_KEY" --pid-file="$MUNGE_PID" \
        --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" ) </dev/null >>"$LOGD/munged.out" 2>&1 9>&- \
        || die "cannot start: munged failed"
    wait_until 10 munge_ok || { tail_logs "$MUNGE_DIR/munged.log"; die "cannot start: munged not answering"; }
}

db_sql() { mariadb --no-defaults --socket="$DB_DIR/run/mysqld.sock" -u root -N -B -e "$1"; }

start_mariadb() {
    alive mariadbd "$DB_PID" && return 0
    install -d -o mysql -g mysql -m 755 "$DB_DIR" "$DB_DIR/run" "$DB_DIR/log"
    if [ ! -d "$DB_DIR/data/mysql" ]; then
        install -d -o mysql -g mysql -m 750 "$DB_DIR/data"
        mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR/data" --skip-test-db \
            --auth-root-authentication-method=socket >"$LOGD/mariadb-install.log" 2>&1 9>&- \
            || { tail_logs "$LOGD/mariadb-install.log"; die "cannot start: mariadb-install-db failed"; }
    fi
    in_host "$HEAD_NS" "$HEAD" "$S/node/$HEAD" setsid --fork mariadbd --no-defaults --user=mysql --datadir="$DB_DIR/data" \
        --socket="$DB_DIR/run/mysqld.sock" --pid-file="$DB_DIR/run/mysqld.pid" --log-error="$DB_DIR/log/error.log" \
        --bind-address=127.0.0.1 --port=$DB_PORT --skip-name-resolve --innodb-buffer-pool-size=128M \
        --innodb-lock-wait-timeout=900 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --skip-log-bin \
        || die "cannot start: could not launch mariadbd"
    wait_until 30 db_sql "SELECT 1" || { tail_logs "$DB_DIR/log/error.log"; die "cannot start: MariaDB not answering"; }
    wait_until 5 alive mariadbd "$DB_DIR/run/mysqld.pid" || die "cannot start: MariaDB wrote no pid file"
    cat "$DB_DIR/run/mysqld.pid" >"$DB_PID"
    local pw; pw="$(cat "$DB_PASS_FILE")"
    db_sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw'; ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "cannot start: could not create the slurm DB user"
}

start_slurmdbd() {
    alive slurmdbd "$DBD_PID" && return 0
    in_host "$HEAD_NS" "$HEAD" "$S/node/$HEAD" slurmdbd || { tail_logs "$LOGD/slurmdbd.log"; die "cannot start: slurmdbd failed"; }
    wait_until 30 in_head sacctmgr -n -P show cluster format=cluster \
        || { tail_logs "$LOGD/slurmdbd.log"; die "cannot start: slurmdbd not answering"; }
    local assocs; assocs="$(in_head sacctmgr -n -P show assoc format=cluster,account,user)"
    grep -q "^$CLUSTER_NAME|" <<<"$assocs" || in_head sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null
    grep -q "^$CLUSTER_NAME|acct|" <<<"$assocs" || in_head sacctmgr -i add account acct Cluster="$CLUSTER_NAME" \
        Description=tests Organization=tests >/dev/null
    grep -qx "$CLUSTER_NAME|acct|root" <<<"$assocs" || in_head sacctmgr -i add user root Account=acct \
        Cluster="$CLUSTER_NAME" >/dev/null
}

start_slurmctld() {
    alive slurmctld "$CTLD_PID" && return 0
    in_host "$HEAD_NS" "$HEAD" "$S/node/$HEAD" slurmctld -f "$CONF" \
        || { tail_logs "$LOGD/slurmctld.log"; die "cannot start: slurmctld failed"; }
    wait_until 30 ctld_ok || { tail_logs "$LOGD/slurmctld.log"; die "cannot start: slurmctld not UP after 30 s"; }
}

start_slurmd() {  # pyxis execs `enroot` from slurmd's own PATH
    alive slurmd "$(slurmd_pid "$1")" && return 0
    mkdir -p "$SPOOL/$1"
    in_host "$(node_ns "$1")" "$1" "$S/node/$1" env PATH="$ENROOT/bin:/usr/sbin:/usr/bin:/sbin:/bin" slurmd -f "$CONF" -N "$1" \
        || { tail_logs "$LOGD/slurmd-$1.log" "$LOGD/$1.out"; die "cannot start: slurmd $1 failed"; }
}

wait_nodes() {
    local deadline=$((SECONDS + WAIT_S)) n st pending
    while :; do
        pending=""
        for n in "${NODES[@]}"; do
            st="$(node_state "$n" || true)"
            case "$st" in
                idle | mixed | allocated | completing) ;;
                down* | drain*) in_head scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true; pending+=" $n:$st" ;;
                *) pending+=" $n:${st:-?}" ;;
            esac
        done
        [ -z "$pending" ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            tail_logs "$LOGD/slurmctld.log" "$LOGD/slurmd-mn1.log" "$LOGD/slurmd-mn2.log"
            die "cannot start: nodes not idle after $WAIT_S s:$pending"
        fi
        sleep 0.2
    done
}

any_alive() {
    local n
    alive munged "$MUNGE_PID" || alive mariadbd "$DB_PID" || alive slurmdbd "$DBD_PID" || alive slurmctld "$CTLD_PID" && return 0
    for n in "${NODES[@]}"; do alive slurmd "$(slurmd_pid "$n")" && return 0; done
    return 1
}

cmd_start() {
    local n
    if cluster_up; then echo "cluster: up (SLURM_CONF=$CONF)"; return 0; fi
    [ "$(id -u)" = 0 ] || die "cannot start: needs root (uid $(id -u))"
    mkdir -p "$S" "$LOGD"
    exec 9>"$S/.lock"
    flock -w 300 9 || die "cannot start: another $PROG holds $S/.lock"
    if cluster_up; then echo "cluster: up (SLURM_CONF=$CONF)"; return 0; fi
    install_packages
    build_enroot
    build_pyxis
    if ! any_alive || [ ! -f "$CONF" ]; then write_config; fi
    write_wrappers
    setup_net
    start_munged
    start_mariadb
    start_slurmdbd
    start_slurmctld
    for n in "${NODES[@]}"; do start_slurmd "$n"; done
    wait_nodes
    echo "cluster: up (SLURM_CONF=$CONF)"
}

cmd_stop() {
    local ids i n
    [ -d "$S" ] || { echo "cluster: not running (no $S)"; return 0; }
    [ "$(id -u)" = 0 ] || die "cannot stop: needs root"
    exec 9>"$S/.lock"
    flock -w 300 9 || die "cannot stop: another $PROG holds $S/.lock"
    if net_ok && alive slurmctld "$CTLD_PID" && ctld_ok; then
        ids="$(in_head squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        # shellcheck disable=SC2086
        [ -n "${ids// /}" ] && { log "cancelling jobs: $ids"; in_head scancel $ids 2>/dev/null || true; }
        for ((i = 0; i < 600; i++)); do [ -z "$(in_head squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
    fi
    for n in "${NODES[@]}"; do stop_pid slurmd "$(slurmd_pid "$n")"; done
    stop_pid slurmctld "$CTLD_PID"
    stop_pid slurmdbd "$DBD_PID"
    stop_pid mariadbd "$DB_PID"
    stop_pid munged "$MUNGE_PID"
    teardown_net
    echo "cluster: stopped"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
