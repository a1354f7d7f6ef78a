# rampart facts collector: runs once per host, as root, in one SSH exec.
# It only runs commands and delimits their raw output; rampart parses it.
# Values that are secrets (password hashes) are reduced on the host.
# The locale and PATH come first, from transport::SCRIPT_ENV (collector_for).
s() { printf '\n@@rampart-section %s\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
s hostname; hostname
s time; date +%s
s os-release; cat /etc/os-release 2>/dev/null
s uname; uname -r; uname -m
s virt; systemd-detect-virt 2>/dev/null
s container; systemd-detect-virt --container 2>/dev/null
s init; cat /proc/1/comm 2>/dev/null
s packages; dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' 2>/dev/null
# Enablement is read from the unit directories' links (systemctl
# list-unit-files costs ~0.4 s of CPU per host; this costs ~10 ms).
s unit-files; find /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system -maxdepth 2 \( -type l -o -type f \) -printf '%p\t%l\n' 2>/dev/null
s units; systemctl list-units --all --no-legend --no-pager --plain 2>/dev/null
s sshd; if have sshd; then mkdir -p /run/sshd 2>/dev/null; sshd -T 2>&1; echo "@@exit $?"; else echo "@@absent"; fi
s sysctl; sysctl -a 2>/dev/null
s procsys; [ -w /proc/sys/net/ipv4/ip_forward ] && echo net; [ -w /proc/sys/kernel/hostname ] && echo kernel
s nft; if have nft; then nft -j list ruleset 2>&1; echo "@@exit $?"; else echo "@@absent"; fi
# The managed ruleset in the kernel's canonical form: loaded into a scratch
# network namespace, so verify can compare it with the live table.
s nft-desired
if have nft && have unshare && [ -f /etc/nftables.d/rampart.nft ]; then
  unshare -n sh -c 'nft -f /etc/nftables.d/rampart.nft && nft -j list table inet rampart' 2>&1; echo "@@exit $?"
else echo "@@absent"; fi
# Private and preshared keys never leave the host: masked before printing.
s wg
if have wg; then
  out=$(wg show all dump 2>&1); rc=$?
  printf '%s\n' "$out" | awk -F'\t' 'BEGIN { OFS = "\t" } NF == 5 { $2 = "(hidden)" } NF == 9 && $3 != "(none)" { $3 = "(hidden)" } { print }'
  echo "@@exit $rc"
else echo "@@absent"; fi
# Only the public half of the mesh key is printed.
s wg-key; if have wg && [ -f /etc/wireguard/wg0.key ]; then wg pubkey < /etc/wireguard/wg0.key 2>&1; fi
s wg-impl
[ -d /sys/module/wireguard ] && echo module-loaded
have modprobe && modprobe -n -q wireguard 2>/dev/null && echo module-available
ls /var/run/wireguard 2>/dev/null | sed 's/^/socket /'
s wg-psk; ls -1 /etc/wireguard/psk 2>/dev/null
s ip-addr; ip -j addr show 2>/dev/null
s lsblk; lsblk -J -b -o NAME,PATH,MAJ:MIN,TYPE,SIZE,FSTYPE,UUID,LABEL,MOUNTPOINTS,RO 2>/dev/null
s disks
for d in $RAMPART_DISKS; do
  printf '@@disk %s\n' "$d"
  if [ -b "$d" ]; then
    printf 'majmin=%s\n' "$(stat -L -c '%t:%T' "$d")"
    blkid -p -o export "$d" 2>/dev/null
    if have cryptsetup && cryptsetup isLuks "$d" 2>/dev/null; then
      printf '@@luks\n'; cryptsetup luksDump --dump-json-metadata "$d" 2>/dev/null
    fi
  else
    printf 'missing=1\n'
  fi
done
s passwd; getent passwd
s group; getent group
s shadow; awk -F: '{ s = ($2 == "") ? "empty" : (($2 ~ /^[!*]/) ? "locked" : "set"); print $1 "\t" s }' /etc/shadow 2>/dev/null
s authorized-keys
getent passwd | while IFS=: read -r u _ _ _ _ h _; do
  for f in "$h/.ssh/authorized_keys" "$h/.ssh/authorized_keys2"; do
    if [ -f "$f" ]; then printf '@@file %s %s\n' "$u" "$f"; cat "$f"; echo; fi
  done
done
s listening; ss -Htlnup 2>/dev/null
# ACC-09: interactive accounts' home directories, their dot files and
# directories (mode owner group path, like `modes`).
s homes
getent passwd | while IFS=: read -r u _ uid _ _ h sh; do
  case "$sh" in */nologin|*/false|/bin/sync|"") continue ;; esac
  [ "$uid" -ge 1000 ] && [ "$uid" -ne 65534 ] && [ -d "$h" ] || continue
  printf '@@home %s\n' "$u"
  find "$h" -maxdepth 1 \( -path "$h" -o -name '.*' \) \( -type f -o -type d \) -printf '%m %u %g %p\n' 2>/dev/null
