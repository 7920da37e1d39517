#!/usr/bin/env bash
# Create .venv/ with the pinned stack (../shared/specs/stack.md) and mmdet_ext installed editable.
# Idempotent: a stamp records what was installed; a second run only re-checks the imports.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
# The mmcv wheel takes ~12 min to build: keep it outside the repo so no machine builds it twice.
WHEEL_CACHE="${MMDET_EXT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdet_ext/wheels}"
STAMP="$VENV/.mmdet_ext_setup"
want_stamp="$(cat requirements.txt pyproject.toml tools/setup_env.sh | sha256sum | cut -d' ' -f1)"

check_stack() {
  "$VENV/bin/python" - <<'PY'
import sys
try:
    import mmcv._ext  # noqa: F401  compiled ops; an isolated build silently drops them
except ImportError as e:
    sys.exit(f'FATAL: mmcv was installed without its compiled ops (mmcv._ext): {e}.\n'
             'Delete the cached mmcv wheel and .venv/, then run tools/setup_env.sh again.')
import mmdet, mmengine, mmrotate, torch, torchvision, pkg_resources  # noqa: F401
import mmdet_ext  # noqa: F401
print(f'stack ok: torch {torch.__version__}, mmcv ok, mmengine {mmengine.__version__}, '
      f'mmdet {mmdet.__version__}, mmrotate {mmrotate.__version__}')
PY
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
  check_stack && exit 0
  echo "setup stamp present but the stack is broken: reinstalling" >&2
fi

log() { printf '\n[setup] %s\n' "$*"; }
[[ -x "$VENV/bin/python" ]] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q "setuptools>=77,<81" wheel ninja

log "torch + torchvision (exact pins; an open range pulls a newer multi-GB build)"
"${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1

mkdir -p "$WHEEL_CACHE"
MMCV_WHEEL="$(ls "$WHEEL_CACHE"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$MMCV_WHEEL" ]]; then
  log "building mmcv 2.1.0 with compiled ops (about 12 minutes on 2 cores)"
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d "$BUILD"
  tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
  # torch 2.14's ATen headers require C++20; mmcv 2.1.0 hard-codes -std=c++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"
  grep -q -- '-std=c++20' "$BUILD/mmcv-2.1.0/setup.py" || { echo "FATAL: could not patch mmcv setup.py" >&2; exit 1; }
  # No build isolation: an isolated build cannot see torch and silently skips the ops.
  (cd "$BUILD/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" \
     "${PIP[@]}" wheel --no-build-isolation --no-deps . -w "$BUILD/dist")
  cp "$BUILD"/dist/mmcv-2.1.0-*.whl "$WHEEL_CACHE/"
  MMCV_WHEEL="$(ls "$WHEEL_CACHE"/mmcv-2.1.0-*.whl | head -n1)"
fi
log "installing $MMCV_WHEEL and the rest"
"${PIP[@]}" install -q "$MMCV_WHEEL"
"${PIP[@]}" install -q -r requirements.txt
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
# Other packages can pull setuptools past 80; mmengine needs pkg_resources for mmdet:: bases.
"${PIP[@]}" install -q "setuptools>=77,<81"
check_stack
echo "$want_stamp" > "$STAMP"
log "done"
