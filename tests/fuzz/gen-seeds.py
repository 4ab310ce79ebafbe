#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.

The seeds of fuzz_report and fuzz_config are binary: this script is their
source, and encodes them in the layout the targets decode (see the
*_from_input functions of fuzz_report.c and fuzz_config.c).  Run it again
after changing a layout; it rewrites the files named seed-* and crash-*.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789_.-"

# Awkward text: JSON metacharacters, C0 controls, DEL, invalid UTF-8
# (overlong, surrogate, past U+10FFFF, lone continuation, truncated), and
# valid 2-, 3- and 4-byte sequences.
HOSTILE = [
    b'say "hi" \\ back\\slash \\u0000 \\"',
    b"tab\tnewline\ncr\rbell\x07esc\x1b[31mdel\x7f",
    b"overlong \xc0\xaf \xe0\x80\xaf surrogate \xed\xa0\x80 big \xf4\x90\x80\x80",
    b"lone \x80 cont \xbf trunc \xe2\x82 end \xf0\x9f\x98",
    b"caf\xc3\xa9 \xe2\x82\xac100 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf",
    b"\xff\xfe\xfd\xfc\xf8\xf5\xc1\xc2",
    b"</script><script>alert(1)</script>{\"status\":\"pass\"}",
]


def write(target, name, data, prefix="seed-"):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, prefix + name), "wb") as f:
        f.write(data)


def u8(v):
    return bytes([v & 0xFF])


def u64(v):
    return struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF)


def f64(v):
    return struct.pack(">d", v)


def s(b, cap=255):
    b = b[:cap]
    return u8(len(b)) + b


def text(b, cap=255, repeat=False):
    """fuzz_report's text_from_input(): a string, then the repeat flag."""
    return s(b, cap) + u8(1 if repeat else 0)


def name(text):
    """A name that name_from_input() maps back to @text."""
    return u8(len(text) - 1) + bytes(ALPHABET.index(c) for c in text.encode())


def long_name(c):
    """A 63-byte name of one repeated character, from two bytes."""
    return u8(62 | 0x40) + bytes([ALPHABET.index(ord(c))])


# fuzz_route: request paths.
ROUTES = {
    "ready": b"/ready",
    "readyz-db": b"/readyz/db",
    "live-slash": b"/live/",
    "livez": b"/livez",
    "started-check": b"/started/migrations",
    "startedz": b"/startedz",
    "health": b"/health",
    "healthz-check": b"/healthz/postgres.primary-1_a",
    "name-63": b"/ready/" + b"a" * 63,
    "name-64": b"/ready/" + b"a" * 64,
    "double-slash": b"/ready//",
    "nested": b"/ready/a/b",
    "upper": b"/ready/DB",
    "dotdot": b"/../ready",
    "leading-slashes": b"//ready",
    "encoded": b"/ready%2fdb",
    "query": b"/healthz?verbose&exclude=db",
    "suffix": b"/readyzz",
    "prefix-only": b"/rea",
    "utf8": b"/health/caf\xc3\xa9",
    "control": b"/live/\x01\x7f",
    "long": b"/" + b"a" * 4000,
    "long-check": b"/livez/" + b"x" * 4000,
    "empty": b"",
    "nul-inside": b"/ready\x00/db",
}

# fuzz_config: env values.
PORTS = [b"8080", b"99999", b"0", b"65535", b"65536", b"00080", b" 80",
         b"80 ", b"+80", b"-1", b"0x50", b"8080\n", b"\xff\xfe"]
BINDS = [b"::1", b"[::1]", b"127.0.0.1", b"0.0.0.0", b"::", b"[::]",
         b"[::ffff:127.0.0.1]", b"localhost", b"[::1", b"::1]",
         b"1.2.3.4.5", b"fe80::1%eth0", b"[127.0.0.1]", b"01.2.3.4",
         b"[" + b"0000:" * 7 + b"0000]", b"\x01garbage\xff"]
DETAILS = [b"local", b"always", b"never", b"LOCAL", b"loc", b"always ", b""]


def env(value):
    """fuzz_config env selector: None unset, b"" empty, else the value."""
    if value is None:
        return u8(0)
    if value == b"":
        return u8(1)
    return u8(2) + s(value, 64)


def opt_str(value, long_len=None):
    if value is None:
        return u8(0)
    if long_len is not None:
        return u8(1) + u8(0xFF) + u8(long_len - 256) + value[:long_len]
    return u8(1) + s(value)


