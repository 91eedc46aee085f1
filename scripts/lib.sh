# Shared set-up for the scripts: install what a fresh Debian machine lacks.

# Installs the given Debian packages if any is missing (as root, or with sudo).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_build_tools() {
  apt_install build-essential pkg-config
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust with rustup (https://rustup.rs) and run this again" >&2
    exit 1
  fi
}

# Node for the UI (Debian's, if the machine has none) and Debian's Chromium for its browser
# tests; the UI's packages come from its lock file.
ensure_ui_tools() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  apt_install chromium
}

build_ui() {
  ensure_ui_tools
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}

# What the Tauri desktop shell needs to build, and to be driven in a real window under Xvfb
# (tauri-driver plus Debian's WebKitWebDriver).
ensure_desktop_tools() {
  apt_install libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
    libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libssl-dev file xvfb xauth webkit2gtk-driver
  command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked --quiet
}
