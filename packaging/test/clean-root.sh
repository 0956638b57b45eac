#!/usr/bin/env bash
# The package installed as a clinic would install it: a clean Debian 12 root made
# from Debian's packages (debootstrap), the .deb installed with apt so that its
# dependencies resolve, then inside that root, as an ordinary user:
#   1. the package one version older (this .deb relabelled 0.0.1) installed;
#      `frontdesk --version`, the man page, the desktop entry, icons, units;
#   2. `frontdesk init` on a fresh database and `frontdesk demo` on another;
#   3. upgraded to this version with apt: it says so, the data and keys open;
#   4. a database of an older Frontdesk (cli/tests/fixtures/schema-v8) upgraded, its
#      appointments kept, and the command says it upgraded;
#   5. a database of a newer Frontdesk refused, byte for byte unchanged;
#   6. the backup timer's own command line makes a backup;
#   7. the app's window under Xvfb reaches the first-run screen (WebDriver,
#      screenshot in target/e2e-screenshots/package-first-run.png);
#   8. removing the package keeps the data and says where it is.
# The .rpm is not installed (no RPM-based root here): its file list and
# dependencies are compared with the .deb's.
# Needs root (debootstrap, chroot, mounts). scripts/test.sh runs it after
# scripts/package.sh. The base root is kept in target/clean-root/base between runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '  package test: %s\n' "$*" >&2; }
fail() {
    printf 'package test FAILED: %s\n' "$*" >&2
    exit 1
}

