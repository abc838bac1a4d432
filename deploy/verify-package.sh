#!/usr/bin/env bash
# Installs a built petra .deb on this machine, checks what it installed, and removes it again:
#   deploy/verify-package.sh build-deb/petra_<version>_<arch>.deb
# Checks: the files are where the package says (programs, library, headers, petra.pc, unit,
# sysusers entry, conffile, man pages), `petrad --version`, `petrad --check-config` on the
# installed conffile, `systemd-analyze verify` on the installed unit, `pkg-config --libs petra`,
# the petra user created by the postinst. Needs root (CI runs as root); leaves the machine as it
# found it except for the petra system user.
set -euo pipefail
deb=${1:?usage: deploy/verify-package.sh PACKAGE.deb}
[ "$(id -u)" -eq 0 ] || { echo "verify-package: needs root (dpkg -i)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' petra 2>/dev/null | grep -q 'install ok installed'; then
  echo "verify-package: petra is already installed here; not touching it" >&2
  exit 2
fi
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > /tmp/verify-package.log 2>&1 || { tail -20 /tmp/verify-package.log; exit 1; }
trap 'dpkg --purge petra > /dev/null 2>&1 || true' EXIT
for f in /usr/sbin/petrad /usr/bin/petractl /usr/bin/petra /etc/petra/petrad.conf \
         /usr/lib/systemd/system/petrad.service /usr/lib/sysusers.d/petrad.conf \
         /usr/include/petra/snapshot.h /usr/include/petra/encoder.h /usr/share/man/man8/petrad.8 \
         /usr/share/man/man5/petrad.conf.5 /usr/share/man/man1/petra.1 /usr/share/petra/petra.proto; do
  ok "[ -e $f ]"
done
ok '/usr/sbin/petrad --version | grep -q "^petrad "'
ok '/usr/sbin/petrad --check-config --config /etc/petra/petrad.conf > /dev/null'
ok 'systemd-analyze verify /usr/lib/systemd/system/petrad.service'
ok 'pkg-config --libs petra | grep -q -- -lpetra'
ok 'ls /usr/lib/*/libpetra.so.0 > /dev/null'
ok 'id petra > /dev/null'
ok 'dpkg -L petra | grep -qx /etc/petra/petrad.conf'
echo "verify-package: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
