//! The OpenAPI document names only types of the one wire contract: every schema it lists is a
//! type defined in `core` (`core::wire`, or the model, policy, ids, errors and lifecycle it
//! uses), never one the server defines for itself, so the server, the client, the app and the
//! simulation cannot each grow a copy of a body.

#![allow(clippy::unwrap_used)]

use fieldsync_server::api::ApiDoc;
use utoipa::OpenApi;

/// Where `core` defines its public types.
const CORE_SOURCES: [&str; 10] = [
    include_str!("../../core/src/state.rs"),
    include_str!("../../core/src/wire.rs"),
    include_str!("../../core/src/model.rs"),
    include_str!("../../core/src/policy.rs"),
    include_str!("../../core/src/ids.rs"),
    include_str!("../../core/src/error.rs"),
    include_str!("../../core/src/lifecycle.rs"),
    include_str!("../../core/src/accounts.rs"),
    include_str!("../../core/src/report.rs"),
    include_str!("../../core/src/judge.rs"),
];

/// The ids are newtypes made by one macro, `id_type!(... Name)`, in ids.rs.
const IDS: &str = include_str!("../../core/src/ids.rs");

fn defined_in_core(name: &str) -> bool {
    let an_id = IDS.contains("macro_rules! id_type") && IDS.lines().any(|l| l.trim() == name);
    an_id
        || CORE_SOURCES.iter().any(|src| {
            src.lines().any(|line| {
                let line = line.trim_start();
                [
                    format!("pub struct {name} "),
                    format!("pub struct {name}("),
                    format!("pub struct {name}<"),
                    format!("pub enum {name} "),
                ]
                .iter()
                .any(|p| line.starts_with(p.as_str()))
            })
        })
}

#[test]
fn every_schema_is_a_type_of_core() {
    let doc = ApiDoc::openapi();
    let schemas: Vec<String> = doc
        .components
        .as_ref()
        .map(|c| c.schemas.keys().cloned().collect())
        .unwrap_or_default();
    assert!(
        schemas.len() > 10,
        "the document lists its schemas: {schemas:?}"
    );
    let strangers: Vec<&String> = schemas.iter().filter(|s| !defined_in_core(s)).collect();
    assert!(
        strangers.is_empty(),
        "schemas of the OpenAPI document that are not types of core: {strangers:?}"
    );
}

#[test]
fn the_check_tells_a_core_type_from_another() {
    assert!(defined_in_core("Change"));
    assert!(defined_in_core("ReassignRequest"));
    assert!(defined_in_core("State"));
    assert!(defined_in_core("RecordId"));
    assert!(!defined_in_core("AppState"));
}

/// Every parameter the document names is where the route reads it: a `{name}` of its path, or
/// the query string. utoipa puts an `IntoParams` struct in the path unless told otherwise, and a
/// client generated from the document then cannot call the pull at all.
#[test]
fn every_parameter_is_in_the_path_it_names_or_the_query() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default();
                let placed = match p["in"].as_str() {
                    Some("path") => path.contains(&format!("{{{name}}}")),
                    Some("query") | Some("header") => !path.contains(&format!("{{{name}}}")),
                    _ => false,
                };
                if !placed {
                    wrong.push(format!("{method} {path}: {name} in {}", p["in"]));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "parameters out of place: {wrong:?}");
    let pull = &doc["paths"]["/api/v1/sync/pull"]["get"]["parameters"];
    assert!(
        pull.as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "query" && p["required"] != true),
        "the pull's cursor and reports are optional query parameters: {pull}"
    );
}
