//! `rampart ca init|issue|revoke`: rampart's CA for the edge's collector
//! ingress. The CA key is decrypted in memory with RAMPART_AGE_IDENTITY.

use std::path::PathBuf;

use crate::ca::{self, Ca, CaError, CaPaths, Identity};
use crate::inventory::Inventory;

use super::args::{CaCommand, GlobalArgs};
use super::context::load_inventory;
use super::Exit;

pub async fn run(g: &GlobalArgs, cmd: CaCommand) -> anyhow::Result<Exit> {
    let inv = load_inventory(g)?;
    let paths = CaPaths::new(inv.dir());
    match cmd {
        CaCommand::Init => {
            let ca = Ca::init(&paths, &inv.secrets.recipients)?;
            println!("created rampart's CA");
            println!("  certificate: {}", ca.paths.cert().display());
            println!(
                "  key (age-encrypted to secrets.recipients): {}",
                paths.key().display()
            );
            println!("  revocation list: {}", paths.crl().display());
        }
        CaCommand::Issue { name, days } => {
            // Before anything is created: a bad name must not leave a new
            // CA behind as a side effect of its refusal.
            ca::check_name(&name)?;
            let identity = required_identity(&paths)?;
            let mut ca = open_or_create(&inv, &paths, &identity)?;
            let signer = ca.unlock(&identity)?;
            let issued = ca.issue_client(&signer, &name, days)?;
            let cert = PathBuf::from(format!("{name}.crt"));
            let key = PathBuf::from(format!("{name}.key"));
            ca::write_file(&key, issued.key_pem.as_bytes(), 0o600)?;
            ca::write_file(&cert, issued.cert_pem.as_bytes(), 0o644)?;
            println!(
                "issued {name} (serial {}, clientAuth, {days} days): {} and {} (0600)",
                issued.serial,
                cert.display(),
                key.display()
            );
        }
        CaCommand::Revoke { name } => {
            let identity = required_identity(&paths)?;
            let mut ca = Ca::open(&paths)?;
            let signer = ca.unlock(&identity)?;
            let serials = ca.revoke(&signer, &name)?;
            println!(
                "revoked {name} (serial {}); {} re-signed: run `rampart harden` to deploy it to the edges",
                serials.join(", "),
                paths.crl().display()
            );
        }
    }
    Ok(Exit::Ok)
}

fn required_identity(paths: &CaPaths) -> Result<Identity, CaError> {
    Identity::from_env()?.ok_or_else(|| CaError::NoIdentity(paths.key()))
}

/// The CA, created first when there is none ("on first need"): the identity
/// must be one of the recipients, or the new key could not be used again.
fn open_or_create(inv: &Inventory, paths: &CaPaths, identity: &Identity) -> Result<Ca, CaError> {
    if paths.exists() {
        return Ca::open(paths);
    }
    if !identity.is_among(&inv.secrets.recipients) {
        return Err(CaError::NotARecipient(inv.secrets.recipients.join(", ")));
    }
    let ca = Ca::init(paths, &inv.secrets.recipients)?;
    eprintln!("created rampart's CA: {}", ca.paths.cert().display());
    Ok(ca)
}

/// Which CA errors are the operator's input (exit 2) rather than a failure.
pub fn is_input_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<CaError>()
        .is_some_and(|c| !matches!(c, CaError::Io { .. }))
}
