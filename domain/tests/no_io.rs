//! The domain does no I/O because it cannot: its manifest names only data-shaping crates. This
//! test keeps it that way; a crate that brings a runtime, a database, a network or an image codec
//! belongs in xuncha-core (device side) or xuncha-server instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const MANIFEST: &str = include_str!("../Cargo.toml");

/// Serialisation, errors, dates, ids, the rules-file format. Nothing that can touch a file, a
/// socket, a database or the clock on its own.
const ALLOWED: [&str; 6] = ["chrono", "serde", "serde_json", "thiserror", "toml", "uuid"];

/// Allowed only as optional dependencies behind a feature: `utoipa` (feature `openapi`) derives
/// OpenAPI schemas for the server and is never in the phone library.
const ALLOWED_OPTIONAL: [&str; 1] = ["utoipa"];

#[test]
fn the_domain_depends_on_no_io_crate() {
    let manifest: toml::Table = toml::from_str(MANIFEST).unwrap();
    let dependencies = manifest["dependencies"].as_table().unwrap();
    let unexpected: Vec<&String> = dependencies
        .iter()
        .filter(|(name, spec)| {
            let optional = spec.get("optional").and_then(toml::Value::as_bool) == Some(true);
            let allowed = ALLOWED.contains(&name.as_str())
                || (optional && ALLOWED_OPTIONAL.contains(&name.as_str()));
            !allowed
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        unexpected.is_empty(),
        "xuncha-domain must stay free of I/O; move code needing {unexpected:?} to xuncha-core or xuncha-server"
    );
    for table in ["build-dependencies", "target"] {
        assert!(
            !manifest.contains_key(table),
            "no [{table}] in domain/Cargo.toml"
        );
    }
}
