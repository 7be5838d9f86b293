//! `topo-harness local down DIR`: tears down a cluster `run --backend local --keep` left up.

use std::path::PathBuf;

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// `local` arguments.
#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LocalCommand,
}

/// `local` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LocalCommand {
    /// Tear down a cluster kept with `run --backend local --keep`: stop its processes, delete
    /// its network namespaces and credentials (the directory the run printed).
    Down {
        /// The cluster's directory (`reports/<run>/local/<cluster>`).
        dir: PathBuf,
    },
}

/// Runs `local …`.
pub fn local(args: &LocalArgs) -> u8 {
    match &args.command {
        LocalCommand::Down { dir } => match crate::backend::local::tear_down_kept(dir) {
            Ok(done) => {
                for line in done {
                    println!("{line}");
                }
                EXIT_OK as u8
            }
            Err(why) => {
                eprintln!("error: {why}");
                EXIT_BAD_INPUT as u8
            }
        },
    }
}
