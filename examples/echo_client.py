"""An Engine.IO client: send a few messages to the echo server and print what comes back.

Run it:  ``python -m examples.echo_client hello world`` (with ``python -m examples.echo_server`` running)
Options: ``--url http://127.0.0.1:5000`` (the server), ``--transport polling|websocket``
(default: start on polling, then upgrade), ``--binary`` (send the messages as bytes).
"""

from __future__ import annotations

import argparse

import trio

import trio_engineio


async def talk(url: str, messages: list[str], *, transports: list[str] | None, binary: bool) -> None:
    """Open a session, send each message, print each echo, close."""
    async with trio_engineio.open_client(url, transports=transports) as conn:
        print(f"connected: sid={conn.sid} transport={conn.transport}", flush=True)
        for text in messages:
            await conn.send(text.encode() if binary else text)
            echo = await conn.receive()  # str for text, bytes for binary: as sent
            print(f"echo: {echo!r} (over {conn.transport})", flush=True)
    # Leaving the block sent CLOSE and stopped every task of the connection.
    print(f"closed: {conn.close_reason}", flush=True)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", nargs="*", default=["hello", "world"])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--transport", choices=["polling", "websocket"], default=None)
    parser.add_argument("--binary", action="store_true", help="send bytes instead of text")
    args = parser.parse_intermixed_args()
    transports = [args.transport] if args.transport else None
    try:
        trio.run(lambda: talk(args.url, args.messages, transports=transports, binary=args.binary))
    except trio_engineio.EngineIOConnectionError as exc:
        raise SystemExit(f"could not connect to {args.url}: {exc}") from None


if __name__ == "__main__":
    main()
