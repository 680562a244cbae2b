# What bench/run measures with, and how each measurement is recorded (sourced by bench/run).
#
# The "device" under test is one of:
#   lunfs      dev_lunfs_mount POLICY N [OPTION...]
#                                         lunfs over the first N portals, file $mnt/lun1, with
#                                         those mount options besides --policy
#   qsd        dev_qsd_start I            QEMU's storage daemon: libiscsi on portal I, exported as
#                                         a file with its own FUSE export ($tmp/qsd.img)
#              dev_qsd_null_start         the same over a null device: no iSCSI, no network
#   iscsi-perf (no device: libiscsi's own load generator, reads only; see perf_job)
# dev_stop ends whichever is up. DEV_FILE is the file to measure, DEV_PID its process.
#
# Workloads are RW:BS:QD (fio's rw, block size, iodepth): read:1M:8, randwrite:4k:16, ...; or
# RW:BS:QD:SIZE, over the first SIZE bytes of the file only (fio's --size), each run after an
# unmeasured pass that reads them in order (128 KiB, QD1), which loads them into a cache that
# keeps what it reads ahead of a stream: randread:4k:16:32M.
#   fio_job SCEN TOOL PATHS RUN WORKLOAD   one fio run on DEV_FILE, one row in $tmp/results.tsv
#   perf_job SCEN PATHS RUN WORKLOAD URL   one iscsi-perf run, one row (read workloads only)
# A row: scenario tool paths workload run MiB/s IOPS mean_ms p99_ms max_ms errors bytes
#        daemon_cpu_pct tgtd_cpu_pct command_id path_shares wire_ratio (lunfs: each path's
#        percentage of the bytes its paths moved, from .lunfs/stats before and after, and those
#        bytes over fio's: below 1 when its cache served reads again, above when readahead
#        fetched more than was read; else -).
# CPU is the daemon's and tgtd's utime+stime from the end of fio's ramp (or its start) to its exit, as a
# percentage of one core over that time. Commands are kept once each in $tmp/commands.tsv.
#
# Needs from bench/run: tmp, mnt, lunfs, py, here, runtime, ramp, urls[], portals[], LAB_*,
# note(), die(), and the cpu_ticks / peak_rss_kib helpers of cpu.sh.

DEV="" DEV_FILE="" DEV_PID="" DEV_POLICY="" DEV_PATHS=0
declare -A CMD_IDS=()
FIO_PID=""

