//! Snapshot tests: one fixture spec per feature, the whole compiled IR as JSON.

mod common;

use common::compile_fixture;

fn snap(fixture: &str) {
    let spec = compile_fixture(fixture);
    let name = fixture
        .trim_end_matches(".yaml")
        .trim_end_matches(".json")
        .replace('/', "_");
    insta::assert_json_snapshot!(name, spec);
}

#[test]
fn petstore_30_yaml() {
    snap("petstore.yaml");
}
#[test]
fn openapi_31() {
    snap("openapi31.yaml");
}
#[test]
fn swagger_20() {
    snap("swagger2.yaml");
}
#[test]
fn swagger_20_form_data() {
    snap("swagger2_formdata.yaml");
}
#[test]
fn self_referencing_schemas() {
    snap("self_ref.yaml");
}
#[test]
fn mutually_recursive_schemas() {
    snap("mutual_recursion.yaml");
}
#[test]
fn external_file_refs() {
    snap("external/main.yaml");
}
#[test]
fn refs_into_paths() {
    snap("paths_ref.yaml");
}
#[test]
fn discriminator() {
    snap("discriminator.yaml");
}
#[test]
fn nullable() {
    snap("nullable.yaml");
}
#[test]
fn all_of_body() {
    snap("allof_body.yaml");
}
#[test]
fn collisions() {
    snap("collisions.yaml");
}
#[test]
fn non_object_bodies() {
    snap("non_object_bodies.yaml");
}
#[test]
fn multipart_with_files() {
    snap("multipart.yaml");
}
#[test]
fn form_urlencoded() {
    snap("form_urlencoded.yaml");
}
#[test]
fn fastapi_operation_ids() {
    snap("fastapi.json");
}
#[test]
fn fastapi_tag_prefixed_operation_ids() {
    snap("fastapi_tags.json");
}
#[test]
fn long_names_truncated_with_hash() {
    snap("long_names.yaml");
}
#[test]
fn duplicate_names() {
    snap("duplicate_names.yaml");
}
#[test]
fn route_maps() {
    snap("route_maps.yaml");
}
#[test]
fn include_exclude_tags() {
    snap("tags_filter.yaml");
}
#[test]
fn broken_operation_is_skipped() {
    snap("broken_op.yaml");
}
#[test]
fn unnamed_parameters_are_ignored() {
    snap("unnamed_params.yaml");
}
#[test]
fn fragment_without_leading_slash() {
    snap("fragment_without_slash.yaml");
}
#[test]
fn fastapi_security_classes_and_login_operation() {
    snap("fastapi_security.json");
}
