//! The command-line contract. CI pipelines call these names: keep them stable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Make a fleet of European servers provably hardened",
    long_about = "rampart reads an inventory of hosts and, over SSH, applies OS baselines, LUKS disk \
encryption, WireGuard meshes, nftables segmentation and edge proxy configuration; then it \
verifies drift against the declared profiles and writes compliance evidence.",
    after_help = "Exit codes: 0 ok/compliant; 1 drift or pending changes; 2 usage or input error; \
3 a host was unreachable or failed (the others still complete)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Inventory file [default: $RAMPART_INVENTORY, then ./inventory.yaml]
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        env = "RAMPART_INVENTORY"
    )]
    pub inventory: Option<PathBuf>,
    /// Hosts to act on: names, roles, profiles or globs, comma-separated; `!x` excludes
    #[arg(short = 'l', long, global = true, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Hosts worked on at once
    // Hyphen values are taken so `-j -1` reaches parse_jobs and gets its
    // message, not clap's "unexpected argument '-1'".
    #[arg(short = 'j', long = "jobs", global = true, default_value_t = 32, allow_hyphen_values = true, value_parser = parse_jobs)]
    pub jobs: u16,
    /// Debug logs on stderr (-vv for transport details)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Record host keys of hosts not yet in known_hosts (a changed key is always refused)
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate or show the inventory
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Gather facts from hosts (one round trip each)
    Facts {
        #[arg(long, value_enum, default_value_t = FactsFormat::Text)]
        format: FactsFormat,
    },
    /// Show the changes harden would make
    Plan {
        /// Exit 1 while changes are pending
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// First contact with fresh hosts: operator accounts, base packages
    Provision,
    /// Apply the profiles
    Harden(HardenArgs),
    /// Check hosts against the profiles (exit 1 on drift)
    Verify {
        #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
        format: VerifyFormat,
    },
    /// Who logged in where, with which operator's key, what they ran with sudo; abnormal access flagged (exit 1)
    Access {
        /// How far back: a duration (30d, 12h, 90m, 2w) or a date YYYY-MM-DD (UTC)
        #[arg(long, default_value = "30d")]
        since: String,
        #[arg(long, value_enum, default_value_t = AccessFormat::Text)]
        format: AccessFormat,
    },
    /// Write a compliance report (HTML, JSON, Markdown), optionally signed and encrypted
    Report(ReportArgs),
    /// The WireGuard mesh: pair status, key rotation
    #[command(subcommand)]
    Mesh(MeshCommand),
    /// rampart's certificate authority for collector mTLS
    #[command(subcommand)]
    Ca(CaCommand),
    /// The local lab of real Debian hosts (12 or 13, systemd-nspawn)
    #[command(subcommand)]
    Lab(LabCommand),
    /// LUKS volumes: every disk's encryption state, key rotation
    #[command(subcommand)]
    Luks(LuksCommand),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Files are named rampart-report-<UTC timestamp>.{html,json,md}. \
Check a signature with: ssh-keygen -Y verify -f allowed_signers -I SIGNER -n rampart-report -s FILE.sig < FILE. \
Exit codes as verify: 0 compliant, 1 drift, 2 input error, 3 a host unreachable; \
with --diff: 0 no differences, 1 differences."
)]
pub struct ReportArgs {
    /// Build the report from a saved `verify --format json` (or report JSON) instead of verifying now
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Directory to write the report files to [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Formats to write, comma-separated [default: html,json,md; with --diff: text]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<ReportFormat>,
    /// Sign every file with this OpenSSH private key (FILE.sig, namespace rampart-report); passphrase from RAMPART_SSH_PASSPHRASE
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// age-encrypt every file to the inventory's secrets.recipients (FILE.age; no plaintext is written)
    #[arg(long)]
    pub encrypt: bool,
    /// Compare two saved runs (verify or report JSON): status changes per host, hosts added or removed, score deltas
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with_all = ["from", "out", "sign", "encrypt"])]
    pub diff: Option<Vec<PathBuf>>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Json,
    Md,
    /// Plain text (only with --diff)
    Text,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Validate the inventory and judge residency (RES-01) without connecting to anything
    Check {
        /// Also ask the providers' APIs where each host really is (RES-02); needs their credentials
        #[arg(long)]
        live: bool,
    },
    /// Print the resolved inventory (roles expanded into profiles)
    Show {
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Compare the inventory with a provider's servers: print the diff, write it with --write
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The provider whose servers are read (credentials from the environment)
    #[arg(long, value_enum)]
    pub provider: SyncProvider,
    /// Only servers matching this label selector, e.g. `role=app` (Hetzner Cloud syntax)
    #[arg(long, value_name = "SELECTOR")]
    pub label_selector: Option<String>,
    /// Write the new hosts into the inventory (without it, nothing is written)
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SyncProvider {
    /// Hetzner Cloud (HCLOUD_TOKEN) and Hetzner Robot (HROBOT_API_USER/PASSWORD)
    Hetzner,
    /// OVHcloud (OVH_APPLICATION_KEY/SECRET, OVH_CONSUMER_KEY)
    Ovh,
}

#[derive(Debug, Subcommand)]
pub enum MeshCommand {
    /// Per pair of mesh hosts: last handshake and transfer (exit 1 if a pair is not ok)
    Status {
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
    },
    /// New keys on every mesh host: staged, then switched everywhere at once
    Rotate,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA (key stored age-encrypted under secrets/)
    Init,
    /// Issue a client certificate NAME.crt / NAME.key
    Issue {
        name: String,
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Revoke a certificate (the edge enforces the CRL)
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Boot lab hosts (builds and caches the image on first use)
    Up(LabUpArgs),
    /// Stop the lab and remove every trace of it (--name may be a glob: 't-*')
    Down(LabNameArgs),
    /// Show labs and their hosts
    Status(LabNameArgs),
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    /// Number of hosts
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub hosts: u16,
    /// Give each host a blank disk of this many MiB as /dev/vdb
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u64).range(16..))]
    pub disk_mb: Option<u64>,
    #[command(flatten)]
    pub name: LabNameArgs,
    /// The lab network (the machine takes its first address)
    #[arg(long, default_value = crate::lab::DEFAULT_SUBNET)]
    pub subnet: ipnet::Ipv4Net,
    /// Where to write NAME.yaml, the lab key and known_hosts
    #[arg(long, default_value = "inventories")]
    pub dir: PathBuf,
    /// Debian release of the hosts: 12 (bookworm) or 13 (trixie)
    #[arg(long, default_value = "13", value_parser = ["12", "13", "bookworm", "trixie"])]
    pub release: String,
    /// The barest provider image: debootstrap's minbase with only systemd
    /// and OpenSSH (no netbase, sudo, python, curl, iproute2)
    #[arg(long)]
    pub minimal: bool,
    /// Boot every host as a QEMU virtual machine (own kernel, initramfs,
    /// device-mapper, reboot) instead of a container
    #[arg(long, conflicts_with = "vms")]
    pub vm: bool,
    /// Boot the last N hosts as virtual machines, the others as containers
    #[arg(long, value_name = "N")]
    pub vms: Option<u16>,
}

