#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the inputs of the unit tests.

Seeds are generated, not committed: run this before fuzzing (fuzz/run.sh does). The
corpus directories are also where libFuzzer keeps what it finds (git-ignored). Inputs
that once found a bug live in tests/fuzz_regressions/<target>/ (committed, replayed by
`cargo test`) and are copied in as seeds too.

Scenario encoding (fuzz/src/lib.rs, Scenario::from_bytes): [flags, n, len_1..len_n, stream].
"""

import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INFLATE = 0xFE

# Request payloads from src/request.rs and src/serve.rs tests, plus PROTOCOLS.md §6 edge cases.
PAYLOADS = [
    b"auth:alice:example.org: pa:ss:w ",
    b"auth:u:h:p", b"isuser:u:h", b"setpass:u:h:p", b"tryregister:u:h:p",
    b"removeuser:u:h", b"removeuser3:u:h:p",
    b"", b"certauth:u:h:x", b"AUTH:u:h:p", b"auth", b"auth:u:h", b"auth:u", b"auth:u:h:",
    b"auth::h:p", b"auth:u::p", b"isuser:u", b"isuser:u:", b"isuser:u:h:extra",
    b"removeuser:u:h:p", b"auth:\xff\x00:h\x00:p\x00w\xfe", b"auth:alice:example.org:hunter2",
    b"auth:good:h:pw", b"auth:good:h:ypw", b"auth:good:h:upw", b"isuser:yes:h", b"isuser:u:h",
    b"auth:j\xc3\xb6rg:example.org:\xe2\x82\xac uro", b"setpass:good:h:new\nline",
    b"auth:good:h:" + b"y" * 1500,
]

GENERIC_STREAMS = [
    b"auth:a:b:c\nisuser:a:b\r\n\nfoo\n",
    b"auth:a:b:c\r\r\n",
    b"auth:alice:example.org:pa:ss\n",
    b"auth:good:h:pw\nauth:good:h:pw2\nisuser:good:h\nisuser:bad:h\n",
    b"certauth:x:y\nauth:down:h:x\n",
    b"auth:good:h:pw\nauth:good:h",
    b"\nauth:good:h:\nauth:go\x00od:h:pw\n\xff\xfe\nauth:good:h:ypw\r\n",
    b"isuser:good:h\nisuser:x:h\nisuser:yes:h\n",
    b"".join(p + b"\n" for p in PAYLOADS if b"\n" not in p),
]


def frame(payload):
    return struct.pack(">H", len(payload)) + payload


EJABBERD_STREAMS = [
    b"\x00\x0aauth:a:b:c\x00\x00\x00\x0aisuser:a:b",
    frame(b"auth:a:b:c") + b"\x00\x00\x01",
    frame(b"auth:alice:example.org:secret"),
    b"\x00\x0eauth:good:h:pw\x00\x00\x00\x0disuser:good:h\x00\x0fauth:good:h:pwX",
    b"\x00\x00\x00\x03abc\x00\x0eauth:good:h:pw",
    b"".join(frame(p) for p in PAYLOADS if p),
    b"\x80\x01" + b"x" * 16,
    b"\xff\xff" + b"auth:u:h:",
]


def scenario(stream, lens=(), inflate=False, extra_bits=0):
    flags = (1 if inflate else 0) | (extra_bits << 1)
    return bytes([flags, len(lens)]) + bytes(lens) + stream


def long_line_scenarios(ejabberd):
    """The MAX_LINE / frame-size tests, in inflated form (INFLATE k = (k+1)*512 bytes)."""
    if ejabberd:
        # a frame of 0x8001 bytes (length read unsigned), and the largest frame, 65535 bytes
        big = b"\x80\x01y" + bytes([INFLATE, 63]) + frame(b"isuser:a:b")
        mx = b"\xff\xff" + bytes([INFLATE, 126]) + b"z" * 511 + frame(b"isuser:a:b")
        return [big, mx]
    return [
        bytes([INFLATE, 255]) + b"\nisuser:a:b\n",  # 128 KiB line then a request
        b"auth:u:h:y" + bytes([INFLATE, 127]) + b"\r\n",  # just over 64 KiB
        bytes([INFLATE, 127]) + b"\r\n",  # exactly 64 KiB + CR LF: accepted
        bytes([INFLATE, 127]) + b"x\n",  # 64 KiB + 1: too long
    ]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    chunkings = [(), (0,), (1, 4), (13, 0, 255), (7,)]
    for target, streams, ej in [
        ("decode_generic", GENERIC_STREAMS, False),
        ("decode_ejabberd", EJABBERD_STREAMS, True),
    ]:
        for i, s in enumerate(streams):
            for j, lens in enumerate(chunkings):
                write(target, f"unit_{i}_{j}", scenario(s, lens))
        for i, s in enumerate(long_line_scenarios(ej)):
            write(target, f"long_{i}", scenario(s, (0, 200), inflate=True))
    # serve_stream: extra bits 0 = auto, 1 = generic, 2 = ejabberd.
    for i, s in enumerate(GENERIC_STREAMS):
        for bits in (0, 1):
            write("serve_stream", f"generic_{i}_{bits}", scenario(s, (3, 0, 17), extra_bits=bits))
    for i, s in enumerate(EJABBERD_STREAMS):
        for bits in (0, 2):
            write("serve_stream", f"ejabberd_{i}_{bits}", scenario(s, (1,), extra_bits=bits))
    write("serve_stream", "forced_wrong_protocol", scenario(b"auth:good:h:pw\n", extra_bits=2))
    for i, p in enumerate(PAYLOADS):
        write("request_parse", f"unit_{i}", p)
    for name, data in extra_seeds().items():
        target, leaf = name.split("/", 1)
        write(target, leaf, data)
    # Inputs that once found bugs are seeds too.
    reg = os.path.join(ROOT, "tests", "fuzz_regressions")
    if os.path.isdir(reg):
        for target in os.listdir(reg):
            for leaf in os.listdir(os.path.join(reg, target)):
                os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
                shutil.copy(os.path.join(reg, target, leaf), os.path.join(HERE, "corpus", target, "reg_" + leaf))


def extra_seeds():
    """Seeds of the targets added after the first merge (hash, users file, config, HTTP)."""
    seeds = {}
    sample = os.path.join(ROOT, "packaging", "xmpp-extauth.conf")
    if os.path.exists(sample):
        with open(sample, "rb") as f:
            seeds["config_parse/sample_conf"] = f.read()
    configs = [
        b"backend = http\nhttp_url = https://api.example.org/auth\nhttp_auth_credentials = svc:s3cret:x\n",
        b'http_auth_credentials = "svc:pa ss"\ncache_ttl = 60\ncache_grace = 300\n',
        b"backend = http\nhttp_url = http://h/\nhttp_proxy = http://u:pw@proxy:3128\n",
        b"http_proxy = http://u:pa/ss@proxy:3128\n",
        b"protocol = generic\nusers_file = /etc/xmpp-extauth/users\nallow_writes = yes\n",
        b"hash_scheme = sha256-crypt\nhash_rounds = 1000000\ndeadline_ms = 4500\nread_timeout = 1.5\n",
        b"log = file:/var/log/x.log\nlog_level = debug\n# comment\n\r\n",
        b"http_connect_timeout_ms = 5000\ndeadline_ms = 100\n",
        b"users-file = /x\n", b"protocol = generic # trailing\n", b"=x\n", b"\xff = 1\n",
        b"protocol = auto\nprotocol = auto\n", b'users_file = "/a"b"\n',
        b"http_client_cert = /c.pem\n", b"http_auth_credentials = u:p\nhttp_auth_credentials_file = /nonexistent\n",
    ]
    argvs = [b"", b"--protocol\0generic", b"--http-proxy=http://u:pw@p:1\0config\0check",
             b"--http-auth-credentials\0u:p", b"user\0add\0alice@example.org", b"-c\0/etc/passwd"]
    for i, c in enumerate(configs):
        seeds[f"config_parse/unit_{i}"] = c
        for j, a in enumerate(argvs):
            if a:
                seeds[f"config_parse/unit_{i}_argv_{j}"] = c + b"\0\0" + a
    # hash_parse_verify: stored \n password [\n mutation], from Drepper's vectors and the
    # hash unit tests' refusals.
    vectors = [
        (b"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", b"Hello world!"),
        (b"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", b"Hello world!"),
        (b"$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5", b"This is just a test"),
        (b"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.", b"the minimum number is still observed"),
        (b"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", b"the minimum number is still observed"),
        (b"{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", b"Hello world!"),
        (b"{PLAIN}hunter2", b"hunter2"), (b"{PLAIN}a:b c", b"a:b"),
    ]
    refused = [b"$6$rounds=2000000$saltstring$hunter2", b"$6$rounds=1000001$ab", b"$5$rounds=10$roundstoolow",
               b"$6$ROUNDS=2000$x", b"$6$ab$whatever", b"$6$", b"$6$$", b"$5$rounds=1000$ab$", b"{PLAIN}",
               b"{SHA256-CRYPT}$6$ab$x", b"$2b$10$abcdefghijklmnopqrstuu", b"$6$rounds=01000$ab$x",
               b"$6$rounds=99999999999999999999999$ab$x"]
    for i, (h, pw) in enumerate(vectors):
        seeds[f"hash_parse_verify/vector_{i}"] = h + b"\n" + pw
        seeds[f"hash_parse_verify/vector_{i}_wrong"] = h + b"\n" + pw + b"x\n" + bytes([i * 7, ord(".")])
    for i, h in enumerate(refused):
        seeds[f"hash_parse_verify/refused_{i}"] = h + b"\npassword"
    # users_file_parse: users files like the file backend's tests.
    h6 = vectors[1][0]
    users = [
        b"alice@example.org:{PLAIN}secret\nbob:{PLAIN}pw\n# comment\n\nbob@example.org:" + h6 + b"\n",
        b"Carol@Example.ORG:{PLAIN}x\r\ncarol@example.org:{PLAIN}y\n",
        b"dave@d:$6$rounds=2000000$saltstring$hunter2\ndave:{PLAIN}fallback\n",
        b"eve@e:broken\neve:{PLAIN}e\n",
        b"j\xc3\xb6rg@example.org:{PLAIN}\xe2\x82\xac\n\xff\xfe:{PLAIN}x\na b:{PLAIN}x\na@b@c:{PLAIN}x\n@d:{PLAIN}x\nu@:{PLAIN}x\n",
        b"\xe2\x84\xaa@kelvin:{PLAIN}k\nk@kelvin:{PLAIN}other\n",
        b"x" * 9000 + b":{PLAIN}long\nshort:{PLAIN}s",
        b"f@f:" + vectors[2][0] + b"\nf@f:{PLAIN}second\n",
    ]
    for i, u in enumerate(users):
        seeds[f"users_file_parse/unit_{i}"] = u
    # http_verdict: [method, status hi, status lo, body]
    for m in range(5):
        for st, body in [(200, b"true"), (200, b" false\r\n"), (200, b"TRUE"), (201, b""), (204, b""),
                         (301, b"true"), (404, b""), (409, b""), (500, b"true"), (501, b""), (200, b"\xc2\xa0true")]:
            seeds[f"http_verdict/m{m}_{st}_{len(body)}"] = bytes([m]) + struct.pack(">H", st) + body
    return seeds


if __name__ == "__main__":
    sys.exit(main())
