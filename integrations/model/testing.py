"""Sign models for tests and rehearsals: key pairs, a small CA, and ``model-signing``'s signer.

Everything is generated locally with ``cryptography``; nothing reaches Sigstore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """PEM files of an elliptic-curve key pair."""

    private_key: Path
    public_key: Path


@dataclass(frozen=True)
class CertificateSet:
    """A CA and a signing certificate it issued, as PEM files."""

    ca_certificate: Path
    signing_key: Path
    signing_certificate: Path


def write_key_pair(folder: Path, name: str = "signing") -> KeyPair:
    """Generate a P-256 key pair under ``folder`` as ``<name>.key`` and ``<name>.pub``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.key"
    public = folder / f"{name}.pub"
    private.write_bytes(_private_pem(key))
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


def write_certificates(folder: Path, name: str = "ml-release") -> CertificateSet:
    """Generate a CA and a code-signing certificate issued by it under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    leaf = (
        _builder(leaf_name, ca_name, leaf_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = CertificateSet(folder / f"{name}-ca.pem", folder / f"{name}.key", folder / f"{name}.pem")
    files.ca_certificate.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.signing_key.write_bytes(_private_pem(leaf_key))
    files.signing_certificate.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return files


def sign_with_key(model: Path, signature: Path, private_key: Path) -> None:
    """Sign ``model`` in key mode, leaving the signature file itself out of what is signed."""
    from model_signing import hashing, signing

    config = signing.Config().use_elliptic_key_signer(private_key=private_key)  # type: ignore[no-untyped-call]
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=_ignored(model, signature)))  # type: ignore[no-untyped-call]
    config.sign(model, signature)


def sign_with_certificate(model: Path, signature: Path, certificates: CertificateSet) -> None:
    """Sign ``model`` in certificate mode with the signing certificate of ``certificates``."""
    from model_signing import hashing, signing

    config = signing.Config().use_certificate_signer(  # type: ignore[no-untyped-call]
        private_key=certificates.signing_key,
        signing_certificate=certificates.signing_certificate,
        certificate_chain=[certificates.ca_certificate],
    )
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=_ignored(model, signature)))  # type: ignore[no-untyped-call]
    config.sign(model, signature)


def _ignored(model: Path, signature: Path) -> list[Path]:
    try:
        return [signature.resolve().relative_to(model.resolve())] if model.is_dir() else []
    except ValueError:
        return []


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