#[derive(Debug, Args)]
pub struct LabNameArgs {
    /// Lab name (several labs can run side by side)
    #[arg(long, default_value = crate::lab::DEFAULT_NAME)]
    pub name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FactsFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AccessFormat {
    Text,
    Json,
    Md,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum VerifyFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A declared disk that holds anything (a filesystem, a partition table, any signature, \
a mount, a holder, swap) is refused, and with it the host's whole plan, unless --wipe names it: \
exit 3, nothing applied to that host."
)]
pub struct HardenArgs {
    /// Allow destroying what this declared disk holds, for this run only (repeatable)
    #[arg(long, value_name = "HOST:DEVICE")]
    pub wipe: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum LuksCommand {
    /// Every block device of every selected host with its encryption state, and whether / is on dm-crypt
    Status {
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// New key for a volume: escrowed, added, proven with --test-passphrase, then the old keyslot removed
    Rotate {
        /// The inventory host
        host: String,
        /// One of the host's declared disks, e.g. /dev/vdb
        device: PathBuf,
    },
}

/// `-j N`: how many hosts at once, 1 to 65535.
fn parse_jobs(s: &str) -> Result<u16, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=i64::from(u16::MAX)).contains(&n) => Ok(n as u16),
        Ok(n) => Err(format!(
            "{n} hosts at once; expected a number from 1 to {} (e.g. -j 8; leave -j out for 32)",
            u16::MAX
        )),
        Err(_) => Err(format!(
            "{s:?} is not a number; expected how many hosts to work on at once, from 1 to {} (e.g. -j 8)",
            u16::MAX
        )),
    }
}
