#!/usr/bin/env bash
# ctest package_boot_test: the .deb's units under a real systemd. Builds the
# .deb (cpack), installs it with dpkg into a throwaway overlay of / (a private
# mount namespace: the box's own / is never written), writes the three config
# files there, boots that tree with systemd-nspawn (its own network namespace,
# so fixed ports collide with nothing) and, inside, checks that:
#  - the tracker and seeder come up from /etc/spate/*.conf as user spate,
#    NoNewPrivileges, with the raised LimitNOFILE;
#  - `spate upload` then `spate push` land the artifact through the fetcher's
#    unit in /srv/releases/NAME/current, byte for byte;
#  - the sandbox holds: / read-only for the daemons, their state dirs and the
#    fetcher's /srv/releases writable, /tmp private;
#  - `systemctl reload spate-tracker` reaches it (SIGHUP), a killed tracker is
#    restarted (Restart=on-failure), `systemctl stop` ends each daemon with
#    exit 0, a bad key in fetcher.conf fails the unit with exit 2 and no
#    restart loop (RestartPreventExitStatus=2);
#  - no sanitizer report reached the journal (builds with -DSPATE_SANITIZE).
# Needs root (mounts) and systemd-nspawn (systemd-container; scripts/install-deps).
# Usage: tests/package_boot_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: package_boot_test.sh BUILD_DIR}" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
for t in cpack:cmake systemd-nspawn:systemd-container unshare:util-linux; do
  command -v "${t%%:*}" >/dev/null || { echo "SKIP: ${t%%:*} not found (apt-get install ${t#*:}; scripts/install-deps does)" >&2; exit 77; }
