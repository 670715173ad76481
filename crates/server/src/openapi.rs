//! The OpenAPI 3.1 document served at `/v1/openapi.json`. Request bodies use the engine's own JSON Schemas
//! (schemars, draft 2020-12, which OpenAPI 3.1 takes as is), so the document cannot drift from what the
//! server accepts.

use entitle_core::Scenario;
use entitle_core::scenario::{App, Entity, Environment, Flow, LicenseRequest, Subscription, User};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::keys::KeySpec;
use crate::routes::answers::PurchaseAsk;
use crate::routes::licenses::{Allocations, SetFlowLicense};
use entitle_core::changes::{AssignLicense, BulkAssign};

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Every path parameter is an id, refused at the door when it breaks the id grammar.
fn path_param(name: &str, what: &str) -> Value {
    let schema = json!({"type": "string", "pattern": entitle_core::scenario::ids::PATTERN, "maxLength": entitle_core::scenario::ids::MAX_LEN});
    json!({"name": name, "in": "path", "required": true, "description": what, "schema": schema})
}

fn query(name: &str, what: &str, schema: Value, required: bool) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": what, "schema": schema})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

fn string() -> Value {
    json!({"type": "string"})
}

/// The paging, sorting and filtering parameters of a list (`routes/listing.rs`), with the tenant.
fn list_params(shape: crate::routes::listing::Shape) -> Vec<Value> {
    let mut p = vec![
        path_param("t", "Tenant id"),
        query(
            "q",
            "Keep the rows with this text in a text field (case-insensitive)",
            string(),
            false,
        ),
        query(
            "sort",
            "The field to sort by",
            json!({"type": "string", "enum": shape.sorts}),
            false,
        ),
        query(
            "order",
            "`asc` (default) or `desc`",
            json!({"type": "string", "enum": ["asc", "desc"]}),
            false,
        ),
        query(
            "limit",
            "Rows per page, 1 to 1000 (default: all)",
            json!({"type": "integer", "minimum": 1, "maximum": crate::routes::listing::MAX_LIMIT}),
            false,
        ),
        query(
            "offset",
            "Rows to skip",
            json!({"type": "integer", "minimum": 0}),
            false,
        ),
    ];
    if let Some((_, values)) = shape.status {
        p.push(query(
            "status",
            "Keep the rows with this status",
            json!({"type": "string", "enum": values}),
            false,
        ));
    }
    p
}

/// A 200 answer that counts the matching rows in `X-Total-Count`.
fn with_total_header(mut ok: Value) -> Value {
    if let Some(o) = ok.as_object_mut() {
        o.insert("headers".to_owned(), json!({"X-Total-Count": {"description": "Rows that match, before offset and limit", "schema": {"type": "integer"}}}));
    }
    ok
}

/// One operation: its summary, parameters, body and success answer; every error is problem+json.
fn op(summary: &str, tag: &str, params: Vec<Value>, body: Option<Value>, ok: (&str, Value)) -> Value {
    let mut o = json!({
        "summary": summary,
        "tags": [tag],
        "parameters": params,
        "responses": {
            ok.0: ok.1,
            "default": {"description": "A problem (RFC 9457)", "content": {"application/problem+json": {"schema": r("Problem")}}},
        },
    });
    if let (Some(b), Some(obj)) = (body, o.as_object_mut()) {
        obj.insert("requestBody".to_owned(), b);
    }
    o
}

/// What a 503 `meter-unavailable` on `POST …/usage` means.
const METER_UNAVAILABLE: &str = "meter-unavailable: the shared meter (Redis) cannot answer and the node is fail-closed; nothing \
    counted (`counted: false`), or Redis stopped answering mid-call and it may have counted (`counted: \"unknown\"`); \
    Retry-After says when to try again";

/// Documents one problem status of an operation besides the default.
fn with_problem(op: &mut Value, status: &str, what: &str) {
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.insert(
            status.to_owned(),
            json!({"description": what, "content": {"application/problem+json": {"schema": r("Problem")}}}),
        );
    }
}

fn json_body(schema: Value) -> Option<Value> {
    Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}))
}

