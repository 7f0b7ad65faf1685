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
    after_help = "Examples:\n  gantry init && gantry check\n  gantry --json ps\n  gantry completions bash > ~/.local/share/bash-completion/completions/gantry\n\n\
Exit codes: 0 success, 1 failure, 2 usage or configuration error, 3 rolled back, 4 conflict, \
5 control plane unavailable, 7 refused. With --json every error is {\"error\": {\"code\", \"message\", \"hint\"}} on stdout."
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
    #[command(after_help = "Examples:\n  gantry init\n  gantry init --project shop --force")]
    Init(InitArgs),
    /// Validate gantry.yaml; warnings name file:line:column too
    #[command(after_help = "Examples:\n  gantry check\n  gantry --json check")]
    Check,
    /// Agent identities: keys for roles
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry agent list\n  gantry agent keygen auditor"
    )]
    Agent(AgentCommand),
    /// The evidence ledger: append, show, verify, seal, prove, export
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry ledger show -n 20\n  gantry ledger verify"
    )]
    Ledger(LedgerCommand),
    /// Rebuild .gantry/state.json from the ledger
    #[command(after_help = "Examples:\n  gantry replay\n  gantry --json replay")]
    Replay,
    #[command(flatten)]
    Pipeline(crate::cmd::pipeline::PipelineCommand),
    #[command(flatten)]
    Deploy(crate::cmd::deploy::DeployCommand),
    /// Role-scoped API and MCP tokens: create, list, revoke
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  gantry token create --role viewer --name dashboard --expires 24h\n  gantry token list\n  gantry token revoke dashboard"
    )]
    Token(crate::cmd::deploy::tokens::TokenCommand),
    /// MCP server on stdio for an agent: gantry's operations as tools (reaches the running
    /// control plane with GANTRY_TOKEN; tools/list shows what the token's role may call)
    #[command(
        after_help = "Examples:\n  GANTRY_TOKEN=$(gantry token create --role operator --name agent) gantry mcp\n  gantry mcp --read-only"
    )]
    Mcp(crate::cmd::mcp::McpArgs),
    /// The status report: OPERATIONAL / DEGRADED / CRITICAL, health, last run, commands
    #[command(
        after_help = "Examples:\n  gantry status\n  gantry status --check\n  gantry status --format json --out status.json\n  gantry status --refresh"
    )]
    Status(crate::cmd::status::StatusArgs),
    /// Alert rules (`alerts:`): export them for Prometheus
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry alerts export --out gantry-rules.yml"
    )]
    Alerts(crate::cmd::alerts::AlertsCommand),
    /// The policy gate: production-readiness rules over gantry.yaml or a deployment plan
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  gantry policy check\n  gantry plan | gantry policy check --plan -"
    )]
    Policy(crate::cmd::policy::PolicyCommand),
    /// Print the deployment plan for a service as JSON (schemas/plan.schema.json)
    #[command(
        after_help = "Examples:\n  gantry plan\n  gantry plan --env staging --service web > plan.json"
    )]
    Plan(crate::cmd::plan::PlanArgs),
    /// Veto a service as ROLE (decision log); a blocking veto stops its deploys
    #[command(
        after_help = "Examples:\n  gantry veto web --as verifier --violation stagingMissing --specifics \"v2 never ran in staging\""
    )]
    Veto(crate::cmd::decisions::VetoArgs),
    /// Approve a service as ROLE: its deploy awaiting the environment's approval starts;
    /// with none waiting, its blocking vetoes are cleared (verifier or operator)
    #[command(
        after_help = "Examples:\n  gantry approve web --env production --as verifier --summary \"staging looked good\"\n  gantry approve web --as verifier --summary \"staged by hand\""
    )]
    Approve(crate::cmd::decisions::ApproveArgs),
    /// The decision log: approvals and vetoes between agents
    #[command(
        after_help = "Examples:\n  gantry decisions\n  gantry decisions --service web --json"
    )]
    Decisions(crate::cmd::decisions::DecisionsArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout
    #[command(
        after_help = "Examples:\n  gantry completions bash > ~/.local/share/bash-completion/completions/gantry\n  \
gantry completions zsh > \"${fpath[1]}/_gantry\"\n  gantry completions fish > ~/.config/fish/completions/gantry.fish"
    )]
    Completions {
        /// The shell to complete for: bash, zsh or fish (also elvish, powershell)
        shell: clap_complete::Shell,
    },
    /// SERVICE's deployments from the ledger: revision, from → to, strategy, outcome, who,
    /// duration, why it failed (no control plane needed)
    #[command(after_help = "Examples:\n  gantry history web\n  gantry --json history web")]
    History {
        /// A service from `services:` (or one the ledger has deployments of)
        service: String,
    },
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
    #[command(
        after_help = "Examples:\n  gantry agent keygen auditor\n  gantry --json agent keygen auditor"
    )]
    Keygen {
        /// A role from the `agents:` section of gantry.yaml
        role: String,
    },
    /// Replace ROLE's key; the old key stays valid for entries it already signed
    #[command(
        after_help = "Examples:\n  gantry agent rotate planner\n  gantry agent rotate gantry   # the system key"
    )]
    Rotate {
        /// A role from `agents:` whose key to replace, or `gantry` for the system key
        role: String,
    },
    /// Roles, agent ids and key fingerprints
    #[command(after_help = "Examples:\n  gantry agent list\n  gantry --json agent list")]
    List,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Append signed entries, as ROLE
    #[command(
        after_help = "Examples:\n  gantry ledger append --as planner --kind plan.drafted --body '{\"release\":\"v2\"}'\n  \
some-agent | gantry ledger append --as operator --stdin"
    )]
    Append(AppendArgs),
    /// List entries, with filters
    #[command(
        after_help = "Examples:\n  gantry ledger show --kind deployment. --since 2h\n  gantry ledger show --role planner -n 5 --json"
    )]
    Show(ShowArgs),
    /// Check chain, hashes, signatures, key validity and seals; exit 1 naming the first bad entry
    #[command(
        after_help = "Examples:\n  gantry ledger verify\n  gantry ledger verify --against cp.txt"
    )]
    Verify {
        /// Also require the ledger to contain and extend this signed checkpoint (from
        /// `gantry ledger checkpoint`): catches entries removed from the end
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
    },
    /// Append a seal: the Merkle root of all entries so far, as a signed checkpoint
    #[command(
        after_help = "Examples:\n  gantry ledger seal\n  gantry ledger seal && gantry ledger checkpoint --out cp.txt"
    )]
    Seal,
    /// Print the latest signed checkpoint (C2SP note), to keep elsewhere or give a witness
    #[command(
        after_help = "Examples:\n  gantry ledger checkpoint\n  gantry ledger checkpoint --out cp.txt"
    )]
    Checkpoint {
        /// Write it to this file instead of stdout
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Print an inclusion proof for entry SEQ against the latest seal that covers it
    #[command(
        after_help = "Examples:\n  gantry ledger prove 5\n  gantry ledger prove 5 --out proof.json"
    )]
    Prove {
        /// The entry's sequence number (`gantry ledger show` lists them)
        seq: u64,
        /// Write the proof to this file instead of stdout
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Verify an inclusion proof offline against its checkpoint and a public key
    #[command(
        after_help = "Examples:\n  gantry ledger check-proof proof.json\n  gantry ledger check-proof proof.json --key \"$(gantry ledger verifier-key)\""
    )]
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
    #[command(
        after_help = "Examples:\n  gantry ledger consistency 10 20\n  gantry ledger consistency 10 20 --out p.json"
    )]
    Consistency {
        /// The older tree size (a sealed size)
        old: u64,
        /// The newer tree size (a sealed size, at least OLD)
        new: u64,
        /// Write the proof to this file (for `check-consistency`)
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Check offline that checkpoint NEW extends checkpoint OLD, with a proof from
    /// `gantry ledger consistency OLD_SIZE NEW_SIZE --out PROOF`
    #[command(
        after_help = "Examples:\n  gantry ledger check-consistency cp10.txt cp20.txt p.json\n  \
gantry ledger check-consistency cp10.txt cp20.txt p.json --key \"$(gantry ledger verifier-key)\""
    )]
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
    #[command(
        after_help = "Examples:\n  gantry ledger verifier-key\n  gantry --json ledger verifier-key"
    )]
    VerifierKey,
    /// Export entries for standard verifiers, signed by the system key; refused unless the
    /// whole ledger verifies
    #[command(
        after_help = "Examples:\n  gantry ledger export --out evidence.jsonl\n  gantry ledger export --format in-toto"
    )]
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

/// Whether `--json` is among the arguments (before any `--`), for errors clap raises
/// before it has parsed them.
pub fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}
