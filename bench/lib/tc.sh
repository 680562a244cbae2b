# Per-portal bandwidth caps on the loopback device with htb + u32 (sourced by bench/run).
#
# One htb root on lo with a handle of our own, one class per capped port (both directions: tcp
# dport P carries what the initiator sends, tcp sport P what the target sends back, so data,
# ACKs, R2Ts and responses of a path share its cap), and a default class, effectively uncapped,
# for every other loopback packet.
#
#   tc_setup                  adds the root and the default class; fails if lo already has a root
#                             qdisc other than the kernel's default (never replaces one)
#   tc_cap INDEX PORT MIB_S   adds (or changes) class INDEX (1..254) for PORT at MIB_S MiB/s
#   tc_teardown               deletes the root, only if it is still the one we added
#
# Every tc command is appended to $TC_LOG when it is set.
#
# Burst (TC_BURST, bytes): how much idle time a class may bank and spend above its rate later. A
# wire banks nothing, and a one-request-at-a-time stream idles every path between requests, so a
# big bucket flatters it (64 KiB, one lo GSO packet, adds ~10% to a 4-path spread stream). htb
# lets tokens go negative, so a bucket smaller than lo's 64 KiB packets still holds the rate
# exactly (bench/lib/tcpcal.py checks it); the default is 4 KiB.

TC_HANDLE=${TC_HANDLE:-$(printf '%x' $((0x1000 + RANDOM % 0xe000)))}
TC_DEFAULT_MINOR=ff
TC_BURST=${TC_BURST:-4096}
TC_ADDED=0

_tc() {
    [ -z "${TC_LOG:-}" ] || echo "tc $*" >>"$TC_LOG"
    tc "$@"
}

tc_root_desc() { tc qdisc show dev lo | awk '/ root /{print $2, $3; exit}'; }

tc_setup() {
    local root
    root=$(tc_root_desc)
    case "$root" in
        "noqueue 0:"|"") ;;
        *) echo "lo already has a root qdisc ($root); refusing to replace it" >&2; return 1 ;;
    esac
    TC_ADDED=1  # teardown checks the handle, so marking before adding is safe
    # 'add', not 'replace': fails if someone added a root qdisc since we looked.
    _tc qdisc add dev lo root handle "$TC_HANDLE:" htb default "$TC_DEFAULT_MINOR" || return 1
    _tc class add dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$TC_DEFAULT_MINOR" \
        htb rate 100gbit ceil 100gbit burst 16mb cburst 16mb quantum 200000 || return 1
}

tc_cap() {
    local idx=$1 port=$2 mib=$3 minor verb=add
    minor=$(printf '%x' "$idx")
    if tc class show dev lo classid "$TC_HANDLE:$minor" | grep -q .; then verb=change; fi
    _tc class "$verb" dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$minor" \
        htb rate "${mib}mibps" ceil "${mib}mibps" burst "$TC_BURST" cburst "$TC_BURST" \
        quantum 200000 || return 1
    [ "$verb" = add ] || return 0
    _tc filter add dev lo parent "$TC_HANDLE:" protocol ip prio 1 u32 \
        match ip protocol 6 0xff match ip dport "$port" 0xffff flowid "$TC_HANDLE:$minor" || return 1
    _tc filter add dev lo parent "$TC_HANDLE:" protocol ip prio 1 u32 \
        match ip protocol 6 0xff match ip sport "$port" 0xffff flowid "$TC_HANDLE:$minor" || return 1
}

tc_teardown() {
    [ "$TC_ADDED" = 1 ] || return 0
    if tc qdisc show dev lo | grep -q "^qdisc htb $TC_HANDLE: root"; then
        _tc qdisc del dev lo root || return 1
    fi
    TC_ADDED=0
}

# Bytes and packets class INDEX has sent, and how often it was over its limit.
tc_class_stats() {
    tc -s class show dev lo classid "$TC_HANDLE:$(printf '%x' "$1")" |
        awk '/Sent/{print $2 " bytes, " $4 " packets, overlimits " $9; exit}' | tr -d ')'
}

# tc_uncap INDEX: lifts class INDEX's cap (100gbit, like the default class).
tc_uncap() {
    _tc class change dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$(printf '%x' "$1")" \
        htb rate 100gbit ceil 100gbit burst 16mb cburst 16mb quantum 200000
}
