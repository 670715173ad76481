//! Unit tests of the import: detection, joins on GUIDs, rights from service plans, guesses and the summary.

use super::*;

const T: &str = "0a1b2c3d-0000-4000-8000-000000000001";

fn at() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

fn read(name: &str, text: &str) -> Export {
    read_export(name, text.as_bytes(), None, 0).unwrap()
}

#[test]
fn rights_come_from_enabled_service_plans_not_from_the_sku() {
    let catalog = Catalog::current().unwrap();
    let users = read(
        "users.json",
        r#"{"value":[
          {"id":"11111111-0000-4000-8000-000000000001","userPrincipalName":"ann@contoso.com",
           "accountEnabled":true,"userType":"Member",
           "assignedLicenses":[{"skuId":"6fd2c87f-b296-42f0-b197-1e91e994b900","disabledPlans":["76846ad7-7776-4c40-a281-a386362dd1b9","c68f8d98-5534-41c8-bf36-22fa496fa792"]},
                               {"skuId":"eda1941c-3c4f-4995-b5eb-e85a42175ab9","disabledPlans":[]},
                               {"skuId":"99999999-0000-4000-8000-000000000009","disabledPlans":[]}],
           "assignedPlans":[{"servicePlanId":"375cd0ad-c407-49fd-866a-0bff4f8a9a4d","capabilityStatus":"Enabled","service":"ProcessSimple"}]}
        ]}"#,
    );
    assert_eq!(users.kind, Some(ExportKind::Users));
    let imp = assemble(&[users], &catalog, at(), Some("contoso"));
    let u = &imp.scenario.users[0];
    // E3 with its flow and apps plans disabled gives no Power Platform right; Premium's plan is enabled.
    assert_eq!(u.licenses, vec!["power-automate-premium"]);
    assert_eq!(imp.summary.plans_disabled.len(), 1);
    assert_eq!(
        imp.summary
            .unknown_skus
            .get("99999999-0000-4000-8000-000000000009"),
        Some(&1)
    );
}

#[test]
fn thin_flow_list_is_reported_and_owners_missing_by_name() {
    let catalog = Catalog::current().unwrap();
    let flows = read(
        "flows.csv",
        &format!(
            "FlowName,Enabled,DisplayName,CreatedTime,CreatedBy,EnvironmentName\n\
             aaaaaaaa-0000-4000-8000-000000000001,True,Invoices,2024-01-02T00:00:00Z,\"@{{tenantId={T}; objectId=22222222-0000-4000-8000-000000000002}}\",Default-{T}\n"
        ),
    );
    assert_eq!(flows.kind, Some(ExportKind::Flows));
    let imp = assemble(&[flows], &catalog, at(), None);
    assert_eq!(imp.scenario.tenant.id, T);
    assert_eq!(imp.summary.flows_without_connectors.get("flows.csv"), Some(&1));
    assert_eq!(
        imp.summary
            .missing_owners
            .get("22222222-0000-4000-8000-000000000002"),
        Some(&1)
    );
    let toml = imp.to_toml().unwrap();
    assert!(
        toml.contains("# guessed: connectors unknown (thin Get-AdminFlow list)"),
        "{toml}"
    );
    assert!(toml.contains("# Invoices"), "{toml}");
    let back = Scenario::parse(&toml, crate::scenario::Format::Toml, "x.toml", &catalog);
    assert!(back.is_ok(), "{back:?}");
}

