//! [`Plan::validate`]: every problem in a parsed plan that serde cannot see (values out of
//! range, sections that need each other, secrets given both ways or not at all), all reported
//! at once, each with its path in the plan.

use super::{Plan, PlanError, SecretRef};

impl Plan {
    /// Every problem serde cannot see, each with its path.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, text: String| {
            if !ok {
                problems.push(text);
            }
        };
        need(
            !self.tool.trim().is_empty(),
            "tool: must not be empty".into(),
        );
        need(
            !self.objective.trim().is_empty(),
            "objective: must not be empty".into(),
        );
        let c = &self.candidate;
        need(
            c.config.is_some() != c.url.is_some(),
            "candidate: give exactly one of `config: FILE` and `url: URL`".into(),
        );
        if let Some(url) = &c.url {
            need(
                url.starts_with("http://") || url.starts_with("https://"),
                format!("candidate.url: `{url}` is not an http(s) URL"),
            );
            need(
                self.baseline.is_none() || c.contract.is_some(),
                "candidate.contract: a `url` candidate needs it for the contract diff against `baseline` (a snapshot, spec or configuration of what it serves)".into(),
            );
        }
        if let Some(b) = &c.bearer {
            check_secret(b, "candidate.bearer", &mut need);
        }
        need(
            self.migrations.is_none() || self.baseline.is_some(),
            "migrations: notes cover changes against a `baseline`; give one".into(),
        );
        if let Some(r) = &self.replay {
            need(r.windows >= 1, "replay.windows: at least 1".into());
            need(r.concurrency >= 1, "replay.concurrency: at least 1".into());
            need(r.repeat >= 1, "replay.repeat: at least 1".into());
            need(
                r.rate.is_none_or(|x| x > 0.0 && x.is_finite()),
                "replay.rate: a positive number of calls per second".into(),
            );
            need(
                r.timeout_seconds > 0.0 && r.timeout_seconds.is_finite(),
                "replay.timeout_seconds: a positive number".into(),
            );
        }
        if let Some(b) = &self.budgets {
            match &self.replay {
                None => need(
                    false,
                    "budgets: latency is measured by the replay; add a `replay:` section".into(),
                ),
                Some(r) => need(
                    r.windows >= 2,
                    format!(
                        "replay.windows: {} — budgets need at least 2 (a tool fails when over budget in two consecutive windows)",
                        r.windows
                    ),
                ),
            }
            need(
                b.default.is_some() || !b.tools.is_empty(),
                "budgets: give `default` or `tools`".into(),
            );
            let all = b.default.iter().map(|d| ("budgets.default".to_owned(), d));
            let tools = b
                .tools
                .iter()
                .map(|(t, d)| (format!("budgets.tools.{t}"), d));
            for (path, budget) in all.chain(tools) {
                need(
                    budget.p50_ms.is_some() || budget.p95_ms.is_some(),
                    format!("{path}: give p50_ms, p95_ms or both"),
                );
                for (k, v) in [("p50_ms", budget.p50_ms), ("p95_ms", budget.p95_ms)] {
                    need(
                        v.is_none_or(|x| x > 0.0 && x.is_finite()),
                        format!("{path}.{k}: a positive number of milliseconds"),
                    );
                }
            }
        }
        if let Some(r) = &self.retry_ceiling {
            need(
                self.replay.is_some(),
                "retry_ceiling: retries are measured by the replay; add a `replay:` section".into(),
            );
            need(
                r.retries_per_call >= 0.0 && r.retries_per_call.is_finite(),
                "retry_ceiling.retries_per_call: a number ≥ 0".into(),
            );
            need(
                r.growth_tolerance >= 0.0 && r.growth_tolerance.is_finite(),
                "retry_ceiling.growth_tolerance: a number ≥ 0".into(),
            );
        }
        if let Some(a) = &self.auth {
            need(
                !a.roles.is_empty() || !a.probes.is_empty(),
                "auth: give `roles`, `probes` or both".into(),
            );
            need(
                a.roles.is_empty() || c.config.is_some(),
                "auth.roles: the role matrix is computed from the candidate's configuration; it needs `candidate.config`".into(),
            );
            for (i, r) in a.roles.iter().enumerate() {
                need(
                    !r.may.is_empty() || !r.may_not.is_empty(),
                    format!("auth.roles[{i}]: give `may`, `may_not` or both"),
                );
                if let Some(t) = r.may.iter().find(|t| r.may_not.contains(t)) {
                    need(
                        false,
                        format!("auth.roles[{i}]: `{t}` is in both `may` and `may_not`"),
                    );
                }
            }
            for (i, p) in a.probes.iter().enumerate() {
                need(
                    !p.tool.trim().is_empty(),
                    format!("auth.probes[{i}].tool: must not be empty"),
                );
                if let Some(t) = &p.token {
                    check_secret(t, &format!("auth.probes[{i}].token"), &mut need);
                }
            }
        }
        if let Some(r) = &self.rollback {
            need(
                c.config.is_some(),
                "rollback: the drill breaks and reloads a candidate the gate starts; it needs `candidate.config`".into(),
            );
            need(
                r.target_seconds > 0.0 && r.target_seconds.is_finite(),
                "rollback.target_seconds: a positive number of seconds".into(),
            );
            need(
                !r.probe.tool.trim().is_empty(),
                "rollback.probe.tool: must not be empty".into(),
            );
            if let Some(t) = &r.admin_token {
                check_secret(t, "rollback.admin_token", &mut need);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PlanError { problems })
        }
    }
}

fn check_secret(s: &SecretRef, path: &str, need: &mut impl FnMut(bool, String)) {
    need(
        s.env.is_some() != s.file.is_some(),
        format!("{path}: give exactly one of `env: VAR` and `file: PATH` (never the token itself)"),
    );
}
