//! Thin: parse argv, load config, pick the backend, run the command, map the outcome to an
//! exit status (0 normal end, 1 runtime failure, 2 usage or config error; 0 for any start-up
//! failure under a terminal, so Prosody restarts the helper once it is fixed).

use std::process::ExitCode;

use xmpp_extauth::backend::Backend;
use xmpp_extauth::cli::{self, Command, Invocation};
use xmpp_extauth::config::{self, BackendKind, Settings};
use xmpp_extauth::log::{self, LogTarget};
use xmpp_extauth::serve::{self, FdInput, FdOutput};
use xmpp_extauth::{admin, demo, printer, sys};
use xmpp_extauth::{error, info, warn};

fn main() -> ExitCode {
    // First, before anything opens a descriptor: Prosody's lpty leaks the pty master into
    // us, and holding it would keep us alive as an orphan after Prosody dies.
    sys::close_inherited_fds();
    ExitCode::from(run())
}

fn run() -> u8 {
    let serving_on_tty = |inv: &Invocation| inv.command == Command::Serve && sys::is_tty(0);
    let inv = match cli::parse(std::env::args_os().skip(1)) {
        Ok(inv) => inv,
        Err(e) => {
            // Prosody passes no arguments, so argv errors come from a person at a shell or
            // from ejabberd's extauth_program line (stderr goes to ejabberd's log): say it.
            eprintln!("{e}");
            return 2;
        }
    };
    match inv.command {
        // A closed stdout (`| head`) is a normal end too: exit 0 either way.
        Command::Help => {
            printer::out(cli::HELP);
            return 0;
        }
        Command::Version => {
            printer::line(&cli::version_text());
            return 0;
        }
        Command::Demo => return demo::run(),
        _ => {}
    }
    let loaded = config::load(&inv, std::env::var_os(config::CONFIG_ENV));
    let settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            if serving_on_tty(&inv) {
                // Under Prosody's pty stderr is read as a reply: syslog only.
                log::init(&LogTarget::Syslog, log::Level::Error, false);
                error!("{e}");
                return START_FAILED_ON_TTY;
            }
            eprintln!("xmpp-extauth: {e}");
            return 2;
        }
    };
    match &inv.command {
        Command::Serve => serve_main(&settings),
        Command::Hash { scheme, rounds } => code(admin::hash_cmd(&settings, *scheme, *rounds)),
        Command::User(cmd) => {
            log::init(&LogTarget::Stderr, log::Level::Warn, true);
            code(admin::user_cmd(&settings, cmd))
        }
        Command::Check { kind, jid } => {
            log::init(
                &LogTarget::Stderr,
                settings.log_level.min(log::Level::Info),
                true,
            );
            for w in &settings.warnings {
                warn!("{w}");
            }
            match open_backend(&settings) {
                Ok(mut b) => code(admin::check_cmd(&mut *b, *kind, jid, settings.deadline)),
                Err(e) => {
                    eprintln!("xmpp-extauth: {e}");
                    1
                }
            }
        }
        Command::ConfigCheck => {
            for w in &settings.warnings {
                eprintln!("xmpp-extauth: warning: {w}");
            }
            let mut text = match &settings.config_file {
                Some(p) => format!("# config file: {}\n", p.display()),
                None => "# config file: none (defaults)\n".to_string(),
            };
            for (k, v) in settings.effective() {
                text.push_str(&format!("{k} = {v}\n"));
            }
            // Also open the backend, as serving would: a users file that is missing,
            // world-writable or full of bad lines shows up here, not at the first login.
            log::init(&LogTarget::Stderr, log::Level::Warn, true);
            let opened = open_backend(&settings);
            if let Ok(b) = &opened {
                text.push_str(&format!("# backend ok: {}\n", b.describe()));
            }
            printer::out(&text);
            match opened {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("xmpp-extauth: {e}");
                    1
                }
            }
        }
        Command::Help | Command::Version | Command::Demo => 0,
    }
}

