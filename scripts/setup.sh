#!/usr/bin/env bash
# One-step set-up of HERO-ROS on a fresh machine: creates .venv in the repository root, installs torch, the
# Python dependencies and the ROS 2 Kilted wheels, builds hero_msgs into the venv and installs hero_model and
# hero_ros editable. Idempotent: when nothing it depends on changed, a second run returns in about a second.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY=${HERO_PYTHON:-python3.11}
STAMP="$VENV/.hero-setup-stamp"
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)

# Everything the result depends on; a change to any of these re-runs the affected steps.
inputs_hash() {
  cat "$ROOT/scripts/setup.sh" "$ROOT/requirements.txt" "$ROOT/pyproject.toml" "$ROOT/hero_ros/setup.py" \
    "$ROOT"/hero_msgs/CMakeLists.txt "$ROOT"/hero_msgs/package.xml "$ROOT"/hero_msgs/msg/* "$ROOT"/hero_msgs/srv/* \
    | sha256sum | cut -d' ' -f1
}

want=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

log() { printf '[setup] %s\n' "$*"; }
t0=$(date +%s)

if ! command -v "$PY" >/dev/null 2>&1; then
  PY=python3
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check --no-input -q)
# pip >= 24 builds setup.py projects through PEP 517, which honours the editable_mode setting used below.
"$VPY" -c "import sys, pip; sys.exit(int(pip.__version__.split('.')[0]) < 24)" || "${PIP[@]}" install -U "pip>=24"

if ! "$VPY" -c "import torch, torchvision, sys; sys.exit(0 if torch.__version__.startswith('2.14.1') else 1)" 2>/dev/null; then
  log "installing ${TORCH_PINS[*]}"
  "${PIP[@]}" install "${TORCH_PINS[@]}"
fi

log "installing requirements.txt"
# The torch pins are repeated so that no dependency can pull a different (multi-GB) torch build.
"${PIP[@]}" install -r "$ROOT/requirements.txt" "${TORCH_PINS[@]}"

# The Unitree G1 MJCF and meshes ship in the mjlab wheel; --no-deps because importing mjlab itself is never needed
# (hero_model finds the files with importlib.util.find_spec) and its dependencies are heavy (reference.md section 8).
"$VPY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('mjlab') is None)" 2>/dev/null \
  || "${PIP[@]}" install --no-deps "mjlab==1.6.0"

# Headless MuJoCo rendering uses EGL with Mesa's software renderer (MUJOCO_GL=egl); install the libraries when the
# machine lacks them and we may (root with apt-get). Without them everything except offscreen rendering still works.
GL_PKGS=(libegl1 libgl1 libosmesa6)
if ! dpkg -s "${GL_PKGS[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${GL_PKGS[*]} (headless MuJoCo rendering)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${GL_PKGS[@]}") >/dev/null \
      || log "warning: could not install ${GL_PKGS[*]}; MuJoCo offscreen rendering will be unavailable"
  else
    log "warning: ${GL_PKGS[*]} missing (install them for MuJoCo offscreen rendering)"
  fi
fi

# The ROS wheels' CMake files name the include directories of the machine that built them; point them at ours
# (reference.md section 6).
PY_INC=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NP_INC=$("$VPY" -c "import numpy; print(numpy.get_include())")
log "rewriting wheel CMake include paths -> $PY_INC, $NP_INC"
{ grep -rlE '/opt/python/cp[0-9]+-cp[0-9]+' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
  sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include#${NP_INC}#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#${PY_INC}#g" "$f"
done

log "building hero_msgs into the venv"
export AMENT_PREFIX_PATH="$VENV"
export PATH="$VENV/bin:$PATH"
BUILD="$ROOT/build/hero_msgs"
rm -rf "$BUILD"; mkdir -p "$ROOT/build"
cmake -S "$ROOT/hero_msgs" -B "$BUILD" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$ROOT/build/hero_msgs.cmake.log" 2>&1 \
  || { cat "$ROOT/build/hero_msgs.cmake.log"; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" >"$ROOT/build/hero_msgs.build.log" 2>&1 \
  || { tail -50 "$ROOT/build/hero_msgs.build.log"; exit 1; }
cmake --install "$BUILD" >/dev/null

log "installing hero_model and hero_ros (editable)"
# compat mode: a .pth path entry, so that hero_ros/hero_ros wins over the namespace-package look-alike
# that the outer hero_ros/ folder would otherwise be when Python runs from the repository root.
"${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT" -e "$ROOT/hero_ros" \
  --config-settings editable_mode=compat

# ROS safety variables and the ament prefix for every shell that activates the venv.
ACT="$VENV/bin/activate"
if ! grep -q 'hero-ros env' "$ACT"; then
  cat >>"$ACT" <<EOF_ACT
# hero-ros env: loopback-only discovery, logs in a temp dir, ament index in the venv
export AMENT_PREFIX_PATH="$VENV"
. "$ROOT/scripts/ros_env.sh"
EOF_ACT
fi

"$VPY" - <<'EOF_CHECK'
import importlib
for name in ("torch", "open_clip", "rclpy", "hero_msgs.msg", "hero_model", "hero_ros"):
    importlib.import_module(name)
EOF_CHECK

echo "$want" >"$STAMP"
log "done in $(( $(date +%s) - t0 )) s"
