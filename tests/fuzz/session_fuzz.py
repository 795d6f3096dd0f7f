#!/usr/bin/env python3
"""session_fuzz - fuzz a running routerd's SMTP session with byte streams.

The parser fuzzers (fuzz-smtpcmd, fuzz-dotstream) test one grammar each;
this one tests the session: random batches of pipelined commands, BDAT
chunks that the server accepts or refuses (out of sequence, no valid
recipient, bad syntax after the size), chunks stuffed with commands,
garbage, NUL bytes, bare CR/LF and over-long lines, sent in random pieces.

The invariant (DESIGN.md invariant 7) is checked by counting: every line
the client sends as a command, and every BDAT with its chunk, earns
exactly one reply; a batch is closed by HELP, whose 214 (or 503 while a
BDAT transfer is under way) must be the next reply after the batch's own,
and a session by RSET, HELP and silence. A chunk whose bytes ran as commands shows up
as extra replies (the chunks are mostly NOOPs, RSETs and transactions), a
closed connection or a wrong count. Every reply but EHLO's must carry an
enhanced status code; routerd must stay up.

Used by tests/integration/test_smtp_adversarial.py for a few seconds with
a fixed seed; run it longer on demand against a lab routerd:

    python3 tests/fuzz/session_fuzz.py --port 2525 --rcpt user@dirmx.test \
        --seconds 600 --seed 7
"""

import argparse
import random
import re
import socket
import time

CHUNK_LINES = [
    b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n", b"EHLO inside.example\r\n",
    b"MAIL FROM:<in@example.org>\r\n", b"RCPT TO:<%(rcpt)s>\r\n", b"DATA\r\n",
    b"BDAT 5 LAST\r\n", b".\r\n", b"Subject: x\r\n", b"\r\n", b"\x00\x00\r\n",
    b"bare\nLF\n", b"bare\rCR\r", b"\xff\xfe\xc3\x28\r\n",
]

ENH = re.compile(rb"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}")


class Violation(Exception):
    pass


