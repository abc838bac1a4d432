#!/usr/bin/env bash
# Packaging and systemd: man pages render without warnings and document every config key,
# petrad option and petractl command; CPack builds a .deb with binaries, unit, sysusers,
# conffile, man pages and maintainer scripts; `systemd-analyze verify` accepts the unit
# (and rejects a broken copy, so the check can fail); the Grafana dashboard is valid JSON
# whose queries use only metrics petrad exports.
set -u
build=${PETRA_BIN:?}
src=${PETRA_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
ok() { if eval "$1"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

# man pages
for m in petrad.8 petractl.1 petra.1 petrad.conf.5; do
  w=$(groff -man -Tutf8 -ww -z "$src/deploy/man/$m" 2>&1)
  ok "[ -z \"\$w\" ] || { echo \"$m: \$w\"; false; }"
done
missing=""
for k in $("$build/petrad" --help-config | grep -E '^[a-z]' | awk '{print $1}' | grep -v '<property>,'); do
  grep -qF -- "$(echo "$k" | sed 's/-/\\-/g')" "$src/deploy/man/petrad.conf.5" || missing="$missing $k"
done
ok "[ -z '$missing' ] || { echo 'keys missing from petrad.conf.5:$missing'; false; }"
missing=""
for o in $("$build/petrad" --help | grep -oE -- '--[a-z-]+' | sort -u); do
  grep -qF -- "$(echo "$o" | sed 's/-/\\-/g')" "$src/deploy/man/petrad.8" || missing="$missing $o"
done
ok "[ -z '$missing' ] || { echo 'options missing from petrad.8:$missing'; false; }"
missing=""
for c in health status population pareto metrics pause resume evolve snapshot checkpoint reload loglevel; do
  grep -q "^\.B.* $c\b\|^\.B $c\|^\.BR $c\|^\.BI $c" "$src/deploy/man/petractl.1" || missing="$missing $c"
done
ok "[ -z '$missing' ] || { echo 'commands missing from petractl.1:$missing'; false; }"

missing=""
for c in $("$build/petra" --help | awk '/^commands:/{f=1; next} f && NF && $1 != "help" {print $1}'); do
  grep -q "^\.B $c\b\|^\.B $c$" "$src/deploy/man/petra.1" || missing="$missing $c"
done
ok "[ -z '$missing' ] || { echo 'commands missing from petra.1:$missing'; false; }"

# .deb
(cd "$tmp" && cpack -G DEB -B "$tmp/deb" --config "$build/CPackConfig.cmake" > "$tmp/cpack.log" 2>&1)
ok '[ $? -eq 0 ] || { tail "$tmp/cpack.log"; false; }'
deb=$(ls "$tmp"/deb/petra_*.deb 2>/dev/null | head -n1)
ok '[ -n "$deb" ]'
dpkg-deb -c "$deb" | awk '{print $6}' > "$tmp/files"
for f in ./usr/sbin/petrad ./usr/bin/petractl ./usr/bin/petra ./etc/petra/petrad.conf \
         ./usr/lib/systemd/system/petrad.service ./usr/lib/sysusers.d/petrad.conf \
         ./usr/share/man/man8/petrad.8 ./usr/share/man/man1/petractl.1 ./usr/share/man/man1/petra.1 \
         ./usr/share/man/man5/petrad.conf.5 ./usr/include/petra/snapshot.h; do
  ok "grep -qx -- '$f' '$tmp/files'"
done
ok "! grep -q '^./usr/etc' '$tmp/files'"
dpkg-deb -I "$deb" > "$tmp/info"
ok "grep -q 'Depends:.*librdkafka1.*libmicrohttpd12' '$tmp/info'"
ok "grep -q 'postinst' '$tmp/info' && grep -q 'conffiles' '$tmp/info'"
dpkg-deb -e "$deb" "$tmp/ctrl"
ok "grep -qx '/etc/petra/petrad.conf' '$tmp/ctrl/conffiles'"

# systemd-analyze verify on the unit, pointing at an installed petrad
cmake --install "$build" --prefix "$tmp/p" > /dev/null 2>&1
sed "s|/usr/sbin/petrad|$tmp/p/sbin/petrad|" "$src/deploy/petrad.service" > "$tmp/petrad.service"
out=$(systemd-analyze verify --man=no "$tmp/petrad.service" 2>&1)
ok "[ -z \"\$out\" ] || { echo \"\$out\"; false; }"
for k in Type=notify WatchdogSec= Restart=on-failure StateDirectory= RuntimeDirectory= ConfigurationDirectory= \
         ProtectSystem=strict ProtectHome= PrivateTmp= NoNewPrivileges= "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
         SystemCallFilter=@system-service MemoryMax= LimitNOFILE=; do
  ok "grep -q '^$k' '$src/deploy/petrad.service'"
done
sed 's/^Type=notify/Type=notfy/' "$tmp/petrad.service" > "$tmp/broken.service"
out=$(systemd-analyze verify --man=no "$tmp/broken.service" 2>&1)
ok "echo \"\$out\" | grep -qi 'notfy'"

# Grafana dashboard
python3 - "$src/deploy/grafana/petrad-dashboard.json" "$src/daemon/petrad/control.c" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
src = open(sys.argv[2]).read()
exported = set(re.findall(r'"(petra_[a-z0-9_]+)"', src))
bad = []
for p in d["panels"]:
    for t in p["targets"]:
        for m in re.findall(r"petra_[a-z0-9_]+", t["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", m)
            if m not in exported and base not in exported:
                bad.append(m)
if bad:
    print("FAIL: dashboard uses metrics petrad does not export:", sorted(set(bad)))
    sys.exit(1)
PY
ok '[ $? -eq 0 ]'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
