# Path faults with nft on loopback (sourced by bench/run).
#
#   fault_on drop|reset PORT   black-holes (drop) every packet to and from PORT, or answers every
#                              packet to PORT with a TCP reset (the RSTs, and what the target
#                              sends, pass and meet our closed socket), in a table of our own
#   fault_off                  deletes that table (nothing if there is none)
#
# The table is named lunfs_test_<our pid>_bench<n>, the convention tools/sweep knows: should this
# shell be killed before it deletes the table, the sweep does. Every nft command is appended to
# $FAULT_LOG when it is set.

FAULT_TABLE=""
_fault_n=0

fault_on() {
    local kind=$1 port=$2 verdict
    case "$kind" in
        drop) verdict=drop ;;
        reset) verdict="reject with tcp reset" ;;
        *) echo "fault_on: unknown kind '$kind'" >&2; return 1 ;;
    esac
    fault_off || return 1
    _fault_n=$((_fault_n + 1))
    FAULT_TABLE=lunfs_test_$$_bench$_fault_n
    local rules="add table inet $FAULT_TABLE
add chain inet $FAULT_TABLE out { type filter hook output priority 0; }
add rule inet $FAULT_TABLE out tcp dport $port $verdict"
    [ "$kind" = reset ] || rules="$rules
add rule inet $FAULT_TABLE out tcp sport $port $verdict"
    [ -z "${FAULT_LOG:-}" ] || printf 'nft -f - <<EOF\n%s\nEOF\n' "$rules" >>"$FAULT_LOG"
    nft -f - <<<"$rules"
}

fault_off() {
    [ -n "$FAULT_TABLE" ] || return 0
    if nft list table inet "$FAULT_TABLE" >/dev/null 2>&1; then
        [ -z "${FAULT_LOG:-}" ] || echo "nft delete table inet $FAULT_TABLE" >>"$FAULT_LOG"
        nft delete table inet "$FAULT_TABLE" || return 1
    fi
    FAULT_TABLE=""
}
