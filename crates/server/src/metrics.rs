//! Prometheus metrics (`/metrics`), one registry per server (tests run several servers in one process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of the methods the API knows, or `other`: anyone can send any method, and every label value is a
    /// series kept for good.
    pub method: &'static str,
    /// The route pattern (`/v1/tenants/{t}/flows/{f}/decision`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabel {
    pub mode: String,
}

/// The label of a request's method: the API's own methods by name, anything else as one series.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Why the server closed a connection itself: `header-timeout`, `idle-timeout`, or `shutdown` (still open at
/// the end of the shutdown grace). A fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<HttpLabels, Counter>,
    pub latency: Family<RouteLabel, Histogram>,
    pub writes: Counter,
    /// Tenants loaded in memory now.
    pub tenants: Gauge,
    /// Tenants in the store (loaded or not).
    pub tenants_known: Gauge,
    /// The loaded tenants' estimated size in memory (snapshots, with the other-day ones), in bytes.
    pub snapshot_bytes: Gauge,
    /// Time to build a tenant's snapshot: on first use after a start or an eviction, and on each write.
    pub snapshot_build: Histogram,
    /// Tenants loaded on first use, and unloaded to stay within `--memory-budget`.
    pub tenant_loads: Counter,
    pub tenant_evictions: Counter,
    /// Changes announced by other nodes and applied here.
    pub notices: Counter,
    /// The meter's backend mode (1 for the one in force): `local`, `redis`, `fail-open`, `fail-closed`.
    pub meter_mode: Family<ModeLabel, Gauge>,
    /// Client connections open now.
    pub connections_open: Gauge,
    /// Connections closed as they came because the connection cap was reached.
    pub connections_refused: Counter,
    /// `connections_closed{reason="header-timeout"}`, made once so that closing one costs no label lookup.
    pub closed_header_timeout: Counter,
    /// `connections_closed{reason="idle-timeout"}`.
    pub closed_idle_timeout: Counter,
    /// `connections_closed{reason="shutdown"}`.
    pub closed_at_shutdown: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("entitle");
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
            ])
        });
        let writes = Counter::default();
        let tenants = Gauge::default();
        let tenants_known = Gauge::default();
        let snapshot_bytes = Gauge::default();
        let snapshot_build = Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]);
        let tenant_loads = Counter::default();
        let tenant_evictions = Counter::default();
        let notices = Counter::default();
        let meter_mode = Family::default();
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        let closed = Family::<ReasonLabel, Counter>::default();
        let closed_as = |reason| closed.get_or_create(&ReasonLabel { reason }).clone();
        let (closed_header_timeout, closed_idle_timeout, closed_at_shutdown) = (
            closed_as("header-timeout"),
            closed_as("idle-timeout"),
            closed_as("shutdown"),
        );
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register(
            "writes_committed",
            "Writes committed to the store",
            writes.clone(),
        );
        registry.register("tenants", "Tenants loaded in memory", tenants.clone());
        registry.register(
            "tenants_known",
            "Tenants in the store, loaded or not",
            tenants_known.clone(),
        );
        registry.register(
            "snapshot_bytes",
            "Estimated memory of the loaded tenants (their snapshots, other days' included)",
            snapshot_bytes.clone(),
        );
        registry.register(
            "snapshot_build_seconds",
            "Time to build a tenant's snapshot (first use, reload, write)",
            snapshot_build.clone(),
        );
        registry.register(
            "tenant_loads",
            "Tenants loaded on first use",
            tenant_loads.clone(),
        );
        registry.register(
            "tenant_evictions",
            "Tenants unloaded to stay within the memory budget",
            tenant_evictions.clone(),
        );
        registry.register("notices", "Changes from other nodes applied", notices.clone());
        registry.register(
            "meter_mode",
            "The request meter's backend mode in force (1)",
            meter_mode.clone(),
        );
        registry.register(
            "connections_open",
            "Client connections open",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed on arrival because the connection cap was reached",
            connections_refused.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections the server closed itself, by reason",
            closed,
        );
        Metrics {
            registry,
            requests,
            latency,
            writes,
            tenants,
            tenants_known,
            snapshot_bytes,
            snapshot_build,
            tenant_loads,
            tenant_evictions,
            notices,
            meter_mode,
            connections_open,
            connections_refused,
            closed_header_timeout,
            closed_idle_timeout,
            closed_at_shutdown,
        }
    }

    pub fn write_committed(&self) {
        self.writes.inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}