fn ok_json(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

fn created(schema: Value) -> Value {
    json!({"description": "Created", "content": {"application/json": {"schema": schema}}})
}

fn no_content() -> Value {
    json!({"description": "No content"})
}

/// An amount in one currency: `{"amount": "15.00", "currency": "USD"}`.
fn money() -> Value {
    json!({"type": "object", "required": ["amount", "currency"], "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}}})
}

/// One amount per currency involved.
fn money_list() -> Value {
    json!({"type": "array", "items": money(), "description": "One {amount, currency} per currency involved"})
}

fn object() -> Value {
    json!({"type": "object"})
}

fn dry_run() -> Value {
    query(
        "dry_run",
        "Only show what the change would do, and which decisions it would flip",
        json!({"type": "boolean"}),
        false,
    )
}

/// A write that takes `?dry_run=true` answers 200 with what it would do instead of its usual answer.
fn with_dry_run_answer(op: &mut Value) {
    let takes_dry_run = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "dry_run"));
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if !takes_dry_run {
        return;
    }
    match responses.get_mut("200") {
        Some(ok) => {
            if let Some(schema) = ok.pointer_mut("/content/application~1json/schema") {
                *schema = json!({"anyOf": [schema.take(), r("DryRun")]});
            }
        }
        None => {
            responses.insert(
                "200".to_owned(),
                json!({"description": "With dry_run=true: what the change would do; nothing changed",
                       "content": {"application/json": {"schema": r("DryRun")}}}),
            );
        }
    }
}

pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut schemas = Map::new();
    macro_rules! schema {
        ($($t:ty => $name:literal),*) => {
            $( schemas.insert($name.to_owned(), generator.subschema_for::<$t>().to_value()); )*
        };
    }
    schema!(Scenario => "Scenario", User => "User", Environment => "Environment", App => "App", Flow => "Flow",
        Entity => "Entity", Subscription => "Subscription",
        LicenseRequest => "LicenseRequest", crate::routes::usage::UsageAsk => "UsageAsk", crate::routes::usage::UsageBatch => "UsageBatch", AssignLicense => "AssignLicense", BulkAssign => "BulkAssign", crate::routes::items::Batch => "Batch",
        Allocations => "Allocations", SetFlowLicense => "SetFlowLicense", PurchaseAsk => "PurchaseAsk",
        KeySpec => "KeySpec",
        crate::routes::consumption::LoginAsk => "LoginAsk", crate::routes::consumption::ViewsAsk => "ViewsAsk",
        crate::routes::consumption::CreditsAsk => "CreditsAsk", crate::routes::consumption::BatchAsk => "ConsumptionBatch");
    // The generator's shared definitions live under `$defs` of a holder schema, referenced from the rest.
    let defs = generator.take_definitions(true);
    let mut text = Value::Object(schemas).to_string();
    text = text.replace("\"#/$defs/", "\"#/components/schemas/");
    let mut schemas: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
    let defs_text = Value::Object(defs)
        .to_string()
        .replace("\"#/$defs/", "\"#/components/schemas/");
    let defs: Map<String, Value> = serde_json::from_str(&defs_text).unwrap_or_default();
    for (k, v) in defs {
        // `subschema_for` answers a named type with a reference to its definition: the component of that name
        // must be the definition itself, not a reference to itself.
        let self_ref = json!({"$ref": format!("#/components/schemas/{k}")});
        match schemas.get_mut(&k) {
            Some(held) if *held == self_ref => *held = v,
            Some(_) => {}
            None => {
                schemas.insert(k, v);
            }
        }
    }
    schemas.insert(
        "DryRun".to_owned(),
        json!({
            "type": "object",
            "description": "What a write would do with dry_run=true; nothing is changed",
            "required": ["dry_run"],
            "properties": {
                "dry_run": {"const": true},
                "changes": {"type": "array", "items": {"type": "object", "properties": {
                    "action": {"type": "string"}, "kind": {"type": "string"}, "item": {"type": ["string", "null"]},
                }}},
                "flips": {"type": "array", "description": "The decisions the change would turn"},
                "tenant": {"type": "object", "description": "POST /tenants: the tenant it would create"},
            },
        }),
    );
    let rule_ids: Vec<&str> = entitle_core::Rule::ALL.iter().map(|r| r.id()).collect();
    schemas.insert(
        "RuleSection".to_owned(),
        json!({
            "type": "object",
            "description": "One rule of the rulebook (docs/rules.md): the project's reading, the seed sentences it rests on, the tests that check it",
            "required": ["id", "family", "title", "reading", "text", "seed_quotes", "tests"],
            "properties": {
                "id": {"type": "string", "enum": rule_ids},
                "family": {"type": "string", "description": "The ID's prefix: CAT, CAP, REQ, FLOW, M365, D365, APP, ENT, PORTAL, AI, ENF or BUY"},
                "title": {"type": "string"},
                "reading": {"type": "string", "description": "Markdown"},
                "text": {"type": "string", "description": "The whole section, markdown"},
                "seed_quotes": {"type": "array", "items": {
                    "type": "object",
                    "required": ["seed", "language", "original", "gloss"],
                    "properties": {
                        "seed": {"type": "string", "description": "000 … 004"},
                        "language": {"type": "string"},
                        "original": {"type": "string"},
                        "gloss": {"type": "string", "description": "English"},
                    },
                }},
                "tests": {"type": "array", "items": {"type": "string"}, "description": "Test names, and corpus cases as corpus/FILE.toml#case"},
            },
        }),
    );
    schemas.insert(
        "Fix".to_owned(),
        json!({
            "type": "object",
            "description": "A fix (ENF-6). A flow's or app's fix is listed only if a dry run of all its steps turns the decision; `buy`, `allocate`, `environment` and `steps` say exactly what it does (issue 12)",
            "required": ["action", "rule"],
            "properties": {
                "action": {"enum": ["assign-license", "assign-process-license", "allocate-capacity", "associate-app", "change-owner", "buy-license", "combined"]},
                "sku": {"type": "string"},
                "quantity": {"type": "integer", "description": "Units: licences assigned, units allocated (allocate-capacity), bought (buy-license); 1 for a flow's process licence"},
                "target": {"type": "string", "description": "The users (comma-separated), the flow, the environment, the app or the new owner"},
                "monthly_cost": {"type": "string", "description": "Decimal string: what the units it buys cost per month (0.00 when spare units cover it)"},
                "currency": {"type": "string"},
                "rule": {"type": "string"},
                "buy": {"type": "integer", "description": "Units of `sku` bought first (the shortfall after spare units, topped up to CAT-4's minimum holding)"},
                "allocate": {"type": "integer", "description": "assign-process-license, allocate-capacity: units allocated to `environment` (0 when it has a free one)"},
                "environment": {"type": "string"},
                "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Fix"}, "description": "combined: the fixes applied in order; `monthly_cost` is their total"},
            },
        }),
    );
    schemas.insert(
        "Problem".to_owned(),
        json!({
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "pointer": {"type": "string", "description": "JSON pointer into the body, or query:NAME / header:NAME"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}}}},
            },
        }),
    );

    let t = || path_param("t", "Tenant id");
    let at = || {
        query(
            "at",
            "Evaluation date (default: the scenario's `tenant.at`, else today UTC)",
            date(),
            false,
        )
    };
    let mut paths = Map::new();
    let mut add = |path: &str, mut ops: Value| {
        if let Some(ops) = ops.as_object_mut() {
            ops.values_mut().for_each(with_dry_run_answer);
        }
        paths.insert(path.to_owned(), ops);
    };
    add(
        "/tenants",
        json!({
            "get": op("Tenants this key may see", "tenants", vec![], None, ("200", ok_json(json!({"type": "array", "items": object()})))),
            "post": op("Create a tenant from a scenario (JSON, or TOML with Content-Type application/toml)", "tenants",
                vec![query("catalog", "Catalog edition: seed (default) or current", string(), false), dry_run()],
                Some(json!({"required": true, "content": {"application/json": {"schema": r("Scenario")}, "application/toml": {"schema": {"type": "string"}}}})),
                ("201", created(object()))),
        }),
    );
    let export_parts: Map<String, Value> = crate::routes::import::PART_NAMES
        .iter()
        .map(|(name, kind)| {
            (
                (*name).to_owned(),
                json!({"type": "string", "format": "binary", "description": format!("{}, JSON or CSV", kind.as_str())}),
            )
        })
        .chain(std::iter::once((
            "file".to_owned(),
            json!({"type": "string", "format": "binary", "description": "Any export; its kind is told from its content"}),
        )))
        .collect();
    add(
        "/tenants:import",
        json!({
            "post": op("Create a tenant from admin exports (one multipart part per export, kind told from its content); with dry_run=true, the import's summary (what was read, guessed and not known, by name and count) and nothing created (docs/import.md)", "tenants",
                vec![query("catalog", "Catalog edition: seed (default) or current", string(), false),
                     query("tenant", "The tenant's id (default: the tenant GUID the exports carry)", json!({"type": "string", "pattern": entitle_core::scenario::ids::PATTERN, "maxLength": entitle_core::scenario::ids::MAX_LEN}), false),
                     dry_run()],
                Some(json!({"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": export_parts}}}})),
                ("201", created(object()))),
        }),
    );
    add(
        "/tenants/{t}",
        json!({
            "get": op("A tenant at a glance", "tenants", vec![t()], None, ("200", ok_json(object()))),
            "delete": op("Delete a tenant (operators; its audit log stays)", "tenants", vec![t(), dry_run()], None, ("204", no_content())),
        }),
    );
    add(
        "/tenants/{t}/export",
        json!({
            "get": op("The tenant as a scenario file; importing it gives the same tenant", "tenants",
                vec![t(), query("format", "json (default) or toml", json!({"type": "string", "enum": ["json", "toml"]}), false)], None,
                ("200", json!({"description": "OK", "content": {"application/json": {"schema": r("Scenario")}, "application/toml": {"schema": {"type": "string"}}}}))),
        }),
    );
    add(
        "/tenants/{t}/audit-log",
        json!({
            "get": op("Every change: who, when, what, before and after", "tenants", vec![t(),
                query("kind", "tenant, user, flow, key, …", string(), false), query("item", "Item id", string(), false),
                query("actor", "Key id", string(), false), query("action", "create, update, delete, assign-license, …", string(), false),
                query("since", "From (RFC 3339, inclusive)", json!({"type": "string", "format": "date-time"}), false),
                query("until", "Until (RFC 3339, exclusive)", json!({"type": "string", "format": "date-time"}), false),
                query("after", "Entries after this sequence number", json!({"type": "integer"}), false),
                query("limit", "1 to 1000 (default 100)", json!({"type": "integer", "minimum": 1, "maximum": 1000}), false)],
                None, ("200", ok_json(object()))),
        }),
    );
    for (section, schema) in [
        ("users", "User"),
        ("environments", "Environment"),
        ("apps", "App"),
        ("flows", "Flow"),
        ("entities", "Entity"),
        ("subscriptions", "Subscription"),
        ("license-requests", "LicenseRequest"),
    ] {
        add(
            &format!("/tenants/{{t}}/{section}"),
            json!({
                "get": op(&format!("List {section} (paged, sorted and filtered when asked; X-Total-Count counts the matches)"), section,
                    list_params(crate::routes::listing::section_shape(section)), None,
                    ("200", with_total_header(ok_json(json!({"type": "array", "items": r(schema)}))))),
                "post": op(&format!("Create one of the {section} (Idempotency-Key honoured)"), section, vec![t(), dry_run()], json_body(r(schema)), ("201", created(r(schema)))),
            }),
        );
        let id = || path_param("id", "Item id (subscriptions without an id: their position)");
        let if_match = || json!({"name": "If-Match", "in": "header", "required": true, "description": "The ETag read", "schema": {"type": "string"}});
        add(
            &format!("/tenants/{{t}}/{section}/{{id}}"),
            json!({
                "get": op("Read one (with its ETag)", section, vec![t(), id()], None, ("200", ok_json(r(schema)))),
                "put": op("Replace one (If-Match required)", section, vec![t(), id(), if_match(), dry_run()], json_body(r(schema)), ("200", ok_json(r(schema)))),
                "patch": op("Change one with a JSON merge patch (If-Match required)", section, vec![t(), id(), if_match(), dry_run()], json_body(object()), ("200", ok_json(r(schema)))),
                "delete": op("Delete one (refused while others refer to it)", section, vec![t(), id(), dry_run()], None, ("204", no_content())),
            }),
        );
    }
    add(
        "/tenants/{t}/changes:batch",
        json!({
            "post": op("Many changes to the collections in one write, in order, all or nothing (at most 1,000): create, replace, patch (RFC 7396) or delete, each decided by what it changes", "changes", vec![t(), dry_run()], json_body(r("Batch")), ("200", ok_json(json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}, "body": {}}}}}})))),
        }),
    );
    add(
        "/tenants/{t}/users:assignLicense",
        json!({
            "post": op("Assign and remove licences for many users in one request, all or nothing (at most 20,000)", "licenses", vec![t(), dry_run()], json_body(r("BulkAssign")), ("200", ok_json(json!({"type": "object", "required": ["users"], "properties": {"users": {"type": "array", "items": r("User")}}})))),
        }),
    );
    add(
        "/tenants/{t}/users/{u}/assignLicense",
        json!({
            "post": op("Assign and remove licences (Graph assignLicense)", "licenses", vec![t(), path_param("u", "User id"), dry_run()], json_body(r("AssignLicense")), ("200", ok_json(r("User")))),
        }),
    );
    add(
        "/tenants/{t}/environments/{e}/allocations",
        json!({
            "get": op("An environment's add-on allocations (currencyAllocations)", "licenses", vec![t(), path_param("e", "Environment id")], None, ("200", ok_json(object()))),
            "patch": op("Allocate add-on units to an environment", "licenses", vec![t(), path_param("e", "Environment id"), dry_run()], json_body(r("Allocations")), ("200", ok_json(object()))),
        }),
    );
    add(
        "/tenants/{t}/flows/{f}/license",
        json!({
            "put": op("Set a flow's licence: user, process or per-flow", "licenses", vec![t(), path_param("f", "Flow id"), dry_run()], json_body(r("SetFlowLicense")), ("200", ok_json(r("Flow")))),
        }),
    );
    for (action, what) in [
        (
            "approve",
            "Approve a pending licence request: assigns the licence",
        ),
        ("deny", "Deny a pending licence request"),
    ] {
        add(
            &format!("/tenants/{{t}}/license-requests/{{id}}/{action}"),
            json!({
                "post": op(what, "license-requests", vec![t(), path_param("id", "Request id"), dry_run()], None, ("200", ok_json(r("LicenseRequest")))),
            }),
        );
    }
    let mut count = op(
        "Check and count requests against the budget the licences give (REQ-1..8): 200, 429 with Retry-After when over a limit, or 503 meter-unavailable with Retry-After when the shared meter cannot answer",
        "usage",
        vec![t()],
        json_body(r("UsageAsk")),
        ("200", ok_json(object())),
    );
    with_problem(
        &mut count,
        "429",
        "Over a limit of the budget; nothing counted; Retry-After says when it fits (REQ-7)",
    );
    with_problem(&mut count, "503", METER_UNAVAILABLE);
    let mut usage = op(
        "The last 24 hours per hour, as the meter that enforces counted them (JSON, or the licensed-user report as CSV with Accept: text/csv)",
        "usage",
        vec![
            t(),
            query("user", "User id", string(), false),
            query("flow", "Flow id", string(), false),
            query("as", "With flow: who runs it", string(), false),
        ],
        None,
        (
            "200",
            json!({"description": "OK", "content": {"application/json": {"schema": object()}, "text/csv": {"schema": {"type": "string"}}}}),
        ),
    );
    with_problem(
        &mut usage,
        "503",
        "meter-unavailable: the shared meter cannot be read; usage is not guessed",
    );
    add("/tenants/{t}/usage", json!({"post": count, "get": usage}));
    add(
        "/tenants/{t}/usage/users",
        json!({
            "get": op("Every user's requests in the last 24 hours against their own limit, the busiest first, with who is throttled now (REQ-1..7)", "usage",
                vec![t(), query("sort", "`used` (default) or `id`", json!({"type": "string", "enum": ["used", "id"]}), false),
                     query("order", "`asc` or `desc` (default: the busiest first by `used`, ids in order by `id`)", json!({"type": "string", "enum": ["asc", "desc"]}), false),
                     query("limit", "Users per page, 1 to 500 (default 100)", json!({"type": "integer", "minimum": 1, "maximum": 500}), false),
                     query("offset", "Users to skip", json!({"type": "integer", "minimum": 0}), false)],
                None,
                ("200", ok_json(json!({"type": "object", "required": ["total", "throttled", "users"], "properties": {
                    "total": {"type": "integer"}, "throttled": {"type": "integer"},
                    "users": {"type": "array", "items": {"type": "object", "required": ["user", "used", "throttled"], "properties": {
                        "user": {"type": "string"}, "used": {"type": "integer"}, "limit": {"type": ["integer", "null"]},
                        "per_5_minutes": {"type": ["integer", "null"]}, "remaining": {"type": ["integer", "null"]}, "throttled": {"type": "boolean"}}}}}})))),
        }),
    );
    add(
        "/tenants/{t}/usage:batch",
        json!({
            "post": op("Many usage events, each answered with its own status (200, 429 or 503 as for one event); counted in chunks of 256 events per meter call", "usage", vec![t()], json_body(r("UsageBatch")), ("200", ok_json(object()))),
        }),
    );
    let month = || {
        query(
            "month",
            "A calendar month, YYYY-MM (default: the evaluation date's)",
            json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}),
            false,
        )
    };
    let idem = || json!({"name": "Idempotency-Key", "in": "header", "required": false, "description": "The event's id (as `id`): sent again, the first answer, nothing counted", "schema": {"type": "string"}});
    let consumption_op = |summary: &str, params: Vec<Value>, body: &str| {
        let mut o = op(
            summary,
            "consumption",
            params,
            json_body(r(body)),
            ("200", ok_json(object())),
        );
        with_problem(&mut o, "404", "No such portal or environment in the tenant");
        with_problem(
            &mut o,
            "409",
            "Past the allocation under the tenant's `refuse` policy (PORTAL-5), or AI Builder credits the environment may not draw (AI-1); `fix` says what to allocate or buy; nothing counted",
        );
        with_problem(
            &mut o,
            "422",
            "A bad field (named by `pointer`), a time more than 7 days old or in the future, or an id used for another event; nothing counted",
        );
        o
    };
    let mut login = consumption_op(
        "An authenticated external user's login to a portal: a 24-hour day pass per user and portal (PORTAL-2); a user of the tenant is covered by their licence (PORTAL-4) or refused (403, D365-3)",
        vec![t(), path_param("p", "Portal (an app of kind portal)"), idem()],
        "LoginAsk",
    );
    with_problem(
        &mut login,
        "403",
        "A user of the tenant whose licence does not cover the portal (PORTAL-4, D365-3)",
    );
    add("/tenants/{t}/portals/{p}/logins", json!({"post": login}));
    add(
        "/tenants/{t}/portals/{p}/page-views",
        json!({"post": consumption_op("Anonymous page views of a portal (PORTAL-3)", vec![t(), path_param("p", "Portal (an app of kind portal)"), idem()], "ViewsAsk")}),
    );
    add(
        "/tenants/{t}/environments/{e}/ai-credits:consume",
        json!({"post": consumption_op("AI Builder credits consumed in an environment, from its allocation (or the unallocated credits when the tenant lets it), never overdrawn (AI-1); preview models are free (AI-2)", vec![t(), path_param("e", "Environment id"), idem()], "CreditsAsk")}),
    );
    add(
        "/tenants/{t}/consumption:batch",
        json!({"post": op("Many consumption events (the scenario's [[consumption]] records), each answered in order with its own status", "consumption", vec![t()], json_body(r("ConsumptionBatch")), ("200", ok_json(object())))}),
    );
    add(
        "/tenants/{t}/consumption",
        json!({"get": op("A month's consumption against allocation per portal, environment and Dataverse pool, with the fix of each overage (JSON, or the admin center's capacity-report columns as CSV with format=csv or Accept: text/csv)", "consumption",
        vec![t(), month(), query("format", "`json` (default) or `csv`", json!({"type": "string", "enum": ["json", "csv"]}), false)], None,
        ("200", json!({"description": "OK", "content": {"application/json": {"schema": object()}, "text/csv": {"schema": {"type": "string"}}}})))}),
    );
    add(
        "/tenants/{t}/statement",
        json!({"get": op("The monthly statement: licences and add-ons (units × price, per currency), consumption against allocation, overages and the cost of closing each, the change from the month before", "consumption",
        vec![t(), month(), query("format", "`json`", json!({"type": "string", "enum": ["json"]}), false)], None, ("200", ok_json(object())))}),
    );
    add(
        "/tenants/{t}/subscribedSkus",
        json!({
            "get": op("Per SKU: bought, consumed, available (Graph subscribedSkus)", "licenses", vec![t()], None, ("200", ok_json(object()))),
        }),
    );
    add(
        "/tenants/{t}/flows/{f}/decision",
        json!({
            "get": op("May this flow run, under which licence, and why (the CLI's check flow)", "answers",
                vec![t(), path_param("f", "Flow id"), query("as", "The invoking user (instant flows)", string(), false), at()], None, ("200", ok_json(object()))),
        }),
    );
    add(
        "/tenants/{t}/apps/{a}/decision",
        json!({
            "get": op("May this user open this app, and why (the CLI's check app)", "answers",
                vec![t(), path_param("a", "App id"), query("user", "User id", string(), true), at()], None, ("200", ok_json(object()))),
        }),
    );
    add(
        "/tenants/{t}/audit",
        json!({
            "get": op("Flows at risk, the enforcement timeline and the cheapest fixes (JSON, or CSV with Accept: text/csv); the flows at risk paged, sorted and filtered when asked (`flows_total` and X-Total-Count count the matches)", "answers",
                { let mut p = list_params(crate::routes::answers::AUDIT_SHAPE); p.push(at()); p }, None,
                ("200", json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "summary": {"type": "object", "properties": {"cheapest_fixes_monthly": {"type": "object", "description": "Per currency: what the flows' `headline_fixes` cost together (chosen flow by flow, fewest fixes first, each spare unit counted once)"}}},
                    "flows": {"type": "array", "items": {"type": "object", "properties": {
                        "fixes": {"type": "array", "items": r("Fix")},
                        "headline_fixes": {"type": "array", "items": r("Fix"), "description": "The fixes the headline counts for this flow (a second one only if a fix counted later took the first one's effect away)"},
                        "headline_covered": {"type": "boolean", "description": "The headline fixes chosen before this flow's turn already turn it"},
                    }}},
                    "fixes": {"type": "array", "items": r("Fix")},
                    "flows_total": {"type": "integer", "description": "With paging: the flows at risk that match"},
                }}}, "text/csv": {"schema": {"type": "string"}}}}))),
        }),
    );
    add(
        "/tenants/{t}/plan",
        json!({
            "get": op("The cheapest set of changes that turns every denied flow and app decision (or those of `only`), worked out jointly (the CLI's optimise): each change with its rules, the monthly bill before and after, the saving against the audit's per-flow sum, the solver's bound, and the body of `POST …/changes:batch` that makes the plan", "answers",
                vec![t(), query("only", "`flows`, `apps`, or comma-separated flow and app ids (default: all)", string(), false), at()], None,
                ("200", ok_json(json!({"type": "object", "required": ["tenant", "at", "targets", "changes", "cost_before", "cost_after", "added", "per_flow_sum", "saving", "bound", "batch"], "properties": {
                    "tenant": string(), "at": date(),
                    "targets": {"type": "object", "required": ["flows", "app_users", "denied", "turned", "unfixable", "not_turned", "repaired"], "properties": {
                        "flows": {"type": "integer"}, "app_users": {"type": "integer"}, "denied": {"type": "integer"}, "turned": {"type": "integer"},
                        "unfixable": {"type": "array", "items": string()}, "not_turned": {"type": "array", "items": string()}, "repaired": {"type": "integer"}}},
                    "changes": {"type": "array", "items": {"type": "object", "required": ["action", "rules"], "properties": {
                        "action": {"type": "string", "enum": ["buy", "assign", "reassign", "remove", "allocate", "set-flow-license", "change-owner", "associate-app"]},
                        "sku": string(), "quantity": {"type": "integer"}, "from": string(), "user": string(), "environment": string(), "flow": string(), "app": string(),
                        "license": string(), "monthly_cost": money(),
                        "rules": {"type": "array", "items": string()},
                        "turns": {"type": "array", "items": string(), "description": "`flow:ID` or `app:ID/USER`"}}}},
                    "cost_before": money_list(), "cost_after": money_list(), "added": money_list(), "per_flow_sum": money_list(), "saving": money_list(),
                    "bound": {"type": "object", "required": ["method", "optimal", "plan", "lower_bound", "gap_percent", "requirements", "atoms", "nodes"], "properties": {
                        "method": {"type": "string", "enum": ["exact", "heuristic"]}, "optimal": {"type": "boolean"}, "plan": string(), "lower_bound": string(), "gap_percent": string(),
                        "requirements": {"type": "integer"}, "atoms": {"type": "integer"}, "nodes": {"type": "integer"}}},
                    "batch": {"type": "object", "required": ["changes"], "properties": {"changes": {"type": "array", "items": object()}}, "description": "The body of POST …/changes:batch"},
                }})))),
        }),
    );
    add(
        "/tenants/{t}/overview",
        json!({"get": op("The tenant at a glance: flows at risk and turned off, the next enforcement date, the enforcement timeline (flows by turn-off date and kind), units bought and assigned per SKU, the monthly bill per SKU in each currency, Dataverse use per environment against the pools, the busiest users' API requests and who is throttled", "answers", vec![t(), at()], None,
        ("200", ok_json(json!({"type": "object", "required": ["tenant", "at", "flows", "at_risk", "turned_off", "monthly", "timeline", "units", "cost_by_sku", "dataverse", "requests"], "properties": {
            "tenant": string(), "at": date(), "flows": {"type": "integer"}, "at_risk": {"type": "integer"}, "turned_off": {"type": "integer"},
            "next_enforcement": {"type": ["object", "null"], "properties": {"date": date(), "flows": {"type": "integer"}}},
            "monthly": {"type": "object", "description": "Per currency, never summed across currencies"},
            "timeline": {"type": "array", "items": {"type": "object", "required": ["date", "kind", "flows"], "properties": {"date": date(), "kind": string(), "flows": {"type": "integer"}}}},
            "timeline_undated": {"type": "integer"},
            "units": {"type": "array", "items": object()},
            "cost_by_sku": {"type": "array", "items": {"type": "object", "required": ["currency", "sku", "monthly"], "properties": {"currency": string(), "sku": string(), "monthly": string(), "quantity": {"type": "integer"}}}},
            "dataverse": object(),
            "requests": object(),
        }}))))}),
    );
    add(
        "/tenants/{t}/flows:status",
        json!({"get": op("Every flow with its status on the tenant's day (licensed, at-risk, off), paged, sorted and filtered by the server (X-Total-Count counts the matches)", "answers",
        list_params(crate::routes::overview::FLOWS_STATUS_SHAPE), None,
        ("200", with_total_header(ok_json(json!({"type": "object", "required": ["total", "flows"], "properties": {
            "total": {"type": "integer"},
            "flows": {"type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {"id": string(), "status": {"type": "string", "enum": ["at-risk", "off", "licensed"]}}}},
        }})))))}),
    );
    add(
        "/tenants/{t}/capacity",
        json!({"get": op("Dataverse capacity", "answers", vec![t(), at()], None, ("200", ok_json(object())))}),
    );
    add(
        "/tenants/{t}/cost",
        json!({"get": op("Monthly cost and licence usage", "answers", vec![t(), at()], None, ("200", ok_json(object())))}),
    );
    let mut limits = op(
        "Power Platform requests per 24 hours, with their sources (give user, or flow); without `at`, `used` is what the meter counted in the last 24 hours",
        "answers",
        vec![
            t(),
            query("user", "User id", string(), false),
            query("flow", "Flow id", string(), false),
            query("as", "With flow: the invoking user", string(), false),
            at(),
        ],
        None,
        ("200", ok_json(object())),
    );
    with_problem(
        &mut limits,
        "503",
        "meter-unavailable: without `at`, the shared meter cannot be read",
    );
    add("/tenants/{t}/limits", json!({"get": limits}));
    add(
        "/tenants/{t}/purchases:preview",
        json!({
            "post": op("What buying a SKU would do (the CLI's buy)", "answers", vec![t()], json_body(r("PurchaseAsk")), ("200", ok_json(object()))),
        }),
    );
    add(
        "/tenants/{t}/keys",
        json!({
            "get": op("The tenant's API keys (never their secrets)", "keys", vec![t()], None, ("200", ok_json(json!({"type": "array", "items": object()})))),
            "post": op("Create a key; its secret is shown once", "keys", vec![t()], json_body(r("KeySpec")), ("201", created(object()))),
        }),
    );
    add(
        "/tenants/{t}/keys/{id}",
        json!({
            "delete": op("Revoke a key", "keys", vec![t(), path_param("id", "Key id")], None, ("204", no_content())),
        }),
    );
    add(
        "/keys",
        json!({
            "get": op("Operator keys", "keys", vec![], None, ("200", ok_json(json!({"type": "array", "items": object()})))),
            "post": op("Create an operator key; its secret is shown once", "keys", vec![], json_body(r("KeySpec")), ("201", created(object()))),
        }),
    );
    let int_query =
        |name: &str, what: &str| query(name, what, json!({"type": "integer", "format": "int64"}), false);
    add(
        "/tenants/{t}/events",
        json!({"get": op("The tenant's events, oldest first (docs/server.md, \"Events and time\"): every change and every job writes them in its own transaction; `next` is the cursor of the next page", "events",
        vec![t(), int_query("after", "Events after this seq (the `next` of the page before)"),
             query("type", "One event type, or several separated by commas (`flow.suspended,flow.resumed`)", string(), false),
             int_query("limit", "1 to 1,000 (default 100)")],
        None, ("200", ok_json(json!({"type": "object", "required": ["events", "next"], "properties": {
            "events": {"type": "array", "items": {"type": "object", "required": ["seq", "id", "type", "day", "at", "told", "payload"]}},
            "next": {"type": ["integer", "null"]},
        }}))))}),
    );
    let mut advance = op(
        "Moves a test clock (`tenant.test_clock`) forward to `to`, running every job due on the way, day by day, in order; answers what happened each day",
        "events",
        vec![t()],
        json_body(
            json!({"type": "object", "required": ["to"], "additionalProperties": false, "properties": {"to": {"type": "string", "format": "date"}}}),
        ),
        ("200", ok_json(object())),
    );
    with_problem(
        &mut advance,
        "409",
        "The tenant follows real time: it has no clock to move",
    );
    add("/tenants/{t}/clock:advance", json!({"post": advance}));
    add(
        "/tenants/{t}/timeline",
        json!({"get": op("What the jobs will do day by day if nothing else changes (`entitle timeline` on the tenant as it is): notices, turn-offs with their fix, trial expiries, renewals, lapses; at most 366 days", "events",
            vec![t(), query("from", "First day (default: the day after the jobs last ran)", json!({"type": "string", "format": "date"}), false),
                 query("to", "Last day, included (default: 366 days after from)", json!({"type": "string", "format": "date"}), false)],
            None, ("200", ok_json(object())))}),
    );
    let endpoint_body = json!({"type": "object", "required": ["url"], "additionalProperties": false, "properties": {
        "url": {"type": "string", "maxLength": 2048, "description": "http or https; loopback and private addresses only with --webhooks-allow-private"},
        "types": {"type": "array", "items": {"type": "string", "enum": crate::routes::webhooks::TYPES}, "description": "Empty or absent: every type"},
        "description": {"type": "string", "maxLength": 500},
    }});
    let wid = || path_param("id", "Webhook endpoint id");
    add(
        "/tenants/{t}/webhooks",
        json!({
            "get": op("The tenant's webhook endpoints (never their secrets) and the event types they may subscribe to", "webhooks", vec![t()], None, ("200", ok_json(object()))),
            "post": op("A webhook endpoint (at most 16 a tenant); its signing secret (`whsec_…`) is in this answer only", "webhooks", vec![t()], json_body(endpoint_body), ("201", created(object()))),
        }),
    );
    add(
        "/tenants/{t}/webhooks/{id}",
        json!({
            "get": op("A webhook endpoint: URL, types, status (active, failing, disabled)", "webhooks", vec![t(), wid()], None, ("200", ok_json(object()))),
            "patch": op("Changes an endpoint's URL, types, description, or turns it off or on again", "webhooks", vec![t(), wid()],
                json_body(json!({"type": "object", "additionalProperties": false, "properties": {
                    "url": {"type": "string"}, "types": {"type": "array", "items": {"type": "string"}}, "description": {"type": "string"}, "disabled": {"type": "boolean"},
                }})), ("200", ok_json(object()))),
            "delete": op("Deletes an endpoint with its deliveries and their log", "webhooks", vec![t(), wid()], None, ("204", json!({"description": "Deleted"}))),
        }),
    );
    add(
        "/tenants/{t}/webhooks/{id}/secret:rotate",
        json!({"post": op("A new signing secret (in this answer only); the old one keeps signing beside it for 24 hours", "webhooks", vec![t(), wid()], None, ("200", ok_json(object())))}),
    );
    add(
        "/tenants/{t}/webhooks/{id}/deliveries",
        json!({"get": op("The endpoint's delivery log, newest first: state, attempts, the last attempt's status, error and time", "webhooks",
            vec![t(), wid(), int_query("before", "Deliveries of events before this seq (the `next` of the page before)"), int_query("limit", "1 to 500 (default 50)")],
            None, ("200", ok_json(object())))}),
    );
    add(
        "/tenants/{t}/webhooks/{id}/deliveries/{d}",
        json!({
            "get": op("One delivery with its history: every attempt, oldest first (time, status, error, duration)", "webhooks",
                vec![t(), wid(), path_param("d", "The delivery id")], None, ("200", ok_json(object()))),
            "post": op("`{d}` is `DELIVERY:replay`: sends the delivery again now, with the same `webhook-id`", "webhooks",
                vec![t(), wid(), path_param("d", "The delivery id followed by `:replay`")], None, ("202", ok_json(object()))),
        }),
    );
    add(
        "/me/notices",
        json!({"get": op("What the events told the key's user (a maker key): ENF-3's maker notices, turn-offs and resumptions of their flows, their trials ending, their licences", "events",
            vec![int_query("after", "Notices after this seq"), int_query("limit", "1 to 1,000 (default 100)")],
            None, ("200", ok_json(object())))}),
    );
    add(
        "/me",
        json!({
            "get": op("The key that asks: its id, role, tenant, user and environments", "keys", vec![], None, ("200", ok_json(json!({
                "type": "object",
                "required": ["key_id", "role", "tenant", "user", "environments"],
                "properties": {
                    "key_id": {"type": "string"},
                    "role": {"type": "string", "enum": ["operator", "global-admin", "billing-admin", "environment-admin", "maker", "reader"]},
                    "tenant": {"type": ["string", "null"]},
                    "user": {"type": ["string", "null"]},
                    "environments": {"type": "array", "items": {"type": "string"}},
                },
            })))),
        }),
    );
    add(
        "/rules",
        json!({
            "get": op("Every rule of the rulebook, in order (any valid key)", "rules", vec![], None, ("200", ok_json(json!({
                "type": "object",
                "required": ["rules"],
                "properties": {"rules": {"type": "array", "items": r("RuleSection")}},
            })))),
        }),
    );
    let mut rule_op = op(
        "One rule: its title, reading, seed quotes and tests (any valid key); the ID in any case, `_` for `-`",
        "rules",
        vec![
            json!({"name": "rule", "in": "path", "required": true, "description": "A rule ID such as FLOW-4", "schema": {"type": "string", "maxLength": 200}}),
        ],
        None,
        ("200", ok_json(r("RuleSection"))),
    );
    with_problem(&mut rule_op, "404", "No such rule; the detail suggests close IDs");
    add("/rules/{rule}", json!({ "get": rule_op }));
    add(
        "/keys/{id}",
        json!({
            "delete": op("Revoke an operator key", "keys", vec![path_param("id", "Key id")], None, ("204", no_content())),
        }),
    );
    add(
        "/openapi.json",
        json!({
            "get": {"summary": "This document", "tags": ["ops"], "security": [], "responses": {"200": ok_json(object())}},
        }),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "entitle",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Power Apps / Power Automate licensing decisions with reasons. Errors are application/problem+json (RFC 9457). POST takes Idempotency-Key; PUT and PATCH take If-Match.",
        },
        "servers": [{"url": "/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `entitle key create`, or POST /v1/keys"}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` resolves, so tools (schemathesis) can read the document.
    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
        assert!(!text.contains("\"#/$defs/"), "a $defs reference was left");
        assert_eq!(doc["openapi"], "3.1.0");
    }

    /// Every request body's component holds its schema: a component that only refers to itself (what
    /// `subschema_for` answers for a named type) describes nothing, and code generators reject it.
    #[test]
    fn no_component_is_a_reference_to_itself() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            let own = format!("#/components/schemas/{name}");
            assert_ne!(
                schema["$ref"].as_str(),
                Some(own.as_str()),
                "{name} refers to itself"
            );
        }
        for name in [
            "Subscription",
            "LicenseRequest",
            "UsageAsk",
            "SetFlowLicense",
            "PurchaseAsk",
            "KeySpec",
        ] {
            let s = &schemas[name];
            assert!(
                s.get("properties").is_some() || s.get("oneOf").is_some() || s.get("anyOf").is_some(),
                "{name}: {s}"
            );
        }
    }

    /// A write asked with `dry_run=true` answers 200 with a DryRun body: documented wherever it is taken.
    #[test]
    fn dry_run_answers_are_documented() {
        let doc = document();
        let mut n = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                if params.iter().any(|p| p["name"] == "dry_run") {
                    n += 1;
                    let ok = op["responses"]["200"]["content"]["application/json"]["schema"].to_string();
                    assert!(
                        ok.contains("#/components/schemas/DryRun"),
                        "{method} {path}: {ok}"
                    );
                }
            }
        }
        assert!(n > 10, "{n} operations take dry_run");
    }
}