class Conn:
    def __init__(self, port, host, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def send_pieces(self, data, rng):
        """Send data in random pieces, sometimes with tiny pauses."""
        i = 0
        while i < len(data):
            n = rng.choice([len(data), 1, 3, 17, 200, 4096])
            self.sock.sendall(data[i:i + n])
            i += n
            if rng.random() < 0.05:
                time.sleep(0.002)

    def reply(self):
        """One whole reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise Violation("connection closed; replies so far %r" % lines)
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\r\n")
            if len(line) < 3 or not line[:3].isdigit():
                raise Violation("malformed reply line %r" % line)
            lines.append(line)
            if len(line) == 3 or line[3:4] == b" ":
                return int(line[:3]), lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def chunk_bytes(rng, rcpt):
    parts = [rng.choice(CHUNK_LINES) for _ in range(rng.randint(0, 12))]
    data = b"".join(parts).replace(b"%(rcpt)s", rcpt.encode())
    if rng.random() < 0.2:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if rng.random() < 0.05:
        data += b"A" * rng.randint(990, 3000) + b"\r\n"
    return data


def command(rng, rcpt, state):
    """One command: (bytes to send, kind). Each earns exactly one reply."""
    r = rng.random()
    if r < 0.30:
        size_ok = rng.random() < 0.9
        chunk = chunk_bytes(rng, rcpt)
        last = rng.random() < 0.4
        tail = rng.choice([b"", b"", b" LAST" if last else b"", b" junk", b" LAST x"])
        if not size_ok:
            return None
        return (b"BDAT %d%s\r\n" % (len(chunk), tail) + chunk, "bdat")
    if r < 0.42:
        return (b"MAIL FROM:<f%d@example.org>\r\n" % rng.randrange(1000), "cmd")
    if r < 0.55:
        who = rcpt.encode() if rng.random() < 0.6 else b"nobody-%d@dirmx.test" % rng.randrange(9)
        return (b"RCPT TO:<%s>\r\n" % who, "cmd")
    if r < 0.62:
        return (b"RSET\r\n", "cmd")
    if r < 0.68:
        return (b"NOOP\r\n", "cmd")
    if r < 0.72:
        return (b"EHLO fuzz.example\r\n", "ehlo")
    if r < 0.78:
        return (b"VRFY someone\r\n", "cmd")
    if r < 0.84:
        junk = bytes(rng.choice(b"ABCXYZ \x00\x01\xff\t:<>@") for _ in range(rng.randint(1, 40)))
        return (junk.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n", "cmd")
    if r < 0.88:
        return (b"X" * rng.randint(513, 2500) + b"\r\n", "cmd")
    if r < 0.92:
        return (b"MAIL FROM:<a@example.org> SIZE=%d\r\n" % rng.randrange(10**9), "cmd")
    return (b"RCPT TO:<postmaster>\r\n", "cmd")


def one_session(port, host, rng, rcpt, stats, timeout, deadline):
    c = Conn(port, host, timeout)
    try:
        code, _ = c.reply()
        if code != 220:
            raise Violation("greeting %d" % code)
        c.sock.sendall(b"EHLO fuzz.example\r\n")
        c.reply()
        for _ in range(rng.randint(1, 15)):
            if time.monotonic() > deadline:
                break
            batch, kinds = [], []
            for _ in range(rng.randint(1, 8)):
                cmd = command(rng, rcpt, stats)
                if cmd is None:
                    continue
                batch.append(cmd[0])
                kinds.append(cmd[1])
            batch.append(b"HELP\r\n")
            c.send_pieces(b"".join(batch), rng)
            for kind in kinds:
                code, lines = c.reply()
                if code == 214:
                    raise Violation("HELP answered early: a reply is missing (%s)" % kinds)
                if code == 421:
                    raise Violation("session closed: %r" % lines)
                if kind != "ehlo" and not ENH.match(lines[-1]):
                    raise Violation("no enhanced status code: %r" % lines)
                if kind == "bdat":
                    stats["chunks"] += 1
                    if code >= 400:
                        stats["refused_chunks"] += 1
                stats["replies"] += 1
            code, lines = c.reply()
            # HELP is refused while a BDAT transfer is under way.
            if code != 214 and lines != [b"503 5.5.1 BDAT transfer in progress"]:
                raise Violation("extra reply %r where HELP's 214 was due: a payload ran "
                                "as commands (batch %r)" % (lines, b"".join(batch)[:300]))
        # The end: nothing may be left over.
        c.sock.sendall(b"RSET\r\nHELP\r\n")
        if c.reply()[0] != 250 or c.reply()[0] != 214:
            raise Violation("RSET, HELP not answered 250, 214")
        c.sock.settimeout(0.05)
        try:
            extra = c.sock.recv(4096)
        except socket.timeout:
            extra = b""
        if extra or c.buf:
            raise Violation("replies nobody asked for: %r" % (c.buf + extra))
        stats["sessions"] += 1
    finally:
        c.close()


def run(port, seconds=5.0, seed=1, rcpt="user00001@dirmx.test", host="127.0.0.1",
        timeout=10.0):
    rng = random.Random(seed)
    stats = {"sessions": 0, "chunks": 0, "refused_chunks": 0, "replies": 0,
             "violations": []}
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            one_session(port, host, rng, rcpt, stats, timeout, deadline)
        except (Violation, OSError) as e:
            stats["violations"].append("session %d (seed %d): %s" % (n, seed, e))
            if len(stats["violations"]) >= 5:
                break
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--rcpt", required=True, help="a recipient the server accepts")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    stats = run(a.port, a.seconds, a.seed, a.rcpt, a.host)
    print(stats)
    raise SystemExit(1 if stats["violations"] else 0)


if __name__ == "__main__":
    main()
