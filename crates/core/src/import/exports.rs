//! Which export a file is, told from its properties or headers, and its records as typed rows. One function per
//! export kind; each is pure (records in, rows out) and fails with the record and field of the first bad value.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::ImportError;
use super::read::{self, Loc, Rec, boolean, day, guid, has, text};

/// The exports entitle reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportKind {
    /// `Get-AdminFlow` (thin list or per flow), the admin REST flow JSON.
    Flows,
    /// `Get-AdminPowerApp`.
    Apps,
    /// `Get-AdminPowerAppEnvironment`, the BAP environments JSON.
    Environments,
    /// Graph `/users`, or the admin center's active-users CSV.
    Users,
    /// Graph `/subscribedSkus`.
    Skus,
    /// Licensing API `currencyAllocations` per environment.
    Allocations,
    /// Licensing API `tenantCapacity`.
    Capacity,
    /// `Get-AdminFlowAtRiskOfSuspension`.
    AtRisk,
    /// The connector list (`…/apis`, `Get-AdminPowerAppConnector`).
    Connectors,
    /// CoE Starter Kit `admin_flow` table.
    CoeFlows,
    /// PPAC inventory API (`PowerPlatformResources`): flows, apps and environments in one answer.
    Inventory,
}

impl ExportKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportKind::Flows => "flows (Get-AdminFlow)",
            ExportKind::Apps => "apps (Get-AdminPowerApp)",
            ExportKind::Environments => "environments (Get-AdminPowerAppEnvironment)",
            ExportKind::Users => "users (Graph /users or admin-center CSV)",
            ExportKind::Skus => "SKUs (Graph /subscribedSkus)",
            ExportKind::Allocations => "allocations (licensing API currencyAllocations)",
            ExportKind::Capacity => "capacity (licensing API tenantCapacity)",
            ExportKind::AtRisk => "flows at risk (Get-AdminFlowAtRiskOfSuspension)",
            ExportKind::Connectors => "connectors (…/apis)",
            ExportKind::CoeFlows => "flows (CoE Starter Kit admin_flow)",
            ExportKind::Inventory => "inventory (PowerPlatformResources)",
        }
    }
}

/// Tells the kind from a JSON document's top-level object, when that says it (answers that are one object).
pub fn detect_top(o: &serde_json::Map<String, Value>) -> Option<ExportKind> {
    if has(o, &["tenantCapacities", "capacitySummary", "legacyModelCapacity"]) {
        Some(ExportKind::Capacity)
    } else if has(o, &["currencyAllocations"]) {
        Some(ExportKind::Allocations)
    } else if has(o, &["totalRecords", "resultTruncated"]) {
        Some(ExportKind::Inventory)
    } else {
        None
    }
}

/// Tells the kind from the first record's properties (JSON) or the header (CSV).
pub fn detect(records: &[Rec]) -> Option<ExportKind> {
    let first = &records.first()?.obj;
    let kind_type = read::path(first, "type")
        .and_then(read::PathValue::text)
        .unwrap_or_default();
    let t = kind_type.to_ascii_lowercase();
    let k = if has(first, &["currencyAllocations"]) {
        ExportKind::Allocations
    } else if has(first, &["capacityType"]) && has(first, &["consumption", "totalCapacity"]) {
        ExportKind::Capacity
    } else if t.starts_with("microsoft.powerplatform/")
        || t.starts_with("microsoft.powerapps/canvas")
        || t.starts_with("microsoft.powerapps/modeldriven")
        || t.starts_with("microsoft.powerautomate/")
        || t.starts_with("microsoft.copilotstudio/")
    {
        ExportKind::Inventory
    } else if has(first, &["admin_flowidstring", "admin_flowenvironmentid"]) {
        ExportKind::CoeFlows
    } else if has(first, &["skuId"]) && has(first, &["prepaidUnits", "consumedUnits", "servicePlans"]) {
        ExportKind::Skus
    } else if has(
        first,
        &[
            "assignedLicenses",
            "assignedPlans",
            "userPrincipalName",
            "User principal name",
        ],
    ) {
        ExportKind::Users
    } else if has(first, &["FlowName"]) && !has(first, &["CreatedBy", "Enabled", "Internal"]) {
        ExportKind::AtRisk
    } else if has(first, &["FlowName"]) || t == "microsoft.processsimple/environments/flows" {
        ExportKind::Flows
    } else if has(first, &["AppName"]) || t == "microsoft.powerapps/apps" {
        ExportKind::Apps
    } else if has(first, &["EnvironmentName"])
        && has(
            first,
            &["EnvironmentType", "IsDefault", "Location", "DisplayName"],
        )
        || t.contains("businessappplatform")
    {
        ExportKind::Environments
    } else if t == "microsoft.powerapps/apis"
        || has(first, &["name"]) && has(first, &["properties.tier", "properties.isCustomApi"])
    {
        ExportKind::Connectors
    } else if has(first, &["name"])
        && has(
            first,
            &[
                "properties.definition",
                "properties.flowSuspensionReason",
                "properties.connectionReferences",
            ],
        )
    {
        ExportKind::Flows
    } else {
        return None;
    };
    Some(k)
}

