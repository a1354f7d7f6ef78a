//! The binary's edge: parse arguments, run a command, map errors to exit
//! codes. Commands are thin: they wire the library's layers together.

mod access;
mod args;
mod ca;
mod context;
mod converge;
mod create;
mod exit;
mod facts;
mod inventory;
mod lab;
mod luks;
mod mesh;
mod mesh_rotate;
mod progress;
mod provision;
mod report;
mod sync;
mod verify;

use clap::{CommandFactory, Parser};

pub use args::Cli;
pub use exit::Exit;

use crate::inventory::InventoryError;
use crate::lab::LabError;
use crate::transport::TransportError;

/// Runs rampart with the process arguments; returns the exit code.
pub fn main() -> i32 {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok.code()
                }
                _ => Exit::Input.code(),
            };
        }
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::HostFailed.code();
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_for(&e).code()
        }
    }
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => "warn",
        1 => "rampart=debug,warn",
        _ => "rampart=trace,russh=debug,info",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(progress::color_enabled())
        .with_target(false)
        .try_init();
}

/// Input problems exit 2 (nothing was applied); everything else is a failure
/// to reach or change hosts, exit 3.
fn exit_for(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<InventoryError>().is_some()
        || e.downcast_ref::<NotBuilt>().is_some()
        || e.downcast_ref::<UsageError>().is_some()
    {
        return Exit::Input;
    }
    if e.downcast_ref::<crate::providers::create::CreateError>()
        .is_some_and(|c| c.is_refusal())
    {
        return Exit::Input;
    }
    if sync::is_input_error(e) {
        return Exit::Input;
    }
    if ca::is_input_error(e) {
        return Exit::Input;
    }
    if let Some(LabError::NotRoot) = e.downcast_ref::<LabError>() {
        return Exit::Input;
    }
    if let Some(
        TransportError::Identity { .. }
        | TransportError::Agent(_)
        | TransportError::KnownHosts { .. },
    ) = e.downcast_ref::<TransportError>()
    {
        return Exit::Input;
    }
    Exit::HostFailed
}

/// Rust ignores SIGPIPE, so `rampart verify | head` would panic on the
/// closed pipe; like any Unix tool, rampart just ends there instead.
fn restore_default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    #[allow(unsafe_code)]
    // SAFETY: called first thing in main, before any thread exists; the
    // default disposition installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// A command whose capability has not landed yet: said plainly, exit 2.
#[derive(Debug, thiserror::Error)]
#[error("`rampart {0}` is not built yet in this version of rampart; nothing was done")]
pub struct NotBuilt(pub &'static str);

/// A usage problem found after argument parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    use args::Command as C;
    let g = &cli.global;
    match cli.command {
        C::Inventory(cmd) => inventory::run(g, cmd).await,
        C::Facts { format } => facts::run(g, format).await,
        C::Lab(cmd) => lab::run(cmd).await,
        C::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rampart",
                &mut std::io::stdout(),
            );
            Ok(Exit::Ok)
        }
        C::Plan { detailed_exitcode } => converge::plan(g, detailed_exitcode).await,
        C::Provision => provision::run(g).await,
        C::Harden(args) => converge::harden(g, &args.wipe).await,
        C::Verify { format } => verify::run(g, format).await,
        C::Access { since, format } => access::run(g, &since, format).await,
        C::Report(args) => report::run(g, args).await,
        C::Mesh(cmd) => mesh::run(g, cmd).await,
        C::Ca(cmd) => ca::run(g, cmd).await,
        C::Luks(cmd) => luks::run(g, cmd).await,
    }
}

/// Prints the failed hosts and why; returns the exit code for the run.
pub(crate) fn summarize<T, E: std::fmt::Display>(
    outcomes: &[crate::transport::HostOutcome<T, E>],
    verb: &str,
) -> Exit {
    let failed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| (&o.host, e)))
        .collect();
    if failed.is_empty() {
        return Exit::Ok;
    }
    eprintln!(
        "\n{} of {} hosts failed to {verb}:",
        failed.len(),
        outcomes.len()
    );
    for (host, e) in failed {
        eprintln!("  {host}: {e}");
    }
    Exit::HostFailed
}
