//! Command-line definitions. Every command takes `--json` (global) and `-C DIR`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about = "An agent-operated DevOps control plane with a signed evidence ledger",
    long_about = "gantry runs release pipelines gated by signed agent checkpoints, deploys \
services with zero downtime, and records every action in a tamper-evident, signed ledger \
(.gantry/ledger.jsonl) from which its state is replayed.\n\n\
Start with `gantry init`, then `gantry agent list` and `gantry ledger verify`.",
    after_help = "Exit codes: 0 success, 1 failure (e.g. the ledger does not verify), 2 usage or configuration error."
)]
pub struct Cli {
    /// Project directory (holds gantry.yaml and .gantry/); default: the nearest directory
    /// upwards from the current one that has a gantry.yaml
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create gantry.yaml (a commented, working example), the ledger and agent keys
    Init(InitArgs),
    /// Validate gantry.yaml
    Check,
    /// Agent identities: keys for roles
    #[command(subcommand)]
    Agent(AgentCommand),
    /// The evidence ledger: append, show, verify, seal, prove, export
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Rebuild .gantry/state.json from the ledger
    Replay,
    #[command(flatten)]
    Pipeline(crate::cmd::pipeline::PipelineCommand),
    #[command(flatten)]
    Deploy(crate::cmd::deploy::DeployCommand),
    /// Role-scoped API and MCP tokens: create, list, revoke
    #[command(subcommand)]
    Token(crate::cmd::deploy::tokens::TokenCommand),
    /// The status report: OPERATIONAL / DEGRADED / CRITICAL, health, last run, commands
    Status(crate::cmd::status::StatusArgs),
    /// The policy gate: production-readiness rules over gantry.yaml or a deployment plan
    #[command(subcommand)]
    Policy(crate::cmd::policy::PolicyCommand),
    /// Print the deployment plan for a service as JSON (schemas/plan.schema.json)
    Plan(crate::cmd::plan::PlanArgs),
    /// Veto a service as ROLE (decision log); a blocking veto stops its deploys
    Veto(crate::cmd::decisions::VetoArgs),
    /// Approve a service as ROLE (verifier or operator), clearing its blocking vetoes
    Approve(crate::cmd::decisions::ApproveArgs),
    /// The decision log: approvals and vetoes between agents
    Decisions(crate::cmd::decisions::DecisionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing gantry.yaml (the ledger and keys are always kept)
    #[arg(long)]
    pub force: bool,
    /// Project name (default: the directory's name)
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an Ed25519 key for ROLE and register its public key in the ledger
    Keygen {
        /// A role from the `agents:` section of gantry.yaml
        role: String,
    },
    /// Replace ROLE's key; the old key stays valid for entries it already signed
    Rotate { role: String },
    /// Roles, agent ids and key fingerprints
    List,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Append signed entries, as ROLE
    Append(AppendArgs),
    /// List entries, with filters
    Show(ShowArgs),
    /// Check chain, hashes, signatures, key validity and seals; exit 1 naming the first bad entry
    Verify {
        /// Also require the ledger to contain and extend this signed checkpoint (from
        /// `gantry ledger checkpoint`): catches entries removed from the end
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
    },
    /// Append a seal: the Merkle root of all entries so far, as a signed checkpoint
    Seal,
    /// Print the latest signed checkpoint (C2SP note), to keep elsewhere or give a witness
    Checkpoint {
        /// Write it to this file instead of stdout
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Print an inclusion proof for entry SEQ against the latest seal that covers it
    Prove {
        seq: u64,
        /// Write the proof to this file instead of stdout
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Verify an inclusion proof offline against its checkpoint and a public key
    CheckProof {
        /// Proof file written by `gantry ledger prove`
        proof: PathBuf,
        /// Verifier key (`gantry ledger verifier-key`), or a file holding it; default: this
        /// project's ledger key
        #[arg(long)]
        key: Option<String>,
    },
    /// Prove that the tree of size NEW extends the tree of size OLD (both sealed sizes, so the
    /// proof can be checked against signed checkpoints)
    Consistency {
        old: u64,
        new: u64,
        /// Write the proof to this file (for `check-consistency`)
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Check offline that checkpoint NEW extends checkpoint OLD, with a proof from
    /// `gantry ledger consistency OLD_SIZE NEW_SIZE --out PROOF`
    CheckConsistency {
        /// Older checkpoint file (from `gantry ledger checkpoint`)
        old: PathBuf,
        /// Newer checkpoint file
        new: PathBuf,
        /// Consistency proof file
        proof: PathBuf,
        /// Verifier key, or a file holding it; repeat for a log whose key was rotated
        /// between the checkpoints; default: every system key of this project's ledger
        #[arg(long)]
        key: Vec<String>,
    },
    /// Print the checkpoint verifier key (C2SP note format) of this ledger
    VerifierKey,
    /// Export entries for standard verifiers, signed by the system key; refused unless the
    /// whole ledger verifies
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::InToto)]
        format: ExportFormat,
        /// Output file (default: stdout)
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// in-toto Statement v1 in DSSE envelopes, one per line
    InToto,
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Role whose key signs the entries
    #[arg(long = "as", value_name = "ROLE")]
    pub role: String,
    /// Entry kind, dotted (e.g. `deploy.note`)
    #[arg(long, required_unless_present = "stdin", conflicts_with = "stdin")]
    pub kind: Option<String>,
    /// Entry body, JSON
    #[arg(long, default_value = "{}", conflicts_with = "stdin")]
    pub body: String,
    /// Read one `{"kind": ..., "body": ...}` per line from stdin, committed in group commits
    /// of bounded size as it streams (memory stays flat whatever the input size)
    #[arg(long)]
    pub stdin: bool,
    /// With --stdin: commit every N lines (default: 1000, or sooner once 4 MiB are pending)
    #[arg(long, requires = "stdin", value_name = "N")]
    pub batch: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Only kinds starting with this prefix (e.g. `agent.`)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only entries by this role
    #[arg(long)]
    pub role: Option<String>,
    /// Only entries at or after this time: RFC 3339, a date (2026-11-25), or an age (30m, 2h)
    #[arg(long)]
    pub since: Option<String>,
    /// Only the last N matching entries
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
}
