//! The YAML loaders: `ekm.yaml` (`ekm_engine::config`) and scenarios (`ekm_scenarios::validate`).
//! Both read files as UTF-8 text, so input that is not UTF-8 never reaches them.

/// The `ekm.yaml` loader: a config it accepts has no problems, and its derived values are readable.
pub fn engine_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = ekm_engine::config::Config::from_yaml(text, "fuzz.yaml") else {
        return;
    };
    assert!(
        config.problems().is_empty(),
        "accepted a config with problems"
    );
    let _ = (
        config.engine.engine_config(),
        config.aws_external_id(),
        config.gcp_allowed_audience(),
    );
}

/// The scenario loader (parse and validate; scenarios are not run).
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ekm_scenarios::validate::parse(text, "fuzz.yaml");
}
