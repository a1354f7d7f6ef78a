#!/usr/bin/env python3
"""Ansible inventory for a rampart inventory (a lab's, typically).

    rampart -i LAB.yaml inventory show --format json | bench/ansible/inventory.py > hosts.yml

Ansible connects like rampart does after `rampart provision`: as the
inventory's ssh.user (an operator) with sudo, the same identity file, and
host keys checked against the same known_hosts file (no first-contact
trust). The inventory's operators become the `operators` variable the
playbook enforces (ACC-01); a host's rampart `vars:` become its host vars,
which override the profile defaults in group_vars/all.yml as in rampart.
"""

import json
import shlex
import sys

import yaml


def main():
    inv = json.load(sys.stdin)
    ssh = inv["ssh"]
    common = ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + ssh["known_hosts"],
              "-o", "ConnectTimeout=%d" % ssh.get("connect_timeout_secs", 10)]
    all_vars = {
        "ansible_user": ssh["user"],
        "ansible_ssh_private_key_file": ssh["identity"],
        "ansible_ssh_common_args": " ".join(shlex.quote(a) for a in common),
        "ansible_become": ssh["user"] != "root",
        "ansible_become_method": "sudo",
        "operators": [{"name": o["name"], "keys": o["keys"]} for o in inv["operators"]],
    }
    hosts = {}
    for h in inv["hosts"]:
        hv = {"ansible_host": h["address"], "ansible_port": h.get("port", 22)}
        hv.update(h.get("vars") or {})
        hosts[h["name"]] = hv
    out = {"all": {"vars": all_vars, "hosts": hosts}}
    sys.stdout.write("# Written by bench/ansible/inventory.py from " + inv.get("path", "a rampart inventory") + "\n")
    yaml.safe_dump(out, sys.stdout, sort_keys=False, width=1000)


if __name__ == "__main__":
    main()
