#!/usr/bin/env bash
# The GPU benchmark for a lent device machine (the `device` tool's `run`), as one prepared
# script, so a session that draws a GPU spends its few minutes measuring, not setting up.
#
#   here:   scripts/device-bench.sh prepare
#           → .gpu/ (ignored): a stripped release voxdose, the patient15 GATE files, the
#             Vulkan loader packages (the device machine is bare; nothing in ../shared travels)
#   there:  run(command="bash scripts/device-bench.sh run", carry=[".gpu"], timeout_s=560)
#           → $OUT/device.txt (GPU, driver, the `voxdose run` log), run-summary.json,
#             bench.log, <phantom>.json per phantom, one phantom at a time so a run cut
#             short keeps what it finished, and blocks.json: the block-size sweep.
#
# Environment: DECAYS (throughput decays per phantom, default 1e8: about a second at the
# issue's 1e8 decays/s target), PHANTOMS (default water-sphere,nema-iec,patient15,patient15-256),
# TARGET (% σ for the time-to-target figure, default 2), LIMIT_S (seconds per phantom, 90),
# BLOCKS (decays per work-queue block to compare, default 4,8,16,32; 8 is the GPU default and
# unmeasured), SWEEP_PHANTOM (default patient15-256), SWEEP_LIMIT_S (80). With the 100 s
# `voxdose run`, the worst case is 100 + 4 × 90 + 80 = 540 s, inside a 560 s call.
# `run` also works here on lavapipe (e.g. DECAYS=1e5 OUT=/tmp/o scripts/device-bench.sh run),
# which is how it is checked before a lease.
set -euo pipefail
cd "$(dirname "$0")/.."
GPU_DIR=.gpu

prepare() {
    cargo build --release
    rm -rf "$GPU_DIR"
    mkdir -p "$GPU_DIR/testdata/phantoms" "$GPU_DIR/debs"
    strip -o "$GPU_DIR/voxdose" target/release/voxdose
    local data=${VOXDOSE_TESTDATA:-../shared/testdata}
    cp "$data/MANIFEST.md" "$GPU_DIR/testdata/"
    cp -r "$data/phantoms/lu177_patient15_gate" "$GPU_DIR/testdata/phantoms/"
    # The loader only: the NVIDIA driver's Vulkan ICD is on the device machine.
    (cd "$GPU_DIR/debs" && apt-get download libvulkan1)
    du -sh "$GPU_DIR"
}

run() {
    local out=${OUT:?set OUT to the folder for the results}
    mkdir -p "$out"
    # Unpack the carried loader where the machine has none (as the device notes advise).
    if ! ldconfig -p | grep -q libvulkan.so.1; then
        for f in "$GPU_DIR"/debs/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
        export VK_DRIVER_FILES=$icd
    fi
    export VOXDOSE_TESTDATA=$GPU_DIR/testdata XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
    {
        date -u
        nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true
        nproc
    } >"$out/device.txt" 2>&1
    # The issue's acceptance run first: it names the adapter and driver.
    # (At most 8 files come back: device.txt, run-summary.json, bench.log, a JSON per phantom
    # and blocks.json.)
    local tmp
    tmp=$(mktemp -d)
    timeout 100 "$GPU_DIR/voxdose" run --phantom water-sphere --decays 1e6 --device gpu \
        --out "$tmp/run" --force >>"$out/device.txt" 2>&1 || echo "run failed: $?" >>"$out/device.txt"
    cp "$tmp/run/summary.json" "$out/run-summary.json" 2>/dev/null || true
    local p
    for p in $(echo "${PHANTOMS:-water-sphere,nema-iec,patient15,patient15-256}" | tr , ' '); do
        echo "== $p" >>"$out/bench.log"
        timeout "${LIMIT_S:-90}" "$GPU_DIR/voxdose" bench --phantoms "$p" \
            --decays "${DECAYS:-1e8}" --device gpu --target-uncertainty "${TARGET:-2}" \
            --json "$out/$p.json" >>"$out/bench.log" 2>&1 || echo "exit $?" >>"$out/bench.log"
        tail -1 "$out/bench.log"
    done
    # Which block size suits this GPU: the throughput at each (the dose is the same).
    local sweep=${SWEEP_PHANTOM:-patient15-256}
    echo "== blocks on $sweep" >>"$out/bench.log"
    timeout "${SWEEP_LIMIT_S:-80}" "$GPU_DIR/voxdose" bench --phantoms "$sweep" \
        --decays "${DECAYS:-1e8}" --device gpu --decays-per-block "${BLOCKS:-4,8,16,32}" \
        --json "$out/blocks.json" >>"$out/bench.log" 2>&1 || echo "exit $?" >>"$out/bench.log"
    tail -4 "$out/bench.log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *)
        echo "usage: scripts/device-bench.sh prepare|run" >&2
        exit 2
        ;;
esac