#[test]
fn http_and_custom_connectors_are_premium_whatever_the_tier_field_says() {
    let catalog = Catalog::current().unwrap();
    let flow = read(
        "flow.json",
        &format!(
            r#"{{"name":"bbbbbbbb-0000-4000-8000-000000000002","type":"Microsoft.ProcessSimple/environments/flows",
            "properties":{{"displayName":"Sync","state":"Suspended","flowSuspensionReason":"CompanyDlpViolation",
              "environment":{{"name":"Default-{T}"}},"creator":{{"objectId":"33333333-0000-4000-8000-000000000003"}},
              "connectionReferences":{{"shared_contoso-5fcrm-5f1a2b3c4d5e6f7a8b":{{"id":"/providers/Microsoft.PowerApps/apis/shared_contoso-5fcrm-5f1a2b3c4d5e6f7a8b","tier":"NotSpecified"}}}},
              "definition":{{"triggers":{{"manual":{{"type":"Request","kind":"Button"}}}},
                             "actions":{{"Call":{{"type":"Http"}}}}}}}}}}"#
        ),
    );
    let imp = assemble(&[flow], &catalog, at(), None);
    let f = &imp.scenario.flows[0];
    assert_eq!(f.trigger, Trigger::Instant);
    assert!(f.connectors.contains(&"http".to_owned()));
    assert_eq!(f.features, vec![Feature::CustomConnector]);
    assert!(f.enabled, "a suspended flow is kept");
    assert_eq!(imp.summary.suspended_flows, 1);
}

#[test]
fn malformed_rows_name_the_file_line_and_field() {
    let e = read_export(
        "flows.csv",
        b"FlowName,Enabled,CreatedBy,EnvironmentName\nnot-a-guid,True,x,y\n",
        None,
        0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "flows.csv:2: FlowName: `not-a-guid` is not a GUID");
    let e = read_export(
        "u.json",
        br#"{"value":[{"id":"x","userPrincipalName":"a"}]}"#,
        None,
        0,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "u.json:record 1: id: `x` is not a GUID");
}

#[test]
fn admin_center_names_map_english_and_report_the_rest() {
    let catalog = Catalog::current().unwrap();
    let users = read(
        "users.csv",
        "Display name,User principal name,Object Id,Block credential,Licenses\n\
         Ana,ana@contoso.com,44444444-0000-4000-8000-000000000004,False,Microsoft Fabric (Gratis)+Microsoft Power Automate Free+Microsoft 365 Empresa Básico\n\
         Bo,bo@contoso.com,44444444-0000-4000-8000-000000000005,False,Enterprise Mobility + Security E5+Office 365 E3\n",
    );
    let imp = assemble(&[users], &catalog, at(), Some("contoso"));
    assert_eq!(imp.scenario.users[0].licenses, vec!["power-automate-free"]);
    assert_eq!(imp.scenario.users[1].licenses, vec!["office-365-e3"]);
    assert_eq!(
        imp.summary
            .unknown_product_names
            .get("Microsoft 365 Empresa Básico"),
        Some(&1)
    );
    assert_eq!(
        imp.summary
            .unknown_product_names
            .get("Enterprise Mobility + Security E5"),
        Some(&1)
    );
}

#[test]
fn the_connector_list_is_evidence_for_connectors_the_catalog_lacks() {
    let catalog = Catalog::current().unwrap();
    let list = read(
        "apis.json",
        r#"{"value":[{"name":"shared_acmeweather","properties":{"displayName":"Acme","tier":"Standard","isCustomApi":false}}]}"#,
    );
    assert_eq!(list.kind, Some(ExportKind::Connectors));
    let flow = read(
        "flow.json",
        &format!(
            r#"[{{"name":"cccccccc-0000-4000-8000-000000000003","properties":{{"environment":{{"name":"Default-{T}"}},
              "creator":{{"objectId":"33333333-0000-4000-8000-000000000003"}},
              "connectionReferences":{{"shared_acmeweather":{{"id":"/providers/Microsoft.PowerApps/apis/shared_acmeweather"}}}}}}}}]"#
        ),
    );
    let imp = assemble(&[list, flow], &catalog, at(), None);
    assert_eq!(imp.summary.unknown_connectors.get("shared_acmeweather"), Some(&1));
    assert!(
        imp.summary
            .warnings
            .iter()
            .any(|w| w.starts_with("shared_acmeweather: the connector list calls it Standard"))
    );
}

#[test]
fn a_record_that_is_not_an_object_is_an_error_not_a_skip() {
    let e = read_export("mix.json", br#"[1, {"FlowName": "x"}]"#, None, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mix.json:record 1: a record must be an object, not `1`"
    );
}