def config(port=None, bind=None, details=None, port_mode=0, port_raw=0,
           opt_bind=None, opt_details=0, flags=0, scalars=(),
           infos=(None, None, None, None), long_info=None):
    out = env(port) + env(bind) + env(details)
    out += u8(port_mode) + u64(port_raw)
    out += opt_str(opt_bind)
    out += u8(opt_details)
    out += u8(flags)
    mask = 0
    for bit, _ in scalars:
        mask |= 1 << bit
    out += u8(mask)
    for _, v in sorted(scalars):
        out += u64(v)
    for i, v in enumerate(infos):
        out += opt_str(v, long_info if (long_info and i == 0) else None)
    return out


def config_seeds():
    for i, p in enumerate(PORTS):
        yield "port-%02d" % i, config(port=p)
    for i, b in enumerate(BINDS):
        yield "bind-%02d" % i, config(bind=b)
    for i, d in enumerate(DETAILS):
        yield "details-%02d" % i, config(details=d)
    yield "all-env", config(port=b"9090", bind=b"[::1]", details=b"never")
    yield "opt-port", config(port=b"garbage", port_mode=2, port_raw=443)
    yield "opt-port-neg", config(port_mode=3, port_raw=0xFFFFFFFE)
    yield "opt-port-big", config(port_mode=3, port_raw=70000)
    yield "ephemeral", config(port=b"99999", port_mode=1)
    yield "opt-bind", config(bind=b"garbage", opt_bind=b"127.0.0.1")
    yield "opt-bind-empty", config(opt_bind=b"")
    yield "opt-bind-v6", config(opt_bind=b"[fe80::1]")
    yield "opt-details", config(details=b"bad", opt_details=2)
    yield "opt-details-bad", config(opt_details=0xF7)
    yield "flags-bad", config(flags=0xF0) + u64(6)
    yield "scalars", config(scalars=[(0, 250), (1, 10000), (2, 1), (3, 2),
                                     (4, 30), (5, 8192)])
    yield "conn-mem-small", config(scalars=[(5, 4095)])
    yield "infos", config(infos=tuple(HOSTILE[:4]))
    yield "info-255", config(infos=(b"v" * 255, b"", None, b"x"))
    yield "info-256", config(infos=(b"v",), long_info=256) + b"w" * 256
    yield "info-300", config(long_info=300) + b"\x80" * 300


# fuzz_report: snapshots, queries and report strings.
READY, LIVE, STARTUP, NONCRITICAL = 1, 2, 4, 8
HEARTBEAT, PASSED, OBSERVE, STUCK = 0x10, 0x20, 0x40, 0x80
NOW_MS = 1764297090123


def check(nm, flags, state, output=b"", observed=None, unit=b"",
          time_ms=NOW_MS, duration_us=1234, stuck_ms=None, passed=False,
          repeat=False):
    b = flags
    if passed:
        b |= PASSED
    if observed is not None:
        b |= OBSERVE
    if stuck_ms is not None:
        b |= STUCK
    nm = nm if isinstance(nm, bytes) else name(nm)
    out = u8(b) + nm + u8(state + 1)
    if state == -1:
        return out
    out += text(output, repeat=repeat)
    out += f64(observed if observed is not None else 0.0)
    out += text(unit, 31, repeat=repeat) + u64(time_ms) + u64(duration_us)
    if stuck_ms is not None:
        out += u64(stuck_ms)
    return out


def heartbeat(nm, age, deadline, time_ms=NOW_MS):
    return (u8(HEARTBEAT) + name(nm) + u64(age << 1) + u64(deadline) +
            u64(time_ms))


def query(ep, details=True, verbose=False, started=True, shutting=False,
          only=None, excludes=()):
    b = ep | (4 if details else 0) | (8 if verbose else 0)
    b |= (16 if started else 0) | (32 if shutting else 0)
    tail = b""
    if isinstance(only, int):
        b |= 0x40
        tail = u8(only)
    elif only is not None:
        b |= 0x80
        tail = name(only)
    out = u8(b) + u8(len(excludes)) + tail
    for e in excludes:
        out += u8(1) + u8(e) if isinstance(e, int) else u8(0) + s(e, 80)
    return out


def infos(*values):
    out = b""
    for v in values + (None,) * (4 - len(values)):
        out += u8(0) if v is None else u8(1) + text(v)
    return out


def report(entries, q, info=(), fail_at=None):
    out = u8(len(entries)) + b"".join(entries) + q + infos(*info)
    if fail_at is not None:
        out += struct.pack(">H", fail_at)
    return out