fn bad(file: &str, loc: Loc, field: &str, message: impl Into<String>) -> ImportError {
    ImportError {
        file: file.to_owned(),
        at: Some(loc.to_string()),
        field: Some(field.to_owned()),
        message: message.into(),
    }
}

/// A required GUID field: missing or not a GUID is a malformed export.
fn req_guid(file: &str, r: &Rec, field: &str, paths: &[&str]) -> Result<String, ImportError> {
    let t = text(r, paths).ok_or_else(|| bad(file, r.loc, field, "missing"))?;
    guid(&t).ok_or_else(|| bad(file, r.loc, field, format!("`{t}` is not a GUID")))
}

/// An optional GUID field: present but not a GUID is a malformed export.
fn opt_guid(file: &str, r: &Rec, field: &str, paths: &[&str]) -> Result<Option<String>, ImportError> {
    match text(r, paths) {
        None => Ok(None),
        Some(t) => guid(&t)
            .map(Some)
            .ok_or_else(|| bad(file, r.loc, field, format!("`{t}` is not a GUID"))),
    }
}

/// An environment name: a GUID, or `Default-<tenant GUID>`.
fn env_name(file: &str, r: &Rec, field: &str, paths: &[&str]) -> Result<String, ImportError> {
    let t = text(r, paths).ok_or_else(|| bad(file, r.loc, field, "missing"))?;
    env_id(&t).ok_or_else(|| bad(file, r.loc, field, format!("`{t}` is not an environment id")))
}

/// Normalises an environment id: `Default-<GUID>` keeps its prefix, the GUID goes to lower case; a path
/// `/providers/…/environments/<id>` gives its last part.
pub fn env_id(t: &str) -> Option<String> {
    let t = t.trim().rsplit('/').next()?;
    if let Some(g) = t.strip_prefix("Default-").or_else(|| t.strip_prefix("default-")) {
        return guid(g).map(|g| format!("Default-{g}"));
    }
    guid(t)
}

/// Run state of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FlowState {
    Started,
    Stopped,
    Suspended,
}

/// A flow as an export describes it.
#[derive(Debug, Clone)]
pub struct FlowRow {
    pub id: String,
    pub name: Option<String>,
    pub environment: String,
    pub owner: Option<String>,
    pub tenant: Option<String>,
    pub state: FlowState,
    pub suspension_reason: Option<String>,
    /// API names of the connectors it uses; `None` when the export does not say (the thin list).
    pub connectors: Option<Vec<String>>,
    /// Connector API names that are custom connectors.
    pub custom: Vec<String>,
    /// Built-in HTTP / HTTP webhook actions, or an HTTP request trigger (premium, FLOW-4).
    pub http: bool,
    pub trigger: Option<crate::scenario::Trigger>,
    pub created: Option<NaiveDate>,
    /// Invoker connections (`source: Invoker`): the flow runs on its caller's connections.
    pub invoker: bool,
    pub file: usize,
}

/// The last segment of an API id (`/providers/Microsoft.PowerApps/apis/shared_sql` → `shared_sql`).
pub fn api_name(id: &str) -> String {
    id.trim().rsplit('/').next().unwrap_or(id).to_ascii_lowercase()
}

/// Reads the connector references and definition of a flow or app (`connectionReferences`, `definition`
/// triggers and actions): connector names, custom connectors, HTTP use, trigger kind, invoker connections.
#[derive(Debug, Default)]
struct Shape {
    connectors: Option<Vec<String>>,
    custom: Vec<String>,
    http: bool,
    trigger: Option<crate::scenario::Trigger>,
    invoker: bool,
}

