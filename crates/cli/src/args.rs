//! Command-line arguments.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  entitle audit --scenario examples/rpa-back-office.toml
  entitle audit --scenario examples/rpa-back-office.toml --format csv > at-risk.csv
  entitle optimise --scenario examples/rpa-back-office.toml --format json
  entitle check flow invoice-sync --scenario examples/small-business-m365.toml
  entitle check flow expense-button --as dana --scenario examples/small-business-m365.toml --format json
  entitle check app case-portal --user guest-eva --scenario examples/guests-cross-tenant.toml
  entitle capacity --scenario examples/customer-service-d365.toml
  entitle limits --user alice --scenario examples/small-business-m365.toml
  entitle cost --scenario examples/rpa-back-office.toml --catalog current
  entitle buy --sku power-automate-per-user --quantity 3 --as bob --scenario examples/small-business-m365.toml
  entitle impact --entity incident --add-logic sync-plugin --scenario examples/customer-service-d365.toml
  entitle catalog --connectors
  entitle explain FLOW-4";

/// Power Apps and Power Automate licensing decisions, with reasons, over a scenario file.
#[derive(Debug, Parser)]
#[command(name = "entitle", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The scenario file (TOML, or JSON by its `.json` extension).
    #[arg(
        long,
        short = 's',
        global = true,
        env = "ENTITLE_SCENARIO",
        value_name = "FILE"
    )]
    pub scenario: Option<PathBuf>,
    /// Evaluation date (YYYY-MM-DD); overrides the scenario's `tenant.at`; default: today (UTC).
    #[arg(long, global = true, value_name = "DATE")]
    pub at: Option<NaiveDate>,
    /// Output format: `table` for people, `json` and `csv` for programs.
    #[arg(long, short = 'f', global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Catalog: `seed` (the default, the seed documents' figures), `current` (today's figures) or a TOML file.
    /// With `serve`: the edition new tenants use unless they name one.
    #[arg(long, global = true, env = "ENTITLE_CATALOG", value_name = "EDITION|FILE")]
    pub catalog: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl From<Format> for entitle_render::Format {
    fn from(f: Format) -> entitle_render::Format {
        match f {
            Format::Table => entitle_render::Format::Table,
            Format::Json => entitle_render::Format::Json,
            Format::Csv => entitle_render::Format::Csv,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// May this flow run, or this user open this app? Under which licence, and why?
    #[command(subcommand)]
    Check(Check),
    /// Every flow that needs a licence it lacks, with enforcement kind, dates and fixes (ENF-1, ENF-2); with
    /// `--by user`, who needs what: per user the rights held, what they own and run, the rule behind each gap and
    /// the cheapest fix, and per SKU the units short or spare.
    Audit(AuditArgs),
    /// The cheapest set of changes (buy, assign, reassign, allocate, set a flow's licence, associate an app,
    /// change an owner) that turns every denied flow and app decision, worked out jointly, with the bill before
    /// and after and the saving against the audit's per-flow sum.
    Optimise(Optimise),
    /// Dataverse database, file and log capacity, with where each MB comes from (CAP).
    Capacity,
    /// Power Platform requests per 24 hours of a user or a flow run, with their sources (REQ).
    Limits(Limits),
    /// The monthly bill, per SKU and in total, per currency.
    Cost,
    /// Portal logins and page views, AI Builder credits and Dataverse storage in a month against what is allocated
    /// (PORTAL-5, AI-1, CAP-6), from the scenario's `[[consumption]]` records, with the fix for each overage.
    Consumption(MonthArg),
    /// The monthly statement: licences and add-ons, consumption against allocation, overages and what closing them
    /// costs, and the change from the month before.
    Statement(MonthArg),
    /// What happens day by day from --from to --to: ENF-3's notices, ENF-2's turn-offs, trial expiries (BUY-7,
    /// CAT-10), renewals and lapses, each day worked out on the tenant as the days before left it (the same core
    /// function as the server's jobs).
    Timeline(TimelineArgs),
    /// Would this purchase be accepted, and what would it cost? (a dry run)
    Buy(Buy),
    /// Which apps, flows and users a change to an entity would affect, before it is made (ENT-5).
    Impact(Impact),
    /// Apply licence changes (the JSON body of the server's `users:assignLicense`) to the scenario: what they
    /// change and which decisions they turn, all or nothing; `--out` writes the changed scenario.
    Apply(Apply),
    /// The catalog: SKUs with prices, dates and grants; connectors with their tiers.
    Catalog(CatalogArgs),
    /// The JSON Schema of the scenario file.
    Schema,
    /// A rule of the rulebook by its ID (`FLOW-4`, any case): its reading, the seed sentences it rests on (with
    /// an English gloss) and the tests that check it.
    Explain(Explain),
    /// Write a synthetic tenant of any size, for load and scale tests.
    Generate(Generate),
    /// Turn admin exports (PowerShell, Graph, admin center, CoE, licensing API; JSON or CSV) into a scenario
    /// file. Each file's kind is told from its content; every guessed value gets a `# guessed:` comment, and
    /// stderr lists everything unknown by name and count.
    Import(ImportArgs),
    /// Run the HTTP API (and keep every change in SQLite, or PostgreSQL with --database-url).
    Serve(Serve),
    /// Create, list and revoke API keys, straight in the server's store.
    #[command(subcommand)]
    Key(Key),
}

/// `entitle timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The first day (default: the evaluation date).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<chrono::NaiveDate>,
    /// The last day, included (default: a year after --from; at most ten years after it).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<chrono::NaiveDate>,
}

/// `entitle optimise`.
#[derive(Debug, Args)]
pub struct Optimise {
    /// Which decisions to turn: `flows`, `apps`, or a comma-separated list of flow and app ids (default: all).
    #[arg(long, value_name = "flows|apps|ID,...")]
    pub only: Option<String>,
}

/// Where the server's store is: the same settings as `serve`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Directory of the SQLite file (default: the platform's data directory, e.g. ~/.local/share/entitle).
    #[arg(long, env = "ENTITLE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use this database instead: `postgres://user@host:5432/db` (or `sqlite://PATH`).
    #[arg(long, env = "ENTITLE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// A TOML file with any of these settings (kebab-case keys); flags and ENTITLE_* variables win over it.
    #[arg(long, env = "ENTITLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  entitle serve                                        # 127.0.0.1:8080, SQLite in the data directory
  entitle serve --listen 0.0.0.0:8080 --data-dir /var/lib/entitle
  entitle serve --database-url postgres://entitle@db:5432/entitle --redis-url redis://cache:6379
  ENTITLE_ADMIN_KEY=... entitle serve                  # the operator key to create on first start";

#[derive(Debug, Args)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct Serve {
    /// Address to listen on.
    #[arg(long, env = "ENTITLE_LISTEN", value_name = "ADDR", default_value = None)]
    pub listen: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Share the request meter between nodes through this Redis.
    #[arg(long, env = "ENTITLE_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// When Redis does not answer: `fail-open` (count locally) or `fail-closed` (refuse).
    #[arg(long, env = "ENTITLE_REDIS_FAILURE", value_name = "POLICY")]
    pub redis_failure: Option<String>,
    /// Prefix of the meter's Redis keys: nodes that share budgets share it (default `entitle:`).
    #[arg(long, env = "ENTITLE_REDIS_PREFIX", value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
    /// Milliseconds a Redis call may take before the failure policy applies (default 1000).
    #[arg(long, env = "ENTITLE_REDIS_TIMEOUT_MS", value_name = "MS")]
    pub redis_timeout_ms: Option<u64>,
    /// Log lines as `text` or `json`.
    #[arg(long, env = "ENTITLE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "ENTITLE_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most client connections open at once; more are closed as they come (default: the file-descriptor limit
    /// less 128).
    #[arg(long, env = "ENTITLE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Milliseconds a client may take to send a request head (default 10000).
    #[arg(long, env = "ENTITLE_HEADER_TIMEOUT_MS", value_name = "MS")]
    pub header_timeout_ms: Option<u64>,
    /// Milliseconds a request body may take to arrive (default 30000).
    #[arg(long, env = "ENTITLE_BODY_TIMEOUT_MS", value_name = "MS")]
    pub body_timeout_ms: Option<u64>,
    /// Milliseconds a kept-alive connection may sit idle between requests (default 60000).
    #[arg(long, env = "ENTITLE_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// After SIGTERM, milliseconds the requests in flight may take before the process exits anyway (default
    /// 10000).
    #[arg(long, env = "ENTITLE_SHUTDOWN_GRACE_MS", value_name = "MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// About how much memory loaded tenants may take (`512MiB`, `2GB`, or bytes, at least 1MiB): tenants load on
    /// first use, and beyond the budget the ones used least recently are unloaded until used again (default: no
    /// budget; every tenant used stays loaded).
    #[arg(long, env = "ENTITLE_MEMORY_BUDGET", value_name = "BYTES")]
    pub memory_budget: Option<String>,
    /// Seconds between looks for tenants whose jobs (enforcement notices and turn-offs, trial expiries,
    /// renewals) are behind the UTC date (default 60; 0: this node runs none).
    #[arg(long = "jobs-interval", env = "ENTITLE_JOBS_INTERVAL", value_name = "SECS")]
    pub jobs_interval_secs: Option<u64>,
    /// Let webhook endpoints be loopback, private or link-local addresses (labs and tests; off by default, so
    /// whoever may create an endpoint cannot make the server call into its own network).
    #[arg(long, env = "ENTITLE_WEBHOOKS_ALLOW_PRIVATE")]
    pub webhooks_allow_private: bool,
    /// Mail ENF-3's notices (admins, makers, turn-offs) through this SMTP server: `smtp://host:port`,
    /// `smtps://host` (TLS) or `smtp://host?tls=required` (STARTTLS); users are mailed when their id is an
    /// e-mail address. Default: no e-mail (events and banners only).
    #[arg(long, env = "ENTITLE_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// The sender of those e-mails (default entitle@localhost).
    #[arg(long, env = "ENTITLE_SMTP_FROM", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// Do not deliver webhooks from this node (others sharing the database do).
    #[arg(long, env = "ENTITLE_NO_WEBHOOKS")]
    pub no_webhooks: bool,
    /// Pin today's date (demos and tests).
    #[arg(long, env = "ENTITLE_TODAY", value_name = "DATE", hide = true)]
    pub today: Option<NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum Key {
    /// Make a key; its secret is printed once.
    Create {
        /// The tenant it belongs to (every role but operator).
        #[arg(long, value_name = "TENANT")]
        tenant: Option<String>,
        /// operator, global-admin, billing-admin, environment-admin, maker or reader.
        #[arg(long)]
        role: String,
        /// Environment admins: an environment they administer (repeat for more).
        #[arg(long = "environment", value_name = "ENV")]
        environments: Vec<String>,
        /// Makers: the user they act as.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// A label for people.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long, value_name = "TENANT")]
        tenant: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum Check {
    /// May this flow run (for this invoking user)? Under which licence?
    Flow {
        /// The flow's id.
        flow: String,
        /// The invoking user (instant flows).
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// May this user run this app?
    App {
        /// The app's id.
        app: String,
        #[arg(long, value_name = "USER")]
        user: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct LimitsTarget {
    /// A user's own limit.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The limit a run of this flow draws on.
    #[arg(long, value_name = "FLOW")]
    pub flow: Option<String>,
}

#[derive(Debug, Args)]
pub struct Limits {
    #[command(flatten)]
    pub target: LimitsTarget,
    /// With `--flow`: the invoking user (instant flows).
    #[arg(long = "as", value_name = "USER", requires = "flow")]
    pub as_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct Buy {
    /// The SKU to buy.
    #[arg(long)]
    pub sku: String,
    /// How many units.
    #[arg(long)]
    pub quantity: u32,
    /// The user who buys (self-service unless they are a global or billing admin); default: an admin.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// How it is bought: `admin` (directly), `csp` (through a partner), `self-service` or `trial`; default:
    /// directly for an admin, self-service for anyone else. A SKU not sold through it is refused (CAT-13, BUY-1).
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
}

/// `--channel` of `buy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelArg {
    Admin,
    Csp,
    SelfService,
    Trial,
}

impl From<ChannelArg> for entitle_core::scenario::PurchaseChannel {
    fn from(c: ChannelArg) -> Self {
        match c {
            ChannelArg::Admin => Self::Admin,
            ChannelArg::Csp => Self::Csp,
            ChannelArg::SelfService => Self::SelfService,
            ChannelArg::Trial => Self::Trial,
        }
    }
}

#[derive(Debug, Args)]
pub struct Apply {
    /// The changes: `{"assignments": [{"user": …, "addLicenses": [{"skuId": …}], "removeLicenses": […]}]}`.
    #[arg(value_name = "CHANGES.json")]
    pub changes: std::path::PathBuf,
    /// Write the changed scenario here (TOML, or JSON by extension); without it nothing is written.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct Impact {
    /// The entity to change.
    #[arg(long)]
    pub entity: String,
    #[command(flatten)]
    pub change: ImpactChange,
}

/// What to change: exactly one of these.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ImpactChange {
    /// Add business logic to it.
    #[arg(long, value_enum)]
    pub add_logic: Option<LogicArg>,
    /// Make it a restricted entity.
    #[arg(long)]
    pub restrict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogicArg {
    SyncPlugin,
    RealtimeWorkflow,
    BackgroundWorkflow,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `flow` (the default): one row per flow at risk; `user`: one row per user, and units per SKU.
    #[arg(long, value_enum, default_value_t = AuditBy::Flow)]
    pub by: AuditBy,
}

/// `--by` of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditBy {
    Flow,
    User,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// List connectors instead of SKUs.
    #[arg(long)]
    pub connectors: bool,
}

#[derive(Debug, Args)]
pub struct Explain {
    /// The rule's ID, as answers name it (`FLOW-4`; `flow_4` and `flow4` work too).
    #[arg(value_name = "RULE")]
    pub rule: String,
}

const IMPORT_EXAMPLES: &str = "\
Examples:
  entitle import --flows flows.json --users users.json --skus skus.json -o tenant.toml
  entitle import --flows flows.csv --apps apps.csv --environments envs.csv --users users.csv \\
      --skus subscribedSkus.json --allocations allocations.json --capacity capacity.json \\
      --at-risk at-risk.csv -o tenant.toml
  entitle import exports/*.json -o tenant.toml      # kinds told from the content";

#[derive(Debug, Args)]
#[command(after_help = IMPORT_EXAMPLES)]
pub struct ImportArgs {
    /// `Get-AdminFlow` (thin list or per flow), admin REST flow JSON, or the CoE `admin_flow` table.
    #[arg(long, value_name = "FILE")]
    pub flows: Vec<PathBuf>,
    /// `Get-AdminPowerApp`.
    #[arg(long, value_name = "FILE")]
    pub apps: Vec<PathBuf>,
    /// `Get-AdminPowerAppEnvironment` or the BAP environments JSON.
    #[arg(long, value_name = "FILE")]
    pub environments: Vec<PathBuf>,
    /// Graph `/users` (with assignedLicenses, assignedPlans) or the admin center's "Export users" CSV.
    #[arg(long, value_name = "FILE")]
    pub users: Vec<PathBuf>,
    /// Graph `/subscribedSkus`.
    #[arg(long, value_name = "FILE")]
    pub skus: Vec<PathBuf>,
    /// Licensing API `currencyAllocations` (one environment or `allocationsByEnvironment`).
    #[arg(long, value_name = "FILE")]
    pub allocations: Vec<PathBuf>,
    /// `Get-AdminFlowAtRiskOfSuspension` via Export-Csv: compared with entitle's own audit.
    #[arg(long, value_name = "FILE")]
    pub at_risk: Vec<PathBuf>,
    /// Licensing API `tenantCapacity`.
    #[arg(long, value_name = "FILE")]
    pub capacity: Vec<PathBuf>,
    /// The connector list (`…/apis`), to classify custom connectors.
    #[arg(long, value_name = "FILE")]
    pub connectors: Vec<PathBuf>,
    /// Any other export; its kind is told from its content.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write the scenario (TOML); default: standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The tenant's id in the scenario (default: the tenant GUID the exports carry).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// Write the summary to stderr as JSON instead of text.
    #[arg(long)]
    pub summary_json: bool,
}

#[derive(Debug, Args)]
pub struct Generate {
    #[arg(long, default_value_t = 100_000)]
    pub flows: u32,
    #[arg(long, default_value_t = 20_000)]
    pub users: u32,
    #[arg(long, default_value_t = 1_000)]
    pub environments: u32,
    /// Seed of the pseudo-random choices: the same seed writes the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

/// `--month YYYY-MM`.
#[derive(Debug, clap::Args)]
pub struct MonthArg {
    /// The calendar month (UTC), e.g. 2024-06; default: the month of the evaluation date.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
}
