#!/usr/bin/env bash
# Create .venv/ and install the project into it. Idempotent: when pyproject.toml and constraints.txt have not
# changed since the last successful install (see .venv/.rag-installed), pip is not run at all.
#
#   scripts/setup.sh            # project + dev tools (pytest, ruff, mypy, fpdf2)
#   scripts/setup.sh --no-dev   # project only
#
# Environment: PYTHON picks the interpreter for a new venv (default: python3.11, python3.12, then python3).
# TORCH_INDEX_URL adds an extra index for the torch wheels, e.g. https://download.pytorch.org/whl/cpu for
# CPU-only builds without the CUDA libraries.
set -euo pipefail

TORCH_PINS=(torch==2.14.1 torchvision==0.29.1 torchcodec==0.16.0)

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

extras="[dev]"
for arg in "$@"; do
    case "$arg" in
        --no-dev) extras="" ;;
        -h | --help)
            sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 0
            ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

venv=.venv
stamp="$venv/.rag-installed"

python_fits() {
    "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_fits "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# 1. Virtual environment.
if [[ -x "$venv/bin/python" ]] && python_fits "$venv/bin/python"; then
    :
else
    if [[ -e "$venv" ]]; then
        die "$venv exists but has no working Python 3.11/3.12; remove it and run again"
    fi
    python=$(find_python) || die "no Python 3.11 or 3.12 found (tried \$PYTHON, python3.11, python3.12, python3)"
    log "creating $venv with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$venv"
fi

# 2. ffmpeg, which torchcodec needs to decode video.
if ! command -v ffmpeg >/dev/null 2>&1; then
    log "ffmpeg not found; installing it with apt-get"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        if [[ -t 0 ]]; then sudo_cmd=(sudo); else sudo_cmd=(sudo -n); fi
    fi
    if command -v apt-get >/dev/null 2>&1 &&
        ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends ffmpeg >&2; then
        log "ffmpeg installed"
    else
        log "warning: could not install ffmpeg; video ingest will be unavailable (install ffmpeg and run again)"
    fi
fi

# 3. Python packages, skipped when the stamp matches.
[[ -f constraints.txt ]] || die "constraints.txt is missing"
wanted=$("$venv/bin/python" - "$extras" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
for name in ("pyproject.toml", "constraints.txt"):
    with open(name, "rb") as f:
        h.update(name.encode() + b"\0" + f.read() + b"\0")
h.update(("extras=" + sys.argv[1]).encode())
print(h.hexdigest())
EOF
)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    log "dependencies up to date (delete $stamp to force a reinstall)"
    exit 0
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
torch_index=()
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then torch_index=(--extra-index-url "$TORCH_INDEX_URL"); fi

rm -f "$stamp"
log "installing ${TORCH_PINS[*]} (several minutes in a new venv)"
"${pip[@]}" install -c constraints.txt ${torch_index[@]+"${torch_index[@]}"} "${TORCH_PINS[@]}"
log "installing the project: -e .$extras"
"${pip[@]}" install -c constraints.txt -e ".$extras"
printf '%s\n' "$wanted" >"$stamp"
log "done; the commands are in $venv/bin"
