//! Settings for `entitle serve`: flags, `ENTITLE_*` environment variables and a TOML config file, in that
//! order of precedence, then defaults. Every bad or missing setting stops the start with a message that names
//! it and where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

/// One layer of settings (from flags and environment, or from the file). Absent means "not set here".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Address to listen on (default 127.0.0.1:8080).
    pub listen: Option<String>,
    /// Where the SQLite file lives (default: the platform's data directory).
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL (or `sqlite://PATH` for another SQLite file).
    pub database_url: Option<String>,
    /// `redis://…` for a request meter shared by several nodes.
    pub redis_url: Option<String>,
    /// The default catalog edition for new tenants: `seed` or `current`.
    pub catalog: Option<String>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// Largest request body in bytes (default 33554432, 32 MiB).
    pub max_body_bytes: Option<usize>,
    /// The operator key to create on first start (instead of a random one, printed once).
    pub admin_key: Option<String>,
    /// What the meter does when Redis does not answer: `fail-open` (default; count locally) or `fail-closed`.
    pub redis_failure: Option<String>,
    /// Prefix of the meter's Redis keys (nodes sharing a budget share the prefix; default `entitle:`).
    pub redis_prefix: Option<String>,
    /// How long a Redis call may take before the failure policy applies, in ms (default 1000).
    pub redis_timeout_ms: Option<u64>,
    /// Pins "today" (tests and demos); default: the real date, UTC.
    pub today: Option<NaiveDate>,
    /// Most connections open at once; more are closed as they come (default: from the file-descriptor limit).
    pub max_connections: Option<usize>,
    /// How long a client may take to send a request head, from its first byte (or from connecting), in ms.
    pub header_timeout_ms: Option<u64>,
    /// How long a request body may take to arrive once the handler waits for it, in ms.
    pub body_timeout_ms: Option<u64>,
    /// How long a kept-alive connection may sit between requests, in ms.
    pub idle_timeout_ms: Option<u64>,
    /// After SIGTERM, how long requests in flight may take before the process exits anyway, in ms.
    pub shutdown_grace_ms: Option<u64>,
    /// About how much memory loaded tenants may take (`512MiB`, `2GB`, or bytes); beyond it, the tenants used
    /// least recently are unloaded (and loaded again on their next request). Default: no budget.
    pub memory_budget: Option<String>,
    /// How often each node looks for tenants whose jobs (ENF-3 notices, turn-offs, trial expiries, renewals)
    /// are behind the UTC date, in seconds (default 60; 0: never, e.g. on nodes that only answer).
    pub jobs_interval_secs: Option<u64>,
    /// Webhook endpoints may be loopback, private or link-local addresses (labs and tests; default false).
    pub webhooks_allow_private: Option<bool>,
    /// Deliver webhooks from this node (default true; false on nodes that should only answer).
    pub webhooks_dispatch: Option<bool>,
    /// `smtp://host:port` (or `smtps://`, or `?tls=required`): ENF-3's notices by e-mail. None: events only.
    pub smtp_url: Option<String>,
    /// The sender of those e-mails (default `entitle@localhost`).
    pub smtp_from: Option<String>,
}

/// Where the SQLite file is, or which database to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the meter does when Redis does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisFailure {
    FailOpen,
    FailClosed,
}

/// Settings resolved and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    pub redis_url: Option<String>,
    pub catalog: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub admin_key: Option<String>,
    pub redis_failure: RedisFailure,
    pub redis_prefix: String,
    pub redis_timeout_ms: u64,
    pub today: Option<NaiveDate>,
    pub max_connections: usize,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    /// Bytes; `None`: every tenant used stays loaded.
    pub memory_budget: Option<u64>,
    /// Seconds between looks for tenants whose jobs are behind; 0: none.
    pub jobs_interval_secs: u64,
    pub webhooks_allow_private: bool,
    pub webhooks_dispatch: bool,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
}

/// File descriptors kept out of the default connection cap: the database pool (SQLite's files or PostgreSQL's
/// sockets), Redis, the listener, logs, and files opened while serving.
pub const FD_RESERVE: u64 = 128;

/// The largest default connection cap, whatever the descriptor limit (each connection also costs memory).
pub const MAX_DEFAULT_CONNECTIONS: u64 = 65_536;

/// The longest timeout accepted, in ms (a day).
const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// The process's soft limit on open file descriptors, when the platform tells it.
pub fn fd_soft_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The connection cap when none is set: the descriptor limit less [`FD_RESERVE`], so that accepting never runs
/// the process out of descriptors (EMFILE) while the store still needs some.
pub fn default_max_connections(fd_limit: Option<u64>) -> usize {
    let cap = match fd_limit {
        Some(n) if n > 2 * FD_RESERVE => n - FD_RESERVE,
        Some(n) => n / 2,
        None => 1024 - FD_RESERVE,
    };
    usize::try_from(cap.clamp(1, MAX_DEFAULT_CONNECTIONS)).unwrap_or(1)
}