fn shape(props: Option<&Value>) -> Shape {
    let mut s = Shape::default();
    let Some(props) = props.and_then(Value::as_object) else {
        return s;
    };
    let mut names = Vec::new();
    let mut seen_refs = false;
    if let Some(refs) = read::key(props, "connectionReferences") {
        seen_refs = true;
        let items: Vec<(&String, &Value)> = match refs {
            Value::Object(o) => o.iter().collect(),
            _ => Vec::new(),
        };
        let list: Vec<&Value> = match refs {
            Value::Array(a) => a.iter().collect(),
            _ => items.iter().map(|(_, v)| *v).collect(),
        };
        for (i, r) in list.iter().enumerate() {
            let Some(o) = r.as_object() else { continue };
            let id = read::key(o, "id")
                .and_then(Value::as_str)
                .map(api_name)
                .or_else(|| {
                    read::key(o, "apiName")
                        .and_then(Value::as_str)
                        .map(|a| format!("shared_{}", a.to_ascii_lowercase()))
                })
                .or_else(|| items.get(i).map(|(k, _)| k.to_ascii_lowercase()));
            let Some(id) = id else { continue };
            let custom = read::key(o, "isCustomApi").and_then(Value::as_bool) == Some(true)
                || read::key(o, "apiDefinition").is_some()
                || looks_custom(&id);
            if custom && !s.custom.contains(&id) {
                s.custom.push(id.clone());
            }
            if read::key(o, "source").and_then(Value::as_str) == Some("Invoker") {
                s.invoker = true;
            }
            if !names.contains(&id) {
                names.push(id);
            }
        }
    }
    let definition = read::key(props, "definition").and_then(Value::as_object);
    if let Some(def) = definition {
        seen_refs = true;
        for part in ["triggers", "actions"] {
            if let Some(Value::Object(steps)) = read::key(def, part) {
                walk_steps(steps, part == "triggers", &mut s, &mut names);
            }
        }
    } else if let Some(Value::Object(sum)) = read::key(props, "definitionSummary") {
        for part in ["triggers", "actions"] {
            if let Some(Value::Array(steps)) = read::key(sum, part) {
                for step in steps.iter().filter_map(Value::as_object) {
                    let ty = read::key(step, "type").and_then(Value::as_str).unwrap_or("");
                    let kind = read::key(step, "kind").and_then(Value::as_str);
                    step_kind(ty, kind, part == "triggers", &mut s);
                }
            }
        }
    }
    if seen_refs {
        s.connectors = Some(names);
    }
    s
}

fn walk_steps(steps: &serde_json::Map<String, Value>, trigger: bool, s: &mut Shape, names: &mut Vec<String>) {
    for step in steps.values().filter_map(Value::as_object) {
        let ty = read::key(step, "type").and_then(Value::as_str).unwrap_or("");
        let kind = read::key(step, "kind").and_then(Value::as_str);
        step_kind(ty, kind, trigger, s);
        if let Some(api) = read::path(step, "inputs.host.apiId").and_then(read::PathValue::text) {
            let id = api_name(&api);
            if !names.contains(&id) {
                names.push(id);
            }
        }
        // Scopes, conditions and loops nest their actions.
        if let Some(Value::Object(inner)) = read::key(step, "actions") {
            walk_steps(inner, false, s, names);
        }
        if let Some(Value::Object(other)) = read::key(step, "else")
            && let Some(Value::Object(inner)) = read::key(other, "actions")
        {
            walk_steps(inner, false, s, names);
        }
    }
}

/// What one trigger or action tells: HTTP use (premium by FLOW-4 whatever a tier field says) and the trigger
/// kind (FLOW-2: automated and scheduled run as the owner; FLOW-3: instant as the invoker).
fn step_kind(ty: &str, kind: Option<&str>, trigger: bool, s: &mut Shape) {
    use crate::scenario::Trigger;
    let ty = ty.to_ascii_lowercase();
    let kind = kind.map(str::to_ascii_lowercase);
    if ty == "http" || ty == "httpwebhook" {
        s.http = true;
    }
    if !trigger {
        return;
    }
    let t = match (ty.as_str(), kind.as_deref()) {
        ("recurrence", _) => Trigger::Scheduled,
        ("request", None | Some("http")) => {
            s.http = true;
            Trigger::Automated
        }
        ("request", Some(_)) | ("manual", _) => Trigger::Instant,
        _ => Trigger::Automated,
    };
    s.trigger = Some(t);
}

/// Custom connectors' API names end in a hex suffix after an escaped underscore (`shared_contoso-5fcrm-5f1a2b3c…`).
fn looks_custom(id: &str) -> bool {
    id.rsplit("-5f").next().is_some_and(|tail| {
        id.contains("-5f") && tail.len() >= 8 && tail.chars().all(|c| c.is_ascii_hexdigit())
    })
}

