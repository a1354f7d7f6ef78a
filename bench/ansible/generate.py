#!/usr/bin/env python3
"""Generates the Ansible peer of rampart's baseline and ssh profiles.

    python3 bench/ansible/generate.py            # writes playbook.yml and group_vars/all.yml
    python3 bench/ansible/generate.py --check    # exits 1 if they are stale

Reads profiles/*.yaml (PyYAML) and writes, beside this script:

  group_vars/all.yml  the profiles' `vars:` (overridable per host from the
                      inventory, like a rampart host's `vars:`)
  playbook.yml        one play that enforces the same desired state as
                      `rampart harden` does for those profiles, with
                      ansible.builtin modules plus ansible.posix.sysctl and
                      ansible.posix.authorized_key (both in the `ansible`
                      PyPI package).

What each check kind enforces is read from src/controls/*.rs; the handful of
file contents that live in Rust rather than in profiles/templates (sudoers
drop-ins, auto-upgrades, core-dump files, audit rules, the sshd_config frame)
are repeated below and named after their Rust source. `rampart verify` run
on an Ansible-hardened host is the test that they still match.
"""

import argparse
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROFILES = ["baseline", "ssh"]  # the lab's `base` role

# --- contents that rampart keeps in Rust (kept in step by hand) -------------

# src/controls/ssh.rs: sshd_config()
SSHD_HEAD = (
    "# Managed by rampart: local changes are reverted by `rampart harden`.\n"
    "# sshd keeps the first value it reads for each keyword, so these\n"
    "# settings take precedence over anything in sshd_config.d.\n\n"
)
SSHD_TAIL = (
    "\nInclude /etc/ssh/sshd_config.d/*.conf\n\n"
    "# Debian defaults (PAM's account checks let key-only operators\n"
    "# with no password log in)\n"
    "UsePAM yes\n"
    "KbdInteractiveAuthentication no\n"
    "AcceptEnv LANG LC_*\n"
    "PrintMotd no\n"
    "Subsystem sftp /usr/lib/openssh/sftp-server\n"
)
# src/controls/accounts.rs
SUDOERS_OPERATORS = (
    "# Managed by rampart: the operators, and nobody else, may use sudo.\n"
    "%{{ operators_group }} ALL=(ALL:ALL) NOPASSWD: ALL\n"
)
SUDOERS_LOGGING = (
    "# Managed by rampart: every sudo use is logged to its own file.\n"
    'Defaults logfile="/var/log/sudo.log"\n'
    "Defaults log_allowed, log_denied\n"
    "Defaults use_pty\n"
)
SUDO_GROUPS = ["sudo", "admin", "wheel"]
NOLOGIN_SHELLS = ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "", "/bin/sync"]
# src/controls/system.rs
AUTO_UPGRADES = (
    "// Managed by rampart: security updates are applied automatically.\n"
    'APT::Periodic::Update-Package-Lists "1";\n'
    'APT::Periodic::Unattended-Upgrade "1";\n'
)
CORE_LIMITS = "# Managed by rampart: no core dumps (they can hold secrets).\n* hard core 0\n* soft core 0\n"
COREDUMP_CONF = "# Managed by rampart.\n[Coredump]\nStorage=none\nProcessSizeMax=0\n"
# src/controls/logging.rs
AUDIT_RULES = [
    "-w /etc/passwd -p wa -k identity",
    "-w /etc/group -p wa -k identity",
    "-w /etc/shadow -p wa -k identity",
    "-w /etc/gshadow -p wa -k identity",
    "-w /etc/sudoers -p wa -k scope",
    "-w /etc/sudoers.d -p wa -k scope",
    "-w /var/log/sudo.log -p wa -k actions",
    "-w /var/run/faillock -p wa -k logins",
    "-w /var/log/lastlog -p wa -k logins",
    "-w /var/run/utmp -p wa -k session",
    "-w /var/log/wtmp -p wa -k session",
    "-w /var/log/btmp -p wa -k session",
    "-w /etc/ssh/sshd_config -p wa -k sshd",
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change",
    "-w /etc/localtime -p wa -k time-change",
]