done
if [ "$(id -u)" -ne 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
  echo "SKIP: needs root and unshare -m to mount the throwaway overlay (CI runs as root)" >&2; exit 77
fi
[ -x "$build/spate" ] || fail "$build/spate not built"

tmp=$(mktemp -d /tmp/spate-boot-test.XXXXXX)
cleanup() { if [ "${SPATE_KEEP_TEST_DIRS:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi; }
trap cleanup EXIT

timeout 180 cpack --config "$build/CPackConfig.cmake" -B "$tmp/cpack" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; fail "cpack"; }
cp "$tmp"/cpack/spate_*.deb "$tmp/spate.deb"

# Runs in the booted container (a oneshot unit); its output is the verdict.
cat >"$tmp/check.sh" <<'EOF'
#!/bin/bash
set -uo pipefail
exec >/root/boot-result 2>&1
export SPATE_ADMIN_TOKEN=admin SPATE_UPLOAD_TOKEN=upload
fail() {
  echo "FAIL: $*"
  systemctl --no-pager status spate-tracker spate-seeder spate-fetcher
  systemctl poweroff 2>/dev/null; exit 1
}
ok() { echo "ok: $*"; }
wait_for() { for _ in $(seq 100); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

wait_for 'curl -sf http://127.0.0.1:7070/stats' || fail "tracker not serving"
wait_for 'curl -s http://127.0.0.1:7080/' || fail "seeder not serving"
wait_for '[ -s /var/lib/spate/seeder/seeder.pub ]' || fail "seeder wrote no seeder.pub"
# What an admin does: hand the seeder's public key to the fetcher, then start it.
install -m 0644 /var/lib/spate/seeder/seeder.pub /etc/spate/seeder.pub
systemctl start spate-fetcher || fail "start spate-fetcher"
wait_for 'curl -s -H "Authorization: Bearer admin" http://127.0.0.1:7070/api/v1/hosts | grep -q 127.0.0.2' ||
  fail "fetcher never checked in"

for u in tracker seeder fetcher; do
  pid=$(systemctl show -p MainPID --value spate-$u)
  [ "$pid" -gt 0 ] || fail "spate-$u not running"
  [ "$(ps -o user= -p "$pid")" = spate ] || fail "spate-$u runs as $(ps -o user= -p "$pid")"
  grep -q 'NoNewPrivs:[[:space:]]*1' /proc/"$pid"/status || fail "spate-$u without NoNewPrivs"
  soft=$(awk '/Max open files/ {print $4}' /proc/"$pid"/limits)
  # The unit's LimitNOFILE, or the box's hard limit if that is lower.
  [ "$soft" -gt 1024 ] || fail "spate-$u LimitNOFILE not applied: $soft"
  ok "spate-$u pid $pid user spate, NoNewPrivs, $soft open files"
done

head -c 3000000 /dev/urandom >/tmp/artifact
timeout 60 spate upload /tmp/artifact --name web --version 1.0 --seeder http://127.0.0.1:7080 >/dev/null || fail "spate upload"
timeout 90 spate push web@1.0 --tracker http://127.0.0.1:7070 --timeout 60s >/root/push.log 2>&1 || { cat /root/push.log; fail "spate push"; }
tail -1 /root/push.log
wait_for 'cmp /tmp/artifact /srv/releases/web/current/web' || fail "/srv/releases/web/current/web is not the artifact"
[ "$(stat -c %U /srv/releases/web/1.0/web)" = spate ] || fail "installed file not owned by spate"
ok "upload, push, installed in /srv/releases/web/current by the fetcher's unit"

in_unit() { nsenter -t "$(systemctl show -p MainPID --value "spate-$1")" -m -S "$(id -u spate)" -G "$(id -g spate)" sh -c "$2"; }
for u in tracker seeder fetcher; do
  for p in /etc/spate-x /usr/spate-x /var/lib/spate-x; do
    in_unit $u "touch $p" 2>/dev/null && fail "spate-$u can write $p"
  done
  in_unit $u "touch /var/lib/spate/$u/.w && rm /var/lib/spate/$u/.w" || fail "spate-$u cannot write /var/lib/spate/$u"
  in_unit $u '[ ! -e /tmp/artifact ]' || fail "spate-$u sees the host's /tmp"
done
in_unit fetcher 'touch /srv/releases/.w && rm /srv/releases/.w' || fail "spate-fetcher cannot write /srv/releases"
in_unit tracker 'touch /srv/releases/.w' 2>/dev/null && fail "spate-tracker can write /srv/releases"
ok "read-only /, writable state dirs and /srv/releases (fetcher only), private /tmp"

systemctl reload spate-tracker || fail "systemctl reload spate-tracker"
wait_for 'journalctl -u spate-tracker --no-pager | grep -q SIGHUP' || fail "tracker did not see the reload's SIGHUP"
old=$(systemctl show -p MainPID --value spate-tracker)
kill -9 "$old"
wait_for '[ "$(systemctl show -p NRestarts --value spate-tracker)" = 1 ] && [ "$(systemctl is-active spate-tracker)" = active ]' ||
  fail "killed tracker not restarted"
wait_for 'curl -sf http://127.0.0.1:7070/stats' || fail "restarted tracker not serving"
ok "reload reaches the tracker; a killed tracker is restarted"

for u in fetcher seeder tracker; do
  systemctl stop spate-$u
  state=$(systemctl show -p Result,ExecMainStatus spate-$u | sort | tr '\n' ' ')
  [ "$state" = "ExecMainStatus=0 Result=success " ] || fail "spate-$u on stop: $state"
done
ok "each daemon exits 0 on systemctl stop"

echo "colour = blue" >>/etc/spate/fetcher.conf
systemctl start spate-fetcher
sleep 5  # RestartSec=2s: a restart would have happened by now
state=$(systemctl show -p ActiveState,ExecMainStatus,NRestarts spate-fetcher | sort | tr '\n' ' ')
[ "$state" = "ActiveState=failed ExecMainStatus=2 NRestarts=0 " ] || fail "after a bad config: $state"
journalctl -u spate-fetcher --no-pager | grep -q "fetcher.conf:[0-9]*: unknown key 'colour'" || fail "no file:line error in the journal"
ok "a bad key in fetcher.conf: exit 2, named in the journal, not restarted"
! journalctl --no-pager -u 'spate-*' | grep -E 'Sanitizer|runtime error:' || fail "sanitizer reports in the journal"
echo PASS
systemctl poweroff 2>/dev/null
EOF

cat >"$tmp/boot.sh" <<'EOF'
set -euo pipefail
t=$1
m=$t/ov/merged
mkdir -p "$t/ov/upper" "$t/ov/work" "$m"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/ov/upper,workdir=$t/ov/work" "$m"
cp "$t/spate.deb" "$t/check.sh" "$m/root/"
mount -t proc proc "$m/proc"
mount --bind /dev "$m/dev"
chroot "$m" /bin/bash -s >"$t/setup.log" 2>&1 <<'IN'
set -euo pipefail
rm -f /var/lib/man-db/auto-update  # the man index rebuild: seconds, for nothing
dpkg -i /root/spate.deb
cat >/etc/spate/tracker.conf <<C
listen = 127.0.0.1:7070
db = /var/lib/spate/tracker/tracker.db
admin-token = admin
C
cat >/etc/spate/seeder.conf <<C
listen = 127.0.0.1:7080
data-dir = /var/lib/spate/seeder
tracker = http://127.0.0.1:7070
upload-token = upload
tracker-token = admin
peer-port = 6881
C
# The host needs an address of its own, apart from the origin's (as each
# host in scripts/demo has its 127.0.R.H).
cat >/etc/spate/fetcher.conf <<C
bind = 127.0.0.2
tracker = http://127.0.0.1:7070
data-dir = /var/lib/spate/fetcher
install-dir = /srv/releases
trusted-key = /etc/spate/seeder.pub
min-free = off
peer-port = 6882
C
chown root:spate /etc/spate/*.conf
chmod 0640 /etc/spate/*.conf
# Under -DSPATE_SANITIZE the packaged binary carries ASan. LeakSanitizer's
# scan at exit stops threads with ptrace, which the units' SystemCallFilter=
# answers with SIGSYS, and the daemon then hangs in its stop. Leaks are the
# other tests' business; here only the journal is searched for reports.
if ldd /usr/bin/spate | grep -q libasan; then
  for u in tracker seeder fetcher; do
    mkdir -p /etc/systemd/system/spate-$u.service.d
    printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >/etc/systemd/system/spate-$u.service.d/asan.conf
  done
fi
cat >/etc/systemd/system/spate-check.service <<C
[Unit]
After=spate-tracker.service spate-seeder.service
[Service]
Type=oneshot
ExecStart=/bin/bash /root/check.sh
C
# Boot only what the test needs, not every unit the box has enabled.
cat >/etc/systemd/system/spate-test.target <<C
[Unit]
Wants=spate-tracker.service spate-seeder.service spate-check.service
C
IN
umount "$m/proc" "$m/dev"
timeout 180 systemd-nspawn -q -D "$m" --register=no --keep-unit --link-journal=no --private-network \
  --boot -- systemd.unit=spate-test.target >"$t/console.log" 2>&1 || echo "systemd-nspawn exit $?" >>"$t/console.log"
cp "$m/root/boot-result" "$t/boot-result" 2>/dev/null || true
EOF
timeout 240 unshare -m --propagation private bash "$tmp/boot.sh" "$tmp" || { cat "$tmp/setup.log" >&2; fail "setting up the overlay"; }
if [ ! -f "$tmp/boot-result" ]; then
  tail -40 "$tmp/console.log" >&2
  fail "the container never ran the checks (console above)"
fi
cat "$tmp/boot-result"
grep -qx PASS "$tmp/boot-result" || fail "checks in the booted container"