fn state_of(t: Option<String>, enabled: Option<String>) -> FlowState {
    match t.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("suspended") => FlowState::Suspended,
        Some("stopped" | "off" | "disabled") => FlowState::Stopped,
        Some(_) => FlowState::Started,
        None => match enabled.as_deref().and_then(boolean) {
            Some(false) => FlowState::Stopped,
            _ => FlowState::Started,
        },
    }
}

/// `Get-AdminFlow` (list or per flow, JSON or CSV) and the admin REST flow JSON.
pub fn flows(file: &str, fi: usize, records: &[Rec]) -> Result<Vec<FlowRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let id = req_guid(file, r, "FlowName", &["FlowName", "name"])?;
            let environment = env_name(
                file,
                r,
                "EnvironmentName",
                &[
                    "EnvironmentName",
                    "properties.environment.name",
                    "Internal.properties.environment.name",
                ],
            )?;
            let owner = opt_guid(
                file,
                r,
                "CreatedBy.objectId",
                &[
                    "CreatedBy.objectId",
                    "properties.creator.objectId",
                    "Internal.properties.creator.objectId",
                ],
            )?;
            let tenant =
                text(r, &["CreatedBy.tenantId", "properties.creator.tenantId"]).and_then(|t| guid(&t));
            let props = read::path(&r.obj, "properties")
                .or_else(|| read::path(&r.obj, "Internal.properties"))
                .and_then(read::PathValue::json);
            let sh = shape(props);
            let state = state_of(
                text(r, &["properties.state", "Internal.properties.state", "State"]),
                text(r, &["Enabled"]),
            );
            Ok(FlowRow {
                id,
                name: text(r, &["DisplayName", "properties.displayName"]),
                environment,
                owner,
                tenant,
                state,
                suspension_reason: text(
                    r,
                    &[
                        "properties.flowSuspensionReason",
                        "Internal.properties.flowSuspensionReason",
                    ],
                )
                .filter(|s| s != "None"),
                connectors: sh.connectors,
                custom: sh.custom,
                http: sh.http,
                trigger: sh.trigger,
                created: text(r, &["CreatedTime", "properties.createdTime"]).and_then(|t| day(&t)),
                invoker: sh.invoker,
                file: fi,
            })
        })
        .collect()
}

/// CoE Starter Kit `admin_flow` rows (Dataverse JSON or a CSV export of the table).
pub fn coe_flows(file: &str, fi: usize, records: &[Rec]) -> Result<Vec<FlowRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let connectors = text(r, &["admin_flowconnections"]).map(|t| {
                let mut v: Vec<String> = t
                    .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                    .filter(|s| s.starts_with("shared_"))
                    .map(str::to_ascii_lowercase)
                    .collect();
                v.dedup();
                v
            });
            Ok(FlowRow {
                id: req_guid(file, r, "admin_flowidstring", &["admin_flowidstring"])?,
                name: text(r, &["admin_displayname"]),
                environment: env_name(file, r, "admin_flowenvironmentid", &["admin_flowenvironmentid"])?,
                owner: opt_guid(
                    file,
                    r,
                    "_admin_flowcreator_value",
                    &["_admin_flowcreator_value", "admin_flowcreator"],
                )?,
                tenant: None,
                state: state_of(text(r, &["admin_flowstate"]), None),
                suspension_reason: text(r, &["admin_flowsuspensionreason"]).filter(|s| s != "None"),
                custom: connectors
                    .iter()
                    .flatten()
                    .filter(|c| looks_custom(c))
                    .cloned()
                    .collect(),
                connectors,
                http: false,
                trigger: None,
                created: text(r, &["admin_flowcreatedon"]).and_then(|t| day(&t)),
                invoker: false,
                file: fi,
            })
        })
        .collect()
}

/// An app.
#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub name: Option<String>,
    pub environment: String,
    pub owner: Option<String>,
    pub connectors: Option<Vec<String>>,
    pub custom: Vec<String>,
    pub uses_premium: Option<bool>,
    pub model_driven: bool,
    pub created: Option<NaiveDate>,
}

