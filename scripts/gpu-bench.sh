#!/usr/bin/env bash
# Runs shadergrad's kernel benchmark suite on this machine's GPU and prints the
# adapter line and the table.
#
#   scripts/gpu-bench.sh [--bin PATH] [--out DIR] [--loader DIR] [-- BENCH ARGS...]
#
#   --bin PATH     a prebuilt `shadergrad` binary (built elsewhere and carried
#                  here); without it the script builds one with cargo
#   --out DIR      where results go (default: bench-gpu/): bench.json, the
#                  table as bench.txt, progress as bench.log, report/ (markdown
#                  and PNG charts)
#   --loader DIR   a Vulkan loader unpacked locally, for machines whose system
#                  has none: a folder with libvulkan.so.1 anywhere below it, or
#                  .deb files (libvulkan1) that are unpacked here (no root
#                  needed). Also taken from SHADERGRAD_VULKAN_DIR, and ./.gl is
#                  searched when neither is given.
#   BENCH ARGS     passed to `shadergrad bench`: --quick, --filter matmul,
#                  --end-to-end, --compare OLD.json ...
#
# The NVIDIA Vulkan driver manifest is found in the usual icd.d folders, in
# /usr/local/nvidia/share/vulkan/icd.d (containers), or written from
# libGLX_nvidia.so.0 when only the library is there. VK_DRIVER_FILES set by
# the caller wins. WGPU_POWER_PREF defaults to high (a discrete GPU over a
# software adapter); WGPU_ADAPTER_NAME picks one by name.
# Exit status: the bench's (0; 2 when a kernel failed its correctness gate).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=""
out="bench-gpu"
loader="${SHADERGRAD_VULKAN_DIR:-}"
bench_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --loader) loader="$2"; shift 2 ;;
        --) shift; bench_args+=("$@"); break ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) bench_args+=("$1"); shift ;;
    esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# 1. The binary.
if [ -z "$bin" ]; then
    if ! command -v cargo >/dev/null 2>&1; then
        echo "gpu-bench: no --bin given and no cargo to build one" >&2
        exit 1
    fi
    echo "gpu-bench: building (cargo build --release) ..." >&2
    (cd "$here" && cargo build --release --bin shadergrad >&2)
    bin="$here/target/release/shadergrad"
fi
if [ ! -x "$bin" ]; then
    echo "gpu-bench: $bin is not an executable" >&2
    exit 1
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# 2. The Vulkan loader, when the system has none.
have_loader() {
    if command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
        return 0
    fi
    local d
    local IFS=:
    for d in ${LD_LIBRARY_PATH:-}; do
        [ -n "$d" ] && [ -e "$d/libvulkan.so.1" ] && return 0
    done
    return 1
}
if ! have_loader; then
    candidates=()
    if [ -n "$loader" ]; then candidates+=("$loader"); fi
    candidates+=("$PWD/.gl" "$here/.gl" "$(dirname "$bin")/vulkan")
    found=""
    for dir in "${candidates[@]}"; do
        [ -d "$dir" ] || continue
        lib="$(find "$dir" -name 'libvulkan.so.1*' \( -type f -o -type l \) 2>/dev/null | head -n 1)"
        if [ -z "$lib" ]; then
            # Unpack any .deb there (dpkg-deb, or ar + tar without dpkg).
            debs=("$dir"/*.deb)
            if [ -e "${debs[0]}" ]; then
                root="$out/vulkan-root"
                mkdir -p "$root"
                for deb in "${debs[@]}"; do
                    if command -v dpkg-deb >/dev/null 2>&1; then
                        dpkg-deb -x "$deb" "$root"
                    elif command -v ar >/dev/null 2>&1; then
                        tmp="$(mktemp -d)"
                        (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$root")
                        rm -rf "$tmp"
                    fi
                done
                lib="$(find "$root" -name 'libvulkan.so.1*' \( -type f -o -type l \) 2>/dev/null | head -n 1)"
            fi
        fi
        if [ -n "$lib" ]; then
            found="$(dirname "$lib")"
            break
        fi
    done
    if [ -n "$found" ]; then
        [ -e "$found/libvulkan.so.1" ] || ln -sf "$(basename "$lib")" "$found/libvulkan.so.1" 2>/dev/null || true
        export LD_LIBRARY_PATH="$found${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "gpu-bench: Vulkan loader from $found" >&2
    else
        echo "gpu-bench: no Vulkan loader on this system; pass --loader DIR (libvulkan.so.1 or libvulkan1 .deb files)" >&2
    fi
fi

# 3. The NVIDIA driver manifest, when the loader would not find it.
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ]; then
    icd=""
    for d in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        for f in "$d"/nvidia*.json; do
            [ -e "$f" ] && icd="$f" && break 2
        done
    done
    if [ -z "$icd" ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    elif [ -z "$icd" ] && command -v ldconfig >/dev/null 2>&1 \
        && ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0'; then
        cat > "$out/nvidia_icd.json" <<'JSON'
{ "file_format_version": "1.0.0", "ICD": { "library_path": "libGLX_nvidia.so.0", "api_version": "1.3.0" } }
JSON
        export VK_DRIVER_FILES="$out/nvidia_icd.json"
    fi
    if [ -n "${VK_DRIVER_FILES:-}" ]; then
        echo "gpu-bench: driver manifest $VK_DRIVER_FILES" >&2
    fi
fi
export WGPU_POWER_PREF="${WGPU_POWER_PREF:-high}"

# 4. Run.
"$bin" info > "$out/info.txt" 2>&1 || true
set +e
"$bin" bench --json "$out/bench.json" --report "$out/report" ${bench_args[@]+"${bench_args[@]}"} \
    2> "$out/bench.log" | tee "$out/bench.txt"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
    echo "gpu-bench: the bench failed (exit $status); its log:" >&2
    tail -n 30 "$out/bench.log" >&2
    cat "$out/info.txt" >&2
    exit "$status"
fi
adapter="$(grep -m 1 '^adapter:' "$out/bench.txt" || true)"
echo
echo "$adapter"
if echo "$adapter" | grep -qi 'Cpu\|llvmpipe\|lavapipe\|swiftshader'; then
    echo "gpu-bench: WARNING: the adapter is a software one; the adapters found:" >&2
    cat "$out/info.txt" >&2
fi
echo "results: $out/bench.json, $out/bench.txt, $out/report/report.md"
exit "$status"
