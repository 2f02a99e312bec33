#!/usr/bin/python3
"""End-to-end suite with a real Prosody: its external-auth module runs xmpp-extauth on a
pseudo-terminal (lpty), the path PROTOCOLS.md section 4 calls dangerous, and a real XMPP
client (slixmpp, tests/e2e/xmpp_client.py) logs in over STARTTLS and changes passwords.

Run by tests/e2e_prosody.rs (`cargo test --test e2e_prosody -- --nocapture`), or alone as root:

    /usr/bin/python3 tests/e2e/run_prosody.py --binary target/debug/xmpp-extauth [--keep]

Shares the check list, the client driver and the small helpers with the ejabberd suite
(run.py). Everything lives in a fresh directory under /tmp that the `prosody` user can read:
a copy of the binary, the helper configs and wrapper scripts, the Prosody config, data dir,
pidfile and log, a self-signed certificate and the users files. Prosody runs as `prosody`,
in the foreground, listening on 127.0.0.1 on a port picked at start; the system's Prosody is
never touched. Every process started is stopped at the end, also on failure or Ctrl-C.

The auth module: the real `mod_auth_external_insecure` (prosody-modules) when installed
(XMPP_EXTAUTH_PROSODY_MODULE=/path/to/mod_auth_external_insecure.lua, or found in Prosody's
module directories), else tests/e2e/prosody/mod_auth_external_standin.lua, which behaves as
PROTOCOLS.md records for the real one (Debian bookworm ships the real one in no package).
Both need lpty for Lua 5.4 (tests/e2e/prosody/install-lpty.sh).

Each check prints `PASS name` or `FAIL name: detail` as it runs; a summary follows. Exit
status 0 only if every check passed. The work directory is removed on success and kept on
failure (its path is printed).
"""

import argparse
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as e2e  # noqa: E402  (the ejabberd suite: Results, client driver, helpers)
from run import Results, client, expect, free_port, kill_leftovers, log, port_open, processes_matching, wait_for  # noqa: E402

PROSODY = "/usr/bin/prosody"
PROSODY_USER = "prosody"
STANDIN = HERE / "prosody" / "mod_auth_external_standin.lua"
REAL_MODULE = "mod_auth_external_insecure.lua"
REAL_MODULE_DIRS = ("/usr/lib/prosody/modules", "/usr/local/lib/prosody/modules",
                    "/var/lib/prosody/custom_plugins")

RW_HOST = "localhost"  # file backend, allow_writes = true; the helper finds its config via XMPP_EXTAUTH_CONFIG
RO_HOST = "ro.localhost"  # file backend, allow_writes = false; wrapper script with --config
IDLE_HOST = "idle.localhost"  # read_timeout = 4: the helper exits 0 when idle, Prosody restarts it
SLOW_HOST = "slow.localhost"  # a 1,000,000-round hash against a 100 ms deadline and a 0.5 s Prosody timeout
RECOVER_HOST = "recover.localhost"  # allow_writes = false and no users file at start: every helper fails to start

# The normal vhosts keep the defaults (Prosody's external_auth_timeout 5 s, the helper's
# deadline_ms 4000). The slow vhost: a verdict that takes longer than both the helper's
# deadline and Prosody's timeout (a 1,000,000-round SHA-crypt takes ~0.6 s on a 2020s x86
# core, never under 100 ms); its other users' 1000-round hashes take about a millisecond.
SLOW_AUTH_TIMEOUT = 0.5
SLOW_DEADLINE_MS = 100

RW_USERS = {
    "alice": "correct horse battery staple",
    "bob": "bobs-Secret-9",
    "colon": "pa:ss::word:",
    "spacey": "  lead and trail  ",
    "unicode": "pässwörd€ 密码",
    "jürgen": "Jürgens Geheimnis",
    "changer": "old-password-1",
    "edited": "before-the-admin-edit",
}
NEW_PASSWORD = "new: pässword 2"  # for `changer`, in-band
ADMIN_PASSWORD = "set by the admin: 3"  # for `edited`, with `user passwd`
NEWCOMER, NEWCOMER_PASSWORD = "newcomer", "arrived by rename 4"
RO_USERS = {"carol": "carol-ro-password"}
RO_NEW_PASSWORD = "ro-new-password-x"
SLOW_USERS = {"quick": "quick-password-5", "quick2": "quick-password-6"}  # 1000 rounds
SLOWPOKE, SLOWPOKE_PASSWORD = "slowpoke", "one million rounds 7"  # 1,000,000 rounds
IDLE_USERS = {"dora": "dora-idle-password-8"}
IDLE_READ_TIMEOUT = 4
RECOVER_USER, RECOVER_PASSWORD = "erin", "erin-arrives-later-9"
REGISTER_PASSWORD = "fresh:registered pw"
# A new password with a line feed: Prosody does not prepare setpass passwords, so the request
# reaches the helper as two lines in one write. Each half must be neither applied nor logged.
LF_HEAD, LF_TAIL = "line-feed-head", "tail-after-the-line-feed"

SECRETS = (list(RW_USERS.values()) + list(RO_USERS.values()) + list(SLOW_USERS.values()) + list(IDLE_USERS.values())
           + [RECOVER_PASSWORD, NEW_PASSWORD, ADMIN_PASSWORD, NEWCOMER_PASSWORD, RO_NEW_PASSWORD, SLOWPOKE_PASSWORD,
              REGISTER_PASSWORD, "hijack-attempt-1", LF_HEAD, LF_TAIL])