/// `Get-AdminPowerApp` (JSON or CSV).
pub fn apps(file: &str, records: &[Rec]) -> Result<Vec<AppRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let props = read::path(&r.obj, "Internal.properties")
                .or_else(|| read::path(&r.obj, "properties"))
                .and_then(read::PathValue::json);
            let sh = shape(props);
            let app_type =
                text(r, &["Internal.appType", "appType", "properties.appType"]).unwrap_or_default();
            Ok(AppRow {
                id: req_guid(file, r, "AppName", &["AppName", "name"])?,
                name: text(r, &["DisplayName", "properties.displayName"]),
                environment: env_name(
                    file,
                    r,
                    "EnvironmentName",
                    &["EnvironmentName", "properties.environment.name"],
                )?,
                owner: opt_guid(file, r, "Owner.id", &["Owner.id", "properties.owner.id"])?,
                connectors: sh.connectors,
                custom: sh.custom,
                uses_premium: text(
                    r,
                    &["Internal.properties.usesPremiumAPI", "properties.usesPremiumAPI"],
                )
                .and_then(|t| boolean(&t)),
                model_driven: app_type.to_ascii_lowercase().contains("modeldriven"),
                created: text(r, &["CreatedTime", "properties.createdTime"]).and_then(|t| day(&t)),
            })
        })
        .collect()
}

/// An environment.
#[derive(Debug, Clone)]
pub struct EnvRow {
    pub id: String,
    pub name: Option<String>,
    pub default: bool,
    /// The type as exported (`Production`, `Sandbox`, `Trial`, `Developer`, `Default`, Teams).
    pub kind: Option<String>,
    pub dataverse: Option<bool>,
    pub managed: Option<bool>,
}

/// `Get-AdminPowerAppEnvironment` (JSON or CSV) and the BAP environments JSON.
pub fn environments(file: &str, records: &[Rec]) -> Result<Vec<EnvRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let id = env_name(file, r, "EnvironmentName", &["EnvironmentName", "name"])?;
            let kind = text(
                r,
                &[
                    "EnvironmentType",
                    "properties.environmentSku",
                    "Internal.properties.environmentSku",
                ],
            );
            let default = text(
                r,
                &[
                    "IsDefault",
                    "properties.isDefault",
                    "Internal.properties.isDefault",
                ],
            )
            .and_then(|t| boolean(&t))
            .unwrap_or(false)
                || id.starts_with("Default-")
                || kind.as_deref() == Some("Default");
            let dataverse = text(
                r,
                &[
                    "CommonDataServiceDatabaseProvisioningState",
                    "properties.databaseType",
                ],
            )
            .map(|s| s.eq_ignore_ascii_case("succeeded") || s.eq_ignore_ascii_case("commondataservice"))
            .or_else(|| has(&r.obj, &["properties.linkedEnvironmentMetadata"]).then_some(true));
            let managed = text(
                r,
                &[
                    "properties.governanceConfiguration.protectionLevel",
                    "Internal.properties.governanceConfiguration.protectionLevel",
                ],
            )
            .map(|p| !p.eq_ignore_ascii_case("basic"));
            Ok(EnvRow {
                id,
                name: text(r, &["DisplayName", "properties.displayName"]),
                default,
                kind,
                dataverse,
                managed,
            })
        })
        .collect()
}

/// One licence assignment of a user.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub sku_id: String,
    pub disabled_plans: Vec<String>,
}

/// A user.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub upn: Option<String>,
    pub name: Option<String>,
    pub guest: bool,
    pub enabled: bool,
    pub licenses: Vec<Assigned>,
    /// `assignedPlans`: (servicePlanId, enabled); `None` when the export did not select them.
    pub plans: Option<Vec<(String, bool)>>,
    /// Admin-center CSV: the product names of the `Licenses` cell (already split).
    pub license_names: Option<Vec<String>>,
    pub usage_location: Option<String>,
}

/// Product names that contain a `+` themselves, so that a `Licenses` cell is not split inside them.
const PLUS_NAMES: &[&str] = &[
    "Enterprise Mobility + Security E3",
    "Enterprise Mobility + Security E5",
    "Microsoft 365 E5 Security + Compliance",
];

/// Splits the admin center's `Licenses` cell: names joined by `+`, some of which contain ` + `.
pub fn split_licenses(cell: &str) -> Vec<String> {
    let mut rest = cell.trim().to_owned();
    let mut out = Vec::new();
    for name in PLUS_NAMES {
        while let Some(at) = rest.to_lowercase().find(&name.to_lowercase()) {
            let end = at + name.len();
            out.push(rest.get(at..end).unwrap_or(name).to_owned());
            rest.replace_range(at..end.min(rest.len()), "");
        }
    }
    out.extend(
        rest.split('+')
            .map(|s| {
                s.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}')
                    .to_owned()
            })
            .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("unlicensed")),
    );
    out
}

