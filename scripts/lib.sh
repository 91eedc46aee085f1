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
# (tauri-driver plus Debian's WebKitWebDriver); a session bus with an unlocked keyring for the
# single-instance plugin and the stored sign-in (dbus-run-session, gnome-keyring); screenshots of
# the whole screen (imagemagick's import); `rpm -qip` to read the .rpm that scripts/bundle makes
# (Tauri writes the .deb and .rpm itself, with no packaging tools).
ensure_desktop_tools() {
  apt_install libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
    libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libssl-dev file xvfb xauth webkit2gtk-driver \
    dbus-x11 gnome-keyring imagemagick rpm xdotool
  command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked --quiet
}

# PostgreSQL for the store tests (and `fieldsync bench push --compare`): installed if missing,
# its cluster started if it is not running (nothing is done when it is), then a role the tests
# can sign in as over TCP. The tests use postgres@127.0.0.1:5432 without a password where the
# server trusts local connections; elsewhere a password role is made and FIELDSYNC_TEST_PG
# names it.
ensure_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version" >&2
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    local waited=0
    until pg_isready -q -h 127.0.0.1 -p 5432; do
      waited=$((waited + 1))
      if [ "$waited" -gt 60 ]; then
        echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
        return 1
      fi
      sleep 0.5
    done
  fi
  if [ -z "${FIELDSYNC_TEST_PG:-}" ] \
    && ! psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    local as_postgres="runuser -u postgres --"
    [ "$(id -u)" -ne 0 ] && as_postgres="sudo -u postgres"
    $as_postgres psql -Atqc "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fieldsync_test') THEN
          CREATE ROLE fieldsync_test LOGIN CREATEDB PASSWORD 'fieldsync_test';
        END IF;
      END \$\$;" >/dev/null
    export FIELDSYNC_TEST_PG="postgres://fieldsync_test:fieldsync_test@127.0.0.1:5432"
  fi
}
