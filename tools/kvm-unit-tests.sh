#!/bin/bash
# tools/kvm-unit-tests.sh — runs kvm-unit-tests' x86 APIC conformance kernels
# (apic.flat, ioapic.flat, smptest.flat, vmexit.flat) and the nested-VMX
# kernel vmx.flat (a guest hypervisor: native mode only), unmodified, on
# apicv-emu (native mode unless --mode says otherwise), from a checkout of kvm-unit-tests that the user
# has (this repository never holds its code: see README "kvm-unit-tests").
#
#   tools/kvm-unit-tests.sh [OPTIONS] KUT-DIR [TEST...]
#
# KUT-DIR is the kvm-unit-tests source tree. When its x86/*.flat kernels
# are missing it is built there (`./configure --arch=x86_64 && make`), which
# needs gcc, make and binutils and nothing from the network.
#
# TEST names the sections of KUT-DIR/x86/unittests.cfg to run (default:
# x2apic xapic ioapic smptest smptest3, every vmexit_* section, and in
# native mode the vmx.flat sections of issue 10: vmx_apicv_test
# vmx_posted_intr_test vmx_hlt_with_rvi_test
# vmx_apic_passthrough_tpr_threshold_test vmx_apic_passthrough_thread
# vmx_init_signal_test vmx_eoi_bitmap_ioapic_scan, and [vmx] itself). Each
# runs the way the section says, translated to apicv-emu's options:
#   smp = N                  --cpus N (1 when absent)
#   test_args = '...'        --append '...' (the kernel's argv)
#   qemu_params = -cpu M,+f,-f   --cpu max with the x2apic, tsc-deadline and
#                            vmx flags of the list taken away or kept (the
#                            model name and other flags do not apply)
#   qemu_params = -m N       --mem N (MiB)
#   timeout = T              the time limit (90 s when absent, kvm-unit-tests'
#                            default), times --timeout-factor
# Every kernel gets an environment file as its initrd: TEST_DEVICE=0 as on
# bare metal (apicv-emu is not KVM: the PV IPI hypercall of apic.flat is a
# KVM hypercall), except vmx.flat, which gets TEST_DEVICE=1: its only use of
# the test device is the IRQ-line register at ports 2000H-2017H
# (vmx_apic_passthrough*), which the machine has (docs/machine.md).
#
# Output, per test, in kvm-unit-tests' own form:
#   PASS x2apic (55 tests)
#   PASS vmexit_cpuid (cycles per iteration: cpuid 51)
#   FAIL vmexit_vmcall (status 63: Unhandled exception 6 #UD(0) at ip ...)
#   SKIP name (reason)
# and at the end one line `SUMMARY: N tests, P passed, F failed, S skipped`.
# A test passes when the kernel exits with status 0 (kvm-unit-tests'
# exit(0): no unexpected failure), is skipped with status 38 (77 >> 1: every
# check skipped) and fails otherwise (1: unexpected failures; 63: abort or
# an unhandled exception; 3: the emulator ended the run, crash; 124: time
# limit). The whole log of each test is kept in the log directory.
#
# Options:
#   --emu PATH            the emulator (default: build/apicv-emu beside this script)
#   --mode MODE           apicv-emu's --mode: native (default), or under the
#                         built-in hypervisor emulated, tpr-shadow, apicv, posted
#   --timeout-factor N    multiply each time limit by N (default 5: an interpreter
#                         is slower than KVM; the machine may be shared)
#   --logs DIR            where the per-test logs go (default: a new temporary dir)
#   --quantum N           apicv-emu's --quantum (the scheduling round, default
#                         10000 cycles): vmexit_ipi and vmexit_ipi_halt print
#                         one round per iteration (docs/multiboot.md), so a
#                         short round (100) brings them close to the IPI's cost
#   --list                print the tests and the command line of each, run nothing
#
# Exit status: 0 when every test passed or was skipped, 1 when one failed,
# 2 for bad usage or a missing emulator/kernel.
set -u

here=$(cd "$(dirname "$0")" && pwd)
EMU=$here/../build/apicv-emu
FACTOR=5
MODE=native
LOGS=
LIST=0
QUANTUM=