cmd_id() {  # COMMAND: sets CMD_ID to its number, recording it the first time (no subshell)
    local c=${1//$tmp/\$T}
    if [ -z "${CMD_IDS[$c]:-}" ]; then
        CMD_IDS[$c]=$((${#CMD_IDS[@]} + 1))
        printf '%s\t%s\n' "${CMD_IDS[$c]}" "$c" >>"$tmp/commands.tsv"
    fi
    CMD_ID=${CMD_IDS[$c]}
}

dev_lunfs_mount() {  # POLICY N [OPTION...]
    local policy=$1 n=$2 extra=()
    shift 2
    [ "$policy" != round-robin ] || extra=(--rr-switch-every 1000)
    local args=(mount --policy "$policy" "${extra[@]}" "$@" --log-file "$tmp/lunfs.log" "$mnt" "${urls[@]:0:n}")
    echo "lunfs ${args[*]}" >>"$tmp/log.txt"
    "$lunfs" "${args[@]}" 2>"$tmp/mount.err" 8>&- || die "lunfs mount failed: $(tail -n1 "$tmp/mount.err")"
    DEV=lunfs DEV_FILE=$mnt/lun1 DEV_POLICY=$policy DEV_PATHS=$n
    DEV_PID=$(cat "$mnt/.lunfs/pid") || die "no pid in $mnt/.lunfs/pid"
    DEV_CMD="lunfs ${args[*]}"
}

dev_qsd_start() {  # PORTAL_INDEX
    _dev_qsd "driver=iscsi,node-name=lun,transport=tcp,portal=${portals[$1]},target=$LAB_IQN,lun=1,initiator-name=iqn.2026-11.io.lunfs:bench-qsd"
}

# QEMU's storage daemon exporting a null block device (nothing stored, reads not filled in): what
# fio and the kernel's FUSE cost per request when the daemon behind the file costs nothing.
dev_qsd_null_start() {
    _dev_qsd "driver=null-co,node-name=lun,size=$((2 << 30))"
}

_dev_qsd() {  # BLOCKDEV
    local img=$tmp/qsd.img
    : >"$img"
    local args=(--daemonize --pidfile "$tmp/qsd.pid" --blockdev "$1"
        --export "type=fuse,id=exp,node-name=lun,mountpoint=$img,writable=on")
    echo "qemu-storage-daemon ${args[*]}" >>"$tmp/log.txt"
    DEV=qsd DEV_FILE=$img DEV_POLICY=- DEV_PATHS=1
    qemu-storage-daemon "${args[@]}" >"$tmp/qsd.err" 2>&1 8>&- ||
        die "qemu-storage-daemon failed: $(tail -n1 "$tmp/qsd.err")"
    DEV_PID=$(cat "$tmp/qsd.pid") || die "qemu-storage-daemon wrote no pid file"
    grep -q " $img fuse" /proc/mounts || die "qemu-storage-daemon did not mount its export on $img"
    DEV_CMD="qemu-storage-daemon ${args[*]}"
}

# Records the device's peak RSS as a row of $tmp/rss.tsv: scenario tool paths KiB.
dev_record_rss() {  # SCEN TOOL
    cmd_id "$DEV_CMD"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$DEV_PATHS" "$(peak_rss_kib "$DEV_PID")" \
        "$CMD_ID" >>"$tmp/rss.tsv"
}

dev_stop() {
    case "$DEV" in
        lunfs)
            if mountpoint -q "$mnt"; then
                "$lunfs" unmount "$mnt" 2>"$tmp/unmount.err" || {
                    note "lunfs unmount failed ($(tail -n1 "$tmp/unmount.err")); lazy unmount"
                    umount -l "$mnt"
                }
            fi ;;
        qsd)
            if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
                kill -TERM "$DEV_PID"
                local n=200
                while kill -0 "$DEV_PID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
                kill -0 "$DEV_PID" 2>/dev/null && { note "qemu-storage-daemon ignored SIGTERM"; kill -9 "$DEV_PID"; }
            fi
            if grep -q " $tmp/qsd.img fuse" /proc/mounts; then umount -l "$tmp/qsd.img"; fi ;;
    esac
    DEV="" DEV_FILE="" DEV_PID="" DEV_PATHS=0
}

# fio_cmd WORKLOAD FILE OUT [extra fio options]: prints the fio command line.
fio_cmd() {
    local rw bs qd size
    IFS=: read -r rw bs qd size <<<"$1"
    echo "fio --name=bench --filename=$2 --ioengine=libaio --direct=1 --rw=$rw --bs=$bs" \
        "--iodepth=$qd${size:+ --size=$size} --time_based --runtime=$runtime$([ "$ramp" = 0 ] || echo " --ramp_time=$ramp")" \
        "--output-format=json --output=$3${4:+ $4}"
}

# Runs a command in the background so that a signal reaches the script at once.
run_bg() {  # OUT COMMAND...
    local out=$1 rc=0; shift
    "$@" >"$out" 2>&1 &
    FIO_PID=$!
    wait "$FIO_PID" || rc=$?
    FIO_PID=""
    return "$rc"
}

# fio_warm SIZE OUT: reads the first SIZE bytes of DEV_FILE once, in order; not measured.
fio_warm() {
    local argv=(fio --name=warm "--filename=$DEV_FILE" --ioengine=libaio --direct=1 --rw=read
        --bs=128k --iodepth=1 "--size=$1")
    echo "${argv[*]}" >>"$tmp/log.txt"
    run_bg "$2" "${argv[@]}" || note "  the pass over the first $1 failed: $(grep -v '^ *$' "$2" | tail -n1)"
}

fio_job() {  # SCEN TOOL PATHS RUN WORKLOAD
    local scen=$1 tool=$2 paths=$3 run=$4 wl=$5 out=$tmp/fio/$1-$2-$3-$5-$4.json rc=0
    local cmd; cmd=$(fio_cmd "$wl" "$DEV_FILE" OUT.json)
    local -a argv; read -r -a argv <<<"$(fio_cmd "$wl" "$DEV_FILE" "$out")"
    local size=${wl#*:*:*:}
    [ "$size" = "$wl" ] || fio_warm "$size" "$out.warm"
    [ "$DEV" != lunfs ] || cp "$mnt/.lunfs/stats" "$out.before" 2>/dev/null || true
    "${argv[@]}" >"$out.err" 2>&1 &
    FIO_PID=$!
    nap "$ramp"
    local d0 t0 w0 d1 t1 w1
    d0=$(cpu_ticks "$DEV_PID") t0=$(cpu_ticks "$LAB_PID") w0=$(date +%s.%N)
    wait "$FIO_PID" || rc=$?
    FIO_PID=""
    d1=$(cpu_ticks "$DEV_PID") t1=$(cpu_ticks "$LAB_PID") w1=$(date +%s.%N)
    local shares="- -"
    if [ "$DEV" = lunfs ] && cp "$mnt/.lunfs/stats" "$out.after" 2>/dev/null; then
        shares=$("$py" "$here/lib/parse.py" shares "$out.before" "$out.after" 2>/dev/null) || shares="- -"
    fi
    local nums
    nums=$("$py" "$here/lib/parse.py" fio "$out" 2>>"$out.err") || {
        [ "$rc" = 0 ] && rc=1
        nums="0 0 0 0 0 1 0"
    }
    [ "$rc" = 0 ] || note "  fio $wl on $tool failed (exit $rc): $(grep -v '^ *$' "$out.err" | tail -n1)"
    local pct
    pct=$(awk -v d=$((d1 - d0)) -v t=$((t1 - t0)) -v a="$w0" -v b="$w1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN{ w = b - a; if (w <= 0) w = 1; printf "%.0f\t%.0f", 100*d/hz/w, 100*t/hz/w }')
    local -a n; read -r -a n <<<"$nums"
    [ "$rc" = 0 ] || n[5]=$((n[5] > 0 ? n[5] : 1))
    local wire; read -r shares wire <<<"$shares"
    wire=$(awk -v w="$wire" -v f="${n[6]}" 'BEGIN{ if (w ~ /^[0-9]+$/ && f > 0) printf "%.2f", w/f; else print "-" }')
    cmd_id "$cmd"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$paths" \
        "$wl" "$run" "${n[0]}" "${n[1]}" "${n[2]}" "${n[3]}" "${n[4]}" "${n[5]}" "${n[6]}" "$pct" \
        "$CMD_ID" "$shares	$wire" >>"$tmp/results.tsv"
    note "  $tool $wl run $run: ${n[0]} MiB/s, ${n[1]} IOPS"
}

perf_job() {  # SCEN PATHS RUN WORKLOAD URL
    local scen=$1 paths=$2 run=$3 wl=$4 url=$5 rw bs qd
    IFS=: read -r rw bs qd <<<"$wl"
    local bytes blocks random=()
    case "$bs" in *[kK]) bytes=$((${bs%[kK]} << 10)) ;; *M) bytes=$((${bs%M} << 20)) ;; *) bytes=$bs ;; esac
    blocks=$((bytes / LAB_BLOCK_SIZE))
    [ "$rw" = randread ] && random=(-r)
    local secs; secs=$(awk -v r="$runtime" -v p="$ramp" 'BEGIN{ s = int(r + p + 0.5); print (s < 1) ? 1 : s }')
    local argv=(iscsi-perf -i iqn.2026-11.io.lunfs:bench-perf -m "$qd" -b "$blocks" -t "$secs" "${random[@]}" "$url")
    local out=$tmp/fio/$scen-iscsi-perf-$wl-$run.txt rc=0
    run_bg "$out" timeout $((secs + 60)) "${argv[@]}" || rc=$?
    local nums
    if [ "$rc" = 0 ] && nums=$("$py" "$here/lib/parse.py" iscsi-perf "$out" "$bytes" 2>>"$out"); then :; else
        note "  iscsi-perf $wl failed (exit $rc): $(tr '\r' '\n' <"$out" | grep -v '^ *$' | tail -n1)"
        nums="0 0"
    fi
    local -a n; read -r -a n <<<"$nums"
    local errors=0; [ "$rc" = 0 ] || errors=1
    cmd_id "${argv[*]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\t%s\t-\t-\t-\t%s\t-\t-\n' "$scen" iscsi-perf "$paths" "$wl" \
        "$run" "${n[0]}" "${n[1]}" "$errors" "$CMD_ID" >>"$tmp/results.tsv"
    note "  iscsi-perf $wl run $run: ${n[0]} MiB/s, ${n[1]} IOPS"
}
