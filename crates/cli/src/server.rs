//! `entitle serve` and `entitle key …`: settings in, the server crate does the rest.

use std::path::Path;

use entitle_server::auth::Role;
use entitle_server::config::{self, Config, LogFormat, Settings};
use entitle_server::keys::{KeySpec, KeyView, check_spec, create, revoke};
use entitle_server::store::{self, KeyIf, Revoked, Store};

use crate::args::{Key, Serve, StoreArgs};
use crate::input::CliError;

fn settings(store: &StoreArgs) -> Result<(Settings, Option<(Settings, String)>), CliError> {
    let file = store
        .config
        .as_deref()
        .map(|p: &Path| config::read_file(p).map(|s| (s, p.display().to_string())))
        .transpose()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let given = Settings {
        data_dir: store.data_dir.clone(),
        database_url: store.database_url.clone(),
        admin_key: std::env::var("ENTITLE_ADMIN_KEY").ok().filter(|k| !k.is_empty()),
        ..Settings::default()
    };
    Ok((given, file))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("starting the async runtime: {e}")))
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENTITLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(args: Serve, catalog: Option<String>) -> Result<String, CliError> {
    let (mut given, file) = settings(&args.store)?;
    given.listen = args.listen;
    given.redis_url = args.redis_url;
    given.redis_failure = args.redis_failure;
    given.redis_prefix = args.redis_prefix;
    given.redis_timeout_ms = args.redis_timeout_ms;
    given.log_format = args.log_format;
    given.max_body_bytes = args.max_body_bytes;
    given.max_connections = args.max_connections;
    given.header_timeout_ms = args.header_timeout_ms;
    given.body_timeout_ms = args.body_timeout_ms;
    given.idle_timeout_ms = args.idle_timeout_ms;
    given.shutdown_grace_ms = args.shutdown_grace_ms;
    given.memory_budget = args.memory_budget;
    given.catalog = catalog;
    given.today = args.today;
    given.jobs_interval_secs = args.jobs_interval_secs;
    given.webhooks_allow_private = args.webhooks_allow_private.then_some(true);
    given.webhooks_dispatch = args.no_webhooks.then_some(false);
    given.smtp_url = args.smtp_url;
    given.smtp_from = args.smtp_from;
    let config: Config = config::resolve(given, file).map_err(|e| CliError::Input(e.to_string()))?;
    init_logs(config.log_format);
    runtime()?.block_on(async {
        let running = entitle_server::serve::start(&config, true)
            .await
            .map_err(|e| CliError::Input(e.to_string()))?;
        if let Some(key) = &running.new_operator_key
            && config.admin_key.is_none()
        {
            // Shown once: the store keeps only its hash.
            println!("entitle: first start; the operator key (shown once, keep it): {key}");
        }
        println!("entitle: listening on http://{}", running.addr);
        running
            .wait()
            .await
            .map_err(|e| CliError::Internal(format!("serving: {e}")))?;
        Ok(String::new())
    })
}

async fn open(args: &StoreArgs) -> Result<std::sync::Arc<dyn Store>, CliError> {
    let (given, file) = settings(args)?;
    let config = config::resolve(given, file).map_err(|e| CliError::Input(e.to_string()))?;
    let url = config.database_url();
    store::open(&url)
        .await
        .map_err(|e| CliError::Input(format!("database `{}`: {e}", store::redact(&url))))
}

/// `entitle key create|list|revoke`.
pub fn key(args: Key) -> Result<String, CliError> {
    runtime()?.block_on(async {
        match args {
            Key::Create { tenant, role, environments, user, name, store } => {
                let role = Role::parse(&role).ok_or_else(|| {
                    CliError::Input(format!(
                        "--role: unknown role `{role}` (operator, global-admin, billing-admin, environment-admin, maker, reader)"
                    ))
                })?;
                let store = open(&store).await?;
                let scenario = match &tenant {
                    Some(t) => {
                        let row = store
                            .tenant(t)
                            .await
                            .map_err(|e| CliError::Internal(e.to_string()))?
                            .ok_or_else(|| CliError::Input(format!("--tenant: no tenant `{t}` in this store")))?;
                        Some(
                            serde_json::from_str::<entitle_core::Scenario>(&row.scenario)
                                .map_err(|e| CliError::Internal(e.to_string()))?,
                        )
                    }
                    None => None,
                };
                let spec = KeySpec { role, environments, user, name };
                let envs = |e: &str| scenario.as_ref().is_some_and(|s| s.environments.iter().any(|x| x.id == e));
                let users = |u: &str| scenario.as_ref().is_some_and(|s| s.users.iter().any(|x| x.id == u));
                check_spec(&spec, tenant.as_deref(), &envs, &users).map_err(|p| {
                    let flag = p.pointer.as_deref().unwrap_or("").trim_start_matches('/').split('/').next().unwrap_or("").to_owned();
                    CliError::Input(format!("--{}: {}", if flag == "environments" { "environment" } else { &flag }, p.detail))
                })?;
                let key = create(store.as_ref(), "cli", tenant.as_deref(), &spec, None, KeyIf::Always)
                    .await
                    .map_err(|e| CliError::Internal(e.to_string()))?
                    .ok_or_else(|| CliError::Internal("the key was not stored".to_owned()))?;
                Ok(format!(
                    "{}\nid: {}  role: {}{}\nThe key above is shown once; the store keeps only its hash.\n",
                    key.key,
                    key.view.id,
                    key.view.role,
                    key.view.tenant.map(|t| format!("  tenant: {t}")).unwrap_or_default()
                ))
            }
            Key::List { tenant, store } => {
                let store = open(&store).await?;
                let rows = store.keys().await.map_err(|e| CliError::Internal(e.to_string()))?;
                let views: Vec<KeyView> = rows
                    .iter()
                    .filter(|k| tenant.is_none() || k.tenant == tenant)
                    .map(KeyView::from)
                    .collect();
                serde_json::to_string_pretty(&views)
                    .map(|s| s + "\n")
                    .map_err(|e| CliError::Internal(e.to_string()))
            }
            Key::Revoke { id, store } => {
                let store = open(&store).await?;
                let rows = store.keys().await.map_err(|e| CliError::Internal(e.to_string()))?;
                let row = rows
                    .iter()
                    .find(|k| k.id == id && !k.revoked)
                    .ok_or_else(|| CliError::Input(format!("no key `{id}` in force")))?;
                match revoke(store.as_ref(), "cli", row).await.map_err(|e| CliError::Internal(e.to_string()))? {
                    Revoked::Done => Ok(format!("revoked {id}\n")),
                    Revoked::NotFound => Err(CliError::Input(format!("no key `{id}` in force"))),
                    Revoked::LastOperator => Err(CliError::Input(format!(
                        "`{id}` is the last operator key in force: create another (entitle key create --role operator) before revoking it"
                    ))),
                }
            }
        }
    })
}
