"""An SMTP server for ottr's end-to-end tests, on aiosmtpd (Debian
python3-aiosmtpd). It keeps every message it accepts as <n>.eml, with the
envelope and how the message came (TLS, the AUTH login) in <n>.json beside
it, and listens on the port it is given until it is stopped.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", choices=["starttls", "tls", "none"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", default="")
    p.add_argument("--password-file", default="")
    args = p.parse_args()

    password = b""
    if args.password_file:
        with open(args.password_file, "rb") as f:
            password = f.read()
    user = args.user.encode()

    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    count = 0

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            nonlocal count
            count += 1
            name = os.path.join(args.maildir, "%06d" % count)
            with open(name + ".eml.tmp", "wb") as f:
                f.write(envelope.original_content)
            login = session.auth_data.login.decode() if session.authenticated else ""
            with open(name + ".json.tmp", "w") as f:
                json.dump({
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "login": login,
                    "tls": server.transport.get_extra_info("ssl_object") is not None,
                }, f)
            # The envelope first, then the message: a reader that sees the
            # .eml finds its .json.
            os.rename(name + ".json.tmp", name + ".json")
            os.rename(name + ".eml.tmp", name + ".eml")
            return "250 2.0.0 Ok: queued as %06d" % count

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and user
                and auth_data.login == user and auth_data.password == password):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def factory():
        return SMTP(
            Handler(),
            hostname="localhost",
            # Implicit TLS wraps the whole connection; aiosmtpd's own
            # STARTTLS context would offer STARTTLS inside it.
            tls_context=context if args.tls == "starttls" else None,
            require_starttls=args.tls == "starttls",
            authenticator=authenticator if user else None,
            auth_required=bool(user),
            # aiosmtpd counts only STARTTLS as TLS; under implicit TLS the
            # connection is encrypted from the first byte.
            auth_require_tls=args.tls == "starttls",
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            factory, "127.0.0.1", args.port,
            ssl=context if args.tls == "tls" else None)
        print("listening on 127.0.0.1:%d" % args.port, flush=True)
        await server.serve_forever()

    try:
        asyncio.run(serve())
    except OSError as e:
        print("smtpd: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
