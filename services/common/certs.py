"""A local certificate authority for development and tests (`make certs`).

    python -m services.common.certs --out certs --tenant acme --tenant globex

writes, in --out:
    ca.pem, ca-key.pem              the CA
    services.pem, services-key.pem  one certificate for every service: server
                                    and client use, named localhost, 127.0.0.1,
                                    codeact-<service> and CN=codeact-services
    <tenant>.pem, <tenant>-key.pem  a client certificate per tenant, CN=<tenant>
                                    and SAN spiffe://codeact/tenant/<tenant>
    tenants.toml                    the certificate subjects to paste into the
                                    tenants file

Production certificates come from the operator's PKI (cert-manager, a
service mesh); nothing here is meant for them. Needs the `cryptography`
package (a development dependency).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICES = ("agent", "planner", "policy", "executor", "memory")
SERVICES_CN = "codeact-services"


@dataclass(frozen=True)
class Issued:
    cert: bytes
    key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalCA:
    def __init__(self, days: int = 365, name: str = "codeact development CA") -> None:
        self.days = days
        self.key = _key()
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        uris: tuple[str, ...] = (),
        server: bool = False,
    ) -> Issued:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        names += [x509.UniformResourceIdentifier(u) for u in uris]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))

    def services(self, extra_dns: tuple[str, ...] = ()) -> Issued:
        dns = ("localhost", SERVICES_CN, *(f"codeact-{s}" for s in SERVICES), *extra_dns)
        return self.issue(SERVICES_CN, dns=dns, ips=("127.0.0.1", "::1"), server=True)

    def tenant(self, tenant: str) -> Issued:
        return self.issue(tenant, uris=(tenant_uri(tenant),))


def tenant_uri(tenant: str) -> str:
    return f"spiffe://codeact/tenant/{tenant}"


def write(out: Path, tenants: list[str], days: int = 365) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ca = LocalCA(days)

    def save(name: str, issued: Issued) -> None:
        (out / f"{name}.pem").write_bytes(issued.cert)
        key = out / f"{name}-key.pem"
        key.write_bytes(issued.key)
        key.chmod(0o600)

    (out / "ca.pem").write_bytes(ca.pem)
    (out / "ca-key.pem").write_bytes(_pem_key(ca.key))
    (out / "ca-key.pem").chmod(0o600)
    save("services", ca.services())
    lines = []
    for tenant in tenants:
        save(tenant, ca.tenant(tenant))
        lines.append(f'[tenants.{tenant}]\ncertificates = ["{tenant_uri(tenant)}"]\n')
    (out / "tenants.toml").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="certs", help="directory to write (default: certs)")
    parser.add_argument("--tenant", action="append", default=[], help="a tenant (repeatable)")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    tenants = args.tenant or ["acme", "globex"]
    write(Path(args.out), tenants, args.days)
    print(f"wrote a CA, the services' certificate and {len(tenants)} tenant ones to {args.out}/")


if __name__ == "__main__":
    main()
