"""A TCP forwarder for outage tests: ``python tests/ray/tcp_proxy.py LISTEN_PORT TARGET_PORT``
passes every connection to 127.0.0.1:LISTEN_PORT on to 127.0.0.1:TARGET_PORT.

Killing the process is the outage: open connections drop and new ones are refused, while
the server behind it (and everything it stores) lives on. Starting it again on the same
port ends the outage.
"""

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen: int, target: int) -> None:
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
    print(f"forwarding 127.0.0.1:{listen} to 127.0.0.1:{target}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
