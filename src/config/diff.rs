//! Human-readable differences between two [`Settings`], for the audit log on reload.
//!
//! Each setting is flattened to a `(label, value)` fact in a stable order; the diff is
//! then "changed", "added" or "removed" per label. Rules are labelled by their patterns
//! (unique per file, `validate` enforces it), so a rule that moves from canary to uxp
//! reads as one change rather than a removal and an addition.

use std::collections::BTreeMap;

use super::settings::{ListenerRole, Settings};

impl Settings {
    /// Lines like `fallback: legacy → shadow` or
    /// `rollout rule agency=10000042 service=moh.*: canary 25% → uxp`, in the order the
    /// settings appear in the file; empty when nothing changed.
    pub fn diff(&self, other: &Settings) -> Vec<String> {
        let old = self.facts();
        let new = other.facts();
        let new_by_label: BTreeMap<&str, &str> =
            new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let old_by_label: BTreeMap<&str, &str> =
            old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

        let mut lines = Vec::new();
        for (label, before) in &old {
            match new_by_label.get(label.as_str()) {
                Some(after) if after != before => {
                    lines.push(format!("{label}: {before} → {after}"))
                }
                Some(_) => {}
                None => lines.push(format!("{label}: removed (was {before})")),
            }
        }
        for (label, after) in &new {
            if !old_by_label.contains_key(label.as_str()) {
                lines.push(format!("{label}: added ({after})"));
            }
        }

        // Order only matters between rules of equal specificity, but it does matter
        // there, so a reorder is worth a line.
        let order = |s: &Settings| -> Vec<(String, String)> {
            s.rollout
                .rules()
                .iter()
                .map(|r| (r.agency.to_string(), r.service.to_string()))
                .collect()
        };
        let (a, b) = (order(self), order(other));
        let common_a: Vec<_> = a.iter().filter(|k| b.contains(k)).collect();
        let common_b: Vec<_> = b.iter().filter(|k| a.contains(k)).collect();
        if common_a != common_b {
            lines.push(
                "rollout rules: reordered (matters only between rules of equal specificity)"
                    .to_string(),
            );
        }
        lines
    }

    fn facts(&self) -> Vec<(String, String)> {
        let mut f = Vec::new();
        let mut push = |k: String, v: String| f.push((k, v));
        push("data_dir".into(), self.data_dir.display().to_string());
        push("mappings".into(), self.mappings.display().to_string());
        push(
            "limits.max_message_bytes".into(),
            self.limits.max_message_bytes.to_string(),
        );
        push(
            "limits.header_read_timeout_ms".into(),
            self.limits.header_read_timeout.as_millis().to_string(),
        );
        push(
            "limits.body_read_timeout_ms".into(),
            self.limits.body_read_timeout.as_millis().to_string(),
        );
        push(
            "limits.max_connections".into(),
            self.limits.max_connections.to_string(),
        );
        push(
            "limits.max_connections_per_source".into(),
            self.limits.max_connections_per_source.to_string(),
        );
        push(
            "limits.max_header_bytes".into(),
            self.limits.max_header_bytes.to_string(),
        );
        push(
            "limits.max_headers".into(),
            self.limits.max_headers.to_string(),
        );
        push(
            "limits.max_attributes_per_element".into(),
            self.limits.scan.max_attributes.to_string(),
        );
        push(
            "limits.max_namespace_declarations_per_element".into(),
            self.limits.scan.max_namespace_declarations.to_string(),
        );
        push("admin.listen".into(), self.admin.listen.to_string());
        push(
            "admin.allowed_hosts".into(),
            self.admin.allowed_hosts.join(", "),
        );
        for l in &self.listeners {
            push(format!("listener {}: listen", l.name), l.listen.to_string());
            let role = match &l.role {
                ListenerRole::Consumer => "consumer".to_string(),
                ListenerRole::Provider { upstream } => format!("provider → {upstream}"),
            };
            push(format!("listener {}: role", l.name), role);
            if let Some(t) = &l.tls {
                push(format!("listener {}: tls", l.name), tls_fact(t));
            }
        }
        for (name, u) in &self.upstreams {
            push(format!("upstream {name}: url"), u.url.to_string());
            push(format!("upstream {name}: dialect"), u.dialect.to_string());
            let soap = match u.soap_version {
                crate::wire::SoapVersion::Soap11 => "1.1",
                crate::wire::SoapVersion::Soap12 => "1.2",
            };
            push(format!("upstream {name}: soap_version"), soap.to_string());
            push(format!("upstream {name}: http10"), u.http10.to_string());
            push(
                format!("upstream {name}: connect_timeout_ms"),
                u.connect_timeout.as_millis().to_string(),
            );
            push(
                format!("upstream {name}: request_timeout_ms"),
                u.request_timeout.as_millis().to_string(),
            );
        }
        for (name, u) in &self.upstreams {
            if let Some(t) = &u.tls {
                push(format!("upstream {name}: tls"), upstream_tls_fact(t));
            }
        }
        for b in &self.client_bindings {
            push(
                format!("client binding {}", b.name),
                serde_json::to_string(b).unwrap_or_default(),
            );
        }
        if let Some(s) = &self.stacks {
            push("stacks.legacy".into(), s.legacy.clone());
            push("stacks.uxp".into(), s.uxp.clone());
        }
        push("fallback".into(), self.rollout.fallback().to_string());
        for r in self.rollout.rules() {
            push(
                format!("rollout rule agency={} service={}", r.agency, r.service),
                r.stage.to_string(),
            );
        }
        let t = &self.report;
        push("report.min_samples".into(), t.min_samples.to_string());
        push("report.min_match_rate".into(), t.min_match_rate.to_string());
        push("report.max_p99_ratio".into(), t.max_p99_ratio.to_string());
        f
    }
}

fn tls_fact(t: &super::ListenerTls) -> String {
    let mut s = format!("cert {} key {}", t.cert.display(), t.key.display());
    if let Some(ca) = &t.client_ca {
        s.push_str(&format!(
            " client_ca {} ({})",
            ca.display(),
            if t.require_client_cert {
                "client certificate required"
            } else {
                "client certificate optional"
            }
        ));
    }
    s
}

fn upstream_tls_fact(t: &super::UpstreamTls) -> String {
    let mut s = format!("ca {}", t.ca.display());
    if let Some(c) = &t.client_cert {
        s.push_str(&format!(" client_cert {}", c.display()));
    }
    if let Some(n) = &t.server_name {
        s.push_str(&format!(" server_name {n}"));
    }
    s
}
