//! Which service-backed tests this `cargo test` runs. The PostgreSQL and Redis tests (server, CLI multi-node and
//! crash tests, the Redis meter) skip themselves when their URL is not set, each with a line that libtest
//! captures; this binary has no test harness, so its summary always shows in the output. `.ci/run` sets both URLs
//! and fails when a service is unreachable, so there it says what the tests ran against.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `scheme://user:pass@host:port/path` → `host:port`, with the scheme's default port.
fn address(url: &str, default_port: u16) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split(['/', '?']).next()?;
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    Some(if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    })
}

fn report(what: &str, var: &str, default_port: u16, example: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => {
            let reachable = address(&url, default_port)
                .and_then(|a| a.to_socket_addrs().ok())
                .and_then(|mut addrs| addrs.next())
                .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
            if reachable {
                format!(
                    "{what} tests: run against {} ({var})",
                    entitle_server::store::redact(&url)
                )
            } else {
                format!(
                    "{what} tests: {var} = {} is set but unreachable; those tests will fail",
                    entitle_server::store::redact(&url)
                )
            }
        }
        _ => format!("{what} tests: SKIPPED, {var} is not set (e.g. {var}={example}; `.ci/run` sets it)"),
    }
}

fn main() {
    // `--list` (cargo nextest, `cargo test -- --list`): this binary holds no test to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "\nservices: {}\nservices: {}\n",
        report(
            "PostgreSQL",
            "ENTITLE_TEST_DATABASE_URL",
            5432,
            "postgres://postgres@127.0.0.1:5432/test"
        ),
        report("Redis", "ENTITLE_TEST_REDIS_URL", 6379, "redis://127.0.0.1:6379"),
    );
}