usage() {
    sed -n '2,/^set -u/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --emu) [ $# -ge 2 ] || usage; EMU=$2; shift 2 ;;
    --timeout-factor) [ $# -ge 2 ] || usage; FACTOR=$2; shift 2 ;;
    --mode) [ $# -ge 2 ] || usage; MODE=$2; shift 2 ;;
    --logs) [ $# -ge 2 ] || usage; LOGS=$2; shift 2 ;;
    --quantum) [ $# -ge 2 ] || usage; QUANTUM=$2; shift 2 ;;
    --list) LIST=1; shift ;;
    -h|--help) usage ;;
    -*) echo "kvm-unit-tests.sh: unknown option '$1'" >&2; usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
KUT=$1
shift
case $MODE in
native|emulated|tpr-shadow|apicv|posted) ;;
*) echo "kvm-unit-tests.sh: --mode: expected native, emulated, tpr-shadow, apicv or posted, got '$MODE'" >&2; exit 2 ;;
esac
case $FACTOR in
''|*[!0-9]*|0) echo "kvm-unit-tests.sh: --timeout-factor: expected a positive integer, got '$FACTOR'" >&2; exit 2 ;;
esac
case $QUANTUM in
'') ;;
*[!0-9]*) echo "kvm-unit-tests.sh: --quantum: expected cycles (100..100000000), got '$QUANTUM'" >&2; exit 2 ;;
esac
CFG=$KUT/x86/unittests.cfg
if [ ! -f "$CFG" ]; then
    echo "kvm-unit-tests.sh: $CFG: no such file (is '$KUT' a kvm-unit-tests checkout?)" >&2
    exit 2
fi
if [ ! -x "$EMU" ]; then
    echo "kvm-unit-tests.sh: $EMU: no emulator there (build it with 'make', or give --emu PATH)" >&2
    exit 2
fi

# Every section of unittests.cfg as one line: name|file|smp|test_args|qemu_params|timeout
sections=$(awk '
    function flush() { if (name != "") print name "|" file "|" smp "|" args "|" params "|" timeout }
    /^\[.*\]$/ { flush(); name = substr($0, 2, length($0) - 2); file = ""; smp = ""; args = ""; params = ""; timeout = ""; next }
    /^[a-z_]+ *=/ {
        key = $0; sub(/ *=.*/, "", key)
        val = $0; sub(/^[a-z_]+ *= */, "", val); sub(/ *$/, "", val)
        if ((val ~ /^".*"$/) || (val ~ /^\x27.*\x27$/)) val = substr(val, 2, length(val) - 2)
        if (key == "file") file = val
        else if (key == "smp") smp = val
        else if (key == "test_args" || key == "extra_params") args = val
        else if (key == "qemu_params") params = val
        else if (key == "timeout") timeout = val
    }
    END { flush() }' "$CFG")

VMX_SECTIONS="vmx_apicv_test vmx_posted_intr_test vmx_hlt_with_rvi_test vmx_apic_passthrough_tpr_threshold_test vmx_apic_passthrough_thread vmx_init_signal_test vmx_eoi_bitmap_ioapic_scan vmx"
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2046 # one word per section name
    set -- x2apic xapic ioapic smptest smptest3 $(printf '%s\n' "$sections" | cut -d'|' -f1 | grep '^vmexit_')
    # vmx.flat is a hypervisor: it needs VMX in the CPU, i.e. native mode
    # (under the built-in hypervisor its VMX instructions are VM exits).
    # shellcheck disable=SC2086 # one word per section name
    [ "$MODE" = native ] && set -- "$@" $VMX_SECTIONS
fi

# Build the kernels when one we need is missing.
need_build=0
for t in "$@"; do
    line=$(printf '%s\n' "$sections" | grep "^$t|" | head -1)
    if [ -z "$line" ]; then
        echo "kvm-unit-tests.sh: no section [$t] in $CFG" >&2
        exit 2
    fi
    f=$(echo "$line" | cut -d'|' -f2)
    [ -f "$KUT/x86/$f" ] || need_build=1
done
if [ $need_build = 1 ] && [ $LIST = 0 ]; then
    echo "kvm-unit-tests.sh: building $KUT (./configure --arch=x86_64 && make)" >&2
    (cd "$KUT" && { [ -f config.mak ] && grep -q '^ARCH=x86_64' config.mak || ./configure --arch=x86_64; } &&
        make -j"$(nproc 2>/dev/null || echo 2)") >&2 || {
        echo "kvm-unit-tests.sh: building $KUT failed" >&2
        exit 2
    }
fi

# -cpu MODEL,+flag,-flag -> --cpu max[,-x2apic][,-tsc-deadline][,-vmx]
cpu_option() {
    local params=$1 spec flag out=max
    spec=$(echo "$params" | sed -n 's/.*-cpu  *\([^ ]*\).*/\1/p')
    for flag in $(echo "$spec" | tr ',' ' '); do
        case $flag in
        -x2apic|-tsc-deadline|-vmx) out="$out,$flag" ;;
        esac
    done
    echo "$out"
}

