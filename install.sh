#!/usr/bin/env bash
# Set face3d up from scratch and run the main job on an example photo.
#
#   ./install.sh                  download the third-party assets (ICT-FaceKit, MediaPipe landmarker)
#   ./install.sh --from DIR       offline: take them from DIR (laid out like shared/, see README)
#
# Creates .venv/, installs the CPU build of torch first (so pip never pulls a CUDA build), then face3d
# with its test extras, installs the assets and fits the example photo into out/example/.
set -euo pipefail
cd "$(dirname "$0")"
FROM=()
EXAMPLE_DIR=../shared
if [[ "${1:-}" == "--from" ]]; then
    FROM=(--from "$2")
    EXAMPLE_DIR=$2
fi
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[test,usd,ray]'
.venv/bin/face3d assets install "${FROM[@]}"
# three.js and the Khronos glTF validator (pinned) for the tests' checks of exported GLBs
if command -v npm >/dev/null; then npm ci --prefix tools/threejs_check --no-audit --no-fund --silent; fi
if [[ -f "$EXAMPLE_DIR/faces/astronaut.png" ]]; then
    .venv/bin/face3d fit "$EXAMPLE_DIR/faces/astronaut.png" -o out/example
else
    .venv/bin/face3d model export --identity random --seed 1 --expression jawOpen=0.4 mouthSmileLeft=0.6 \
        mouthSmileRight=0.6 -o out/example/face.glb
fi
echo "face3d is ready: . .venv/bin/activate; outputs in out/example/"