deb=$(ls target/release/bundle/deb/*.deb 2>/dev/null | head -n1)
[[ -n $deb ]] || fail "no .deb in target/release/bundle/deb (run scripts/package.sh)"
version=$(dpkg-deb -f "$deb" Version)
package=$(dpkg-deb -f "$deb" Package)
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || fail "needs root (debootstrap, chroot) or sudo"
    exec sudo --preserve-env=PATH,CARGO_HOME "$0" "$@"
fi

host_tools=()
command -v debootstrap >/dev/null || host_tools+=(debootstrap)
command -v rpm >/dev/null || host_tools+=(rpm)
if ((${#host_tools[@]})); then
    apt-get install -y -qq --no-install-recommends "${host_tools[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${host_tools[@]}" >/dev/null; }
fi

# ---- 0. the .rpm holds what the .deb holds -------------------------------------------------
rpm_file=$(ls target/release/bundle/rpm/*.rpm 2>/dev/null | head -n1)
[[ -n $rpm_file ]] || fail "no .rpm in target/release/bundle/rpm"
deb_files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {p = $6; sub(/^\.?\/?/, "/", p); print p}' | sort)
rpm_files=$(rpm -qpl "$rpm_file" 2>/dev/null | sort)
[[ $deb_files == "$rpm_files" ]] ||
    fail "the .rpm and the .deb hold different files: $(diff <(echo "$deb_files") <(echo "$rpm_files"))"
rpm -qpR "$rpm_file" 2>/dev/null | grep -qx openssl-libs || fail "the .rpm does not depend on openssl-libs"
say "the .rpm holds the same $(wc -l <<<"$rpm_files") files as the .deb"

# ---- a clean Debian 12 root ----------------------------------------------------------
base=$PWD/target/clean-root/base
root=$PWD/target/clean-root/root
mkdir -p "$PWD/target/clean-root"
if [[ ! -f $base/.frontdesk-base-done ]]; then
    # the mirror this machine's own apt uses (its address is not written here)
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
        awk '$2 !~ /-/ {print $1; exit}')
    [[ -n $mirror ]] || fail "no Debian mirror in this machine's apt sources"
    say "debootstrap bookworm (minbase)"
    rm -rf "$base"
    debootstrap --variant=minbase bookworm "$base" "$mirror" >target/clean-root.debootstrap.log 2>&1 ||
        fail "debootstrap failed: see target/clean-root.debootstrap.log"
    touch "$base/.frontdesk-base-done"
fi
say "copy of the clean root"
rm -rf "$root"
cp -a "$base" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"

driver_pid=
cleanup() {
    if [[ -n $driver_pid ]]; then kill -- -"$driver_pid" 2>/dev/null || true; fi
    for m in "$root/dev" "$root/sys" "$root/proc"; do
        umount -R -l "$m" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"

in_root() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}
# as the desk's user, with no keyring: keys go to the key folder in its home
as_desk() {
    chroot --userspec=desk:desk "$root" env -i HOME=/home/desk USER=desk LOGNAME=desk \
        PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"
}
apt_install() {
    in_root apt-get install -y -q --no-install-recommends "$@" 2>&1
}

say "apt-get update in the root"
in_root apt-get update -qq >/dev/null
in_root useradd --create-home --shell /bin/sh desk

# ---- 1. the older package --------------------------------------------------------------
mkdir -p "$root/tmp/pkg"
relabel=$(mktemp -d)
dpkg-deb -R "$deb" "$relabel/p"
sed -i 's/^Version: .*/Version: 0.0.1/' "$relabel/p/DEBIAN/control"
dpkg-deb --root-owner-group -b "$relabel/p" "$root/tmp/pkg/older.deb" >/dev/null
rm -rf "$relabel"
cp "$deb" "$root/tmp/pkg/current.deb"

say "apt install the package (labelled 0.0.1) and its dependencies"
apt_install /tmp/pkg/older.deb >target/clean-root.install.log || fail "apt install: see target/clean-root.install.log"
got=$(as_desk frontdesk --version)
[[ $got == "frontdesk $version" ]] || fail "frontdesk --version said '$got', expected 'frontdesk $version'"
for f in /usr/bin/frontdesk-app /usr/bin/frontdesk /usr/share/man/man1/frontdesk.1.gz \
    /usr/share/applications/Frontdesk.desktop /usr/share/icons/hicolor/scalable/apps/frontdesk-app.svg \
    /usr/share/icons/hicolor/256x256/apps/frontdesk-app.png /usr/share/icons/hicolor/32x32/apps/frontdesk-app.png \
    /usr/lib/systemd/user/frontdesk-backup.service /usr/lib/systemd/user/frontdesk-backup.timer \
    /usr/share/doc/frontdesk/README.md /usr/share/doc/frontdesk/changelog.gz; do
    [[ -e $root$f ]] || fail "the package did not install $f"
done
grep -q '^Categories=Office;Calendar;MedicalSoftware;$' "$root/usr/share/applications/Frontdesk.desktop" ||
    fail "the desktop entry lacks its categories"
zcat "$root/usr/share/man/man1/frontdesk.1.gz" | grep -q '^\.SH ENVIRONMENT' || fail "the man page has no ENVIRONMENT"
say "installed: frontdesk $version, $(du -sh "$root/usr/bin/frontdesk-app" | cut -f1) app, $(du -sh "$root/usr/bin/frontdesk" | cut -f1) CLI"

# ---- 2. a new clinic and the demo clinic ---------------------------------------------------
as_desk mkdir -p /home/desk/clinic /home/desk/demo
as_desk env FRONTDESK_NEW_PASSWORD='plum violet harbour kettle' frontdesk --db /home/desk/clinic/clinic.sqlite3 \
    init --name 'Clean Root Clinic' --time-zone Europe/Berlin --country DE --admin-username admin >/dev/null ||
    fail "frontdesk init on a fresh database"
as_desk frontdesk --db /home/desk/clinic/clinic.sqlite3 check >/dev/null || fail "check of the new clinic"
as_desk frontdesk --db /home/desk/demo/demo.sqlite3 demo >/dev/null || fail "frontdesk demo"
count_appointments() { # database, then any extra environment
    local db=$1
    shift
    as_desk env "$@" frontdesk --db "$db" --json --break-glass 'package test' appointment list |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["appointments"]))'
}
demo_before=$(count_appointments /home/desk/demo/demo.sqlite3)
[[ $demo_before -gt 0 ]] || fail "the demo clinic has no appointments"

# ---- 3. the upgrade ------------------------------------------------------------------------
say "apt install the current package over 0.0.1"
upgrade_log=$(apt_install /tmp/pkg/current.deb) || fail "upgrade: $upgrade_log"
grep -q "installed over version 0.0.1" <<<"$upgrade_log" || fail "the upgrade did not say so: $upgrade_log"
as_desk frontdesk --db /home/desk/clinic/clinic.sqlite3 check >/dev/null || fail "the clinic after the upgrade"
demo_after=$(count_appointments /home/desk/demo/demo.sqlite3)
[[ $demo_after == "$demo_before" ]] || fail "the demo clinic had $demo_before appointments, $demo_after after the upgrade"
say "upgrade kept the data: $demo_after appointments"