def report_seeds():
    basic = [
        check("postgres", READY, 0, b"connected in 3 ms", 3.0, b"ms"),
        check("cache", READY | NONCRITICAL, 2, HOSTILE[0]),
        check("disk", LIVE | READY, 1, HOSTILE[1], 0.93, b"ratio"),
        check("migrations", STARTUP, 0, b"", passed=True),
        check("queue", READY, -1),
        heartbeat("main-loop", 50, 1000),
        heartbeat("worker.1", 5000, 1000),
    ]
    for ep in range(4):
        yield "basic-ep%d" % ep, report(basic, query(ep))
        yield "basic-ep%d-text" % ep, report(
            basic, query(ep, details=False, verbose=True))
    for n in (1, 2, 7, 40):
        yield "oom-%d" % n, report(basic, query(3, verbose=True),
                                   info=(b"1.2.3",), fail_at=n)
    yield "starting", report(basic, query(1, started=False, verbose=True))
    yield "shutting", report(basic, query(1, shutting=True, verbose=True))
    yield "only", report(basic, query(1, only=1))
    yield "only-unknown", report(basic, query(3, only="nosuch"))
    yield "exclude", report(basic, query(3, excludes=[0, 2, b"cache",
                                                      b"\xff\x00x"]))
    yield "hostile", report(
        [check("h%d" % i, READY, i % 3, t, 1e308 if i % 2 else -0.0,
               t[:31]) for i, t in enumerate(HOSTILE)],
        query(3, verbose=True),
        info=(HOSTILE[0], HOSTILE[2], HOSTILE[4], HOSTILE[1]))
    yield "numbers", report(
        [check("nan", READY, 0, observed=float("nan")),
         check("inf", READY, 0, observed=float("-inf")),
         check("tiny", READY, 0, observed=5e-324, unit=b"s"),
         check("big", READY, 0, observed=-1.7976931348623157e308),
         check("neg-time", READY, 2, time_ms=-1, duration_us=-5),
         check("far-time", READY, 2, time_ms=(1 << 62), duration_us=1 << 62),
         check("stuck", READY, 2, b"timed out after 500 ms",
               stuck_ms=123456)],
        query(3, verbose=True))
    # Big: 64 failing checks with long multi-byte outputs, past 10 KiB,
    # from short inputs (repeated names and outputs).
    mb = "x\u00e9\u20ac\U0001F600".encode()
    big = [check(long_name(ALPHABET[i % 39:i % 39 + 1].decode()) if i < 39
                 else ("c%02d-" % i) + "x" * 58, READY, 2, mb, float(i),
                 b"\xe2\x82\xac", stuck_ms=99, repeat=True)
           for i in range(64)]
    yield "big-json", report(big, query(1), info=(mb * 25,) * 4)
    yield "big-text", report(big, query(1, verbose=True))
    yield "big-passing", report(
        [check(("p%02d-" % i) + "y" * 58, READY, 0, b"z", 1.0, b"u",
               repeat=True) for i in range(64)], query(3, verbose=True))


def report_crashes():
    """Inputs that failed a check; kept so the bug stays fixed."""
    # health__report_text() cut a body of more than 10176 bytes to 10176
    # inside a line, gluing the closing line to a partial check line and
    # here also splitting a 2-byte UTF-8 sequence.  38 failing checks,
    # each output "\u00e9" repeated to 255 bytes (the odd last byte becomes
    # "?"): lines of 269 bytes, one of 270, 10223 bytes in all; the cut
    # falls after the first byte of an "\u00e9".
    names = [ALPHABET[i:i + 1].decode() for i in range(37)] + ["zz"]
    names = names[:1] + names[-1:] + names[1:-1]
    yield "text-utf8-cut", report(
        [check(n, READY, 2, "\u00e9".encode(), repeat=True) for n in names],
        query(1, verbose=True))


def main():
    for k, v in ROUTES.items():
        write("fuzz_route", k, v)
    for i, t in enumerate(HOSTILE):
        write("fuzz_sanitize", "hostile-%d" % i, t)
    write("fuzz_sanitize", "all-bytes", bytes(range(1, 256)))
    write("fuzz_sanitize", "empty", b"")
    for k, v in config_seeds():
        write("fuzz_config", k, v)
    for k, v in report_seeds():
        write("fuzz_report", k, v)
    for k, v in report_crashes():
        write("fuzz_report", k, v, prefix="crash-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