done
s modes; stat -c '%a %U %G %n' /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/ssh/sshd_config /etc/ssh/ssh_host_*_key /etc/crontab /etc/cron.d /etc/cron.daily /etc/cron.hourly /etc/cron.weekly /etc/cron.monthly /etc/sudoers $RAMPART_STAT 2>/dev/null
# Files rampart manages or reads settings from, base64 so content is exact.
s files
for f in $RAMPART_READ; do
  if [ -f "$f" ]; then printf '@@file %s\n' "$f"; base64 -w0 "$f"; echo; else printf '@@nofile %s\n' "$f"; fi
done
s journald; systemd-analyze cat-config systemd/journald.conf 2>/dev/null
s audit; if have auditctl; then auditctl -l 2>&1; echo "@@exit $?"; else echo "@@absent"; fi
s apt-lists; find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1
s modprobe; modprobe --showconfig 2>/dev/null | grep -E '^(blacklist|install) '
# LOG-08: systemd's own verdict on the clock (yes/no), not just a running daemon.
s ntp-synchronized; timedatectl show -p NTPSynchronized --value 2>/dev/null
# LOG-15/LOG-16: when AIDE's database was written (never its content), when
# rampart last changed the host (engine::apply::LAST_CHANGE), how the last
# daily check ended.
s integrity
stat -c 'database %Y' /var/lib/aide/aide.db 2>/dev/null
[ -f /var/lib/rampart/last-change ] && sed -n '1s/^/last-change /p' /var/lib/rampart/last-change
systemctl show dailyaidecheck.service -p Result -p ExecMainStatus -p ExecMainExitTimestamp --timestamp=unix 2>/dev/null
# The PAM stack as Linux-PAM reads it (facts/pam.rs parses it), and where
# dpkg puts Debian's `unix` pam-auth-update profile (diverted by rampart).
s pam
for f in common-auth common-account common-password common-session common-session-noninteractive su sudo sshd login; do
  [ -f "/etc/pam.d/$f" ] && { printf '@@pam %s\n' "$f"; cat "/etc/pam.d/$f"; echo; }
done
have dpkg-divert && dpkg-divert --truename /usr/share/pam-configs/unix 2>/dev/null | sed 's/^/@@unix-profile /'
s mounts; findmnt -J -o TARGET,SOURCE,FSTYPE,OPTIONS 2>/dev/null
# LUKS (controls/luks.rs): whether the kernel has device-mapper (volumes can
# be opened), cryptsetup's version, and for each declared disk everything
# that makes it not blank (signatures wipefs sees, holders such as dm or md,
# swap use); every block device's low-level probe for `luks status`; the
# host keyfiles' modes and /etc/crypttab (names, UUIDs, paths: no keys).
s luks-env
grep -w device-mapper /proc/devices 2>/dev/null | sed 's/^ */dm-major=/'
[ -c /dev/mapper/control ] && echo 'dm-control=1'
# Not loaded until first used (a fresh VM): the module on disk for this kernel.
grep -qs '/dm-mod\.ko' "/lib/modules/$(uname -r)/modules.dep" && echo 'dm-module=1'
have cryptsetup && cryptsetup --version 2>/dev/null | sed 's/^/cryptsetup=/'
# What opens /etc/crypttab's volumes at boot (package systemd-cryptsetup on 13).
if [ -x /usr/lib/systemd/system-generators/systemd-cryptsetup-generator ] || [ -x /lib/systemd/system-generators/systemd-cryptsetup-generator ]; then echo 'crypttab-generator=1'; else echo 'crypttab-generator=0'; fi
s luks-disks
for d in $RAMPART_DISKS; do
  printf '@@disk %s\n' "$d"
  [ -b "$d" ] || continue
  mm="$(printf '%d:%d' "0x$(stat -L -c %t "$d")" "0x$(stat -L -c %T "$d")")"
  printf '@@wipefs\n'; wipefs --json "$d" 2>&1; echo "@@exit $?"
  printf '@@holders\n'; ls -1 "/sys/dev/block/$mm/holders" 2>/dev/null
  printf '@@swap\n'; awk 'NR > 1 { print $1 }' /proc/swaps 2>/dev/null | while read -r sw; do
    [ -b "$sw" ] && [ "$(stat -L -c '%t:%T' "$sw")" = "$(stat -L -c '%t:%T' "$d")" ] && echo "$sw"
  done