/// Exit status when serving cannot start under a terminal (Prosody): 0. Prosody restarts a
/// helper only after status 0 (PROTOCOLS.md §4); after any other it refuses every login on
/// that host until Prosody itself restarts, even once the admin has fixed the file. With 0,
/// logins still fail while the problem lasts (each attempt starts a helper that logs the
/// error to syslog and exits), and work again as soon as it is fixed. Over pipes (ejabberd)
/// the usual non-zero statuses stay; at a shell `config check` is the way to see errors.
const START_FAILED_ON_TTY: u8 = 0;

/// An exit status from the admin commands (0..=2).
fn code(c: i32) -> u8 {
    u8::try_from(c).unwrap_or(1)
}

fn open_backend(settings: &Settings) -> Result<Box<dyn Backend>, String> {
    match settings.backend {
        BackendKind::File => xmpp_extauth::backend::file::FileBackend::open(settings)
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "http")]
        BackendKind::Http => xmpp_extauth::backend::http::HttpBackend::new(settings)
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| e.to_string()),
        #[cfg(not(feature = "http"))]
        BackendKind::Http => {
            Err("this build has no HTTP backend (built without the `http` feature)".into())
        }
    }
}

fn serve_main(settings: &Settings) -> u8 {
    let tty = sys::is_tty(0);
    sys::forbid_core_dumps();
    // Under a terminal stderr is the same pty as stdout: never write to it.
    if let Some(note) = log::init(&settings.log, settings.log_level, !tty) {
        warn!("{note}");
    }
    // Under a terminal (Prosody's lpty), input may be queued before we read anything: the
    // request that came with this start, written before raw mode (the terminal may have
    // echoed it, and the server then took the echo as the reply), and requests written to
    // earlier helpers that exited without reading (lpty reuses one terminal; after a
    // start-up failure every login leaves one). None of that may be answered: the server
    // waits for one reply at most, to its latest request, and an extra reply would be read
    // as the answer to the next login. So it is discarded unread, after the switch to raw
    // mode (anything that could have been echoed is queued by then). If nothing was
    // queued, the first request to come is left unanswered instead, as before.
    let mut drop_first = tty;
    if tty {
        if let Err(e) = sys::make_raw(0) {
            warn!("terminal: cannot switch to raw mode: {e}");
        }
        let queued = sys::queued_input(0);
        if queued > 0 {
            match sys::discard_terminal_input(0) {
                Ok(()) => {
                    drop_first = false;
                    info!(
                        "terminal: {queued} bytes queued before start discarded unread (this start's request, or requests to an earlier helper)"
                    );
                }
                Err(e) => warn!("terminal: cannot discard queued input: {e}"),
            }
        }
    }
    for w in &settings.warnings {
        warn!("{w}");
    }
    let mut backend = match open_backend(settings) {
        Ok(b) => b,
        Err(e) => {
            error!("{e}");
            return if tty { START_FAILED_ON_TTY } else { 1 };
        }
    };
    info!(
        "serving: backend {}, protocol {}, deadline {} ms, read timeout {}{}",
        backend.describe(),
        match settings.protocol {
            config::ProtocolChoice::Auto => "auto",
            config::ProtocolChoice::Generic => "generic",
            config::ProtocolChoice::Ejabberd => "ejabberd",
        },
        settings.deadline.as_millis(),
        match settings.read_timeout {
            Some(t) => format!("{} s", t.as_secs_f64()),
            None => "none".into(),
        },
        if tty { ", stdin is a terminal" } else { "" }
    );
    backend.prepare_to_serve();
    let opts = serve::Options {
        protocol: settings.protocol,
        read_timeout: settings.read_timeout,
        deadline: settings.deadline,
        tty,
        drop_first,
    };
    let end = serve::serve(&mut FdInput(0), &mut FdOutput(1), &mut *backend, &opts);
    match end {
        serve::End::Error(e) => {
            error!("stopped: {e}");
            1
        }
        _ => 0,
    }
}
