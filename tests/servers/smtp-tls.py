#!/usr/bin/python3
"""A real SMTP server with TLS for the integration tests (Postfix's smtp-sink has no TLS).

aiosmtpd from Debian's python3-aiosmtpd: one listener that requires STARTTLS before MAIL,
one with TLS from the first byte (SMTPS). Every mail is written as N.eml into --dir. Prints
"ready" once both listen; stops on SIGTERM.

    smtp-tls.py --cert server.pem --key server.key --starttls-port P1 --implicit-port P2 --dir D
"""
import argparse
import asyncio
import itertools
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP


class Save:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, f"{next(self.counter)}.eml")
        with open(path + ".tmp", "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK stored"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--starttls-port", type=int, required=True)
    parser.add_argument("--implicit-port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    handler = Save(args.dir)
    loop = asyncio.get_running_loop()
    starttls = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", tls_context=context, require_starttls=True),
        "127.0.0.1",
        args.starttls_port,
    )
    implicit = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"),
        "127.0.0.1",
        args.implicit_port,
        ssl=context,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await stop.wait()
    starttls.close()
    implicit.close()


asyncio.run(main())
