//! Printing figures (`name value unit`, one a line, as they are measured)
//! and the summary table with the goals of issues 9 and 10.

use std::io::Write;

use super::Options;

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// How a figure is held against its goal.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Debug, Clone)]
struct Row {
    label: String,
    figure: String,
    goal: Option<Goal>,
}

/// What a run measured, and what it could not.
#[derive(Debug, Clone)]
pub struct Summary {
    pub figures: Vec<Figure>,
    /// Parts that could not run, with why.
    pub skipped: Vec<String>,
    /// Parts dockdap has no feature for yet.
    pub not_implemented: Vec<String>,
}

/// Collects and prints the figures.
pub struct Reporter<'a> {
    out: &'a mut dyn Write,
    quick: bool,
    pub figures: Vec<Figure>,
    rows: Vec<Row>,
    /// Parts that could not run, with why.
    pub skipped: Vec<String>,
    /// Parts dockdap has no feature for yet.
    pub not_implemented: Vec<String>,
    /// Things a reader of the figures must know.
    pub notes: Vec<String>,
}

/// Formats a value with about four significant digits.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Progress for the person watching, on stderr (stdout carries the figures).
pub fn progress(text: &str) {
    let _ = writeln!(std::io::stderr(), "bench: {text}");
}

impl<'a> Reporter<'a> {
    pub fn new(out: &'a mut dyn Write, quick: bool) -> Reporter<'a> {
        Reporter {
            out,
            quick,
            figures: Vec::new(),
            rows: Vec::new(),
            skipped: Vec::new(),
            not_implemented: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The run's date and machine.
    pub fn header(&mut self, options: &Options) -> anyhow::Result<()> {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
                })
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        writeln!(
            self.out,
            "# dockdap benchmarks, {} mode, {date}, {cpus} CPUs ({cpu}), dockdap {}",
            if options.quick { "quick" } else { "full" },
            options.dockdap_bin.display()
        )?;
        Ok(())
    }

    /// Records and prints one figure.
    pub fn figure(&mut self, name: &str, value: f64, unit: &'static str) -> anyhow::Result<()> {
        writeln!(self.out, "{name} {} {unit}", fmt_value(value))?;
        self.out.flush()?;
        self.figures.push(Figure { name: name.to_owned(), value, unit });
        Ok(())
    }

    /// A row of the summary table: `figure` held against `goal`.
    pub fn goal(&mut self, label: &str, figure: &str, goal: Option<Goal>) {
        self.rows.push(Row { label: label.to_owned(), figure: figure.to_owned(), goal });
    }

    /// A part that could not run here.
    pub fn skip(&mut self, part: &str, why: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{part} skipped: {why}")?;
        progress(&format!("SKIPPED {part}: {why}"));
        self.skipped.push(format!("{part}: {why}"));
        Ok(())
    }

    /// A figure dockdap cannot produce yet: said, never faked.
    pub fn not_implemented(&mut self, name: &str, why: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{name} not implemented yet ({why})")?;
        self.not_implemented.push(name.to_owned());
        Ok(())
    }

    pub fn into_summary(self) -> Summary {
        Summary { figures: self.figures, skipped: self.skipped, not_implemented: self.not_implemented }
    }

    pub fn note(&mut self, text: &str) {
        self.notes.push(text.to_owned());
    }

    pub fn value(&self, name: &str) -> Option<f64> {
        self.figures.iter().rev().find(|f| f.name == name).map(|f| f.value)
    }

    fn unit(&self, name: &str) -> &'static str {
        self.figures.iter().rev().find(|f| f.name == name).map(|f| f.unit).unwrap_or("")
    }

    /// The summary table (Markdown, so it can go into the README as is).
    pub fn summary(&mut self) -> anyhow::Result<()> {
        let rows = self.rows.clone();
        writeln!(self.out)?;
        writeln!(self.out, "| what | figure | value | goal | |")?;
        writeln!(self.out, "| --- | --- | --- | --- | --- |")?;
        for row in &rows {
            let value = self.value(&row.figure);
            let unit = self.unit(&row.figure);
            let shown = value.map(|v| format!("{} {unit}", fmt_value(v))).unwrap_or_else(|| "not measured".into());
            let (goal, verdict) = match (row.goal, value) {
                (None, _) => (String::new(), String::new()),
                (Some(g), v) => {
                    let text = match g {
                        Goal::AtMost(t) => format!("<= {} {unit}", fmt_value(t)),
                        Goal::AtLeast(t) => format!(">= {} {unit}", fmt_value(t)),
                    };
                    let verdict = match (g, v) {
                        _ if self.quick => "quick mode".to_owned(),
                        (_, None) => String::new(),
                        (Goal::AtMost(t), Some(v)) => (if v <= t { "met" } else { "MISSED" }).to_owned(),
                        (Goal::AtLeast(t), Some(v)) => (if v >= t { "met" } else { "MISSED" }).to_owned(),
                    };
                    (text, verdict)
                }
            };
            writeln!(self.out, "| {} | `{}` | {shown} | {goal} | {verdict} |", row.label, row.figure)?;
        }
        for name in self.not_implemented.clone() {
            writeln!(self.out, "| {name} | | not implemented yet | | |")?;
        }
        for skipped in self.skipped.clone() {
            writeln!(self.out, "| skipped | {skipped} | | | |")?;
        }
        for note in self.notes.clone() {
            writeln!(self.out, "note: {note}")?;
        }
        self.out.flush()?;
        Ok(())
    }
}