done
s luks-blkid
lsblk -rnpo PATH 2>/dev/null | while read -r p; do
  [ -b "$p" ] || continue
  printf '@@dev %s\n' "$p"; timeout 5 blkid -p -o export "$p" 2>/dev/null
done
s luks-keyfiles; stat -c '%a %U %G %n' /etc/cryptsetup-keys.d/*.key 2>/dev/null
s luks-fstab; cat /etc/fstab 2>/dev/null
s luks-crypttab; if [ -f /etc/crypttab ]; then cat /etc/crypttab; else echo '@@absent'; fi
# Secret files (TLS private keys) are compared by SHA-256: their content
# never leaves the host.
s hashes
for f in $RAMPART_HASH; do
  if [ -f "$f" ]; then printf '@@hash %s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"; else printf '@@nohash %s\n' "$f"; fi
done
# The proxy's whole configuration as nginx itself judges it.
s nginx-test; if have nginx; then nginx -t 2>&1; echo "@@exit $?"; else echo "@@absent"; fi
# BAK (controls/backup): a db host's drop key (public half) and when it was
# born, each database's last committed backup, PostgreSQL's role and
# databases; the host's SSH host key (public: what a drop presents); a
# backup host's store: each file's size and first bytes, each manifest; the
# backup units' last runs. With RAMPART_BACKUP_PROBE (a db host's drops,
# ADDRESS,PORT), the host's own key asks each drop to list, read, delete,
# open sftp and store a non-age upload: each must be refused.
s backup
B=/var/lib/rampart-backup
if [ -f $B/drop_ed25519.pub ]; then
  printf 'client-key %s\nclient-since %s\n' "$(cut -d' ' -f1,2 $B/drop_ed25519.pub)" "$(stat -c %Y $B/drop_ed25519.pub)"
fi
for f in $B/ok-*; do [ -f "$f" ] && printf 'ok %s %s\n' "${f##*/ok-}" "$(head -c 20 "$f")"; done
[ -f /etc/ssh/ssh_host_ed25519_key.pub ] && printf 'host-key %s\n' "$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
for u in rampart-backup.service rampart-backup-rotate.service; do
  systemctl show "$u" -p Result -p ExecMainStatus -p ExecMainExitTimestamp --timestamp=unix 2>/dev/null | sed "s/^/unit $u /"
done
if have psql && getent passwd postgres >/dev/null; then
  runuser -u postgres -- psql -XAtq -c "SELECT 'pg-up' UNION ALL SELECT 'pg-role ' || rolname FROM pg_roles WHERE rolname = 'rampart-backup' UNION ALL SELECT 'pg-db ' || datname FROM pg_database WHERE NOT datistemplate" 2>/dev/null || echo 'pg-down'
fi
S=/var/lib/rampart/backups
if [ -d $S ]; then
  printf 'store-since %s\n' "$(stat -c %Y $S/.since 2>/dev/null || echo 0)"
  tab=$(printf '\t')
  find $S -mindepth 2 -maxdepth 2 -type f -printf '%P\t%s\n' 2>/dev/null | while IFS="$tab" read -r p size; do
    case "$p" in
      *.json) printf 'manifest\t%s\t%s\n' "$p" "$(head -c 65536 "$S/$p" | tr -d '\n\t')" ;;
      *) printf 'file\t%s\t%s\t%s\n' "$p" "$size" "$(head -c 21 "$S/$p" | tr -c 'a-zA-Z0-9./-' '?')" ;;
    esac
  done
fi
if [ -n "$RAMPART_BACKUP_PROBE" ] && [ -f $B/drop_ed25519 ] && [ -f /etc/rampart/backup/known_hosts ]; then
  for t in $RAMPART_BACKUP_PROBE; do
    for req in 'ls -la' 'cat *' 'rm -f *' 'put probe' 'sftp'; do
      if [ "$req" = sftp ]; then sub=-s; else sub=; fi
      out=$(timeout 20 ssh -i $B/drop_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/etc/rampart/backup/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -p "${t##*,}" $sub "rampart-drop@${t%,*}" "$req" </dev/null 2>&1); rc=$?
      printf 'probe\t%s\t%s\t%s\t%s\n' "$t" "$req" "$rc" "$(printf '%s' "$out" | tr '\n\t' '  ' | head -c 300)"
    done
  done
fi
