#!/usr/bin/env bash
# Builds Galen's libFuzzer targets and runs them (docs/fuzzing.md).
#
#   Fuzz/run.sh [-t SECONDS] [-j JOBS] [--no-build] [TARGET ...]     (no TARGET, or "all": every target)
#
# TARGET is a target name with or without the "Fuzz" prefix: NPY, NPZ, PNG, TIFF, NIfTI,
# WFDBHeader, WFDBRecord, WFDBAnnotations, Inflate, DICOM. Each target runs for SECONDS
# (default 60) on its working corpus Fuzz/.corpus-<Target>, which is seeded from the bundled
# files on first use and kept between runs; crashes go to Fuzz/artifacts/<Target>/, the log to
# Fuzz/logs/<Target>.log. Extra libFuzzer flags can be given in FUZZ_FLAGS. Set NICE=19 to run
# the builds and fuzzers at low priority. The exit status is 1 when a target crashed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
all_targets=(NPY NPZ PNG TIFF NIfTI WFDBHeader WFDBRecord WFDBAnnotations Inflate DICOM)

seconds=60
jobs=1
build=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        -t) seconds="$2"; shift 2 ;;
        -j) jobs="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        all) targets+=("${all_targets[@]}"); shift ;;
        *) targets+=("${1#Fuzz}"); shift ;;
    esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in *" $t "*) ;; *) echo "unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2 ;; esac
done

# SwiftPM's --sanitize=fuzzer makes the libFuzzer main() the program's entry point; the
# -Xswiftc flag then gives every Swift module both coverage instrumentation and AddressSanitizer
# (SwiftPM's own --sanitize=fuzzer --sanitize=address does not reach every frontend job with both).
build_flags=(-c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address)
if [ "$build" = 1 ]; then
    if [ ${#targets[@]} -eq 1 ]; then
        (cd "$here" && nice -n "${NICE:-0}" swift build "${build_flags[@]}" --product "Fuzz${targets[0]}")
    else
        (cd "$here" && nice -n "${NICE:-0}" swift build "${build_flags[@]}")  # every target at once
    fi
fi
bin="$(cd "$here" && swift build "${build_flags[@]}" --show-bin-path)"

# Seeds: the bundled files each parser reads, without the large ones (over 64 KiB) that would
# slow every mutation. WFDB records and deflate streams are assembled from bundled files.
seed() {
    local target="$1" dir="$2" f
    copy() { for f in "$@"; do [ -f "$f" ] && [ "$(wc -c < "$f")" -le 65536 ] && cp -n "$f" "$dir/" || true; done; }
    case "$target" in
        NPY) copy "$root"/Tests/GalenDataTests/Fixtures/npy/*.npy "$root"/Tests/GalenDataTests/Fixtures/writer/*.npy ;;
        NPZ) copy "$root"/Tests/GalenDataTests/Fixtures/npz/*.npz ;;
        PNG) copy "$root"/Tests/GalenDataTests/Fixtures/images/*.png ;;
        TIFF) copy "$root"/Tests/GalenDataTests/Fixtures/images/*.tif ;;
        NIfTI)
            copy "$root"/Data/nifti/*.nii "$root"/Data/nifti/standard.nii.gz "$root"/Tests/GalenDataTests/Fixtures/*.nii.gz
            for f in "$root"/Data/nifti/*.nii.gz "$root"/Tests/GalenDataTests/Fixtures/*.nii.gz; do
                [ "$(gzip -dc "$f" | wc -c)" -le 65536 ] && gzip -dc "$f" > "$dir/$(basename "$f" .gz)"
            done ;;
        WFDBHeader) copy "$root"/Data/ecg/*.hea ;;
        WFDBAnnotations) copy "$root"/Data/ecg/*.atr ;;
        WFDBRecord)
            # header text, NUL, signal bytes (see Sources/FuzzWFDBRecord)
            { sed 's/^100 2 360 650000$/100 2 360 1000/' "$root/Data/ecg/100.hea"; printf '\0'; head -c 3000 "$root/Data/ecg/100.dat"; } > "$dir/mitdb-100-212"
            { sed 's/^s0010_re 15 1000 38400$/s0010_re 15 1000 100/' "$root/Data/ecg/s0010_re.hea"; printf '\0'; head -c 2400 "$root/Data/ecg/s0010_re.dat"; } > "$dir/ptb-s0010-16"
            { printf 'rec 2 250 300\nrec.dat 80 200(128)/uV 8 0 0 0 0 I\nrec.dat 80 100 8 0 0 0 0 II\n'; printf '\0'; head -c 600 "$root/Data/ecg/100.dat"; } > "$dir/format-80"
            { printf 'rec 1 250\n# no samples given: taken from the file size\nrec.dat 16+4 200 16 0 0 0 0 lead\n'; printf '\0'; head -c 404 "$root/Data/ecg/s0010_re.dat"; } > "$dir/format-16-offset" ;;
        Inflate)
            copy "$root"/Data/nifti/standard.nii.gz "$root"/Tests/GalenDataTests/Fixtures/*.nii.gz
            if command -v python3 > /dev/null; then
                python3 - "$root" "$dir" <<'PY'
import sys, zlib
root, out = sys.argv[1], sys.argv[2]
text = open(root + "/Data/ecg/s0010_re.hea", "rb").read()
open(out + "/zlib-hea", "wb").write(zlib.compress(text, 9))
raw = zlib.compressobj(6, zlib.DEFLATED, -15); open(out + "/raw-hea", "wb").write(raw.compress(text) + raw.flush())
stored = zlib.compressobj(0, zlib.DEFLATED, -15); open(out + "/raw-stored", "wb").write(stored.compress(text[:300]) + stored.flush())
PY
            fi ;;
        DICOM) copy "$root"/Data/dicom/*.dcm ;;
    esac
}

mkdir -p "$here/logs"
# Swift's own crash backtracer reads the dying process's memory and trips AddressSanitizer; with it
# off, libFuzzer's deadly-signal handler prints the stack (symbolized with the toolchain's
# llvm-symbolizer) and saves the input.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
symbolizer="$(dirname "$(command -v swift)")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$symbolizer}"
status=0
run_one() {
    local t="$1"
    local corpus="$here/.corpus-$t" artifacts="$here/artifacts/$t" log="$here/logs/$t.log"
    mkdir -p "$corpus" "$artifacts"
    seed "$t" "$corpus"
    echo "== Fuzz$t: ${seconds}s on $(ls "$corpus" | wc -l) corpus files (log: ${log#$root/})"
    local rc=0
    nice -n "${NICE:-0}" "$bin/Fuzz$t" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} "$corpus" > "$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
    grep -E '^Done [0-9]+ runs' "$log" || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr '\n' ' ' || true; echo
    if [ "$rc" != 0 ]; then
        echo "!! Fuzz$t stopped with status $rc: $(grep -m1 -E 'Fatal error|==[0-9]+==ERROR|^==[0-9]+== ERROR' "$log" || echo 'see the log')"
        ls "$artifacts"
        return 1
    fi
}

if [ "$jobs" -le 1 ]; then
    for t in "${targets[@]}"; do run_one "$t" || status=1; done
else
    # Up to JOBS targets at once; summaries print as each finishes.
    pids=()
    for t in "${targets[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || status=1; done
        run_one "$t" > "$here/logs/$t.summary" 2>&1 &
    done
    wait || status=1
    for t in "${targets[@]}"; do cat "$here/logs/$t.summary"; grep -q '^!!' "$here/logs/$t.summary" && status=1; done
fi
exit $status
