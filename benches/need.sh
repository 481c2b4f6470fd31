# Sourced by the bench scripts: `install_packages PKG...` installs the
# Debian packages named (apt-get, through sudo when not root; nothing when
# none are named) and leaves SUDO set for what the caller does after.
install_packages() {
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  [ $# -gt 0 ] || return 0
  echo "$0: installing $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
