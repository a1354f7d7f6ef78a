# Shared set-up for rampart's scripts: root, system packages, Rust toolchain.
# Sourced, not run.

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: needs root (the lab creates network namespaces, mounts and containers); run it as root" >&2
    exit 2
  fi
}

# Installs the Debian packages that are missing, with one apt run.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_rust() {
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "$0: needs a Rust toolchain (1.89 or newer) with cargo on PATH; see https://rustup.rs" >&2
    exit 2
  fi
}

# What the lab and the build need on the machine.
LAB_PACKAGES=(bc systemd-container debootstrap iproute2 nftables openssh-client mount ca-certificates gcc libc6-dev pkg-config)
