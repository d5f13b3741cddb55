#!/usr/bin/env bash
# Set-up and everyday commands. Installs what is missing (ffmpeg and Python's venv from apt, the
# Python packages into ./.venv), then runs the command:
#   ./dev.sh run    – the Telegram bot (BOT_TOKEN from the environment or .env)
#   ./dev.sh demo   – embed a generated sample track, no Telegram needed
#   ./dev.sh test   – ruff, mypy, then the whole test suite
#   ./dev.sh bench  – the speed, memory and indexing-throughput benchmarks
#   ./dev.sh test-scale – installs the optional scale-out parts, the vector index
#                         (requirements-scale.txt) and Ray (requirements-ray.txt), then runs
#                         their tests (which skip without them; the Ray tests start a two-node
#                         Ray cluster on this machine); CI runs it after `test`
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@"
}

system_packages() {
    local missing=()
    command -v ffmpeg >/dev/null || missing+=(ffmpeg)
    command -v prlimit >/dev/null || missing+=(util-linux)  # ffmpeg's memory ceiling
    if [ -z "$PYTHON" ]; then
        missing+=(python3.11 python3.11-venv)
    elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=("$(basename "$PYTHON")-venv")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing system packages: ${missing[*]}"
        apt_install "${missing[@]}"
        PYTHON=${PYTHON:-$(command -v python3.11)}
    fi
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
}

python_packages() {
    local stamp=$VENV/.installed
    if [ -f "$stamp" ] && [ "$stamp" -nt requirements.txt ] && [ "$stamp" -nt requirements-dev.txt ] \
        && [ "$stamp" -nt requirements-models.txt ]; then
        return
    fi
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r requirements.txt -r requirements-dev.txt
    "$VENV/bin/python" -m pip install -q --no-deps -r requirements-models.txt
    touch "$stamp"
}

setup() {
    system_packages
    python_packages
}

sample() {
    # 30 s of a plucked chord progression, made by ffmpeg: no audio ships with the project
    mkdir -p data
    local path=data/sample.mp3
    [ -f "$path" ] || ffmpeg -nostdin -v error -f lavfi -i \
        "aevalsrc='0.2*(sin(2*PI*220*t)+sin(2*PI*277*t)+sin(2*PI*330*t)*gt(mod(t,2),1))*exp(-3*mod(t,0.5))':s=44100:d=30" \
        -ac 2 -b:a 192k "$path"
    echo "$path"
}

case "${1:-}" in
    run)
        setup
        exec "$VENV/bin/python" -m bot
        ;;
    demo)
        setup
        exec "$VENV/bin/python" -m bot embed "$(sample)"
        ;;
    test)
        setup
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"
        # one test file per process at a time (module fixtures stay whole), as many as cores
        exec "$VENV/bin/python" -m pytest -q -n auto --dist loadfile
        ;;
    test-scale)
        setup
        "$VENV/bin/python" -m pip install -q -r requirements-scale.txt -r requirements-ray.txt
        exec "$VENV/bin/python" -m pytest -q tests/core/test_index.py tests/catalog/test_catalog_index.py \
            tests/core/test_ray_embedding.py tests/bot/test_ray_bot.py tests/bot/test_embedders.py \
            tests/core/test_ray_connect.py
        ;;
    bench)
        setup
        "$VENV/bin/python" bench/embedding_speed.py
        exec "$VENV/bin/python" bench/import_speed.py
        ;;
    setup)
        setup
        ;;
    *)
        echo "usage: ./dev.sh run|demo|test|test-scale|bench|setup" >&2
        exit 2
        ;;
esac
