# Per-portal bandwidth caps on the loopback device with htb + u32 (sourced by bench/run).
#
# One htb root on lo with a handle of our own and, per capped port, two classes at the cap: one
# for what the initiator sends (tcp dport P: commands, write data, ACKs of read data) and one for
# what the target sends back (tcp sport P: read data, R2Ts, responses, ACKs of write data), as on
# a full-duplex link, where a write's response does not queue behind the write's own data. A
# default class, effectively uncapped, carries every other loopback packet.
#
#   tc_lock                   takes /tmp/lunfs-tc.lock on descriptor 8 (waits up to 10 minutes):
#                             whatever else here puts a root qdisc on lo (the integration tests'
#                             slow ports) takes it too. Held until the shell exits; start long-
#                             lived children with 8>&- so that they do not hold it
#   tc_setup                  adds the root and the default class; fails if lo already has a root
#                             qdisc other than the kernel's default (never replaces one)
#   tc_cap INDEX PORT MIB_S   adds (or changes) the classes of INDEX (1..126) for PORT at MIB_S
#                             MiB/s in each direction
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

tc_lock() {
    exec 8>/tmp/lunfs-tc.lock || return 1
    flock -w 600 8
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

# The class minors of INDEX: to the target, from the target.
_tc_minors() { printf '%x %x' "$1" $(($1 + 128)); }

_tc_class() {  # verb minor rate
    _tc class "$1" dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$2" \
        htb rate "$3" ceil "$3" burst "$TC_BURST" cburst "$TC_BURST" quantum 200000
}

tc_cap() {
    local idx=$1 port=$2 mib=$3 to from verb=add
    read -r to from <<<"$(_tc_minors "$idx")"
    if tc class show dev lo classid "$TC_HANDLE:$to" | grep -q .; then verb=change; fi
    _tc_class "$verb" "$to" "${mib}mibps" || return 1
    _tc_class "$verb" "$from" "${mib}mibps" || return 1
    [ "$verb" = add ] || return 0
    _tc filter add dev lo parent "$TC_HANDLE:" protocol ip prio 1 u32 \
        match ip protocol 6 0xff match ip dport "$port" 0xffff flowid "$TC_HANDLE:$to" || return 1
    _tc filter add dev lo parent "$TC_HANDLE:" protocol ip prio 1 u32 \
        match ip protocol 6 0xff match ip sport "$port" 0xffff flowid "$TC_HANDLE:$from" || return 1
}

tc_teardown() {
    [ "$TC_ADDED" = 1 ] || return 0
    if tc qdisc show dev lo | grep -q "^qdisc htb $TC_HANDLE: root"; then
        _tc qdisc del dev lo root || return 1
    fi
    TC_ADDED=0
}

# Bytes and packets the classes of INDEX have sent: "to the target / from the target".
tc_class_stats() {
    local to from
    read -r to from <<<"$(_tc_minors "$1")"
    echo "$(_tc_sent "$to") / $(_tc_sent "$from")"
}
_tc_sent() {
    tc -s class show dev lo classid "$TC_HANDLE:$1" |
        awk '/Sent/{print $2 " bytes, " $4 " packets"; exit}'
}

# tc_uncap INDEX: lifts the caps of INDEX (100gbit, like the default class).
tc_uncap() {
    local to from
    read -r to from <<<"$(_tc_minors "$1")"
    _tc class change dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$to" \
        htb rate 100gbit ceil 100gbit burst 16mb cburst 16mb quantum 200000 || return 1
    _tc class change dev lo parent "$TC_HANDLE:" classid "$TC_HANDLE:$from" \
        htb rate 100gbit ceil 100gbit burst 16mb cburst 16mb quantum 200000
}