# What the helper logs (src/serve.rs) and what the module logs (the real one and the stand-in).
# The request that comes with a helper start is never answered: discarded unread when it
# was already queued on the terminal at start (usual: Prosody writes right after spawning,
# and lpty's terminal may hold requests to earlier helpers too), else read and dropped.
FIRST_DROPPED = ("first request left unanswered", "queued before start discarded unread")


def count_first_dropped(text):
    return sum(text.count(m) for m in FIRST_DROPPED)

LATE_NOT_ANSWERED = "past the deadline: not answered"
PROSODY_NO_REPLY = "Error while waiting for result from auth process"
PROSODY_GARBLED = "Unable to interpret data from auth process"
PROSODY_STARTED = "Started auth process"
PROSODY_NOT_RESTARTED = "exited unexpectedly"
MISSING_USERS_FILE = "does not exist"  # the helper's error when its users file is missing


def chown_prosody(path):
    pw = pwd.getpwnam(PROSODY_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def find_real_module():
    """Path of the real mod_auth_external_insecure.lua, or None."""
    env = os.environ.get("XMPP_EXTAUTH_PROSODY_MODULE")
    if env:
        return Path(env) if Path(env).is_file() else None
    for d in REAL_MODULE_DIRS:
        for p in (Path(d) / REAL_MODULE, Path(d) / "mod_auth_external_insecure" / REAL_MODULE):
            if p.is_file():
                return p
    return None


class World:
    def __init__(self, binary):
        self.work = Path(tempfile.mkdtemp(prefix="xmpp-extauth-prosody-", dir="/tmp"))
        os.chmod(self.work, 0o755)
        self.bin = self.work / "bin" / "xmpp-extauth"
        self.etc = self.work / "etc"
        self.plugins = self.work / "plugins"
        self.data = self.work / "data"  # users files and helper logs: the prosody user writes here
        self.pdata = self.work / "prosody-data"
        self.logs = self.work / "log"
        self.run_dir = self.work / "run"
        for d in (self.bin.parent, self.etc, self.plugins, self.data, self.pdata, self.logs, self.run_dir):
            d.mkdir()
            os.chmod(d, 0o755)
        for d in (self.data, self.pdata, self.logs, self.run_dir):
            chown_prosody(d)
        shutil.copy(binary, self.bin)
        os.chmod(self.bin, 0o755)
        self.users = {RW_HOST: self.data / "users", RO_HOST: self.data / "ro-users",
                      SLOW_HOST: self.data / "slow-users", IDLE_HOST: self.data / "idle-users",
                      RECOVER_HOST: self.data / "recover-users"}  # created only by check_recover
        self.helper_logs = {h: self.data / ("helper-%s.log" % h.split(".")[0]) for h in self.users}
        self.prosody_log = self.logs / "prosody.log"
        self.cert = self.etc / "cert.pem"
        self.key = self.etc / "key.pem"
        self.c2s_port = free_port()
        self.pid_file = self.run_dir / "prosody.pid"
        self.cfg = self.etc / "prosody.cfg.lua"
        self.server = None  # Popen of prosody (setpriv execs it: same pid), in its own session
        self.starts = 0
        real = find_real_module()
        if real is not None:
            self.module_desc = "the real mod_auth_external_insecure (%s)" % real
            self.auth = "external_insecure"
            shutil.copy(real, self.plugins / REAL_MODULE)
        else:
            self.module_desc = "the stand-in %s (no mod_auth_external_insecure installed)" % STANDIN.name
            self.auth = "external_standin"
            shutil.copy(STANDIN, self.plugins / STANDIN.name)

    # -- setup ---------------------------------------------------------------------------

    def make_cert(self):
        sans = ",".join("DNS:" + h for h in self.users)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "30", "-subj", "/CN=" + RW_HOST, "-addext", "subjectAltName=" + sans,
             "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True)
        os.chmod(self.key, 0o600)
        chown_prosody(self.key)
        os.chmod(self.cert, 0o644)

    def helper_config(self, host, allow_writes, deadline_ms=None, extra=()):
        path = self.etc / ("%s.conf" % host.split(".")[0])
        path.write_text("\n".join([
            "# xmpp-extauth config for the Prosody e2e vhost %s" % host,
            "users_file = %s" % self.users[host],
            "allow_writes = %s" % ("true" if allow_writes else "false"),
            "log = file:%s" % self.helper_logs[host],
            "log_level = debug",
        ] + (["deadline_ms = %d" % deadline_ms] if deadline_ms else []) + list(extra)) + "\n")
        os.chmod(path, 0o644)
        return path

    def wrapper(self, host, conf):
        """Prosody runs the command without arguments (no shell): a script passes --config."""
        path = self.bin.parent / ("helper-%s" % host.split(".")[0])
        path.write_text("#!/bin/sh\nexec %s --config %s\n" % (self.bin, conf))
        os.chmod(path, 0o755)
        return path

    def write_configs(self):
        self.make_cert()
        self.rw_conf = self.helper_config(RW_HOST, True)
        ro_cmd = self.wrapper(RO_HOST, self.helper_config(RO_HOST, False))
        slow_cmd = self.wrapper(SLOW_HOST, self.helper_config(SLOW_HOST, False, SLOW_DEADLINE_MS))
        # Prosody's 2 s timeout (the deadline below it) keeps a first login without echo short.
        idle_cmd = self.wrapper(IDLE_HOST, self.helper_config(
            IDLE_HOST, False, 1500, ["read_timeout = %d" % IDLE_READ_TIMEOUT]))
        # Same short timeout: the first login after the fix may wait for it (no echo).
        recover_cmd = self.wrapper(RECOVER_HOST, self.helper_config(RECOVER_HOST, False, 1500))

        def q(s):
            return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')

        cfg = """-- Prosody config for the xmpp-extauth end-to-end suite (generated)
pidfile = {pidfile}
data_path = {pdata}
plugin_paths = {{ {plugins} }}
daemonize = false
log = {{ debug = {log} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
modules_enabled = {{ "saslauth", "tls", "register", "disco", "roster", "ping" }}
modules_disabled = {{ "s2s", "s2s_auth_certs", "offline" }}
c2s_require_encryption = true
ssl = {{ certificate = {cert}, key = {key} }}
certificates = {etc}
authentication = {auth}
external_auth_protocol = "generic"
allow_registration = true

-- The helper finds its config through XMPP_EXTAUTH_CONFIG (set in Prosody's environment):
-- the command is the bare binary, as the README's first option says.
VirtualHost {rw_host}
    external_auth_command = {rw_cmd}

VirtualHost {ro_host}
    external_auth_command = {ro_cmd}

VirtualHost {slow_host}
    external_auth_command = {slow_cmd}
    external_auth_timeout = {slow_timeout}

VirtualHost {idle_host}
    external_auth_command = {idle_cmd}
    external_auth_timeout = 2

VirtualHost {recover_host}
    external_auth_command = {recover_cmd}
    external_auth_timeout = 2
""".format(pidfile=q(self.pid_file), pdata=q(self.pdata), plugins=q(self.plugins), log=q(self.prosody_log),
           port=self.c2s_port, etc=q(self.etc), cert=q(self.cert), key=q(self.key), auth=q(self.auth),
           rw_host=q(RW_HOST), rw_cmd=q(self.bin), ro_host=q(RO_HOST), ro_cmd=q(ro_cmd),
           slow_host=q(SLOW_HOST), slow_cmd=q(slow_cmd), slow_timeout=SLOW_AUTH_TIMEOUT,
           idle_host=q(IDLE_HOST), idle_cmd=q(idle_cmd), recover_host=q(RECOVER_HOST), recover_cmd=q(recover_cmd))
        self.cfg.write_text(cfg)
        os.chmod(self.cfg, 0o644)

    def add_user(self, host, user, password, users_file=None):
        """The product's own command; the password goes on stdin, never in argv."""
        cmd = [str(self.bin), "user", "add", "%s@%s" % (user, host), "--users-file", str(users_file or self.users[host])]
        r = subprocess.run(cmd, input=(password + "\n").encode(), capture_output=True, timeout=60)
        return r.returncode == 0, "%s: exit %d: %s" % (user, r.returncode, r.stderr.decode(errors="replace").strip())

    def add_hashed(self, host, user, password, rounds):
        """An entry written by hand with a hash from `xmpp-extauth hash --rounds N`."""
        r = subprocess.run([str(self.bin), "hash", "--rounds", str(rounds)], input=(password + "\n").encode(),
                           capture_output=True, timeout=60)
        digest = r.stdout.decode().strip()
        if r.returncode != 0 or not digest.startswith("$"):
            return False, "%s: hash exit %d: %s" % (user, r.returncode, r.stderr.decode(errors="replace").strip())
        with open(self.users[host], "a", encoding="utf-8") as f:
            f.write("# %d rounds\n%s@%s:%s\n" % (rounds, user, host, digest))
        return True, ""

    # -- Prosody -------------------------------------------------------------------------

    def start(self):
        """Start Prosody in the foreground as the prosody user; True once c2s accepts."""
        out = open(self.logs / "foreground.out", "ab")
        env = dict(os.environ, XMPP_EXTAUTH_CONFIG=str(self.rw_conf))
        self.server = subprocess.Popen(
            ["setpriv", "--reuid", PROSODY_USER, "--regid", PROSODY_USER, "--init-groups",
             PROSODY, "--config", str(self.cfg), "-F"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=str(self.work), env=env)
        out.close()
        self.starts += 1
        up = wait_for(lambda: port_open(self.c2s_port) or self.server.poll() is not None, 30, 0.1)
        return bool(up) and self.server.poll() is None

    def server_exited(self, timeout):
        try:
            self.server.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def helper_pids(self):
        """{pid: argv} of running helpers (the wrapper scripts exec the binary)."""
        return processes_matching(str(self.bin))

    def helper_pid_for(self, host):
        """The helper serving `host`, told apart by its --config (none: XMPP_EXTAUTH_CONFIG)."""
        conf = None if host == RW_HOST else str(self.etc / ("%s.conf" % host.split(".")[0]))
        for pid, argv in self.helper_pids().items():
            if (conf is None and "--config" not in argv) or (conf is not None and conf in argv):
                return pid
        return None

    def stop_everything(self):
        """Best-effort cleanup of every process this suite started: Prosody's session, and
        processes whose command line names our unique work dir."""
        if self.server is not None and self.server.poll() is None:
            try:
                self.server.terminate()
            except ProcessLookupError:
                pass
            self.server_exited(10)
        kill_leftovers(self.server, (str(self.work),))

    # -- logs ----------------------------------------------------------------------------

    def text(self, path):
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def helper_log(self, host):
        return self.text(self.helper_logs[host])

    def prosody_lines(self, needle, host=None):
        """Lines of Prosody's log with `needle` (and from `host`'s auth module, if given)."""
        tag = None if host is None else " %s:auth_" % host
        return [l for l in self.text(self.prosody_log).splitlines()
                if needle in l and (tag is None or tag in l)]


def login(w, user, host, password):
    return client(w, "login", "%s@%s" % (user, host), password)


# ---------------------------------------------------------------------------------------
# The checks


def check_first_request(w, r, host, user, password, phase="start"):
    """The helper leaves the first request after its start unanswered (the pty may have
    echoed it to Prosody, which took the echo as the reply). So the first login fails."""
    before = count_first_dropped(w.helper_log(host))
    got = login(w, user, host, password)
    r.check("%s/%s-first-login-fails-by-design" % (phase, host), got[0] == "refused",
            "%s (%s): the first request after a helper start must be left unanswered" % got)
    dropped = wait_for(lambda: count_first_dropped(w.helper_log(host)) > before, 3)
    r.check("%s/%s-helper-logged-first-request-unanswered" % (phase, host), dropped,
            "neither '%s' nor '%s' in %s" % (FIRST_DROPPED + (w.helper_logs[host],)))
    pid = wait_for(lambda: w.helper_pid_for(host), 3)
    if not r.check("%s/%s-helper-started-by-prosody" % (phase, host), pid is not None,
                   "no helper process for %s: %s" % (host, w.helper_pids())):
        return None
    uid = helper_uid(pid)
    r.check("%s/%s-helper-runs-as-prosody" % (phase, host), uid == pwd.getpwnam(PROSODY_USER).pw_uid,
            "uid %s" % uid)
    # What the helper made of lpty's terminal: raw, so no byte is echoed, turned into a
    # signal or rewritten on the way out.
    flags = tty_flags(pid)
    want = {"-icanon", "-echo", "-isig", "-opost", "-ixon", "-icrnl"}
    r.check("%s/%s-helper-tty-in-raw-mode" % (phase, host), want <= flags,
            "missing %s in `stty -a` of the helper's terminal" % sorted(want - flags))
    return pid


def helper_uid(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def tty_flags(pid):
    """The settings of the helper's stdin terminal, as `stty -a` words."""
    try:
        tty = os.readlink("/proc/%d/fd/0" % pid)
    except OSError:
        return set()
    out = subprocess.run(["stty", "-a", "-F", tty], capture_output=True, timeout=10)
    return set(out.stdout.decode(errors="replace").replace(";", " ").split())


def check_logins(w, r):
    h = RW_HOST
    a = RW_USERS["alice"]
    expect(r, "login/right-password", login(w, "alice", h, a), "success")
    expect(r, "login/wrong-password", login(w, "alice", h, "wrong horse battery staple"), "refused")
    expect(r, "login/unknown-user", login(w, "nobody", h, a), "refused")
    expect(r, "login/other-users-password", login(w, "alice", h, RW_USERS["bob"]), "refused")
    expect(r, "login/password-prefix", login(w, "alice", h, a[:7]), "refused")
    expect(r, "login/password-with-colons", login(w, "colon", h, RW_USERS["colon"]), "success")
    expect(r, "login/password-cut-at-first-colon", login(w, "colon", h, "pa"), "refused")
    expect(r, "login/password-with-spaces", login(w, "spacey", h, RW_USERS["spacey"]), "success")
    expect(r, "login/non-ascii-password", login(w, "unicode", h, RW_USERS["unicode"]), "success")
    expect(r, "login/non-ascii-localpart-upper-case", login(w, "JÜRGEN", h, RW_USERS["jürgen"]), "success")
    expect(r, "login/right-password-other-vhost", login(w, "alice", RO_HOST, a), "refused")
    expect(r, "login/read-only-vhost", login(w, "carol", RO_HOST, RO_USERS["carol"]), "success")


def check_in_step(w, r, rounds, phase="in-step"):
    """Logins in a row alternate right and wrong (a wrong password, another user's password,
    an unknown user), over two vhosts (two helpers): each result must be exactly what was
    asked. A helper one reply behind (say, after the pty echoed a first request it then
    answered) lets the wrong logins in and refuses the right ones."""
    accounts = [(RW_HOST, u, RW_USERS[u]) for u in ("alice", "bob", "colon", "unicode")]
    accounts.insert(2, (RO_HOST, "carol", RO_USERS["carol"]))
    mismatches = []
    for i in range(rounds):
        host, user, password = accounts[(i // 2) % len(accounts)]
        if i % 2 == 0:
            want = "success"
        else:
            want = "refused"
            kind = (i // 2) % 3
            if kind == 0:
                password += "!"
            elif kind == 1:
                password = next(p for h, u, p in accounts if u != user)
            else:
                user = "nobody%d" % i
        got = login(w, user, host, password)
        if got[0] != want:
            mismatches.append("#%d %s@%s: %s (%s), expected %s" % (i, user, host, got[0], got[1], want))
    r.check("%s/%d-alternating-logins-each-exact" % (phase, rounds), not mismatches,
            "%d of %d wrong: %s" % (len(mismatches), rounds, "; ".join(mismatches[:4])))


def check_burst(w, r, n=8):
    """Clients logging in at the same moment (Prosody asks the helper one at a time):
    each result exact."""
    from concurrent.futures import ThreadPoolExecutor
    users = ["alice", "bob", "colon", "unicode"]
    jobs = [(users[i % 4], RW_USERS[users[i % 4]] + ("" if i % 2 == 0 else "?"), "success" if i % 2 == 0 else "refused")
            for i in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda j: login(w, j[0], RW_HOST, j[1]), jobs))
    wrong = ["#%d %s: %s (%s), expected %s" % (i, j[0], got[0], got[1], j[2])
             for i, (j, got) in enumerate(zip(jobs, results)) if got[0] != j[2]]
    r.check("burst/%d-simultaneous-logins-each-exact" % n, not wrong, "; ".join(wrong[:4]))


def check_idle_restart(w, r):
    """With read_timeout the helper exits 0 when idle; Prosody restarts a helper only after
    exit status 0, and the new helper again leaves its first request unanswered."""
    h, (user, pw) = IDLE_HOST, next(iter(IDLE_USERS.items()))
    first = check_first_request(w, r, h, user, pw, phase="idle")
    expect(r, "idle/login-while-running", login(w, user, h, pw), "success")
    gone = wait_for(lambda: first is not None and not Path("/proc/%d" % first).exists(), IDLE_READ_TIMEOUT + 5)
    r.check("idle/helper-exits-after-read-timeout", gone, "helper %s still running" % first)
    r.check("idle/helper-logged-idle-exit", "exiting" in w.helper_log(h), "no 'exiting' in %s" % w.helper_logs[h])
    second = check_first_request(w, r, h, user, pw, phase="idle-restart")
    r.check("idle/prosody-restarted-helper", second is not None and second != first,
            "helper pid before %s, after %s" % (first, second))
    r.check("idle/prosody-did-not-refuse-restart", not w.prosody_lines(PROSODY_NOT_RESTARTED, h),
            "; ".join(w.prosody_lines(PROSODY_NOT_RESTARTED, h)[:2]))
    expect(r, "idle/right-password-after-restart", login(w, user, h, pw), "success")
    expect(r, "idle/wrong-password-after-restart", login(w, user, h, pw + "!"), "refused")


def check_recover(w, r):
    """A vhost whose users file is missing when Prosody starts (allow_writes off, so that is
    an error): each login starts a helper that logs the error and exits 0, so Prosody starts
    a new one at the next login. Once the admin creates the file, logins work again without
    restarting Prosody. (After a non-zero exit Prosody would never restart the helper: the
    vhost would stay locked out until Prosody itself restarts.)"""
    h, f = RECOVER_HOST, w.users[RECOVER_HOST]
    server_pid = w.server.pid

    def failures():  # one line per helper that could not start
        return w.helper_log(h).count(MISSING_USERS_FILE)

    for n in (1, 2, 3):
        got = login(w, RECOVER_USER, h, RECOVER_PASSWORD)
        r.check("recover/missing-file-login-%d-refused" % n, got[0] == "refused", "%s (%s), expected refused" % got)
        # The helper logged why it cannot start, and is gone (Prosody reaps it at the next login).
        r.check("recover/missing-file-helper-%d-logged-error" % n, wait_for(lambda: failures() >= n, 3),
                "%d '%s' lines in %s, expected %d" % (failures(), MISSING_USERS_FILE, w.helper_logs[h], n))
        r.check("recover/missing-file-helper-%d-exited" % n, wait_for(lambda: w.helper_pid_for(h) is None, 3),
                "helper %s still running" % w.helper_pid_for(h))
    starts = len(w.prosody_lines(PROSODY_STARTED, h))
    refused = w.prosody_lines(PROSODY_NOT_RESTARTED, h)
    r.check("recover/prosody-started-a-helper-per-login", starts == 3 and failures() == 3,
            "'%s' lines for %s in Prosody's log: %d, failed helper starts logged: %d, after 3 logins"
            % (PROSODY_STARTED, h, starts, failures()))
    r.check("recover/prosody-did-not-refuse-restart", not refused,
            "Prosody gave up on the helper: %s" % "; ".join(refused[:2]))

    # The admin creates the users file, as for the other vhosts (mode 0640, readable by prosody).
    ok, err = w.add_user(h, RECOVER_USER, RECOVER_PASSWORD)
    if f.exists():
        chown_prosody(f)
        os.chmod(f, 0o640)
    for lock in w.data.glob("recover-users*.lock"):
        chown_prosody(lock)
    r.check("recover/users-file-created", ok and f.exists(), err)

    # The next helper starts; like every new helper it leaves its first request unanswered.
    first = check_first_request(w, r, h, RECOVER_USER, RECOVER_PASSWORD, phase="recover")
    expect(r, "recover/right-password-after-fix", login(w, RECOVER_USER, h, RECOVER_PASSWORD), "success")
    expect(r, "recover/wrong-password-after-fix", login(w, RECOVER_USER, h, RECOVER_PASSWORD + "!"), "refused")
    expect(r, "recover/right-password-again", login(w, RECOVER_USER, h, RECOVER_PASSWORD), "success")
    # The helpers that failed never read their request, and lpty keeps one terminal for every
    # start: those requests (with the right password) may still wait there for the new helper.
    # It must not run them: one verdict per login it answered, no more.
    text = w.helper_log(h)
    verdicts = [l for l in text.splitlines() if "auth %s@%s -> " % (RECOVER_USER, h) in l]
    r.check("recover/only-the-answered-logins-were-run", len(verdicts) == 3,
            "%d verdicts in %s for 3 answered logins: %s" % (len(verdicts), w.helper_logs[h], verdicts[:4]))
    log("recover: the new helper skipped %d queued line(s) and answered %d with 0 unread"
        % (text.count("more input arrived before this request"), text.count("came in one burst with a skipped one")))
    r.check("recover/same-helper-after-fix", first is not None and w.helper_pid_for(h) == first,
            "helper %s after the fix, now %s" % (first, w.helper_pid_for(h)))
    r.check("recover/without-restarting-prosody",
            w.server.poll() is None and w.server.pid == server_pid and w.starts == 1,
            "Prosody pid %s (was %s), exited: %s, started %d times"
            % (w.server.pid, server_pid, w.server.poll(), w.starts))


def check_register(w, r):
    """Prosody asks isuser before registration, then refuses account creation itself."""
    before = w.users[RW_HOST].read_bytes()
    got = client(w, "register", "alice@" + RW_HOST, "hijack-attempt-1")
    r.check("register/existing-user-conflict-from-isuser", got[0] == "refused" and "conflict" in got[1],
            "%s (%s): expected a conflict (isuser answered 1)" % got)
    got = client(w, "register", "newbie@" + RW_HOST, REGISTER_PASSWORD)
    r.check("register/new-user-refused", got[0] == "refused" and "conflict" not in got[1],
            "%s (%s): expected refused, not a conflict (isuser answered 0)" % got)
    r.check("register/users-file-untouched", w.users[RW_HOST].read_bytes() == before, "the users file changed")
    expect(r, "register/existing-user-keeps-password", login(w, "alice", RW_HOST, RW_USERS["alice"]), "success")


def check_setpass(w, r):
    """In-band password change (XEP-0077 from a logged-in client: Prosody sends setpass)."""
    f = w.users[RW_HOST]
    before = f.read_text(encoding="utf-8").splitlines()
    inode = f.stat().st_ino
    jid = "changer@" + RW_HOST
    expect(r, "setpass/allow-writes-change-accepted", client(w, "change_password", jid, RW_USERS["changer"], NEW_PASSWORD), "success")
    expect(r, "setpass/new-password-logs-in", login(w, "changer", RW_HOST, NEW_PASSWORD), "success")
    expect(r, "setpass/old-password-refused", login(w, "changer", RW_HOST, RW_USERS["changer"]), "refused")
    after = f.read_text(encoding="utf-8").splitlines()
    r.check("setpass/users-file-replaced-by-rename", f.stat().st_ino != inode, "inode unchanged: edited in place")
    try:
        n = e2e.count_entries(f, jid)
        r.check("setpass/users-file-one-entry", n == 1, "%d entries for %s" % (n, jid))
    except ValueError as e:
        r.check("setpass/users-file-one-entry", False, str(e))
    r.check("setpass/other-lines-unchanged",
            [l for l in before if not l.startswith("changer@")] == [l for l in after if not l.startswith("changer@")],
            "lines of other users or comments changed")
    r.check("setpass/no-plaintext-in-file", NEW_PASSWORD not in "\n".join(after), "the new password is in the file")

    # A line feed in the new password: Prosody sends `setpass:changer:localhost:HEAD` and
    # `TAIL` as two lines in one write. The first must not be executed (it would set the
    # password to HEAD), the fragment gets 0, and exactly one reply goes back.
    file_before = f.read_bytes()
    got = client(w, "change_password", jid, NEW_PASSWORD, LF_HEAD + "\n" + LF_TAIL)
    r.check("setpass/line-feed-in-password-refused", got[0] == "refused", "%s (%s), expected refused" % got)
    r.check("setpass/line-feed-in-password-file-untouched", f.read_bytes() == file_before, "the users file changed")
    expect(r, "setpass/line-feed-first-line-not-applied", login(w, "changer", RW_HOST, LF_HEAD), "refused")
    expect(r, "setpass/line-feed-then-password-unchanged", login(w, "changer", RW_HOST, NEW_PASSWORD), "success")
    expect(r, "setpass/line-feed-then-still-in-step", login(w, "changer", RW_HOST, NEW_PASSWORD + "x"), "refused")

    # The tail must never run as a request of its own: with the new password
    # `x\nauth:alice:HOST:ALICE'S-PASSWORD` the reply to the setpass would be that auth's
    # verdict, telling the user whether a guess at another account's password is right.
    file_before = f.read_bytes()
    oracle = "x\nauth:alice:%s:%s" % (RW_HOST, RW_USERS["alice"])
    got = client(w, "change_password", jid, NEW_PASSWORD, oracle)
    r.check("setpass/line-feed-tail-is-no-password-oracle", got[0] == "refused",
            "%s (%s): the setpass was answered by the tail's verdict" % got)
    r.check("setpass/line-feed-tail-file-untouched", f.read_bytes() == file_before, "the users file changed")
    expect(r, "setpass/line-feed-tail-then-password-unchanged", login(w, "changer", RW_HOST, NEW_PASSWORD), "success")

    # allow_writes = false: Prosody tells the client the truth (ejabberd would not).
    ro = w.users[RO_HOST]
    ro_before, ro_inode = ro.read_bytes(), ro.stat().st_ino
    got = client(w, "change_password", "carol@" + RO_HOST, RO_USERS["carol"], RO_NEW_PASSWORD)
    r.check("setpass/read-only-client-told-refused", got[0] == "refused" and "internal-server-error" in got[1],
            "%s (%s): expected Prosody's internal-server-error" % got)
    r.check("setpass/read-only-file-untouched", ro.read_bytes() == ro_before and ro.stat().st_ino == ro_inode,
            "the read-only users file changed")
    expect(r, "setpass/read-only-old-password-still-works", login(w, "carol", RO_HOST, RO_USERS["carol"]), "success")
    expect(r, "setpass/read-only-new-password-refused", login(w, "carol", RO_HOST, RO_NEW_PASSWORD), "refused")


def check_admin_edits(w, r):
    """An admin edits the users file while the helper runs: the very next login sees it."""
    f = w.users[RW_HOST]
    p = subprocess.run([str(w.bin), "user", "passwd", "edited@" + RW_HOST, "--users-file", str(f)],
                       input=(ADMIN_PASSWORD + "\n").encode(), capture_output=True, timeout=60)
    r.check("admin/user-passwd", p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace").strip()))
    expect(r, "admin/user-passwd-new-password-at-once", login(w, "edited", RW_HOST, ADMIN_PASSWORD), "success")
    expect(r, "admin/user-passwd-old-password-refused", login(w, "edited", RW_HOST, RW_USERS["edited"]), "refused")

    # A new file renamed over the old one (what editors and config management do).
    tmp = w.data / "users.new"
    shutil.copy(f, tmp)
    ok, err = w.add_user(RW_HOST, NEWCOMER, NEWCOMER_PASSWORD, users_file=tmp)
    st = f.stat()
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.rename(tmp, f)
    r.check("admin/rename-new-file-over-old", ok, err)
    expect(r, "admin/rename-new-user-logs-in-at-once", login(w, NEWCOMER, RW_HOST, NEWCOMER_PASSWORD), "success")
    expect(r, "admin/rename-old-users-still-log-in", login(w, "bob", RW_HOST, RW_USERS["bob"]), "success")


def check_late_verdict(w, r):
    """A verdict that takes longer than the helper's deadline and Prosody's timeout (a
    1,000,000-round hash, 100 ms deadline, 0.5 s timeout) must not be sent: Prosody has
    given up and would read it as the answer to the next login."""
    h = SLOW_HOST
    before = w.helper_log(h).count(LATE_NOT_ANSWERED)
    timeouts_before = len(w.prosody_lines(PROSODY_NO_REPLY))
    got = login(w, SLOWPOKE, h, SLOWPOKE_PASSWORD)  # the right password: a late reply would be `1`
    r.check("late/slow-login-refused", got[0] == "refused", "%s (%s), expected refused" % got)
    late = wait_for(lambda: w.helper_log(h).count(LATE_NOT_ANSWERED) > before, 10)
    r.check("late/helper-logged-verdict-not-answered", late,
            "no '%s' in %s (was the hash faster than %d ms?)" % (LATE_NOT_ANSWERED, w.helper_logs[h], SLOW_DEADLINE_MS))
    r.check("late/prosody-timed-out-waiting", len(w.prosody_lines(PROSODY_NO_REPLY)) > timeouts_before,
            "Prosody's log has no new '%s'" % PROSODY_NO_REPLY)
    # Give a late reply time to reach the pty: a helper that sent one would now be a reply
    # ahead, and the wrong password below would log in.
    time.sleep(1)
    expect(r, "late/next-login-wrong-password-refused", login(w, "quick", h, SLOW_USERS["quick"] + "x"), "refused")
    expect(r, "late/next-login-right-password-accepted", login(w, "quick", h, SLOW_USERS["quick"]), "success")
    expect(r, "late/then-other-user-wrong-password-refused", login(w, "quick2", h, SLOW_USERS["quick"]), "refused")
    expect(r, "late/then-other-user-right-password-accepted", login(w, "quick2", h, SLOW_USERS["quick2"]), "success")


def check_logs(w, r, helpers_after_warmup):
    now = {h: w.helper_pid_for(h) for h in helpers_after_warmup}
    r.check("helpers/same-processes-whole-run", now == helpers_after_warmup,
            "after the first logins %s, now %s (a helper exited or was restarted)" % (helpers_after_warmup, now))
    starts = {h: len(w.prosody_lines(PROSODY_STARTED, h)) for h in helpers_after_warmup}
    r.check("prosody/one-helper-start-per-vhost", set(starts.values()) == {1},
            "'%s' lines per vhost in Prosody's log: %s" % (PROSODY_STARTED, starts))
    started = len(w.prosody_lines(PROSODY_STARTED))
    garbled = w.prosody_lines(PROSODY_GARBLED)
    # Only the echo of a first request can be uninterpretable: at most one per helper start.
    r.check("prosody/no-garbled-reply-but-first-echo", len(garbled) <= started,
            "%d '%s' lines for %d helper starts: %s" % (len(garbled), PROSODY_GARBLED, started, garbled[:2]))
    gone = w.prosody_lines(PROSODY_NOT_RESTARTED)
    r.check("prosody/no-helper-exited-unexpectedly", not gone, "; ".join(gone[:2]))
    texts = {str(p): w.text(p) for p in list(w.helper_logs.values())}
    leaks = [f for f, t in texts.items() if any(s in t for s in SECRETS)]
    r.check("logs/no-password-in-helper-logs", not leaks, "password of a test account in %s" % leaks)
    r.check("logs/helper-logs-written", all(t.strip() for t in texts.values()),
            "empty helper log: %s" % [f for f, t in texts.items() if not t.strip()])
    ptext = w.text(w.prosody_log)
    r.check("logs/no-password-in-prosody-log", not any(s in ptext for s in SECRETS),
            "%s contains the password of a test account" % w.prosody_log)


def check_shutdown(w, r):
    """The helper must exit when Prosody goes away: cleanly (the module ends it) or killed
    (the helper must notice the hang-up itself, or it lives on as an orphan)."""
    helpers = w.helper_pids()
    w.server.terminate()
    r.check("shutdown/prosody-exits-on-sigterm", w.server_exited(20), "Prosody still running 20 s after SIGTERM")
    left = wait_for(lambda: not w.helper_pids(), 5)
    r.check("shutdown/no-helper-5s-after-stop", left, "still running: %s (were %s)" % (w.helper_pids(), helpers))
    w.stop_everything()

    log("restarting Prosody for the kill -9 check")
    if not r.check("shutdown/restart", w.start(), "Prosody did not come back; see %s" % w.logs):
        return
    pid = check_first_request(w, r, RW_HOST, "alice", RW_USERS["alice"], phase="restart")
    check_first_request(w, r, RO_HOST, "carol", RO_USERS["carol"], phase="restart")
    check_in_step(w, r, 10, phase="restart")
    def ends():  # the helper's own words when its input goes away (EIO or EOF)
        t = w.helper_log(RW_HOST)
        return t.count("input hung up: exiting") + t.count("end of input: exiting")

    ends_before = ends()
    os.kill(w.server.pid, signal.SIGKILL)
    w.server_exited(10)
    left = wait_for(lambda: not w.helper_pids(), 5)
    r.check("shutdown/no-helper-5s-after-kill-9", left,
            "still running: %s (orphaned; helper was %s)" % (w.helper_pids(), pid))
    r.check("shutdown/helper-saw-the-hang-up-itself", ends() > ends_before,
            "no new 'input hung up' or 'end of input' in %s" % w.helper_logs[RW_HOST])


# ---------------------------------------------------------------------------------------


def create_users(w, r):
    results = [w.add_user(RW_HOST, u, p) for u, p in RW_USERS.items()]
    results += [w.add_user(RO_HOST, u, p) for u, p in RO_USERS.items()]
    results += [w.add_hashed(SLOW_HOST, u, p, 1000) for u, p in SLOW_USERS.items()]
    results += [w.add_user(IDLE_HOST, u, p) for u, p in IDLE_USERS.items()]
    results.append(w.add_hashed(SLOW_HOST, SLOWPOKE, SLOWPOKE_PASSWORD, 1000000))
    for f in w.users.values():
        if f.exists():
            chown_prosody(f)
            os.chmod(f, 0o640)
    for lock in w.data.glob("*.lock"):
        chown_prosody(lock)
    errors = [e for ok, e in results if not ok]
    return r.check("setup/users-created-with-user-add", not errors, "; ".join(errors))


def run(args):
    r = Results()
    w = World(args.binary)
    log("work dir %s, c2s port %d, auth module: %s" % (w.work, w.c2s_port, w.module_desc))

    def body():
        if not create_users(w, r):
            return
        w.write_configs()
        for conf in sorted(w.etc.glob("*.conf")):
            c = subprocess.run(["setpriv", "--reuid", PROSODY_USER, "--regid", PROSODY_USER, "--init-groups",
                                str(w.bin), "config", "check", "--config", str(conf)], capture_output=True, timeout=60)
            err = c.stderr.decode(errors="replace").strip()
            if conf.stem == RECOVER_HOST.split(".")[0]:  # no users file yet: the helper cannot start
                r.check("setup/config-check-%s-reports-missing-file" % conf.stem,
                        c.returncode != 0 and MISSING_USERS_FILE in err and not w.users[RECOVER_HOST].exists(),
                        "exit %d: %s" % (c.returncode, err))
            else:
                r.check("setup/config-check-%s" % conf.stem, c.returncode == 0, "exit %d: %s" % (c.returncode, err))
        log("starting Prosody")
        if not r.check("setup/prosody-started", w.start(), "see %s" % w.logs):
            return
        r.check("setup/no-helper-before-first-login", not w.helper_pids(),
                "Prosody starts helpers lazily, yet found %s" % w.helper_pids())
        helpers = {}
        helpers[RW_HOST] = check_first_request(w, r, RW_HOST, "alice", RW_USERS["alice"])
        helpers[RO_HOST] = check_first_request(w, r, RO_HOST, "carol", RO_USERS["carol"])
        helpers[SLOW_HOST] = check_first_request(w, r, SLOW_HOST, "quick", SLOW_USERS["quick"])
        check_logins(w, r)
        check_in_step(w, r, 30)
        check_burst(w, r)
        check_register(w, r)
        check_setpass(w, r)
        check_admin_edits(w, r)
        check_late_verdict(w, r)
        check_idle_restart(w, r)
        check_recover(w, r)
        check_logs(w, r, helpers)
        check_shutdown(w, r)

    return e2e.run_guarded(r, w, body, lambda: processes_matching(str(w.work)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the xmpp-extauth executable to test")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run_prosody.py: must run as root (Prosody runs as the prosody user)")
    r, w = run(args)
    e2e.finish(r, w, args.keep)


if __name__ == "__main__":
    main()