# ---- 4. an older Frontdesk's database ------------------------------------------------------
fixture=cli/tests/fixtures/schema-v8
cp -a "$fixture" "$root/home/desk/v8"
in_root chown -R desk:desk /home/desk/v8
expected=$(cat "$fixture/appointments")
v8_out=$(as_desk env FRONTDESK_KEYS_DIR=/home/desk/v8/keys frontdesk --db /home/desk/v8/db/clinic.sqlite3 check 2>&1) ||
    fail "check of the schema 8 database: $v8_out"
grep -q "upgraded from schema version 8 to" <<<"$v8_out" || fail "opening the schema 8 database did not say it upgraded: $v8_out"
got=$(count_appointments /home/desk/v8/db/clinic.sqlite3 FRONTDESK_KEYS_DIR=/home/desk/v8/keys)
[[ $got == "$expected" ]] || fail "the schema 8 database had $expected appointments, $got after the upgrade"
say "schema 8 database upgraded, its $got appointments kept"

# ---- 5. a newer Frontdesk's database -------------------------------------------------------
as_desk mkdir -p /home/desk/newer
cp "$fixture/db/clinic.sqlite3" "$root/home/desk/newer/clinic.sqlite3"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 999"); c.commit()' \
    "$root/home/desk/newer/clinic.sqlite3"
in_root chown -R desk:desk /home/desk/newer
sum_before=$(sha256sum <"$root/home/desk/newer/clinic.sqlite3")
set +e
newer_out=$(as_desk env FRONTDESK_KEYS_DIR=/home/desk/v8/keys frontdesk --db /home/desk/newer/clinic.sqlite3 check 2>&1)
status=$?
set -e
[[ $status == 3 ]] || fail "a newer database: exit status $status, expected 3: $newer_out"
grep -q "written by a newer Frontdesk" <<<"$newer_out" || fail "a newer database was not refused clearly: $newer_out"
[[ $(sha256sum <"$root/home/desk/newer/clinic.sqlite3") == "$sum_before" ]] || fail "the newer database was changed"
say "a newer database is refused unchanged"

# ---- 6. the backup timer's command ---------------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/user/frontdesk-backup.service")
as_desk env FRONTDESK_DB=/home/desk/clinic/clinic.sqlite3 sh -c "$exec_start" >/dev/null ||
    fail "the backup service's command failed: $exec_start"
ls "$root/home/desk/clinic/backups/"* >/dev/null 2>&1 || fail "the backup service's command made no backup"
say "the backup timer's command made $(basename "$(ls "$root"/home/desk/clinic/backups/* | head -n1)")"

# ---- 7. the window ---------------------------------------------------------------------------
say "the app under Xvfb, driven over WebDriver"
apt_install xvfb xauth webkit2gtk-driver >>target/clean-root.install.log || fail "test tools: see target/clean-root.install.log"
cp "$(command -v tauri-driver)" "$root/usr/local/bin/tauri-driver"
port=4600
setsid chroot --userspec=desk:desk "$root" env -i HOME=/home/desk USER=desk PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 xvfb-run -a -s "-screen 0 1366x768x24" \
    tauri-driver --port $port --native-port $((port + 1)) --native-driver /usr/bin/WebKitWebDriver \
    >target/clean-root.app.log 2>&1 &
driver_pid=$!
mkdir -p target/e2e-screenshots
python3 packaging/test/first_run.py $port /usr/bin/frontdesk-app target/e2e-screenshots/package-first-run.png ||
    fail "the installed app did not reach the first-run screen (see target/clean-root.app.log)"
kill -- -"$driver_pid" 2>/dev/null || true
wait "$driver_pid" 2>/dev/null || true
driver_pid=

# ---- 8. removal ------------------------------------------------------------------------------
remove_log=$(in_root apt-get remove -y -q "$package" 2>&1) || fail "apt remove: $remove_log"
grep -q "The clinic data was not" <<<"$remove_log" || fail "removing did not say where the data is: $remove_log"
[[ ! -e $root/usr/bin/frontdesk ]] || fail "/usr/bin/frontdesk is still there after removal"
for f in clinic/clinic.sqlite3 demo/demo.sqlite3 v8/db/clinic.sqlite3 .config/org.frontdesk.desk/keys; do
    [[ -e $root/home/desk/$f ]] || fail "removing the package removed /home/desk/$f"
done
say "removed; the data is kept"
say "all passed"