/// Graph `/users` JSON, or the admin center's "Export users" CSV.
pub fn users(file: &str, records: &[Rec]) -> Result<Vec<UserRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let id = req_guid(file, r, "id", &["id", "Object Id", "ObjectId"])?;
            let upn = text(r, &["userPrincipalName", "User principal name"]);
            let user_type = text(r, &["userType", "UserType"]).unwrap_or_default();
            let guest = user_type.eq_ignore_ascii_case("guest")
                || upn.as_deref().is_some_and(|u| u.contains("#EXT#"));
            let enabled = match text(r, &["accountEnabled"]) {
                Some(t) => boolean(&t)
                    .ok_or_else(|| bad(file, r.loc, "accountEnabled", format!("`{t}` is not a boolean")))?,
                None => !text(r, &["Block credential", "BlockCredential"])
                    .and_then(|t| boolean(&t))
                    .unwrap_or(false),
            };
            let mut licenses = Vec::new();
            if let Some(Value::Array(list)) = read::key(&r.obj, "assignedLicenses") {
                for (i, l) in list.iter().enumerate() {
                    let field = format!("assignedLicenses[{i}].skuId");
                    let o = l
                        .as_object()
                        .ok_or_else(|| bad(file, r.loc, &field, "not an object"))?;
                    let sku = read::key(o, "skuId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(file, r.loc, &field, "missing"))?;
                    let sku_id = guid(sku)
                        .ok_or_else(|| bad(file, r.loc, &field, format!("`{sku}` is not a GUID")))?;
                    let disabled_plans = match read::key(o, "disabledPlans") {
                        Some(Value::Array(d)) => {
                            d.iter().filter_map(Value::as_str).filter_map(guid).collect()
                        }
                        _ => Vec::new(),
                    };
                    licenses.push(Assigned {
                        sku_id,
                        disabled_plans,
                    });
                }
            }
            let plans = match read::key(&r.obj, "assignedPlans") {
                Some(Value::Array(list)) => Some(
                    list.iter()
                        .filter_map(Value::as_object)
                        .filter_map(|p| {
                            let id = read::key(p, "servicePlanId")
                                .and_then(Value::as_str)
                                .and_then(guid)?;
                            let status = read::key(p, "capabilityStatus")
                                .and_then(Value::as_str)
                                .unwrap_or("Enabled");
                            // Warning: expired but in grace, still honoured (docs/import.md).
                            Some((
                                id,
                                status.eq_ignore_ascii_case("enabled")
                                    || status.eq_ignore_ascii_case("warning"),
                            ))
                        })
                        .collect(),
                ),
                _ => None,
            };
            let license_names = text(r, &["Licenses"])
                .map(|c| split_licenses(&c))
                .or_else(|| has(&r.obj, &["Licenses"]).then(Vec::new));
            Ok(UserRow {
                id,
                upn,
                name: text(r, &["displayName", "Display name"]),
                guest,
                enabled,
                licenses,
                plans,
                license_names,
                usage_location: text(r, &["usageLocation", "Usage location"]),
            })
        })
        .collect()
}

/// A SKU the tenant subscribes to.
#[derive(Debug, Clone)]
pub struct SkuRow {
    pub sku_id: String,
    pub part_number: Option<String>,
    pub enabled: u64,
    pub warning: u64,
    pub consumed: u64,
    pub status: Option<String>,
    pub tenant: Option<String>,
}

fn units(file: &str, r: &Rec, field: &str, paths: &[&str]) -> Result<u64, ImportError> {
    match read::path_first(&r.obj, paths) {
        None => Ok(0),
        Some(v) => {
            let t = v.text().unwrap_or_default();
            if t.is_empty() {
                return Ok(0);
            }
            t.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n.round() as u64)
                .ok_or_else(|| bad(file, r.loc, field, format!("`{t}` is not a non-negative number")))
        }
    }
}

/// Graph `/subscribedSkus`.
pub fn skus(file: &str, records: &[Rec]) -> Result<Vec<SkuRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            Ok(SkuRow {
                sku_id: req_guid(file, r, "skuId", &["skuId"])?,
                part_number: text(r, &["skuPartNumber"]),
                enabled: units(file, r, "prepaidUnits.enabled", &["prepaidUnits.enabled"])?,
                warning: units(file, r, "prepaidUnits.warning", &["prepaidUnits.warning"])?,
                consumed: units(file, r, "consumedUnits", &["consumedUnits"])?,
                status: text(r, &["capabilityStatus"]),
                tenant: text(r, &["id"]).and_then(|id| id.split('_').next().and_then(guid)),
            })
        })
        .collect()
}

