//! Server processes started by the harness: spawned so that they die with the test process, and stopped
//! by the PID we started, gracefully first.

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command},
    sync::{Mutex, OnceLock, PoisonError, mpsc},
    time::{Duration, Instant},
};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A thread that lives as long as the process and forks the servers it is asked to: a child's
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked it exits, not the process.
#[derive(Debug)]
pub struct Spawner(Mutex<mpsc::Sender<SpawnRequest>>);

impl Spawner {
    /// Starts the thread; `started` runs on it first (to report, say, which namespace it is in).
    pub fn start<T: Send + 'static>(
        name: &str,
        started: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<(Spawner, T)> {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let _ = ready_tx.send(started());
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        })?;
        let first = ready_rx.recv().map_err(|_| std::io::Error::other("the spawner thread died"))?;
        Ok((Spawner(Mutex::new(tx)), first))
    }

    /// Spawns `cmd` on the thread with `PR_SET_PDEATHSIG = signal`. `pre_exec` runs after any uid switch of
    /// `cmd`, which would otherwise clear the setting.
    pub fn spawn(&self, mut cmd: Command, signal: libc::c_int) -> std::io::Result<Child> {
        // SAFETY: getpid/prctl/getppid are async-signal-safe and touch no memory of the parent.
        let parent = unsafe { libc::getpid() };
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send((cmd, reply_tx))
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
        reply_rx.recv().map_err(|_| std::io::Error::other("the spawner thread dropped the request"))?
    }
}

/// Spawns `cmd` with `PR_SET_PDEATHSIG = signal`, so that the child is signalled if the test process dies
/// without running `Drop` (killed by a timeout, Ctrl-C, `std::process::exit`, or a `static` instance that is
/// never dropped). Every spawn happens on one [`Spawner`] thread, so instances may be shared across test
/// threads freely.
///
/// A thread inside the private network namespace of [`crate::samba::enter_private_network`] spawns through that
/// namespace's own spawner instead, so that a mail server or `dirconn serve` started by an Active Directory test
/// lives beside its DC.
pub fn spawn_tied_to_process(cmd: Command, signal: libc::c_int) -> std::io::Result<Child> {
    if let Some(private) = crate::samba::private_spawner() {
        return private.spawn(cmd, signal);
    }
    static SPAWNER: OnceLock<Spawner> = OnceLock::new();
    let spawner = SPAWNER
        .get_or_init(|| Spawner::start("server-spawner", || ()).expect("cannot start the server spawner thread").0);
    spawner.spawn(cmd, signal)
}

/// Stops a child we started: `signal` to its PID, then SIGKILL after `timeout`; reaps it. Idempotent.
pub fn stop_child(child: &mut Child, signal: libc::c_int, timeout: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain kill(2) on the PID of our own, not yet reaped, child process.
        unsafe {
            libc::kill(pid, signal);
        }
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs a `dirconn` binary as `dirconn --config CONFIG ARGS` (no `DIRCONN_PLUGIN_DIR` from the environment),
/// with `stdin` (one line) as its standard input; its output.
pub fn dirconn_cli(
    binary: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::{io::Write as _, process::Stdio};
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("DIRCONN_PLUGIN_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        writeln!(input, "{text}").expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("dirconn's output")
}

/// Whether a process with this PID exists (signal 0: nothing is delivered).
pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}
