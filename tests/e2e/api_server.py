"""A tiny mod_auth_http-style API (PROTOCOLS.md section 5) for the HTTP-backend checks.

GET <base>/check_password?user=&server=&pass=  -> 200 "true" / "false"
GET <base>/user_exists?user=&server=           -> 200 "true" / "false"
Anything else (set_password, register, remove_user) -> 501 Not Implemented.

Accounts come from a dict {"user@server": "password"}. Runs in a daemon thread of run.py on
127.0.0.1 and an ephemeral port. Passwords are never logged (the request line carries one).
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BASE = "/auth"


class Api:
    def __init__(self, accounts):
        self.accounts = dict(accounts)
        self.requests = []  # (method name, user, server): no passwords
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):  # the default logs the query string (with pass=)
                pass

            def reply(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True, encoding="utf-8").items()}
                method = url.path[len(BASE) + 1:] if url.path.startswith(BASE + "/") else ""
                key = "%s@%s" % (q.get("user", ""), q.get("server", ""))
                api.requests.append((method, q.get("user"), q.get("server")))
                if method == "check_password":
                    ok = key in api.accounts and api.accounts[key] == q.get("pass")
                elif method == "user_exists":
                    ok = key in api.accounts
                else:
                    return self.reply(501)
                self.reply(200, b"true" if ok else b"false")

            def do_POST(self):
                self.reply(501)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d%s" % (self.server.server_address[1], BASE)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def shutdown(self):
        self.server.shutdown()
        self.server.server_close()


def start(accounts):
    api = Api(accounts)
    api.thread.start()
    return api
