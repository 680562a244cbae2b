# CPU accounting around a measurement (sourced by bench/run).
#   cpu_mark            remembers /proc/stat's totals and the ticks of the watched pids
#   cpu_report          prints "host busy X% of N cores; lunfs A%, tgtd B% (of one core)"
# CPU_PIDS: "name:pid name:pid ..." processes to account separately.

CPU_PIDS=${CPU_PIDS:-}
_cpu_t0=() _cpu_p0=()

_cpu_host() { awk '/^cpu /{idle=$5+$6; tot=0; for(i=2;i<=NF;i++) tot+=$i; print tot, idle; exit}' /proc/stat; }
# utime+stime of all threads; the fields after the command name, which may hold spaces.
_cpu_pid() { { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null || echo; } | awk '{print ($12 + $13) + 0}'; }

cpu_mark() {
    read -r _cpu_tot0 _cpu_idle0 < <(_cpu_host)
    _cpu_wall0=$(date +%s.%N)
    _cpu_p0=()
    local e
    for e in $CPU_PIDS; do _cpu_p0+=("$(_cpu_pid "${e#*:}")"); done
}

cpu_report() {
    local tot idle wall hz i=0 e out
    read -r tot idle < <(_cpu_host)
    wall=$(date +%s.%N)
    hz=$(getconf CLK_TCK)
    out=$(awk -v t="$((tot - _cpu_tot0))" -v i="$((idle - _cpu_idle0))" -v n="$(nproc)" \
        'BEGIN{ if (t > 0) printf "host %.0f%% of %d cores", 100*(t-i)/t, n; else printf "host ?" }')
    for e in $CPU_PIDS; do
        out="$out, ${e%%:*} $(awk -v d="$(($(_cpu_pid "${e#*:}") - _cpu_p0[i]))" -v hz="$hz" \
            -v w="$(awk -v a="$wall" -v b="$_cpu_wall0" 'BEGIN{print a-b}')" \
            'BEGIN{ printf "%.0f%%", (w > 0) ? 100*d/hz/w : 0 }')"
        i=$((i + 1))
    done
    echo "$out"
}

# Per-process figures for the results:
#   cpu_ticks PID      utime+stime of every thread of PID so far, in clock ticks (0 if gone)
#   peak_rss_kib PID   VmHWM (the peak resident set) of PID in KiB (0 if gone)
cpu_ticks() { _cpu_pid "$1"; }
peak_rss_kib() { awk '/^VmHWM:/{print $2; exit}' "/proc/$1/status" 2>/dev/null || echo 0; }
