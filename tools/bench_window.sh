#!/bin/sh
# tools/bench_window.sh — what the window costs the emulation: guest MIPS
# headless and with the window open (under Xvfb), for the same guests.
#
#   tools/bench_window.sh [BUILD_DIR]        (default: build; builds nothing)
#
# Cases: loop.elf and workload.elf in native mode, workload.elf in the
# default (posted) mode. Each figure is the best of REPEAT runs (default 3;
# the machine is shared and noisy), headless and window runs interleaved;
# the medians are printed beside them (on a noisy host one lucky run can
# decide a best-of-3, the median shows whether it did), and the CPU time of
# the window's own thread as a share of the machine thread's (median): what
# the window costs whatever the host's speed of the moment.
# Figures come from --stats: headless "stats: mode ..., N MIPS", window
# "window: ..., N MIPS; ..." (both are guest instructions over the host time
# of the run). Overhead = (headless - window) / headless. The target
# (docs/window.md, "Performance") is at most 10%.
#
# Exit status: 0 measured (whatever the figures), 1 a run failed or printed
# no figure, 2 xvfb-run or the build is missing.
set -u

BUILD=${1:-build}
REPEAT=${REPEAT:-3}
TARGET=10
EMU=$BUILD/apicv-emu
GUESTS=$BUILD/guests

if ! command -v xvfb-run >/dev/null 2>&1; then
    echo "bench_window: xvfb-run is missing: the window needs an X server to measure" >&2
    echo "bench_window: install it with: sudo apt-get install -y xvfb xauth" >&2
    exit 2
fi
for f in "$EMU" "$GUESTS/loop.elf" "$GUESTS/workload.elf"; do
    if [ ! -e "$f" ]; then
        echo "bench_window: $f is missing: build first (make build, or cmake --build $BUILD)" >&2
        exit 2
    fi
done

# The window's own X server, big enough for the 1600x900 window. The window
# draws with SDL's software renderer into the window surface whatever
# SDL_RENDER_DRIVER says; it is set as in the commands of older figures
# (docs/window.md, "Performance"), which needed it.
XVFB_ARGS="-screen 0 1920x1080x24"
export SDL_RENDER_DRIVER=software

# One run; prints its MIPS figure (empty when the run failed).
headless_mips() { # MODE GUEST
    out=$("$EMU" run --headless --quiet --stats --mode "$1" "$2" 2>&1 >/dev/null) || return 0
    printf '%s\n' "$out" | sed -n 's/^stats: mode .* \([0-9.]*\) MIPS$/\1/p' | head -n 1
}
# The window run prints "MIPS CPU": its MIPS figure and the CPU time of its
# window thread as a percentage of the machine thread's ("-" when the
# emulator does not print them); nothing when the run failed.
window_mips() { # MODE GUEST
    out=$(xvfb-run -a -s "$XVFB_ARGS" "$EMU" run --quiet --stats --mode "$1" \
        --autorun --exit-when-done "$2" 2>&1 >/dev/null) || return 0
    printf '%s\n' "$out" | awk '/^window: / {
        for (i = 2; i <= NF; i++) {
            if ($i == "MIPS;") mips = $(i - 1)
            if ($(i - 1) == "machine" && $i == "thread") m = $(i + 1)
            if ($(i - 1) == "window" && $i == "thread") w = $(i + 1)
        }
    } END { if (mips != "") print mips, (m + 0 > 0 && w != "" ? sprintf("%.1f", w / m * 100) : "-") }'
}

# The best (largest) and the median of a list of figures.
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
percent() { awk -v h="$1" -v w="$2" 'BEGIN { printf "%.1f", (h - w) / h * 100 }'; }

echo "bench_window: $EMU, best of $REPEAT runs each, window under xvfb-run ($XVFB_ARGS)"
echo "bench_window: headless: $EMU run --headless --quiet --stats --mode MODE GUEST"
echo "bench_window: window:   SDL_RENDER_DRIVER=software xvfb-run -a -s \"$XVFB_ARGS\" $EMU run --quiet --stats --mode MODE --autorun --exit-when-done GUEST"
echo
printf '%-14s %-8s %14s %12s %9s   %-32s %s\n' guest mode "headless MIPS" "window MIPS" overhead \
    "median: headless, window, overh." "window thread CPU"

status=0
worst=""
for c in native:loop.elf native:workload.elf posted:workload.elf; do
    mode=${c%%:*} guest=${c#*:}
    hs="" ws="" cpus=""
    i=0 failed=0
    while [ "$i" -lt "$REPEAT" ]; do
        h=$(headless_mips "$mode" "$GUESTS/$guest")
        wout=$(window_mips "$mode" "$GUESTS/$guest")
        w=${wout%% *} cpu=${wout#* }
        if [ -z "$h" ] || [ -z "$w" ]; then
            failed=1
            break
        fi
        hs="$hs $h" ws="$ws $w"
        [ "$cpu" != "-" ] && cpus="$cpus $cpu"
        i=$((i + 1))
    done
    if [ "$failed" = 1 ]; then
        printf '%-14s %-8s %14s %12s %9s\n' "$guest" "$mode" "${h:-fail}" "${w:-fail}" "-"
        echo "bench_window: a run of $guest ($mode) failed or printed no MIPS figure" >&2
        status=1
        continue
    fi
    # shellcheck disable=SC2086 # the lists are words on purpose
    hb=$(best $hs) wb=$(best $ws) hm=$(median $hs) wm=$(median $ws)
    # shellcheck disable=SC2086
    wc=$([ -n "$cpus" ] && echo "$(median $cpus)% of the machine's" || echo "-")
    ov=$(percent "$hb" "$wb")
    printf '%-14s %-8s %14s %12s %8s%%   %-32s %s\n' "$guest" "$mode" "$hb" "$wb" "$ov" \
        "$hm, $wm, $(percent "$hm" "$wm")%" "$wc"
    worst=$(awk -v a="$worst" -v b="$ov" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }')
done

echo
if [ -n "$worst" ]; then
    verdict=$(awk -v o="$worst" -v t="$TARGET" 'BEGIN { print (o + 0 <= t) ? "within" : "OVER" }')
    echo "bench_window: largest window overhead (best of $REPEAT) ${worst}% ($verdict the ${TARGET}% target)"
fi
exit $status
