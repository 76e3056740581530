#!/usr/bin/env bash
# readme.sh README BIN_DIR - runs the README's examples as written: the directory cluster of
# "Deploy", then every block of "Operate" (CLI, connectivity server, agent and port attach,
# gateway); separately the TLS cluster of "With mutual TLS". Each runs in namespaces of its own
# (pid: every daemon dies with it; mount: tmpfs on /var/lib/strata and /run; net: only lo, plus
# the README's addresses), so the examples' paths and ports touch nothing of this machine.
# A command is retried for a while when it fails, as an operator typing it would find it working
# a moment later (a daemon just started); one that never works fails the test. Needs root.
set -u
readme=$1
bin=$2

# The fenced blocks of the section whose heading is $1 (up to the next heading of any level),
# each followed by a line "#--end-of-block".
blocks() {
    awk -v want="$1" '
        /^#+ / && !inblk { on = ($0 == want) }
        on && /^```/ { inblk = !inblk; if (!inblk) print "#--end-of-block"; next }
        on && inblk { print }' "$readme"
}

# Run one block: complete shell commands (a loop or a function spans lines), each retried for up
# to 20 s until it succeeds; a command ending in & starts a daemon and is run once, and so is a
# daemon the README runs in the foreground (in its own terminal, or under a supervisor): here in
# the background.
run_block() {
    local cmd="" line
    while IFS= read -r line; do
        cmd+="$line"$'\n'
        bash -n <(printf '%s' "$cmd") 2>/dev/null || continue
        case "$cmd" in *\\$'\n') continue ;; esac
        if [ -n "${cmd//[[:space:]]/}" ]; then
            echo "+ $cmd" | sed '/^$/d'
            if [[ "$cmd" =~ \&[[:space:]]*$ ]] || [[ "$cmd" =~ ^(export|tls\(\)) ]]; then
                eval "$cmd"
            elif [[ "$cmd" =~ ^strata-gwd\  ]]; then
                # a gateway is a machine of its own: its VXLAN devices would clash with the
                # agent's in one namespace
                eval "ip netns exec gw ${cmd%$'\n'} &"
            elif [[ "$cmd" =~ ^strata-(dird|csd|agentd)\  ]]; then
                eval "${cmd%$'\n'} &"
            else
                local deadline=$((SECONDS + 20)) ok=0
                while [ $SECONDS -lt $deadline ]; do
                    if eval "$cmd"; then ok=1; break; fi
                    sleep 0.5 # an operator's retry, not synchronisation: the command is checked
                done
                [ $ok = 1 ] || { echo "README command failed for 20 s: $cmd"; return 1; }
            fi
        fi
        cmd=""
    done
}

# Poll: $@ until it succeeds, for up to 20 s.
eventually() {
    local deadline=$((SECONDS + 20))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "never true: $*"; return 1; }
        sleep 0.2
    done
}

inner() {
    set -e
    mount --make-rprivate /
    mkdir -p /var/lib/strata
    mount -t tmpfs tmpfs /var/lib/strata
    mount -t tmpfs tmpfs /run
    mkdir -p /run/netns /run/strata
    ip link set lo up
    # The README's addresses: a connectivity server and the host here (their underlay), the
    # gateway in a namespace of its own behind a veth.
    for a in 192.0.2.1 192.0.2.11; do ip addr add $a/32 dev lo; done
    ip netns add gw
    ip link add gw0 type veth peer name eth0 netns gw
    ip addr add 192.0.2.254/24 dev gw0
    ip link set gw0 up
    ip -n gw link set lo up
    ip -n gw addr add 192.0.2.21/24 dev eth0
    ip -n gw link set eth0 up
    ip -n gw route add default via 192.0.2.254
    ip link add veth-vm7 type veth peer name vm7 # the VM's interface the README attaches
    export PATH="$bin:$PATH"
    cd "$(mktemp -d)"
    set +e
    case "$1" in
    plain)
        blocks "## Deploy a directory cluster" >deploy.sh
        blocks "## Operate" >operate.sh
        [ -s deploy.sh ] && [ -s operate.sh ] || { echo "README sections not found"; return 1; }
        run_block <deploy.sh || return 1
        run_block <operate.sh || return 1
        # What the examples did, checked.
        eventually sh -c 'strata endpoint list --vni 100 | grep -q 10.1.0.7' || return 1
        eventually sh -c 'ip -o link show veth-vm7 | grep -q "master br100"' || return 1
        eventually sh -c 'strata --json gateway list | grep -q "\"id\":\"gw1\",[^}]*\"live\":true"' ||
            return 1
        ;;
    tls)
        blocks "### With mutual TLS (how to deploy)" >tls.sh
        [ -s tls.sh ] || { echo "README section not found"; return 1; }
        run_block <tls.sh || return 1
        eventually sh -c 'strata --json cluster status | grep -q "\"leader\":[1-3]"' || return 1
        # and the examples of Operate's first block work over it
        blocks "## Operate" | sed '/^#--end-of-block/q' >ops.sh
        run_block <ops.sh || return 1
        ;;
    esac
}

if [ "${1:-}" = --inner ]; then
    shift
    readme=$2
    bin=$3
    inner "$1"
    exit $?
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "readme.sh: needs root (namespaces); skipped"
    exit 77
fi
status=0
for mode in plain tls; do
    log=$(mktemp)
    # unshare --fork ignores SIGTERM while its child runs: -k kills it, and --kill-child then the
    # namespace's first process, and with it every daemon.
    if timeout -k 5 150 unshare --pid --fork --kill-child --mount-proc --net bash "$0" --inner "$mode" "$readme" "$bin" >"$log" 2>&1; then
        echo "README ($mode): ok"
    else
        echo "README ($mode): FAILED; its output:"
        cat "$log"
        status=1
    fi
    rm -f "$log"
done
exit $status
