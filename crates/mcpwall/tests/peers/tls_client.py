"""TLS for the serve tests: makes a self-signed certificate for localhost and 127.0.0.1, and runs
an MCP session (official Python SDK) over HTTPS trusting only that certificate.

Usage: tls_client.py gen CERT KEY | tls_client.py session URL CERT
"""

import asyncio
import datetime
import ipaddress
import json
import ssl
import sys

from calls import call


def gen(cert_path, key_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


async def session(url, ca):
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    out = {}
    trust = ssl.create_default_context(cafile=ca)
    async with httpx2.AsyncClient(verify=trust, timeout=30) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                out["server"] = init.server_info.name
                out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
                out["add"] = await call(s, "add", {"a": 2, "b": 3})
    print(json.dumps(out))


if sys.argv[1] == "gen":
    gen(sys.argv[2], sys.argv[3])
else:
    asyncio.run(session(sys.argv[2], sys.argv[3]))