/// One currency allocation of an environment.
#[derive(Debug, Clone)]
pub struct AllocRow {
    pub environment: String,
    pub currency: String,
    pub allocated: u64,
}

/// `currencyAllocations`: one object per environment, or a list of them (`allocationsByEnvironment`).
pub fn allocations(file: &str, records: &[Rec]) -> Result<Vec<AllocRow>, ImportError> {
    let mut out = Vec::new();
    for r in records {
        let environment = env_name(file, r, "environmentId", &["environmentId", "environmentName"])?;
        let Some(Value::Array(list)) = read::key(&r.obj, "currencyAllocations") else {
            return Err(bad(file, r.loc, "currencyAllocations", "missing or not a list"));
        };
        for (i, a) in list.iter().enumerate() {
            let Some(o) = a.as_object() else {
                return Err(bad(
                    file,
                    r.loc,
                    &format!("currencyAllocations[{i}]"),
                    "not an object",
                ));
            };
            let sub = Rec {
                loc: r.loc,
                obj: o.clone(),
            };
            let currency = text(&sub, &["currencyType"]).ok_or_else(|| {
                bad(
                    file,
                    r.loc,
                    &format!("currencyAllocations[{i}].currencyType"),
                    "missing",
                )
            })?;
            let allocated = units(
                file,
                &sub,
                &format!("currencyAllocations[{i}].allocated"),
                &["allocated"],
            )?;
            out.push(AllocRow {
                environment: environment.clone(),
                currency,
                allocated,
            });
        }
    }
    Ok(out)
}

/// One pool of `tenantCapacity`.
#[derive(Debug, Clone)]
pub struct CapRow {
    pub capacity_type: String,
    pub unit: Option<String>,
    pub total: u64,
    pub consumed: u64,
}

/// `tenantCapacity`: the whole answer (one record holding `tenantCapacities`), or the list itself.
pub fn capacity(file: &str, records: &[Rec]) -> Result<Vec<CapRow>, ImportError> {
    let mut list: Vec<Rec> = Vec::new();
    for r in records {
        match read::key(&r.obj, "tenantCapacities") {
            Some(Value::Array(a)) => list.extend(a.iter().enumerate().filter_map(|(i, v)| {
                v.as_object().map(|o| Rec {
                    loc: Loc::Record(i + 1),
                    obj: o.clone(),
                })
            })),
            _ => list.push(r.clone()),
        }
    }
    list.iter()
        .filter(|r| has(&r.obj, &["capacityType"]))
        .map(|r| {
            Ok(CapRow {
                capacity_type: text(r, &["capacityType"]).unwrap_or_default(),
                unit: text(r, &["capacityUnits"]),
                total: units(file, r, "totalCapacity", &["totalCapacity"])?,
                consumed: units(
                    file,
                    r,
                    "consumption.actual",
                    &["consumption.actual", "consumption"],
                )?,
            })
        })
        .collect()
}

/// A row of `Get-AdminFlowAtRiskOfSuspension`.
#[derive(Debug, Clone, Serialize)]
pub struct AtRiskRow {
    pub flow: String,
    pub name: Option<String>,
    pub environment: Option<String>,
    pub owner: Option<String>,
}

/// `Get-AdminFlowAtRiskOfSuspension` via Export-Csv (headers mapped case-insensitively, unknown columns kept
/// out of the way).
pub fn at_risk(file: &str, records: &[Rec]) -> Result<Vec<AtRiskRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            Ok(AtRiskRow {
                flow: req_guid(file, r, "FlowName", &["FlowName", "name"])?,
                name: text(r, &["DisplayName"]),
                environment: text(r, &["EnvironmentName", "environment"]).and_then(|e| env_id(&e)),
                owner: opt_guid(file, r, "Owner", &["Owner", "OwnerId", "CreatedBy"])?,
            })
        })
        .collect()
}

/// A connector of the `…/apis` list.
#[derive(Debug, Clone)]
pub struct ConnRow {
    pub id: String,
    pub premium: bool,
    pub custom: bool,
}

/// The connector list (`{"value": [{"name": "shared_x", "properties": {"tier", "isCustomApi"}}]}`).
pub fn connectors(file: &str, records: &[Rec]) -> Result<Vec<ConnRow>, ImportError> {
    records
        .iter()
        .map(|r| {
            let id = text(r, &["name"]).ok_or_else(|| bad(file, r.loc, "name", "missing"))?;
            Ok(ConnRow {
                id: api_name(&id),
                premium: text(r, &["properties.tier", "tier"])
                    .is_some_and(|t| t.eq_ignore_ascii_case("premium")),
                custom: text(r, &["properties.isCustomApi", "isCustomApi"]).and_then(|t| boolean(&t))
                    == Some(true),
            })
        })
        .collect()
}

