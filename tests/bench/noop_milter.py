#!/usr/bin/env python3
"""A no-op mail filter for the bench (--milter noop): milter version 6,
asks for every step and answers each with CONTINUE, changes nothing.

    python3 noop_milter.py PORT     (listens on 127.0.0.1:PORT until killed)

One asyncio process of its own, so its cost is the same for every MTA it
serves and does not share the harness's interpreter.
"""

import asyncio
import struct
import sys

CONTINUE = struct.pack(">I", 1) + b"c"
# no replies expected to these: macros, abort, quit
SILENT = {b"D", b"A", b"Q", b"K"}


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readexactly(4)
            (n,) = struct.unpack(">I", head)
            data = await reader.readexactly(n)
            cmd = data[:1]
            if cmd == b"O":
                writer.write(struct.pack(">I", 13) + b"O" + struct.pack(">III", 6, 0, 0))
            elif cmd == b"Q":
                break
            elif cmd not in SILENT:
                writer.write(CONTINUE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
