//! Keys gantry reads but whose feature is not built: refused at their line, so nobody
//! believes a `doctor:` step checked anything or a `reports:` block moved the report.

use super::Problems;
use crate::Config;

const CODE: &str = "gantry::config::not_supported";

pub(super) fn check(config: &Config, p: &mut Problems<'_>) {
    if let Some(reports) = &config.reports {
        p.add(
            reports.pos,
            CODE,
            "not supported yet",
            "`reports:` is not supported yet: nothing reads it. The status report is \
             `gantry status [--format md|json] [--out FILE]`, kept current by `gantry serve` \
             in .gantry/status.md and .gantry/status.json and, with `status.github`, in a \
             GitHub issue; a pipeline's outcomes file is its `report:`"
                .into(),
        );
    }
    for (name, pipeline) in &config.pipelines {
        for stage in &pipeline.stages {
            for step in &stage.steps {
                if let Some(d) = &step.doctor {
                    p.add(
                        d.pos,
                        CODE,
                        "not supported yet",
                        format!(
                            "the `doctor:` step (pipeline '{name}', stage '{}') is not supported yet: it would check nothing; use a `run:` step (e.g. `run: command -v cargo`)",
                            stage.name.value
                        ),
                    );
                }
                if let Some(s) = &step.status {
                    p.add(
                        s.pos,
                        CODE,
                        "not supported yet",
                        format!(
                            "the `status:` step (pipeline '{name}', stage '{}') is not supported yet: it would write no report; use `run: gantry status --check --out FILE` (or `--refresh` under `gantry serve`)",
                            stage.name.value
                        ),
                    );
                }
            }
        }
    }
}