/// What the inventory API lists: flows, apps and environments.
pub type Inventory = (Vec<FlowRow>, Vec<AppRow>, Vec<EnvRow>);

/// The inventory API: flows, apps and environments by `type`.
pub fn inventory(file: &str, fi: usize, records: &[Rec]) -> Result<Inventory, ImportError> {
    let (mut flows, mut apps, mut envs) = (Vec::new(), Vec::new(), Vec::new());
    for r in records {
        let t = text(r, &["type"]).unwrap_or_default().to_ascii_lowercase();
        let owner = || {
            opt_guid(
                file,
                r,
                "properties.ownerId",
                &["properties.ownerId", "properties.createdBy"],
            )
        };
        if t == "microsoft.powerautomate/cloudflows" || t == "microsoft.powerautomate/agentflows" {
            let connectors: Option<Vec<String>> =
                match read::path(&r.obj, "properties.connectors").and_then(read::PathValue::json) {
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .filter_map(|c| {
                                c.as_str().map(api_name).or_else(|| {
                                    c.as_object()
                                        .and_then(|o| read::key(o, "id").or_else(|| read::key(o, "name")))
                                        .and_then(Value::as_str)
                                        .map(api_name)
                                })
                            })
                            .collect(),
                    ),
                    _ => None,
                };
            flows.push(FlowRow {
                id: req_guid(file, r, "name", &["name"])?,
                name: text(r, &["properties.displayName"]),
                environment: env_name(file, r, "properties.environmentId", &["properties.environmentId"])?,
                owner: owner()?,
                tenant: text(r, &["tenantId"]).and_then(|t| guid(&t)),
                state: state_of(text(r, &["properties.status", "properties.state"]), None),
                suspension_reason: None,
                custom: connectors
                    .iter()
                    .flatten()
                    .filter(|c| looks_custom(c))
                    .cloned()
                    .collect(),
                connectors,
                http: false,
                trigger: None,
                created: text(r, &["properties.createdAt"]).and_then(|t| day(&t)),
                invoker: false,
                file: fi,
            });
        } else if t.starts_with("microsoft.powerapps/") {
            apps.push(AppRow {
                id: req_guid(file, r, "name", &["name"])?,
                name: text(r, &["properties.displayName"]),
                environment: env_name(file, r, "properties.environmentId", &["properties.environmentId"])?,
                owner: owner()?,
                connectors: None,
                custom: Vec::new(),
                uses_premium: None,
                model_driven: t.contains("modeldriven"),
                created: text(r, &["properties.createdAt"]).and_then(|t| day(&t)),
            });
        } else if t == "microsoft.powerplatform/environments" {
            let id = env_name(file, r, "name", &["name"])?;
            let kind = text(r, &["properties.environmentType"]);
            envs.push(EnvRow {
                default: kind.as_deref() == Some("Default") || id.starts_with("Default-"),
                id,
                name: text(r, &["properties.displayName"]),
                kind,
                dataverse: None,
                managed: text(r, &["properties.isManaged"]).and_then(|t| boolean(&t)),
            });
        }
    }
    Ok((flows, apps, envs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_licenses_cell_is_split_on_plus_but_not_inside_names_with_plus() {
        assert_eq!(
            split_licenses("Visio Plan 2+Enterprise Mobility + Security E5+Microsoft Power Automate Free"),
            vec![
                "Enterprise Mobility + Security E5",
                "Visio Plan 2",
                "Microsoft Power Automate Free"
            ]
        );
        assert!(split_licenses("Unlicensed").is_empty());
    }

    #[test]
    fn custom_connector_names_are_recognised() {
        assert!(looks_custom("shared_contoso-5fcrm-5f1a2b3c4d5e6f7a8b"));
        assert!(!looks_custom("shared_sharepointonline"));
    }

    #[test]
    fn environment_ids_keep_the_default_prefix_and_lower_the_guid() {
        assert_eq!(
            env_id("Default-0A1B2C3D-0000-4000-8000-000000000001").as_deref(),
            Some("Default-0a1b2c3d-0000-4000-8000-000000000001")
        );
        assert_eq!(env_id("prod"), None);
    }
}