impl Config {
    /// The database URL sqlx opens.
    pub fn database_url(&self) -> String {
        match &self.database {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Url(url) => url.clone(),
        }
    }
}

/// A setting that stops the start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_}: {key}: {message}")]
pub struct ConfigError {
    /// `--listen / ENTITLE_LISTEN`, or `FILE:LINE`.
    pub source_: String,
    pub key: String,
    pub message: String,
}

fn err(source_: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        source_: source_.to_owned(),
        key: key.to_owned(),
        message: message.into(),
    }
}

/// `512MiB`, `2 GB`, `1073741824`: bytes, with an optional unit (KB/MB/GB are powers of 1000, KiB/MiB/GiB of
/// 1024); at least 1 MiB.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&b| b >= 1 << 20)
}

/// Reads a config file.
pub fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| err(&name, "config", format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
        let at = line.map_or(name.clone(), |l| format!("{name}:{l}"));
        err(&at, "config", e.message().to_owned())
    })
}

/// The platform's data directory for entitle (`~/.local/share/entitle` on Linux).
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "entitle", "entitle").map(|d| d.data_dir().to_path_buf())
}

/// Resolves flags-and-environment over the file over defaults, and checks everything.
pub fn resolve(given: Settings, file: Option<(Settings, String)>) -> Result<Config, ConfigError> {
    let (file, file_name) = file.unwrap_or_default();
    let from = |flag: bool, key: &str| -> String {
        if flag {
            format!("--{key} / ENTITLE_{}", key.to_uppercase().replace('-', "_"))
        } else {
            format!("{file_name} ({key})")
        }
    };
    let pick = |a: Option<String>, b: Option<String>| a.map(|v| (v, true)).or(b.map(|v| (v, false)));

    let listen = match pick(given.listen, file.listen) {
        Some((text, flag)) => text.parse::<SocketAddr>().map_err(|_| {
            err(
                &from(flag, "listen"),
                "listen",
                format!("`{text}` is not an address such as 127.0.0.1:8080 or 0.0.0.0:80"),
            )
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let database = match pick(given.database_url, file.database_url) {
        Some((url, flag)) => {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(err(
                    &from(flag, "database-url"),
                    "database-url",
                    format!(
                        "`{}` is neither postgres://… nor sqlite://PATH",
                        crate::store::redact(&url)
                    ),
                ));
            }
            Database::Url(url)
        }
        None => {
            let dir = given
                .data_dir
                .or(file.data_dir)
                .or_else(default_data_dir)
                .ok_or_else(|| {
                    err(
                        "--data-dir / ENTITLE_DATA_DIR",
                        "data-dir",
                        "no platform data directory is known here; give one",
                    )
                })?;
            std::fs::create_dir_all(&dir).map_err(|e| {
                err(
                    "--data-dir / ENTITLE_DATA_DIR",
                    "data-dir",
                    format!("cannot create `{}`: {e}", dir.display()),
                )
            })?;
            let probe = dir.join(".entitle-write-test");
            std::fs::write(&probe, b"").map_err(|e| {
                err(
                    "--data-dir / ENTITLE_DATA_DIR",
                    "data-dir",
                    format!("`{}` is not writable: {e}", dir.display()),
                )
            })?;
            let _ = std::fs::remove_file(&probe);
            Database::Sqlite(dir.join("entitle.db"))
        }
    };
    let redis_url = match pick(given.redis_url, file.redis_url) {
        Some((url, flag)) if !(url.starts_with("redis://") || url.starts_with("rediss://")) => {
            return Err(err(
                &from(flag, "redis-url"),
                "redis-url",
                format!("`{}` is not redis://…", crate::store::redact(&url)),
            ));
        }
        other => other.map(|(u, _)| u),
    };
    let catalog = match pick(given.catalog, file.catalog) {
        Some((c, flag)) if entitle_core::Catalog::edition(&c).is_none() => {
            return Err(err(
                &from(flag, "catalog"),
                "catalog",
                format!("unknown catalog edition `{c}` (known: seed, current)"),
            ));
        }
        Some((c, _)) => c,
        None => "seed".to_owned(),
    };
    let log_format = match pick(given.log_format, file.log_format) {
        None => LogFormat::Text,
        Some((f, _)) if f == "text" => LogFormat::Text,
        Some((f, _)) if f == "json" => LogFormat::Json,
        Some((f, flag)) => {
            return Err(err(
                &from(flag, "log-format"),
                "log-format",
                format!("`{f}`: use text or json"),
            ));
        }
    };
    let max_body_bytes = given
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(32 * 1024 * 1024);
    if max_body_bytes < 1024 {
        return Err(err(
            "--max-body-bytes / ENTITLE_MAX_BODY_BYTES",
            "max-body-bytes",
            "at least 1024",
        ));
    }
    let admin_key = match pick(given.admin_key, file.admin_key) {
        Some((k, flag)) if k.trim().len() < 16 || k.chars().any(char::is_whitespace) => {
            return Err(err(
                &from(flag, "admin-key"),
                "admin-key",
                "an admin key has at least 16 characters and no spaces",
            ));
        }
        other => other.map(|(k, _)| k),
    };
    let redis_failure = match pick(given.redis_failure, file.redis_failure) {
        None => RedisFailure::FailOpen,
        Some((f, _)) if f == "fail-open" => RedisFailure::FailOpen,
        Some((f, _)) if f == "fail-closed" => RedisFailure::FailClosed,
        Some((f, flag)) => {
            return Err(err(
                &from(flag, "redis-failure"),
                "redis-failure",
                format!("`{f}`: use fail-open or fail-closed"),
            ));
        }
    };
    let ms = |given: Option<u64>, file: Option<u64>, key: &str, default: u64, min: u64| match given
        .map(|v| (v, true))
        .or(file.map(|v| (v, false)))
    {
        None => Ok(default),
        Some((v, _)) if (min..=MAX_TIMEOUT_MS).contains(&v) => Ok(v),
        Some((v, flag)) => Err(err(
            &from(flag, key),
            key,
            format!("`{v}`: give milliseconds from {min} to {MAX_TIMEOUT_MS} (a day)"),
        )),
    };
    let header_timeout_ms = ms(
        given.header_timeout_ms,
        file.header_timeout_ms,
        "header-timeout-ms",
        10_000,
        1,
    )?;
    let body_timeout_ms = ms(
        given.body_timeout_ms,
        file.body_timeout_ms,
        "body-timeout-ms",
        30_000,
        1,
    )?;
    let idle_timeout_ms = ms(
        given.idle_timeout_ms,
        file.idle_timeout_ms,
        "idle-timeout-ms",
        60_000,
        1,
    )?;
    let shutdown_grace_ms = ms(
        given.shutdown_grace_ms,
        file.shutdown_grace_ms,
        "shutdown-grace-ms",
        10_000,
        0,
    )?;
    let max_connections = match given
        .max_connections
        .map(|v| (v, true))
        .or(file.max_connections.map(|v| (v, false)))
    {
        None => default_max_connections(fd_soft_limit()),
        Some((n, _)) if (1..=10_000_000).contains(&n) => n,
        Some((n, flag)) => {
            return Err(err(
                &from(flag, "max-connections"),
                "max-connections",
                format!("`{n}`: give from 1 to 10000000"),
            ));
        }
    };
    let memory_budget = match pick(given.memory_budget, file.memory_budget) {
        None => None,
        Some((text, flag)) => Some(parse_bytes(&text).ok_or_else(|| {
            err(
                &from(flag, "memory-budget"),
                "memory-budget",
                format!("`{text}`: give bytes with an optional unit, from 1MiB: 512MiB, 2GB, 1073741824"),
            )
        })?),
    };
    let jobs_interval_secs = given.jobs_interval_secs.or(file.jobs_interval_secs).unwrap_or(60);
    if jobs_interval_secs > 86_400 {
        return Err(err(
            "--jobs-interval",
            "jobs-interval",
            format!("`{jobs_interval_secs}`: give seconds from 0 (never) to 86400 (a day)"),
        ));
    }
    let smtp_url = given.smtp_url.or(file.smtp_url);
    let smtp_from = given
        .smtp_from
        .or(file.smtp_from)
        .unwrap_or_else(|| "entitle@localhost".to_owned());
    if let Some(url) = &smtp_url {
        crate::mail::Mailer::new(url, &smtp_from).map_err(|e| {
            let key = if matches!(e, crate::mail::MailError::From(_)) {
                "smtp-from"
            } else {
                "smtp-url"
            };
            err(&format!("--{key}"), key, e.to_string())
        })?;
    }
    Ok(Config {
        memory_budget,
        jobs_interval_secs,
        smtp_url,
        smtp_from,
        webhooks_allow_private: given
            .webhooks_allow_private
            .or(file.webhooks_allow_private)
            .unwrap_or(false),
        webhooks_dispatch: given.webhooks_dispatch.or(file.webhooks_dispatch).unwrap_or(true),

        listen,
        database,
        redis_url,
        catalog,
        log_format,
        max_body_bytes,
        admin_key,
        redis_failure,
        redis_prefix: given
            .redis_prefix
            .or(file.redis_prefix)
            .unwrap_or_else(|| "entitle:".to_owned()),
        redis_timeout_ms: given
            .redis_timeout_ms
            .or(file.redis_timeout_ms)
            .unwrap_or(1000)
            .max(1),
        today: given.today.or(file.today),
        max_connections,
        header_timeout_ms,
        body_timeout_ms,
        idle_timeout_ms,
        shutdown_grace_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("entitle-config-test-{}", std::process::id()))
    }

    #[test]
    fn defaults_need_nothing() {
        let c = resolve(
            Settings {
                data_dir: Some(dir()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database, Database::Sqlite(dir().join("entitle.db")));
        assert_eq!(c.catalog, "seed");
        assert_eq!(
            (
                c.header_timeout_ms,
                c.body_timeout_ms,
                c.idle_timeout_ms,
                c.shutdown_grace_ms
            ),
            (10_000, 30_000, 60_000, 10_000)
        );
        assert_eq!(c.max_connections, default_max_connections(fd_soft_limit()));
    }

    #[test]
    fn memory_budgets_take_units_and_refuse_nonsense() {
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("2 GB"), Some(2_000_000_000));
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("1kb"), None, "below 1 MiB");
        assert_eq!(parse_bytes("12 parsecs"), None);
        assert_eq!(parse_bytes("-5MB"), None);
        assert_eq!(parse_bytes("99999999999999999999GiB"), None);
        let e = resolve(
            Settings {
                memory_budget: Some("lots".to_owned()),
                data_dir: Some(dir()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "memory-budget");
        assert!(e.source_.contains("--memory-budget"), "{e}");
    }

    #[test]
    fn the_connection_cap_follows_the_descriptor_limit() {
        assert_eq!(default_max_connections(Some(1024)), 1024 - 128);
        assert_eq!(default_max_connections(Some(200)), 100);
        assert_eq!(default_max_connections(Some(0)), 1);
        assert_eq!(default_max_connections(Some(u64::MAX)), 65_536);
        assert_eq!(default_max_connections(None), 1024 - 128);
    }

    #[test]
    fn connection_settings_are_checked_with_their_name() {
        let e = resolve(
            Settings {
                header_timeout_ms: Some(0),
                data_dir: Some(dir()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(e.source_, "--header-timeout-ms / ENTITLE_HEADER_TIMEOUT_MS");
        assert!(e.message.contains("`0`"), "{e}");
        let file = Settings {
            max_connections: Some(0),
            ..Default::default()
        };
        let e = resolve(
            Settings {
                data_dir: Some(dir()),
                ..Default::default()
            },
            Some((file, "e.toml".into())),
        )
        .unwrap_err();
        assert_eq!(e.source_, "e.toml (max-connections)");
        let c = resolve(
            Settings {
                data_dir: Some(dir()),
                shutdown_grace_ms: Some(0),
                max_connections: Some(3),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!((c.shutdown_grace_ms, c.max_connections), (0, 3));
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = Settings {
            listen: Some("127.0.0.1:9000".into()),
            catalog: Some("current".into()),
            ..Default::default()
        };
        let c = resolve(
            Settings {
                listen: Some("127.0.0.1:9001".into()),
                data_dir: Some(dir()),
                ..Default::default()
            },
            Some((file, "entitle.toml".into())),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.catalog, "current");
    }

    #[test]
    fn bad_settings_say_what_and_where() {
        let e = resolve(
            Settings {
                listen: Some("localhost".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(e.source_, "--listen / ENTITLE_LISTEN");
        assert!(e.message.contains("localhost"));
        let file = Settings {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        let e = resolve(Settings::default(), Some((file, "e.toml".into()))).unwrap_err();
        assert_eq!(e.source_, "e.toml (database-url)");
        let e = resolve(
            Settings {
                admin_key: Some("short".into()),
                data_dir: Some(dir()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "admin-key");
        let e = resolve(
            Settings {
                catalog: Some("nope".into()),
                data_dir: Some(dir()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn config_files_refuse_unknown_keys_with_their_line() {
        let path = std::env::temp_dir().join(format!("entitle-config-{}.toml", std::process::id()));
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisten_adress = 3\n").unwrap();
        let e = read_file(&path).unwrap_err();
        assert!(e.source_.ends_with(":2"), "{e}");
        assert!(e.message.contains("listen_adress"), "{e}");
        let _ = std::fs::remove_file(path);
    }
}
