#!/bin/sh
# Makes again every picture of README.md and docs/ that the emulator draws
# itself (off screen, no display needed), from the current code: `make
# screenshots` (BUILD=build by default). Each command is the one the text
# beside the picture quotes; run this after a change to the window, the
# chart, the cost model or a demo scenario, and commit the PNGs with it.
# docs/images/export_gtkwave.png is GTKWave's picture, not ours: see
# tools/gtkwave_demo.tcl.
#
# The text says what each picture shows at its event ("event 41 is the
# virtual-interrupt delivery of 41h"), so the script first checks, from the
# event logs, that those events are still what the text says; it stops
# with a message when a demo or the event numbering changed. Run from the
# top of the source tree; SCREENSHOTS_DIR writes the pictures elsewhere
# (the test suite's docs_test_screenshots does).
set -eu
BUILD=${1:-build}
EMU=$BUILD/apicv-emu
OUT=${SCREENSHOTS_DIR:-docs/images}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
mkdir -p "$OUT"

# quiet COMMAND...: runs it, shows its messages only when it fails.
quiet() {
    if ! "$@" >"$TMP/out" 2>&1; then
        cat "$TMP/out" >&2
        echo "screenshots: failed: $*" >&2
        exit 1
    fi
}

# expect_event SCENARIO N PATTERN: the N-th line of the scenario's event log matches.
expect_event() {
    "$EMU" run --headless --quiet --log "$TMP/ev.log" "$1" >/dev/null || true
    line=$(sed -n "$2p" "$TMP/ev.log")
    if ! printf '%s\n' "$line" | grep -q -- "$3"; then
        echo "screenshots: event $2 of $1 is no longer '$3' but: $line" >&2
        echo "screenshots: choose the event again, here and in the text that quotes it" >&2
        exit 1
    fi
}
quiet "$EMU" import-kvm tests/import/ftrace_new_posted.txt -o "$TMP/kvm.scn"
expect_event scenarios/posted_demo.scn 41 'cpu=1 ev=vmx.vintr-delivered a=0x41 '
expect_event scenarios/irq_emulated.scn 16 'ev=vmx.exit a=0x1 '
expect_event scenarios/irq_emulated.scn 25 'ev=vmx.exit a=0x2c '
expect_event "$TMP/kvm.scn" 54 'cpu=1 ev=vmx.vintr-delivered a=0xfb '

# README's first picture and docs/window.md's: the default demo at the
# virtual-interrupt delivery of 41h on vCPU 1.
quiet "$EMU" run --quiet --vcpu 1 --screenshot "$OUT/window.png" --at-event 41 \
    scenarios/posted_demo.scn
# The same moment from a recording, with the caption list open (docs/window.md).
quiet "$EMU" run --headless --quiet --record "$TMP/pd.trace" scenarios/posted_demo.scn
quiet "$EMU" replay --vcpu 1 --captions --screenshot "$OUT/window_captions.png" --at-event 41 \
    "$TMP/pd.trace"
# README, "Teach a class with it": emulated mode at the kick's external-interrupt exit.
quiet "$EMU" run --quiet --size 1280x720 --screenshot "$OUT/irq_emulated_event16.png" \
    --at-event 16 scenarios/irq_emulated.scn
# README and docs/cli.md: the built-in compare workload in the five modes.
quiet "$EMU" compare --chart "$OUT/compare.png"
# docs/import-kvm.md: an imported KVM trace at vCPU 1's posted IPI.
quiet "$EMU" run --quiet --vcpu 1 --screenshot "$OUT/import_kvm.png" --at-event 54 "$TMP/kvm.scn"

for f in window window_captions irq_emulated_event16 compare import_kvm; do
    if [ "$(head -c 4 "$OUT/$f.png" | tail -c 3)" != PNG ]; then
        echo "screenshots: $OUT/$f.png is not a PNG" >&2
        exit 1
    fi
done
echo "screenshots: made again in $OUT/ (window, window_captions, irq_emulated_event16, compare, import_kvm)"
