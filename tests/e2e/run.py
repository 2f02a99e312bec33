#!/usr/bin/python3
"""End-to-end suite: a real ejabberd with `auth_method: external` runs xmpp-extauth, and a
real XMPP client (slixmpp, see xmpp_client.py) logs in, changes passwords and registers.

Run by tests/e2e.rs (`cargo test --test e2e -- --nocapture`), or alone as root:

    /usr/bin/python3 tests/e2e/run.py --binary target/debug/xmpp-extauth [--keep] [--http]

Everything lives in a fresh directory under /tmp that the `ejabberd` user can read (the
server runs helpers as that user): a copy of the binary, the ejabberd and helper configs, a
self-signed certificate, the users files, the spool and all logs. ejabberd listens on
127.0.0.1 only, on ports picked at start; its Erlang distribution uses ERL_DIST_PORT (no
epmd). Every process started is stopped at the end, also on failure or Ctrl-C.

Each check prints `PASS name` or `FAIL name: detail` as it runs; a summary follows. Exit
status 0 only if every check passed. The work directory is removed on success and kept on
failure (its path is printed) so the logs can be read.
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"  # Debian's, where python3-slixmpp lives (not a pyenv shim)
EJABBERD_USER = "ejabberd"

RW_HOST = "localhost"  # file backend, allow_writes = true
RO_HOST = "ro.localhost"  # file backend, allow_writes = false
HTTP_HOST = "http.localhost"  # HTTP backend (--http)

# Accounts made with the product's own `user add` before ejabberd starts.
# Passwords are chosen to catch the classic helper bugs: cut at the first colon, trimmed
# spaces, characters counted instead of bytes.
RW_USERS = {
    "alice": "correct horse battery staple",
    "bob": "bobs-Secret-9",
    "colon": "pa:ss::word:",
    "spacey": "  lead and trail  ",
    "unicode": "pässwörd€ 密码",
    "jürgen": "Jürgens Geheimnis",
    "changer": "old-password-1",
    "unreg": "unregister-me-1",
    "selfremove": "remove-me-xep77",
}
NEW_PASSWORD = "new: pässword 2"  # for `changer`, via XEP-0077
# A domain-less entry (valid on every vhost) written by hand with a hash from `hash`.
HASH_USER, HASH_PASSWORD = "everywhere", "hashed by: the hash command"
RO_USERS = {"carol": "carol-ro-password"}
REGISTER_PASSWORD = "fresh:registered pw"
HTTP_USERS = {  # served by api_server.py, not by a file; passwords test the URL encoding
    "henry": "http-pass:wörd 1",
    "plus": "a+b&c=d %2B#?",
}

# Every password that must never show up in a log.
SECRETS = (
    list(RW_USERS.values())
    + list(RO_USERS.values())
    + list(HTTP_USERS.values())
    + [HASH_PASSWORD, NEW_PASSWORD, REGISTER_PASSWORD, "ro-new-password-x", "lock-probe-password"]
)


# ---------------------------------------------------------------------------------------
# Results


class Results:
    """Named checks, printed as they happen, summarised at the end."""

    def __init__(self):
        self.items = []  # (name, passed, detail)
        self.last = time.monotonic()

    def check(self, name, passed, detail=""):
        self.items.append((name, bool(passed), detail))
        line = ("PASS " if passed else "FAIL ") + name
        if detail and not passed:
            line += ": " + detail
        # Time since the previous check: roughly what this one took (slow machine? slow helper?).
        now = time.monotonic()
        line += "  [%.1fs]" % (now - self.last)
        self.last = now
        print(line, flush=True)
        return passed

    def failed(self):
        return [i for i in self.items if not i[1]]

    def summary(self):
        print("\n==== e2e summary ====")
        for name, passed, detail in self.items:
            print("%s  %s%s" % ("PASS" if passed else "FAIL", name, "" if passed else "  -- " + detail))
        n_fail = len(self.failed())
        print("==== %d checks: %d passed, %d failed ====" % (len(self.items), len(self.items) - n_fail, n_fail))


def log(msg):
    print("---- " + msg, flush=True)


# ---------------------------------------------------------------------------------------
# Small helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1):
    """Poll until predicate() is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def kill_leftovers(server, needles):
    """SIGKILL the server's process group (then reap it) and every process whose command
    line names one of `needles` (our unique work dir, node name): only ours."""
    if server is not None:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            pass
    for needle in needles:
        for pid in processes_matching(needle):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def processes_matching(needle):
    """{pid: argv} of live processes whose command line contains `needle`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:
            continue
        if needle.encode() in raw:
            found[int(entry)] = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return found


def is_shell(argv):
    return bool(argv) and os.path.basename(argv[0]) in ("sh", "dash", "bash")


def chown_ejabberd(path):
    pw = pwd.getpwnam(EJABBERD_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def users_file_entries(path):
    """The non-comment lines of a users file as a list of (name, rest); raises on a line
    that does not parse (name:hash)."""
    entries = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        if not sep or not name or not rest:
            raise ValueError("%s:%d: not name:hash" % (path, n))
        entries.append((name, rest))
    return entries


def count_entries(path, name):
    return sum(1 for n, _ in users_file_entries(path) if n == name)


# ---------------------------------------------------------------------------------------
# The world: work dir, configs, ejabberd


class World:
    def __init__(self, binary, http):
        self.work = Path(tempfile.mkdtemp(prefix="xmpp-extauth-e2e-", dir="/tmp"))
        os.chmod(self.work, 0o755)
        self.bin = self.work / "bin" / "xmpp-extauth"
        self.etc = self.work / "etc"
        self.data = self.work / "data"  # users files and helper logs: the ejabberd user writes here
        self.spool = self.work / "spool"
        self.logs = self.work / "log"
        for d in (self.bin.parent, self.etc, self.data, self.spool, self.logs, self.work / "run"):
            d.mkdir()
            os.chmod(d, 0o755)
        for d in (self.data, self.spool, self.logs, self.work / "run"):
            chown_ejabberd(d)
        shutil.copy(binary, self.bin)
        os.chmod(self.bin, 0o755)
        self.rw_users = self.data / "users"
        self.ro_users = self.data / "ro-users"
        self.helper_log = self.data / "helper.log"
        self.cert = self.etc / "cert.pem"
        self.c2s_port = free_port()
        self.dist_port = free_port()
        self.node = "xe2e%d@localhost" % os.getpid()
        self.pid_file = self.work / "run" / "ejabberd.pid"
        self.http = http
        self.api = None
        self.server = None  # Popen of `ejabberdctl foreground`, in its own session
        self.ctl_path = shutil.which("ejabberdctl") or "/usr/sbin/ejabberdctl"

    # -- setup ---------------------------------------------------------------------------

    def make_cert(self):
        key = self.etc / "key.pem"
        sans = ",".join("DNS:" + h for h in (RW_HOST, RO_HOST, HTTP_HOST))
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "30", "-subj", "/CN=" + RW_HOST, "-addext", "subjectAltName=" + sans,
             "-keyout", str(key), "-out", str(self.cert)],
            check=True, capture_output=True)
        pem = self.etc / "ejabberd.pem"
        pem.write_bytes(self.cert.read_bytes() + key.read_bytes())
        os.chmod(pem, 0o600)
        chown_ejabberd(pem)
        return pem

    def helper_config(self, name, lines):
        """Write a helper config file; return the extauth_program string for it."""
        path = self.etc / (name + ".conf")
        path.write_text("# xmpp-extauth config for the e2e vhost %s\n" % name + "\n".join(lines) + "\n")
        os.chmod(path, 0o644)
        return "%s --config %s" % (self.bin, path)

    def add_user(self, users_file, jid, password):
        """The product's own command; the password goes on stdin, never in argv."""
        r = subprocess.run([str(self.bin), "user", "add", jid, "--users-file", str(users_file)],
                           input=(password + "\n").encode(), capture_output=True, timeout=60)
        return r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace").strip())

    def write_configs(self, api_url=None):
        common = ["log = file:%s" % self.helper_log, "log_level = debug"]
        programs = {
            RW_HOST: self.helper_config("rw", ["users_file = %s" % self.rw_users, "allow_writes = true"] + common),
            # log = stderr: ejabberd passes the helper's stderr through (here to
            # log/foreground.out), which must not disturb the protocol on stdout.
            RO_HOST: self.helper_config("ro", ["users_file = %s" % self.ro_users, "allow_writes = false",
                                               "log = stderr", "log_level = debug"]),
        }
        if self.http:
            programs[HTTP_HOST] = self.helper_config(
                "http", ["backend = http", "http_url = %s" % api_url] + common)
        hosts = "\n".join('  - "%s"' % h for h in programs)
        host_config = "\n".join('  "%s":\n    extauth_program: "%s"' % (h, p) for h, p in programs.items())
        template = string.Template((HERE / "ejabberd.yml.in").read_text())
        yml = template.substitute(
            HOSTS=hosts, HOST_CONFIG=host_config, CERTFILE=self.make_cert(), C2S_PORT=self.c2s_port,
            RW_HOST=RW_HOST, RO_HOST=RO_HOST, HTTP_HOST=HTTP_HOST)
        (self.etc / "ejabberd.yml").write_text(yml)
        (self.etc / "inetrc").write_text('{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n')
        # ERL_DIST_PORT: no epmd; the node listens for ejabberdctl on that port, loopback only.
        (self.etc / "ejabberdctl.cfg").write_text(
            "ERLANG_NODE=%s\nERL_DIST_PORT=%d\nEJABBERD_PID_PATH=%s\nEJABBERD_BYPASS_WARNINGS=true\n"
            'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"\n'
            % (self.node, self.dist_port, self.pid_file))
        for f in self.etc.iterdir():
            if f.name != "ejabberd.pem":
                os.chmod(f, 0o644)

    # -- ejabberd ------------------------------------------------------------------------

    def ctl_base(self):
        return [self.ctl_path, "--config-dir", str(self.etc), "--logs", str(self.logs), "--spool", str(self.spool)]

    def ctl(self, *args, timeout=60):
        """Run an ejabberdctl command; (exit status, output)."""
        r = subprocess.run(self.ctl_base() + list(args), capture_output=True, timeout=timeout, cwd="/")
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace").strip()

    def start(self):
        """Start `ejabberdctl foreground` in its own session; True once c2s accepts connections
        and every vhost's helper runs."""
        out = open(self.logs / "foreground.out", "ab")
        self.server = subprocess.Popen(self.ctl_base() + ["foreground"], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
        out.close()
        up = wait_for(lambda: port_open(self.c2s_port) or self.server.poll() is not None, 90, 0.25)
        if not up or self.server.poll() is not None:
            return False
        return bool(wait_for(lambda: len(self.helper_pids()) >= self.vhost_count(), 20))

    def vhost_count(self):
        return 3 if self.http else 2

    def beam_pid(self):
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            comm = Path("/proc/%d/comm" % pid).read_text().strip()
        except OSError:
            return None
        return pid if comm.startswith("beam") else None

    def helper_pids(self):
        """{pid: argv} of running helper processes (the /bin/sh wrapper, if any, excluded)."""
        return {p: a for p, a in processes_matching(str(self.bin)).items() if not is_shell(a)}

    def any_helper_process(self):
        """Helpers and their shell wrappers: anything still running our copied binary."""
        return processes_matching(str(self.bin))

    def server_exited(self, timeout):
        try:
            self.server.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop_everything(self):
        """Best-effort cleanup of every process this suite started. Only ours: the server's
        session, and processes whose command line names our unique work dir or node."""
        if self.server is not None and self.server.poll() is None:
            try:
                self.ctl("stop", timeout=30)
            except subprocess.TimeoutExpired:
                pass
            self.server_exited(15)
        kill_leftovers(self.server, (str(self.work), self.node))
        if self.api is not None:
            self.api.shutdown()

    # -- logs ----------------------------------------------------------------------------

    def all_log_text(self):
        texts = {}
        for f in list(self.logs.glob("*")) + [self.helper_log]:
            if f.is_file():
                texts[str(f)] = f.read_text(encoding="utf-8", errors="replace")
        return texts


# ---------------------------------------------------------------------------------------
# The client driver (one process per operation)


def client(world, op, jid, password, new_password=None, port=None):
    req = {"jid": jid, "password": password}
    if new_password is not None:
        req["new_password"] = new_password
    cmd = [PYTHON, str(HERE / "xmpp_client.py"), op, "--port", str(port or world.c2s_port), "--ca", str(world.cert)]
    try:
        r = subprocess.run(cmd, input=json.dumps(req).encode(), capture_output=True, timeout=45)
    except subprocess.TimeoutExpired:
        return "error", "client process timed out"
    try:
        res = json.loads(r.stdout.decode().strip().splitlines()[-1])
        return res["outcome"], res["detail"]
    except (ValueError, IndexError, KeyError):
        return "error", "client crashed: " + (r.stderr.decode(errors="replace")[-500:] or "no output")


def expect(results, name, got, want):
    outcome, detail = got
    return results.check(name, outcome == want, "%s (%s), expected %s" % (outcome, detail, want))


# ---------------------------------------------------------------------------------------
# The checks, phase by phase


def check_logins(w, r):
    """auth: right password in, everything else out; hostile passwords survive the trip."""
    a = RW_USERS["alice"]
    h = RW_HOST
    expect(r, "login/right-password", client(w, "login", "alice@" + h, a), "success")
    expect(r, "login/wrong-password", client(w, "login", "alice@" + h, "wrong horse battery staple"), "refused")
    expect(r, "login/password-prefix", client(w, "login", "alice@" + h, a[:7]), "refused")
    expect(r, "login/password-plus-suffix", client(w, "login", "alice@" + h, a + "x"), "refused")
    expect(r, "login/other-users-password", client(w, "login", "alice@" + h, RW_USERS["bob"]), "refused")
    expect(r, "login/unknown-user", client(w, "login", "nobody@" + h, a), "refused")
    expect(r, "login/right-password-wrong-vhost", client(w, "login", "alice@" + RO_HOST, a), "refused")
    expect(r, "login/password-with-colons", client(w, "login", "colon@" + h, RW_USERS["colon"]), "success")
    expect(r, "login/password-cut-at-first-colon", client(w, "login", "colon@" + h, "pa"), "refused")
    expect(r, "login/password-with-spaces", client(w, "login", "spacey@" + h, RW_USERS["spacey"]), "success")
    expect(r, "login/password-spaces-trimmed", client(w, "login", "spacey@" + h, RW_USERS["spacey"].strip()), "refused")
    expect(r, "login/non-ascii-password", client(w, "login", "unicode@" + h, RW_USERS["unicode"]), "success")
    expect(r, "login/non-ascii-password-truncated", client(w, "login", "unicode@" + h, RW_USERS["unicode"][:-1]), "refused")
    expect(r, "login/non-ascii-localpart", client(w, "login", "jürgen@" + h, RW_USERS["jürgen"]), "success")
    expect(r, "login/non-ascii-localpart-upper-case", client(w, "login", "JÜRGEN@" + h, RW_USERS["jürgen"]), "success")
    expect(r, "login/non-ascii-localpart-wrong-password", client(w, "login", "jürgen@" + h, "Jürgens geheimnis"), "refused")
    expect(r, "login/domain-less-entry-from-hash", client(w, "login", HASH_USER + "@" + h, HASH_PASSWORD), "success")
    expect(r, "login/domain-less-entry-wrong-password", client(w, "login", HASH_USER + "@" + h, HASH_PASSWORD[:-1]), "refused")
    expect(r, "login/read-only-vhost", client(w, "login", "carol@" + RO_HOST, RO_USERS["carol"]), "success")


def check_isuser(w, r):
    """isuser through `ejabberdctl check_account` (needs mod_admin_extra)."""
    code, out = w.ctl("check_account", "alice", RW_HOST)
    r.check("check_account/existing-user", code == 0, "exit %d: %s" % (code, out))
    code, out = w.ctl("check_account", "jürgen", RW_HOST)
    r.check("check_account/non-ascii-user", code == 0, "exit %d: %s" % (code, out))
    code, out = w.ctl("check_account", "nobody", RW_HOST)
    r.check("check_account/missing-user", code == 1, "exit %d: %s" % (code, out))
    code, out = w.ctl("check_account", "alice", RO_HOST)
    r.check("check_account/user-of-other-vhost", code == 1, "exit %d: %s" % (code, out))


def check_setpass(w, r):
    """setpass via XEP-0077 from a logged-in client; the users file is replaced, not edited."""
    f = w.rw_users
    before = f.read_text(encoding="utf-8").splitlines()
    st = f.stat()
    inode = st.st_ino
    jid = "changer@" + RW_HOST
    if not expect(r, "setpass/xep0077-change-accepted", client(w, "change_password", jid, RW_USERS["changer"], NEW_PASSWORD), "success"):
        return
    expect(r, "setpass/new-password-logs-in", client(w, "login", jid, NEW_PASSWORD), "success")
    expect(r, "setpass/old-password-refused", client(w, "login", jid, RW_USERS["changer"]), "refused")
    after = f.read_text(encoding="utf-8").splitlines()
    r.check("setpass/users-file-replaced-by-rename", f.stat().st_ino != inode,
            "inode %d unchanged: the file was edited in place" % inode)
    st2 = f.stat()
    r.check("setpass/users-file-owner-and-mode-kept",
            (st2.st_uid, st2.st_gid, st2.st_mode) == (st.st_uid, st.st_gid, st.st_mode),
            "uid/gid/mode %s -> %s" % ((st.st_uid, st.st_gid, oct(st.st_mode)), (st2.st_uid, st2.st_gid, oct(st2.st_mode))))
    try:
        n = count_entries(f, "changer@" + RW_HOST)
        r.check("setpass/users-file-parses-one-entry", n == 1, "%d entries for changer@%s" % (n, RW_HOST))
    except ValueError as e:
        r.check("setpass/users-file-parses-one-entry", False, str(e))
    others_before = [l for l in before if not l.startswith("changer@")]
    others_after = [l for l in after if not l.startswith("changer@")]
    r.check("setpass/other-lines-unchanged", others_before == others_after,
            "lines of other users or comments changed")
    changed = [l for l in after if l.startswith("changer@")]
    r.check("setpass/no-plaintext-in-file", all(NEW_PASSWORD not in l for l in changed),
            "the new password is stored in plain text")
    leftovers = sorted(p.name for p in w.data.iterdir()
                       if p.name not in ("users", "ro-users", "helper.log") and not p.name.endswith(".lock"))
    r.check("setpass/no-temporary-files-left", not leftovers, "left in %s: %s" % (w.data, leftovers))

    # Read-only vhost: ejabberd (since 18.06) reports success to the client even when the
    # helper answers 0 to setpass, so check the effect, not the IQ result.
    ro_before = w.ro_users.read_bytes()
    ro_inode = w.ro_users.stat().st_ino
    jid = "carol@" + RO_HOST
    client(w, "change_password", jid, RO_USERS["carol"], "ro-new-password-x")
    expect(r, "setpass/read-only-old-password-still-works", client(w, "login", jid, RO_USERS["carol"]), "success")
    expect(r, "setpass/read-only-new-password-refused", client(w, "login", jid, "ro-new-password-x"), "refused")
    r.check("setpass/read-only-file-untouched",
            w.ro_users.read_bytes() == ro_before and w.ro_users.stat().st_ino == ro_inode,
            "the read-only users file changed")


def check_register(w, r):
    """tryregister via in-band registration before login (XEP-0077)."""
    jid = "newbie@" + RW_HOST
    expect(r, "register/allowed-then-logs-in", client(w, "register", jid, REGISTER_PASSWORD), "success")
    code, out = w.ctl("check_account", "newbie", RW_HOST)
    r.check("register/account-exists", code == 0, "check_account exit %d: %s" % (code, out))
    try:
        n = count_entries(w.rw_users, jid)
        r.check("register/users-file-has-one-entry", n == 1, "%d entries for %s" % (n, jid))
    except ValueError as e:
        r.check("register/users-file-has-one-entry", False, str(e))
    expect(r, "register/wrong-password-refused", client(w, "login", jid, "fresh:registered"), "refused")

    expect(r, "register/existing-user-refused",
           client(w, "register", "alice@" + RW_HOST, "hijack-attempt-1"), "refused")
    expect(r, "register/existing-user-keeps-password",
           client(w, "login", "alice@" + RW_HOST, RW_USERS["alice"]), "success")

    ro_before = w.ro_users.read_bytes()
    expect(r, "register/read-only-refused", client(w, "register", "dave@" + RO_HOST, "dave-password-1"), "refused")
    code, out = w.ctl("check_account", "dave", RO_HOST)
    r.check("register/read-only-no-account", code == 1, "check_account exit %d: %s" % (code, out))
    r.check("register/read-only-file-untouched", w.ro_users.read_bytes() == ro_before, "the read-only users file changed")


def check_removeuser(w, r):
    """removeuser via `ejabberdctl unregister` and via XEP-0077 <remove/>."""
    jid = "unreg@" + RW_HOST
    code, out = w.ctl("unregister", "unreg", RW_HOST)
    r.check("unregister/ejabberdctl-succeeds", code == 0, "exit %d: %s" % (code, out))
    code, out = w.ctl("check_account", "unreg", RW_HOST)
    r.check("unregister/account-gone", code == 1, "check_account exit %d: %s" % (code, out))
    expect(r, "unregister/login-refused", client(w, "login", jid, RW_USERS["unreg"]), "refused")
    try:
        n = count_entries(w.rw_users, jid)
        r.check("unregister/users-file-entry-gone", n == 0, "%d entries left for %s" % (n, jid))
    except ValueError as e:
        r.check("unregister/users-file-entry-gone", False, str(e))

    jid = "selfremove@" + RW_HOST
    client(w, "remove_account", jid, RW_USERS["selfremove"])
    code, out = w.ctl("check_account", "selfremove", RW_HOST)
    r.check("unregister/xep0077-remove-account-gone", code == 1, "check_account exit %d: %s" % (code, out))
    expect(r, "unregister/xep0077-remove-login-refused", client(w, "login", jid, RW_USERS["selfremove"]), "refused")

    ro_before = w.ro_users.read_bytes()
    w.ctl("unregister", "carol", RO_HOST)
    code, out = w.ctl("check_account", "carol", RO_HOST)
    r.check("unregister/read-only-account-kept", code == 0, "check_account exit %d: %s" % (code, out))
    r.check("unregister/read-only-file-untouched", w.ro_users.read_bytes() == ro_before, "the read-only users file changed")
    expect(r, "unregister/read-only-still-logs-in", client(w, "login", "carol@" + RO_HOST, RO_USERS["carol"]), "success")


def check_http(w, r):
    """The same logins with `backend = http` against api_server.py."""
    h = HTTP_HOST
    p = HTTP_USERS["henry"]
    expect(r, "http/login-right-password", client(w, "login", "henry@" + h, p), "success")
    expect(r, "http/login-wrong-password", client(w, "login", "henry@" + h, p + "x"), "refused")
    expect(r, "http/login-password-prefix", client(w, "login", "henry@" + h, p[:5]), "refused")
    expect(r, "http/login-unknown-user", client(w, "login", "nobody@" + h, p), "refused")
    expect(r, "http/login-other-vhost-same-name", client(w, "login", "henry@" + RW_HOST, p), "refused")
    q = HTTP_USERS["plus"]
    expect(r, "http/login-url-special-characters", client(w, "login", "plus@" + h, q), "success")
    expect(r, "http/login-plus-sent-as-space-refused", client(w, "login", "plus@" + h, q.replace("+", " ")), "refused")
    code, out = w.ctl("check_account", "henry", h)
    r.check("http/check_account-existing-user", code == 0, "exit %d: %s" % (code, out))
    code, out = w.ctl("check_account", "nobody", h)
    r.check("http/check_account-missing-user", code == 1, "exit %d: %s" % (code, out))


def check_health(w, r, helpers_at_start):
    """Same helper processes all along; ejabberd logged no extauth trouble; no password in any log."""
    now = w.helper_pids()
    r.check("helpers/same-processes-whole-run", set(now) == set(helpers_at_start),
            "at start %s, now %s (a helper crashed or was restarted)" % (sorted(helpers_at_start), sorted(now)))
    texts = w.all_log_text()
    # Our own paths contain "xmpp-extauth": blank them out before looking for "extauth".
    mentions = re.compile(r"extauth|external", re.I)

    def lines(name):
        return texts.get(str(w.logs / name), "").replace(str(w.work), "<work>").splitlines()

    bad = [l for l in lines("error.log") if mentions.search(l)]
    bad += [l for l in lines("ejabberd.log")
            if re.search(r"\[(warning|error|critical)\]", l) and mentions.search(l)]
    r.check("logs/no-extauth-trouble-in-ejabberd-logs", not bad, "; ".join(bad[:3]))
    leaks = ["%s contains the password of a test account" % f for f, t in texts.items() if any(s in t for s in SECRETS)]
    r.check("logs/no-password-in-any-log", not leaks, "; ".join(leaks))
    r.check("logs/helper-log-written", w.helper_log.exists() and w.helper_log.stat().st_size > 0,
            "%s is missing or empty (log = file: not honoured?)" % w.helper_log)


def check_shutdown(w, r):
    """The helper must exit on EOF when the server goes away, cleanly or not."""
    code, out = w.ctl("stop")
    r.check("shutdown/ejabberdctl-stop", code == 0, "exit %d: %s" % (code, out))
    r.check("shutdown/server-exited-after-stop", w.server_exited(30), "ejabberd still running 30 s after stop")
    left = wait_for(lambda: not w.any_helper_process(), 5)
    r.check("shutdown/no-helper-5s-after-stop", left, "still running: %s" % w.any_helper_process())
    w.stop_everything()  # whatever is left of the first run

    log("restarting ejabberd for the kill -9 check")
    if not r.check("shutdown/restart", w.start(), "ejabberd did not come back; see %s" % w.logs):
        return
    expect(r, "shutdown/login-after-restart", client(w, "login", "alice@" + RW_HOST, RW_USERS["alice"]), "success")
    beam = w.beam_pid()
    if not r.check("shutdown/found-beam-process", beam is not None, "no beam pid in %s" % w.pid_file):
        return
    os.kill(beam, signal.SIGKILL)
    left = wait_for(lambda: not w.any_helper_process(), 5)
    r.check("shutdown/no-helper-5s-after-kill-9", left, "still running: %s" % w.any_helper_process())


# ---------------------------------------------------------------------------------------


def create_users(w, r):
    ok_all, errors = True, []
    for user, pw in RW_USERS.items():
        ok, err = w.add_user(w.rw_users, "%s@%s" % (user, RW_HOST), pw)
        ok_all &= ok
        if not ok:
            errors.append("%s: %s" % (user, err))
    for user, pw in RO_USERS.items():
        ok, err = w.add_user(w.ro_users, "%s@%s" % (user, RO_HOST), pw)
        ok_all &= ok
        if not ok:
            errors.append("%s: %s" % (user, err))
    h = subprocess.run([str(w.bin), "hash"], input=(HASH_PASSWORD + "\n").encode(), capture_output=True, timeout=60)
    digest = h.stdout.decode().strip()
    if h.returncode == 0 and digest.startswith("$") and w.rw_users.exists():
        with open(w.rw_users, "a", encoding="utf-8") as f:
            f.write("# added by hand with `xmpp-extauth hash`, no @domain: every vhost\n%s:%s\n" % (HASH_USER, digest))
    else:
        ok_all = False
        errors.append("hash: exit %d: %s" % (h.returncode, h.stderr.decode(errors="replace").strip()))
    # As the README shows: the users files belong to the server's user, which needs the
    # directory (owned by it here) for its own locked rewrites.
    for f in (w.rw_users, w.ro_users):
        if f.exists():
            chown_ejabberd(f)
    if not r.check("setup/users-created-with-user-add-and-hash", ok_all, "; ".join(errors)):
        return False
    check_root_left_file_writable(w, r)
    return True


def check_root_left_file_writable(w, r):
    """An admin runs `user add` as root; afterwards the server's user must still be able to
    write the file (setpass, tryregister, removeuser). Probed with the product itself, run
    as the ejabberd user: add and delete a throwaway account."""
    probe = "lockprobe@" + RW_HOST
    as_server = ["runuser", "-u", EJABBERD_USER, "--", str(w.bin)]
    add = subprocess.run(as_server + ["user", "add", probe, "--users-file", str(w.rw_users)],
                         input=b"lock-probe-password\n", capture_output=True, timeout=60)
    delete = subprocess.run(as_server + ["user", "del", probe, "--users-file", str(w.rw_users)],
                            capture_output=True, timeout=60)
    ok = add.returncode == 0 and delete.returncode == 0
    detail = "as %s: user add exit %d (%s), user del exit %d (%s)" % (
        EJABBERD_USER, add.returncode, add.stderr.decode(errors="replace").strip(),
        delete.returncode, delete.stderr.decode(errors="replace").strip())
    if not r.check("setup/server-user-can-write-after-root-user-add", ok, detail):
        # Work around it as an admin would, so the write checks below still run.
        for lock in w.data.glob("*.lock"):
            chown_ejabberd(lock)
        log("workaround: chowned %s to %s" % (sorted(p.name for p in w.data.glob("*.lock")), EJABBERD_USER))


def run_guarded(r, w, body, leftover):
    """Runs body() under the guards both suites share: SIGTERM ends it as an interruption,
    a bug in the suite is a FAIL rather than a traceback that skips cleanup, and the world
    is always stopped, then checked for processes left behind (leftover() lists them)."""
    t0 = time.monotonic()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        body()
    except KeyboardInterrupt as e:
        r.check("suite/interrupted", False, str(e))
    except Exception as e:  # a bug in the suite must still end in cleanup and a FAIL
        import traceback
        traceback.print_exc()
        r.check("suite/unexpected-exception", False, repr(e))
    finally:
        w.stop_everything()
        left = leftover()
        r.check("cleanup/no-process-left", not left, "still running: %s" % left)
        log("runtime %.1f s" % (time.monotonic() - t0))
    return r, w


def finish(r, w, keep):
    """Prints the summary, keeps the work dir when something failed (or when asked), and
    exits 1 on any failure."""
    r.summary()
    if r.failed() or keep:
        print("work dir kept for inspection: %s" % w.work)
    else:
        shutil.rmtree(w.work, ignore_errors=True)
    sys.exit(1 if r.failed() else 0)


def run(args):
    r = Results()
    w = World(args.binary, args.http)
    log("work dir %s, c2s port %d, dist port %d, node %s" % (w.work, w.c2s_port, w.dist_port, w.node))

    def body():
        if not create_users(w, r):
            return
        api_url = None
        if args.http:
            import api_server  # noqa: E402  (only needed for --http)
            w.api = api_server.start({"%s@%s" % (u, HTTP_HOST): p for u, p in HTTP_USERS.items()})
            api_url = w.api.url
        w.write_configs(api_url)
        for conf in sorted(w.etc.glob("*.conf")):
            c = subprocess.run(["runuser", "-u", EJABBERD_USER, "--", str(w.bin), "config", "check", "--config", str(conf)],
                               capture_output=True, timeout=60)
            r.check("setup/config-check-%s" % conf.stem, c.returncode == 0,
                    "exit %d: %s" % (c.returncode, c.stderr.decode(errors="replace").strip()))
        log("starting ejabberd")
        if not r.check("setup/ejabberd-started-with-helpers", w.start(),
                       "see %s (helpers running: %s)" % (w.logs, w.helper_pids())):
            return
        helpers = w.helper_pids()
        log("helpers: %s" % sorted(helpers))
        r.check("setup/one-helper-per-vhost", len(helpers) == w.vhost_count(),
                "expected %d helpers (pool size 1 per vhost), found %s" % (w.vhost_count(), helpers))
        check_logins(w, r)
        check_isuser(w, r)
        check_setpass(w, r)
        check_register(w, r)
        check_removeuser(w, r)
        if args.http:
            check_http(w, r)
        check_health(w, r, helpers)
        check_shutdown(w, r)

    return run_guarded(r, w, body,
                       lambda: {**processes_matching(str(w.work)), **processes_matching(w.node)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the xmpp-extauth executable to test")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    parser.add_argument("--http", action="store_true", help="also run the HTTP-backend vhost")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run.py: must run as root (ejabberdctl runs the node as the ejabberd user)")
    sys.path.insert(0, str(HERE))
    r, w = run(args)
    finish(r, w, args.keep)


if __name__ == "__main__":
    main()
