//! Pipelines the commands run, below the CLI: `cli/` parses arguments,
//! calls into here and prints; what a command does to hosts lives here so
//! it can be read (and tested) without the argument parsing around it.

pub mod converge;
pub mod mesh_rotate;
pub mod verify;