def load_profiles():
    profiles = []
    for name in PROFILES:
        with open(os.path.join(ROOT, "profiles", name + ".yaml")) as f:
            profiles.append(yaml.safe_load(f))
    return profiles


def kind_of(control):
    (kind, args), = control["check"].items()
    return kind, args


def symbolic_max(mode):
    """chmod symbolic mode that removes every bit `mode` does not allow:
    rampart's file_mode is a maximum ("0644 or stricter"), never a widening."""
    m = int(mode, 8)
    parts = []
    for who, shift, special, sbit in (("u", 6, "s", 0o4000), ("g", 3, "s", 0o2000), ("o", 0, "t", 0o1000)):
        drop = "".join(b for b, bit in (("r", 4), ("w", 2), ("x", 1)) if not (m >> shift) & bit)
        if not m & sbit:
            drop += special
        if drop:
            parts.append(f"{who}-{drop}")
    return ",".join(parts) or "u-s"


def is_global_sysctl(key):
    # src/controls/kernel.rs: only net.* is per network namespace, and
    # net.core.bpf_* is global to the kernel despite its name.
    return not key.startswith("net.") or key.startswith("net.core.bpf_")


class Lit(str):
    """A string dumped as a YAML literal block."""


def lit_representer(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(Lit, lit_representer)


def build(profiles):
    vars_ = {}
    controls = []
    for p in profiles:
        vars_.update(p.get("vars") or {})
        controls.extend(p["controls"])

    sshd, sysctls, modules, journald, login_defs = [], [], [], [], []
    present, absent, modes, masked, units, templates = [], [], [], [], [], []
    mounts, custom = [], []
    for c in controls:
        kind, a = kind_of(c)
        if kind == "sshd":
            sshd.append((a["option"], a["value"]))
        elif kind == "sysctl":
            sysctls.append({"key": a["key"], "value": str(a["value"]), "global": is_global_sysctl(a["key"])})
        elif kind == "package_present":
            present.append(a["name"])
        elif kind == "package_absent":
            absent.append(a["name"])
        elif kind == "service":
            units.append({k: a[k] for k in ("name", "enabled", "active") if k in a})
        elif kind == "service_masked":
            masked.append(a["name"])
        elif kind == "file_mode":
            modes.append({"path": a["path"], "mode": symbolic_max(a["mode"]), "max": a["mode"],
                          "owner": a["owner"], "group": a["group"]})
        elif kind == "module_blacklisted":
            modules.append(a["name"].replace("-", "_"))
        elif kind == "login_defs":
            login_defs.append({"key": a["key"], "value": str(a["value"])})
        elif kind == "journald":
            journald.append((a["key"], str(a["value"])))
        elif kind == "file_content":
            templates.append({"dest": a["path"], "src": "{{ playbook_dir }}/../../templates/" + a["template"],
                              "mode": a["mode"], "owner": a["owner"], "group": a["group"]})
        elif kind == "mount_options":
            mounts.append(c["id"])
        elif kind == "custom":
            custom.append(a["name"])
        else:
            sys.exit(f"generate.py: {c['id']}: check kind {kind!r} has no Ansible equivalent here yet")

    for t in templates:
        with open(os.path.join(ROOT, "templates", t["src"].rsplit("/", 1)[1])) as f:
            text = f.read()
        if "{%" in text or "{#" in text:
            sys.exit(f"generate.py: {t['src']}: Tera blocks/comments are not checked to be Jinja-compatible")

    # Packages the custom checks install (src/controls/{accounts,system}.rs);
    # auditd is already a package_present control (LOG-06).
    for extra in ("sudo", "unattended-upgrades"):
        if extra not in present:
            present.append(extra)
    expected_custom = {"operator_accounts", "only_operator_logins", "only_operator_keys", "no_empty_passwords",
                       "sudo_operators", "sudo_logging", "auditd_rules", "time_sync", "unattended_upgrades",
                       "core_dumps_disabled"}
    unknown = set(custom) - expected_custom
    if unknown:
        sys.exit(f"generate.py: custom checks without an Ansible equivalent: {sorted(unknown)}")

    sshd_content = SSHD_HEAD + "".join(f"{k} {v}\n" for k, v in sshd) + SSHD_TAIL
    journald_content = "# Managed by rampart.\n[Journal]\n" + "".join(f"{k}={v}\n" for k, v in journald)
    blacklist = "# Managed by rampart: modules that must not load.\n" + "".join(
        f"install {m} /bin/false\nblacklist {m}\n" for m in modules)
    audit = "## Managed by rampart.\n" + "".join(r + "\n" for r in AUDIT_RULES)

    files_plain = [  # whole files without a handler
        {"dest": "/etc/sudoers.d/rampart-operators", "content": Lit(SUDOERS_OPERATORS), "mode": "0440",
         "validate": "/usr/sbin/visudo -cq -f %s"},
        {"dest": "/etc/sudoers.d/rampart-logging", "content": Lit(SUDOERS_LOGGING), "mode": "0440",
         "validate": "/usr/sbin/visudo -cq -f %s"},
        {"dest": "/etc/modprobe.d/rampart-blacklist.conf", "content": Lit(blacklist), "mode": "0644"},
        {"dest": "/etc/apt/apt.conf.d/20auto-upgrades", "content": Lit(AUTO_UPGRADES), "mode": "0644"},
        {"dest": "/etc/security/limits.d/90-rampart-coredump.conf", "content": Lit(CORE_LIMITS), "mode": "0644"},
    ]

    play_vars = {
        "sysctl_file": "/etc/sysctl.d/90-rampart.conf",
        # Kernel-global parameters belong to the host's kernel in a container
        # (rampart: "not applicable"), exactly as src/controls/kernel.rs.
        "container_types": ["systemd-nspawn", "container", "lxc", "docker", "podman", "containerd", "openvz"],
        "in_container": "{{ ansible_facts.virtualization_role | default(\"\") == \"guest\" and "
                        "ansible_facts.virtualization_type | default(\"\") in container_types }}",
        "packages_present": present,
        "packages_absent": absent,
        "sysctl_settings": sysctls,
        "login_defs_settings": login_defs,
        "file_modes": modes,
        "masked_units": masked,
        "unit_states": units,
        "sudo_groups": SUDO_GROUPS,
        "nologin_shells": NOLOGIN_SHELLS,
        "managed_files": files_plain,
        "managed_templates": templates,
        "sshd_config_content": Lit(sshd_content),
        "journald_content": Lit(journald_content),
        "coredump_content": Lit(COREDUMP_CONF),
        "audit_rules_content": Lit(audit),
        "operator_names": "{{ operators | map(attribute='name') | list }}",
    }

    in_check_and_new_packages = "ansible_check_mode and packages_installed is changed"
    tasks = [
        # --- packages (rampart: one apt run, install then purge) ------------
        {"name": "Packages the profiles require (PKG, LOG, ACC-05, SYS-16; sudo, unattended-upgrades)",
         "ansible.builtin.apt": {"name": "{{ packages_present }}", "state": "present", "install_recommends": False,
                                 "update_cache": True, "cache_valid_time": 86400},
         "register": "packages_installed"},
        {"name": "Packages the profiles forbid, purged (PKG-07..27)",
         "ansible.builtin.apt": {"name": "{{ packages_absent }}", "state": "absent", "purge": True}},
        {"name": "Time synchronisation outside containers (LOG-08)",
         "when": "not in_container",
         "block": [
             {"name": "Installed packages (is chrony there?)", "ansible.builtin.package_facts": {"manager": "apt"}},
             {"name": "systemd-timesyncd installed", "ansible.builtin.apt": {"name": "systemd-timesyncd",
                                                                              "install_recommends": False},
              "when": "'chrony' not in ansible_facts.packages"},
             {"name": "systemd-timesyncd enabled and running",
              "ansible.builtin.systemd_service": {"name": "systemd-timesyncd.service", "enabled": True,
                                                  "state": "started"},
              "when": f"'chrony' not in ansible_facts.packages and not ({in_check_and_new_packages})"},
         ]},
        # --- accounts (ACC-01..04, ACC-06) ---------------------------------
        {"name": "Operators' group (ACC-01)", "ansible.builtin.group": {"name": "{{ operators_group }}"}},
        {"name": "Operator accounts with a login shell, in the operators' group (ACC-01)",
         "ansible.builtin.user": {"name": "{{ item.name }}", "shell": "/bin/bash",
                                  "groups": ["{{ operators_group }}"], "append": True},
         "loop": "{{ operators }}", "loop_control": {"label": "{{ item.name }}"}},
        {"name": "Operators have exactly their inventory keys (ACC-01, ACC-03)",
         "ansible.posix.authorized_key": {"user": "{{ item.name }}", "key": "{{ item['keys'] | join('\\n') }}",
                                          "exclusive": True, "manage_dir": True},
         "loop": "{{ operators }}", "loop_control": {"label": "{{ item.name }}"}},
        {"name": "Accounts", "ansible.builtin.getent": {"database": "passwd"}},
        {"name": "Groups", "ansible.builtin.getent": {"database": "group"}},
        {"name": "Password states", "ansible.builtin.getent": {"database": "shadow"}},
        {"name": "Only operators have a login shell (ACC-02)",
         "ansible.builtin.user": {"name": "{{ item.key }}", "shell": "/usr/sbin/nologin"},
         "loop": "{{ ansible_facts.getent_passwd | dict2items }}", "loop_control": {"label": "{{ item.key }}"},
         "when": "item.key != 'root' and item.key not in operator_names and item.value[5] not in nologin_shells"},
        {"name": "No account with an empty password (ACC-04)",
         "ansible.builtin.user": {"name": "{{ item.key }}", "password_lock": True},
         "loop": "{{ ansible_facts.getent_shadow | dict2items }}", "loop_control": {"label": "{{ item.key }}"},
         "when": "item.value[0] == ''"},
        {"name": "Nobody but operators in the sudo groups (ACC-06)",
         "ansible.builtin.command": {"argv": ["gpasswd", "-d", "{{ item.1 }}", "{{ item.0 }}"]},
         "loop": "{{ sudo_groups | product(sudo_members) | list }}",
         "vars": {"sudo_members": "{{ sudo_groups | select('in', ansible_facts.getent_group) | "
                                  "map('extract', ansible_facts.getent_group, 2) | map('split', ',') | "
                                  "flatten | select | unique | reject('in', operator_names) | list }}"},
         "when": "item.0 in ansible_facts.getent_group and "
                 "item.1 in ansible_facts.getent_group[item.0][2].split(',')"},
        {"name": "authorized_keys files outside the operators' own (ACC-03)",
         "ansible.builtin.find": {"paths": "{{ ansible_facts.getent_passwd | dict2items | "
                                           "map(attribute='value') | map(attribute=4) | unique | "
                                           "reject('in', ['/nonexistent', '/']) | map('regex_replace', '$', '/.ssh') | list }}",
                                  "patterns": ["authorized_keys", "authorized_keys2"], "hidden": True,
                                  "file_type": "file"},
         "register": "key_files"},
        {"name": "Foreign authorized_keys files removed (ACC-03)",
         "ansible.builtin.file": {"path": "{{ item.path }}", "state": "absent"},
         "loop": "{{ key_files.files }}", "loop_control": {"label": "{{ item.path }}"},
         "when": "item.path not in operator_key_files",
         "vars": {"operator_key_files": "{{ operator_names | map('extract', ansible_facts.getent_passwd, 4) | "
                                        "map('regex_replace', '$', '/.ssh/authorized_keys') | list }}"}},
        # --- whole files ----------------------------------------------------
        {"name": "Drop-in directories",
         "ansible.builtin.file": {"path": "{{ item }}", "state": "directory", "mode": "0755"},
         "loop": ["/etc/systemd/journald.conf.d", "/etc/systemd/coredump.conf.d"]},
        {"name": "sudoers for operators, sudo logging, module blacklist, auto-upgrades, core limits "
                 "(ACC-06, ACC-07, KRN-39..50, PKG-02, SYS-12)",
         "ansible.builtin.copy": {"dest": "{{ item.dest }}", "content": "{{ item.content }}", "mode": "{{ item.mode }}",
                                  "owner": "root", "group": "root", "validate": "{{ item.validate | default(omit) }}"},
         "loop": "{{ managed_files }}", "loop_control": {"label": "{{ item.dest }}"}},
        {"name": "Files rendered from rampart's templates (LOG-13, SYS-09..11, SYS-13, SYS-15)",
         "ansible.builtin.template": {"src": "{{ item.src }}", "dest": "{{ item.dest }}", "mode": "{{ item.mode }}",
                                      "owner": "{{ item.owner }}", "group": "{{ item.group }}"},
         "loop": "{{ managed_templates }}", "loop_control": {"label": "{{ item.dest }}"}},
        {"name": "systemd-coredump stores nothing (SYS-12)",
         "ansible.builtin.copy": {"dest": "/etc/systemd/coredump.conf.d/90-rampart.conf",
                                  "content": "{{ coredump_content }}", "mode": "0644", "owner": "root",
                                  "group": "root"},
         "notify": "systemd daemon-reload"},
        {"name": "journald retention (LOG-01..05)",
         "ansible.builtin.copy": {"dest": "/etc/systemd/journald.conf.d/90-rampart.conf",
                                  "content": "{{ journald_content }}", "mode": "0644", "owner": "root",
                                  "group": "root"},
         "notify": "restart journald"},
        {"name": "login.defs settings (SYS-01..08)",
         "ansible.builtin.lineinfile": {"path": "/etc/login.defs", "regexp": "^\\s*{{ item.key }}\\s",
                                        "line": "{{ item.key }}\t{{ item.value }}"},
         "loop": "{{ login_defs_settings }}", "loop_control": {"label": "{{ item.key }}"}},
        {"name": "sshd_config (SSH-01..35)",
         "ansible.builtin.copy": {"dest": "/etc/ssh/sshd_config", "content": "{{ sshd_config_content }}",
                                  "mode": "0600", "owner": "root", "group": "root",
                                  "validate": "/usr/sbin/sshd -t -f %s"},
         "notify": "reload sshd"},
        {"name": "Audit rules outside containers (LOG-07)",
         "when": "not in_container",
         "block": [
             {"name": "auditd rules", "ansible.builtin.copy": {
                 "dest": "/etc/audit/rules.d/90-rampart.rules", "content": "{{ audit_rules_content }}",
                 "mode": "0640", "owner": "root", "group": "root"},
              "notify": "load audit rules"},
             {"name": "auditd enabled and running", "ansible.builtin.systemd_service": {
                 "name": "auditd.service", "enabled": True, "state": "started"},
              "when": f"not ({in_check_and_new_packages})"},
         ]},
        # --- permissions (at most the profile's mode, as rampart's tighten) -
        {"name": "Which of the permission-checked paths exist (FS-01..17, SSH-35..38)",
         "ansible.builtin.find": {"paths": "{{ file_modes | map(attribute='path') | map('dirname') | unique | list }}",
                                  "patterns": "{{ file_modes | map(attribute='path') | map('basename') | list }}",
                                  "file_type": "any", "hidden": True},
         "register": "mode_paths"},
        {"name": "Owner, group and at most the allowed mode (FS-01..17, SSH-35..38)",
         "ansible.builtin.file": {"path": "{{ item.path }}", "mode": "{{ item.mode }}", "owner": "{{ item.owner }}",
                                  "group": "{{ item.group }}"},
         "loop": "{{ file_modes }}", "loop_control": {"label": "{{ item.path }} {{ item.max }}"},
         "when": "item.path in (mode_paths.files | map(attribute='path'))"},
        # --- units ----------------------------------------------------------
        {"name": "Units masked (PKG-24, SYS-14)",
         "ansible.builtin.systemd_service": {"name": "{{ item }}", "masked": True, "state": "stopped"},
         "loop": "{{ masked_units }}",
         # rampart: "masked or not installed"; systemd masks a unit that is not
         # installed, but cannot stop it.
         "register": "masking",
         "failed_when": "masking is failed and 'Could not find the requested service' not in masking.msg | default('')"},
        {"name": "Unit states (LOG-10, LOG-14, SYS-17)",
         "ansible.builtin.systemd_service": {
             "name": "{{ item.name }}",
             "enabled": "{{ item.enabled | default(omit) }}",
             "state": "{{ ('started' if item.active else 'stopped') if item.active is defined else omit }}"},
         "loop": "{{ unit_states }}", "loop_control": {"label": "{{ item.name }}"},
         # In check mode the packages that bring these units are not installed yet.
         "when": f"not ({in_check_and_new_packages})"},
        # --- kernel parameters ---------------------------------------------
        {"name": "Kernel parameters, live and in the sysctl.d file (KRN-01..38)",
         "ansible.posix.sysctl": {"name": "{{ item.key }}", "value": "{{ item.value }}",
                                  "sysctl_file": "{{ sysctl_file }}", "sysctl_set": True, "reload": False},
         "loop": "{{ sysctl_settings }}", "loop_control": {"label": "{{ item.key }}"},
         "when": "not (in_container and item.global)",
         "notify": "apply sysctl settings"},
    ]

    # rampart's handler order (src/engine/resource.rs, Handler): daemon-reload,
    # sysctl, journald, audit rules, sshd.
    handlers = [
        {"name": "systemd daemon-reload", "ansible.builtin.systemd_service": {"daemon_reload": True}},
        {"name": "apply sysctl settings",
         "ansible.builtin.shell": "sysctl -q -e -p {{ sysctl_file }} >/dev/null 2>&1 || true"},
        {"name": "restart journald",
         "ansible.builtin.systemd_service": {"name": "systemd-journald", "state": "restarted"}},
        {"name": "load audit rules", "ansible.builtin.command": "augenrules --load"},
        {"name": "reload sshd", "ansible.builtin.systemd_service": {"name": "ssh", "state": "reloaded"}},
    ]

    play = {
        "name": "rampart profiles " + ", ".join(PROFILES) + " (generated by bench/ansible/generate.py)",
        "hosts": "all",
        "become": True,
        # Facts are gathered on every run, as rampart gathers its own; only the
        # subset the play uses (virtualization), like a tuned playbook would.
        "gather_facts": True,
        "gather_subset": ["!all", "!min", "virtual"],
        "vars": play_vars,
        "tasks": tasks,
        "handlers": handlers,
    }
    covered = {
        "controls": len(controls),
        "enforced": len(controls) - len(mounts),
        "judged_only": mounts,
    }
    return vars_, [play], covered


HEADER = (
    "# Generated by bench/ansible/generate.py from {src}; do not edit.\n"
    "# Regenerate: target/bench/venv/bin/python bench/ansible/generate.py\n"
)


def render(profiles):
    vars_, plays, covered = build(profiles)
    src = ", ".join(f"profiles/{p}.yaml" for p in PROFILES)
    gv = HEADER.format(src=src) + "# The profiles' vars (a host var in the inventory overrides them).\n" + \
        yaml.dump(vars_, Dumper=Dumper, sort_keys=False, width=200)
    pb = HEADER.format(src=src) + (
        f"# {covered['controls']} controls; {covered['enforced']} enforced here. Judged only, by rampart as by\n"
        f"# this play (mounts come from the disk layout): {', '.join(covered['judged_only'])}.\n"
    ) + yaml.dump(plays, Dumper=Dumper, sort_keys=False, width=200)
    return {os.path.join(HERE, "group_vars", "all.yml"): gv, os.path.join(HERE, "playbook.yml"): pb}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the generated files are stale")
    args = ap.parse_args()
    outputs = render(load_profiles())
    stale = []
    for path, text in outputs.items():
        cur = open(path).read() if os.path.exists(path) else None
        if cur != text:
            stale.append(os.path.relpath(path, ROOT))
            if not args.check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
    if args.check and stale:
        print("stale: " + ", ".join(stale) + " (run bench/ansible/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