if [ $LIST = 1 ]; then
    LOGS=LOGDIR
elif [ -z "$LOGS" ]; then
    LOGS=$(mktemp -d "${TMPDIR:-/tmp}/kvm-unit-tests.XXXXXX") || exit 2
fi
ENV_FILE=$LOGS/env
ENV_DEV_FILE=$LOGS/env-testdev
if [ $LIST = 0 ]; then
    mkdir -p "$LOGS" && printf 'TEST_DEVICE=0\n' > "$ENV_FILE" &&
        printf 'TEST_DEVICE=1\n' > "$ENV_DEV_FILE" || exit 2
fi

# -m N -> N (MiB), empty when absent
mem_option() {
    echo "$1" | sed -n 's/.*-m  *\([0-9][0-9]*\).*/\1/p'
}

passed=0 failed=0 skipped=0 total=0
for t in "$@"; do
    IFS='|' read -r name file smp args params tmo <<EOF
$(printf '%s\n' "$sections" | grep "^$t|" | head -1)
EOF
    smp=${smp:-1}
    tmo=${tmo:-90}
    tmo=${tmo%s}
    limit=$((tmo * FACTOR))
    cpu=$(cpu_option "$params")
    env=$ENV_FILE
    [ "$file" = vmx.flat ] && env=$ENV_DEV_FILE
    cmd=("$EMU" run --headless --quiet --mode "$MODE" --cpus "$smp" --cpu "$cpu")
    [ -n "$QUANTUM" ] && cmd+=(--quantum "$QUANTUM")
    mem=$(mem_option "$params")
    [ -n "$mem" ] && cmd+=(--mem "$mem")
    cmd+=(--initrd "$env")
    [ -n "$args" ] && cmd+=(--append "$args")
    cmd+=("$KUT/x86/$file")
    if [ $LIST = 1 ]; then
        echo "$name: timeout ${limit}s: ${cmd[*]}"
        continue
    fi
    log=$LOGS/$name.log
    timeout --kill-after=10 "$limit" "${cmd[@]}" > "$log" 2>&1
    status=$?
    total=$((total + 1))
    # The kernels print through COM1 with CR LF line ends.
    summary=$(tr -d '\r' < "$log" | tail -5 | grep '^SUMMARY: ' | tail -1 | sed 's/^SUMMARY: //')
    if [ -z "$summary" ] && [ -n "$args" ]; then
        # vmexit.flat has no SUMMARY: its result is "NAME CYCLES" per test
        # (and "  ipi NAME CYCLES", "  eoi NAME CYCLES"): cycles per iteration.
        summary=$(tr -d '\r' < "$log" | grep -E "^ *((ipi|eoi) )?[a-z0-9_]+ -?[0-9]+\$" | sed 's/^ *//' | paste -sd ';' | sed 's/;/; /g')
        [ -n "$summary" ] && summary="cycles per iteration: $summary"
    fi
    if [ $status = 0 ]; then
        passed=$((passed + 1))
        echo "PASS $name${summary:+ ($summary)}"
    elif [ $status = 38 ]; then
        skipped=$((skipped + 1))
        echo "SKIP $name${summary:+ ($summary)}"
    else
        failed=$((failed + 1))
        case $status in
        124|137) why="time limit of ${limit}s" ;;
        *) why=$(tr -d '\r' < "$log" | grep -m1 -E '^(FAIL|ABORT|Unhandled exception)|apicv-emu: |assert failed' | cut -c1-120) ;;
        esac
        echo "FAIL $name (status $status${summary:+: $summary}${why:+: $why})"
    fi
done
if [ $LIST = 1 ]; then
    exit 0
fi
echo "SUMMARY: $total tests, $passed passed, $failed failed, $skipped skipped (logs in $LOGS)"
[ $failed = 0 ]
