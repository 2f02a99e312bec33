#!/usr/bin/python3
"""A real XMPP client (slixmpp) that performs one operation and reports the outcome as JSON.

Run by run.py, once per operation, so a hung client is killed by a timeout and cannot
disturb the next check:

    xmpp_client.py OP --port PORT --ca CERT.pem  < {"jid": ..., "password": ..., "new_password": ...}

Passwords travel on stdin, never in argv. The one line printed on stdout is
{"outcome": "success" | "refused" | "error", "detail": "..."}:
  success  the server accepted (logged in, password changed, account registered, ...)
  refused  the server said no in the protocol (SASL failure, IQ error)
  error    anything else (timeout, TLS or connection failure): never counts as a refusal,
           so a broken setup cannot pass a "wrong password is refused" check.

Operations, one function each: login, change_password, register, remove_account.
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

# Every operation must finish well within run.py's per-operation timeout.
OP_TIMEOUT = 20


class Outcome(Exception):
    """Raised (or set on a future) to end an operation with a verdict."""

    def __init__(self, outcome, detail=""):
        super().__init__(outcome, detail)
        self.outcome = outcome
        self.detail = detail


def make_client(jid, password, ca_file, plugins=()):
    """A ClientXMPP that verifies the server certificate against our self-signed CA."""
    xmpp = slixmpp.ClientXMPP(jid, password)
    xmpp.ssl_context = ssl.create_default_context(cafile=ca_file)
    # Only PLAIN is offered with external auth; ejabberd offers it only after STARTTLS.
    for plugin in plugins:
        xmpp.register_plugin(plugin)
    return xmpp


async def run_session(xmpp, port, on_session=None):
    """Connect, log in, run `on_session` (an async function of xmpp), disconnect.

    Returns (outcome, detail)."""
    loop = asyncio.get_running_loop()
    verdict = loop.create_future()

    def finish(outcome, detail=""):
        if not verdict.done():
            verdict.set_result((outcome, detail))

    def on_failed_auth(stanza):
        # SASL <failure/>: the server (through the helper) said no.
        finish("refused", "sasl failure: " + str(stanza["condition"]))

    async def on_session_start(_event):
        if on_session is None:
            finish("success", "session started")
            return
        try:
            await on_session(xmpp)
        except Outcome as o:
            finish(o.outcome, o.detail)
        except IqError as e:
            finish("refused", "iq error: " + str(e.iq["error"]["condition"]))
        except IqTimeout:
            finish("error", "iq timeout")
        except Exception as e:  # report, never hang
            finish("error", "exception: %r" % (e,))
        else:
            finish("success", "done")

    xmpp.add_event_handler("failed_auth", on_failed_auth)
    xmpp.add_event_handler("failed_all_auth", lambda _e: finish("refused", "all sasl mechanisms failed"))
    xmpp.add_event_handler("session_start", on_session_start)
    xmpp.add_event_handler("connection_failed", lambda e: finish("error", "connection failed: %s" % (e,)))
    xmpp.add_event_handler("disconnected", lambda _e: finish("error", "disconnected before a verdict"))
    xmpp.add_event_handler("stream_error", lambda e: finish("error", "stream error: %s" % (e,)))

    xmpp.connect(address=("127.0.0.1", port))
    try:
        outcome, detail = await asyncio.wait_for(verdict, OP_TIMEOUT)
    except asyncio.TimeoutError:
        outcome, detail = "error", "timeout after %d s" % OP_TIMEOUT
    xmpp.disconnect(wait=1)
    try:
        await asyncio.wait_for(xmpp.disconnected, 3)
    except (asyncio.TimeoutError, Exception):
        pass
    return outcome, detail


async def login(args, req):
    """SASL PLAIN login with jid/password; success once the session starts."""
    xmpp = make_client(req["jid"], req["password"], args.ca)
    return await run_session(xmpp, args.port)


async def change_password(args, req):
    """Log in, then change the password in-band (XEP-0077 <query><username/><password/>):
    ejabberd sends `setpass` to the helper."""
    xmpp = make_client(req["jid"], req["password"], args.ca, plugins=["xep_0077"])

    async def change(x):
        await x["xep_0077"].change_password(req["new_password"], timeout=OP_TIMEOUT)

    return await run_session(xmpp, args.port, change)


async def remove_account(args, req):
    """Log in, then cancel the account in-band (XEP-0077 <remove/>): ejabberd sends
    `removeuser`. ejabberd closes the stream right after; run.py checks the account state."""
    xmpp = make_client(req["jid"], req["password"], args.ca, plugins=["xep_0077"])

    async def remove(x):
        try:
            await x["xep_0077"].cancel_registration(timeout=5)
        except IqTimeout:
            # ejabberd may close the stream before the result arrives.
            raise Outcome("success", "no iq result (stream closed); verify with check_account")

    return await run_session(xmpp, args.port, remove)


async def register(args, req):
    """In-band registration before login (XEP-0077), then log in with the new account.

    ejabberd sends `isuser` then `tryregister` to the helper.

    Workaround for slixmpp 1.8.3: XMLStream.send() holds back every stanza until the
    session has started (it only lets bind/session IQs through), so the registration IQs,
    which must be sent *before* SASL, would be queued forever and the client would hang.
    Setting the instance flag `_always_send_everything` makes send() pass them through.
    `force_registration` makes the plugin act even though ejabberd advertises the feature
    only as a stream feature it may omit. The "register" event handler then sends the form."""
    xmpp = make_client(req["jid"], req["password"], args.ca, plugins=["xep_0077"])
    if not hasattr(xmpp, "_always_send_everything"):
        return "error", "slixmpp changed: no _always_send_everything; revisit the registration workaround"
    xmpp._always_send_everything = True
    xmpp["xep_0077"].force_registration = True
    registered = {}

    async def on_register(_form):
        iq = xmpp.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = xmpp.boundjid.user
        iq["register"]["password"] = req["password"]
        try:
            await iq.send(timeout=OP_TIMEOUT)
            registered["ok"] = True
        except IqError as e:
            registered["error"] = str(e.iq["error"]["condition"])
            xmpp.disconnect()
        except IqTimeout:
            registered["error"] = "timeout"
            xmpp.disconnect()

    xmpp.add_event_handler("register", on_register)
    outcome, detail = await run_session(xmpp, args.port)
    if "error" in registered:
        if registered["error"] == "timeout":
            return "error", "registration iq timeout"
        return "refused", "registration iq error: " + registered["error"]
    if not registered.get("ok"):
        return "error", "registration was not attempted (%s: %s)" % (outcome, detail)
    # Registered: the login that followed tells whether the new account works.
    return outcome, "registered; login after registration: " + detail


OPS = {f.__name__: f for f in (login, change_password, register, remove_account)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=sorted(OPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="PEM certificate the server must present")
    parser.add_argument("--debug", action="store_true", help="slixmpp debug log on stderr")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL, stream=sys.stderr)
    req = json.loads(sys.stdin.read())
    outcome, detail = asyncio.run(OPS[args.op](args, req))
    print(json.dumps({"outcome": outcome, "detail": detail}), flush=True)


if __name__ == "__main__":
    main()
