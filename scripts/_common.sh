# Shared by the scripts in this folder: where things live and how to pick a Python.
# shellcheck shell=bash
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${PTZ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ptz_email_alert}"
VENV_OLDEST="$REPO_ROOT/.venv"
VENV_LATEST="$REPO_ROOT/.venv-latest"
CHROOT_DIR="$CACHE_DIR/sid"
CHROOT_VENV="/opt/ptz-venv"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A Python 3.13.x for Home Assistant 2025.4 (python3.13 on PATH, or pyenv's 3.13).
find_python_313() {
  local candidate
  for candidate in python3.13 "$(PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null || true)"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# A Python 3.14.2+ for the newest Home Assistant, if this machine has one.
find_python_314() {
  local candidate
  for candidate in python3.14 "$(PYENV_VERSION=3.14 pyenv which python 2>/dev/null || true)"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Run a command inside the Debian sid chroot with the repository mounted at /src.
# Everything mounted here is unmounted again, also on failure or Ctrl-C.
chroot_run() {
  local mounts=()
  cleanup_mounts() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
      umount -l "${mounts[$i]}" 2>/dev/null || true
    done
  }
  trap cleanup_mounts EXIT INT TERM
  mkdir -p "$CHROOT_DIR/src" "$CHROOT_DIR/proc" "$CHROOT_DIR/dev"
  mount --bind "$REPO_ROOT" "$CHROOT_DIR/src" && mounts+=("$CHROOT_DIR/src")
  mount -t proc proc "$CHROOT_DIR/proc" && mounts+=("$CHROOT_DIR/proc")
  mount --rbind /dev "$CHROOT_DIR/dev" && mounts+=("$CHROOT_DIR/dev")
  cp -L /etc/resolv.conf "$CHROOT_DIR/etc/resolv.conf" 2>/dev/null || true
  # pip inside trusts what the host trusts (some networks re-sign TLS with their own CA).
  cp -L "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$CHROOT_DIR/etc/host-ca.crt" 2>/dev/null || true
  local status=0
  chroot "$CHROOT_DIR" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH="$CHROOT_VENV/bin:/usr/local/bin:/usr/bin:/bin" \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 CI="${CI:-}" \
    PIP_CERT=/etc/host-ca.crt ${PIP_INDEX_URL:+PIP_INDEX_URL="$PIP_INDEX_URL"} \
    /bin/sh -c "cd /src && $*" || status=$?
  cleanup_mounts
  trap - EXIT INT TERM
  return "$status"
}
