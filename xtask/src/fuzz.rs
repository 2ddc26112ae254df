//! `cargo xtask fuzz`: runs the cargo-fuzz targets of fuzz/ (nightly, libFuzzer) for a while each over their
//! committed corpora, then prints one line per target: seconds, runs executed, corpus files before and
//! after, crashes. Installs cargo-fuzz when it is missing; exits non-zero when a target crashed.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use dirconn_tests::stage;

use crate::{Error, run, without_cargo_vars};

/// The options of `cargo xtask fuzz`.
#[derive(Debug)]
pub struct Fuzz {
    /// How long each target runs.
    pub seconds: u64,
    /// One target only.
    pub target: Option<String>,
    /// Minimise each corpus afterwards (`cargo fuzz cmin`).
    pub cmin: bool,
}

/// What one target's run gave.
struct Outcome {
    name: String,
    seconds: f64,
    runs: Option<u64>,
    before: usize,
    after: usize,
    crashes: Vec<PathBuf>,
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// `cargo +nightly fuzz …` in the workspace root, with the fuzz build's own target folder.
fn cargo_fuzz(args: &[&str]) -> Command {
    let root = stage::workspace_root();
    let mut cmd = without_cargo_vars(Command::new("cargo"));
    cmd.arg("+nightly").arg("fuzz").args(args).current_dir(&root);
    cmd.env("CARGO_TARGET_DIR", root.join("fuzz/target")).env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// The targets named in fuzz/Cargo.toml (`[[bin]] name = …`), in file order.
fn targets(root: &Path) -> Result<Vec<String>, Error> {
    let manifest = root.join("fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|source| Error::Io { what: manifest.display().to_string(), source })?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .filter(|n| root.join("fuzz/fuzz_targets").join(format!("{n}.rs")).is_file())
        .collect())
}

fn ensure_cargo_fuzz() -> Result<(), Error> {
    let have = cargo_fuzz(&["--version"]).output().is_ok_and(|o| o.status.success());
    if !have {
        println!("cargo-fuzz is not installed: installing it (once)");
        run("cargo", &["install", "cargo-fuzz"])?;
    }
    Ok(())
}

/// Runs the targets (all, or `target`) for `seconds` each, then prints their figures.
pub fn fuzz(options: &Fuzz) -> Result<(), Error> {
    let root = stage::workspace_root();
    let all = targets(&root)?;
    let chosen: Vec<String> = match &options.target {
        Some(t) if all.contains(t) => vec![t.clone()],
        Some(t) => return Err(Error::Check(format!("no fuzz target `{t}` (targets: {})", all.join(", ")))),
        None => all,
    };
    ensure_cargo_fuzz()?;
    // The code is safe Rust: no sanitizer (a quicker build and more runs), debug assertions on.
    let flags = ["--sanitizer", "none", "--debug-assertions"];
    let mut build = cargo_fuzz(&["build"]);
    build.args(flags);
    if let Some(t) = &options.target {
        build.arg(t);
    }
    println!("$ cargo +nightly fuzz build {}", flags.join(" "));
    let status =
        build.status().map_err(|e| Error::Command { command: "cargo fuzz build".into(), reason: e.to_string() })?;
    if !status.success() {
        return Err(Error::Command { command: "cargo +nightly fuzz build".into(), reason: status.to_string() });
    }
    let mut outcomes = Vec::new();
    for name in &chosen {
        outcomes.push(run_target(&root, name, options, &flags)?);
    }
    println!("\n{:<16} {:>8} {:>12} {:>15} {:>8}", "target", "seconds", "runs", "corpus files", "crashes");
    for o in &outcomes {
        let runs = o.runs.map_or("?".into(), |r| r.to_string());
        let corpus = format!("{} -> {}", o.before, o.after);
        println!("{:<16} {:>8.0} {:>12} {:>15} {:>8}", o.name, o.seconds, runs, corpus, o.crashes.len());
    }
    let crashed: Vec<String> = outcomes.iter().flat_map(|o| &o.crashes).map(|p| p.display().to_string()).collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "crashes found; reproduce with `cargo +nightly fuzz run -s none -a <target> <file>`, fix, and add the \
             input to fuzz/corpus/<target>/: {}",
            crashed.join(", ")
        )))
    }
}

fn run_target(root: &Path, name: &str, options: &Fuzz, flags: &[&str]) -> Result<Outcome, Error> {
    let corpus = root.join("fuzz/corpus").join(name);
    let artifacts = root.join("fuzz/artifacts").join(name);
    std::fs::create_dir_all(&corpus).map_err(|source| Error::Io { what: corpus.display().to_string(), source })?;
    let before = files(&corpus).len();
    let known = files(&artifacts);
    let log = root.join("fuzz/target").join(format!("fuzz-{name}.log"));
    let out = std::fs::File::create(&log).map_err(|source| Error::Io { what: log.display().to_string(), source })?;
    let time = format!("-max_total_time={}", options.seconds);
    println!("$ cargo +nightly fuzz run {} {name} -- {time} (log: {})", flags.join(" "), log.display());
    let started = Instant::now();
    let status = cargo_fuzz(&["run"])
        .args(flags)
        .arg(name)
        .args(["--", &time, "-timeout=10", "-print_final_stats=1"])
        .stdout(Stdio::null())
        .stderr(out)
        .status()
        .map_err(|e| Error::Command { command: format!("cargo fuzz run {name}"), reason: e.to_string() })?;
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let runs = text
        .lines()
        .filter_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .filter_map(|n| n.trim().parse().ok())
        .next_back();
    let crashes: Vec<PathBuf> = files(&artifacts).into_iter().filter(|p| !known.contains(p)).collect();
    if !status.success() || !crashes.is_empty() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!("{name}: {status}; the end of its log:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    let crashes = if !status.success() && crashes.is_empty() { vec![log.clone()] } else { crashes };
    if options.cmin && crashes.is_empty() {
        println!("$ cargo +nightly fuzz cmin {} {name}", flags.join(" "));
        // A set cover of the edges reached (hit counts ignored): a small corpus with the same coverage.
        let status = cargo_fuzz(&["cmin"])
            .args(flags)
            .arg(name)
            .args(["--", "-set_cover_merge=1", "-use_counters=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Error::Command { command: format!("cargo fuzz cmin {name}"), reason: e.to_string() })?;
        if !status.success() {
            return Err(Error::Command {
                command: format!("cargo +nightly fuzz cmin {name}"),
                reason: status.to_string(),
            });
        }
    }
    Ok(Outcome { name: name.to_owned(), seconds, runs, before, after: files(&corpus).len(), crashes })
}
