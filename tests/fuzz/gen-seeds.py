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
         b"80 ", b"+80", b"-1", b"0x50", b"8080\n", b"\xff\xfe", b"000080",
         b"0065535"]
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


# fuzz_report: a handle, its checks and heartbeats, the query.
READY, LIVE, STARTUP, NONCRITICAL = 1, 2, 4, 8
HEARTBEAT, CLOCK, OBSERVE, STUCK = 0x10, 0x20, 0x40, 0x80
NOW_MS = 1764297090123
RESULT_PLAIN, RESULT_FORMAT, TIMEOUT, STARVED = 0, 1, 2, 3


def status_byte(st):
    """callback_from_input(): 0..2 as is, -16..15 as 0xf0 + st."""
    return u8(st if 0 <= st <= 2 else 0xF0 + st)


def run_result(st, output=b"", observed=None, unit=b"", took_us=1234,
               gap_ms=0, repeat=False, plain=True):
    out = u8((RESULT_PLAIN if plain else RESULT_FORMAT) | (gap_ms << 2))
    out += status_byte(st) + text(output, repeat=repeat)
    if observed is not None:
        out += f64(observed) + text(unit, 39, repeat=repeat)
    return out + u64((took_us * 1000) << 2)


def run_timeout(late_ms=0, gap_ms=0):
    return u8(TIMEOUT | (gap_ms << 2)) + u8(late_ms)


def run_starved(busy=4, gap_ms=0):
    return u8(STARVED | (gap_ms << 2)) + u8(busy)


def damping(fail_after=0, pass_after=0, fail_ms=0, runs=0):
    return u8(fail_after | (pass_after << 2) | ((fail_ms // 5) << 4) |
              (runs << 6))


def check_runs(nm, flags, runs, observe=False, stuck_ms=None, clock=None,
               damp=None):
    """A check stored with @runs (run_* encodings, at most 3)."""
    b = flags | (OBSERVE if observe else 0)
    b |= STUCK if stuck_ms is not None else 0
    b |= CLOCK if clock is not None else 0
    nm = nm if isinstance(nm, bytes) else name(nm)
    out = u8(b) + nm + (damp or damping(runs=len(runs)))
    if stuck_ms is not None:
        out += u64((stuck_ms * 1000000) << 2)
    out += b"".join(runs)
    if clock is not None and (runs or stuck_ms is not None):
        out += u64(clock)
    return out


def check(nm, flags, state, output=b"", observed=None, unit=b"",
          time_ms=None, duration_us=1234, stuck_ms=None, repeat=False):
    """A check whose last run reported @state (-1: never ran)."""
    runs = []
    if state != -1:
        runs.append(run_result(state, output, observed, unit, duration_us,
                               repeat=repeat))
    return check_runs(nm, flags, runs, observe=observed is not None,
                      stuck_ms=stuck_ms, clock=time_ms)


def heartbeat(nm, age, deadline):
    return u8(HEARTBEAT) + name(nm) + u64(age << 2) + u64(deadline)


def query(ep, details=True, verbose=False, started=True, shutting=False,
          only=None, excludes=()):
    """The query byte and the query's tail, to place around the entries."""
    b = ep | (4 if details else 0) | (8 if verbose else 0)
    b |= (16 if started else 0) | (32 if shutting else 0)
    tail = b""
    if isinstance(only, int):
        b |= 0x40
        tail = u8(only)
    elif only is not None:
        b |= 0x80
        tail = name(only)
    rest = u8(len(excludes)) + tail
    for e in excludes:
        rest += u8(1) + u8(e) if isinstance(e, int) else u8(0) + s(e, 80)
    return u8(b), rest


def infos(*values):
    out = b""
    for v in values + (None,) * (4 - len(values)):
        out += u8(0) if v is None else u8(1) + text(v)
    return out


def report(entries, q, info=(), fail_at=None):
    head, rest = q
    out = head + infos(*info) + u8(len(entries)) + b"".join(entries) + rest
    if fail_at is not None:
        out += struct.pack(">H", fail_at)
    return out


def report_seeds():
    basic = [
        check("postgres", READY, 0, b"connected in 3 ms", 3.0, b"ms"),
        check("cache", READY | NONCRITICAL, 2, HOSTILE[0]),
        check("disk", LIVE | READY, 1, HOSTILE[1], 0.93, b"ratio"),
        check("migrations", STARTUP, 0, b""),
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
    for ep in range(4):
        yield "starting-ep%d" % ep, report(
            basic, query(ep, started=False, verbose=True))
        yield "shutting-ep%d" % ep, report(
            basic, query(ep, shutting=True, verbose=True))
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
         check("neg-time", READY, 2, time_ms=-1),
         check("far-time", READY, 2, time_ms=(1 << 62),
               duration_us=1 << 40),
         check("stuck", READY, 2, b"timed out after 500 ms",
               stuck_ms=123456)],
        query(3, verbose=True))
    yield "runs", report(
        [check_runs("invalid", READY, [run_result(7, b"seven"),
                                       run_result(-1, plain=False)]),
         check_runs("timeouts", LIVE, [run_result(0), run_timeout(3),
                                       run_timeout(250, gap_ms=63)]),
         check_runs("starved", READY, [run_starved(9)]),
         check_runs("damped", READY | STARTUP,
                    [run_result(0), run_result(2), run_result(2)],
                    damp=damping(fail_after=3, pass_after=2, fail_ms=15,
                                 runs=3)),
         check_runs("hung-first", STARTUP, [], stuck_ms=2500),
         check_runs("late-clock", READY, [run_result(1, b"w")],
                    clock=0),
         heartbeat("silent", 1 << 40, 1),
         heartbeat("zero-deadline", 5, 0)],
        query(2, verbose=True, started=False))
    # Big: 64 failing checks with long multi-byte outputs, past 10 KiB,
    # from short inputs (repeated names and outputs).
    mb = "x\u00e9\u20ac\U0001F600".encode()
    big = [check(long_name(ALPHABET[i % 39:i % 39 + 1].decode()) if i < 39
                 else ("c%02d-" % i) + "x" * 58, READY, 2, mb, float(i),
                 b"\xe2\x82\xac", repeat=True)
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
