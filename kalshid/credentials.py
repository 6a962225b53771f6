"""Load the Kalshi API private key once, safely, and make new key pairs.

Where the key comes from, first match wins:

1. ``exchange.private_key_path`` (``KALSHI_PRIVATE_KEY_PATH``);
2. ``$CREDENTIALS_DIRECTORY/kalshi.pem`` (systemd ``LoadCredential=kalshi.pem:...``).

The passphrase of an encrypted key comes from ``exchange.private_key_passphrase``
(``KALSHI_PRIVATE_KEY_PASSPHRASE``) or ``$CREDENTIALS_DIRECTORY/kalshi.pem.pass``. Kalshi API keys are
RSA (at least 2048 bits; PKCS#1 ``BEGIN RSA PRIVATE KEY`` as Kalshi issues them, or PKCS#8) or Ed25519
(PKCS#8); both sign the same request text. A key file that group or others can
access is refused with the exact ``chmod 600`` fix. Every failure is a :class:`CredentialError`
subclass whose message names the file and never contains key material.
"""

import os
import re
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshid.config.schema import ExchangeConfig
from kalshid.exchange.kalshi.auth import PrivateKey, Signer

CREDENTIAL_KEY_NAME = "kalshi.pem"
CREDENTIAL_PASS_NAME = "kalshi.pem.pass"


class CredentialError(Exception):
    """The credentials could not be used. The message says what is wrong and how to fix it."""


class KeyFileMissing(CredentialError):
    """The configured key file does not exist."""


class KeyFileUnreadable(CredentialError):
    """The key file exists but cannot be read (permissions, a directory, an I/O error)."""


class KeyFileInsecure(CredentialError):
    """Group or others can access the key file; ``fix`` is the command that repairs it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class KeyNotPem(CredentialError):
    """The file is not a PEM private key (or is a malformed one, or a public key)."""


class KeyTypeUnsupported(CredentialError):
    """The file is a private key, but neither RSA of at least 2048 bits nor Ed25519."""


KEY_TYPES = ("rsa", "ed25519")
MIN_RSA_BITS = 2048


class KeyPassphraseError(CredentialError):
    """The key is encrypted and no passphrase was given, the passphrase is wrong, or one was given for a
    key that is not encrypted."""


class ApiKeyMissing(CredentialError):
    """A private key was given without the API key id (or the other way round)."""


@attrs.frozen
class KeySource:
    """Where the private key and its passphrase come from (the passphrase itself is never shown)."""

    path: Path
    passphrase: bytes | None = attrs.field(repr=False)
    passphrase_origin: str | None


def find_key_source(exchange: ExchangeConfig, environ: Mapping[str, str]) -> KeySource | None:
    """The configured key file and passphrase, or None when no private key is configured at all."""
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if exchange.private_key_path:
        path = Path(exchange.private_key_path).expanduser()
    elif cred_dir and (Path(cred_dir) / CREDENTIAL_KEY_NAME).exists():
        path = Path(cred_dir) / CREDENTIAL_KEY_NAME
    else:
        return None
    if exchange.private_key_passphrase:
        return KeySource(path, exchange.private_key_passphrase.encode(), "exchange.private_key_passphrase")
    pass_file = Path(cred_dir) / CREDENTIAL_PASS_NAME if cred_dir else None
    if pass_file is not None and pass_file.exists():
        try:
            # A trailing newline is how editors and `systemd-creds encrypt` leave a one-line file.
            return KeySource(path, pass_file.read_bytes().rstrip(b"\r\n"), str(pass_file))
        except OSError as exc:
            raise KeyFileUnreadable(f"cannot read the passphrase file {pass_file}: {exc.strerror}") from None
    return KeySource(path, None, None)


def check_permissions(path: Path) -> None:
    """Refuse a key file that group or others can read, write or execute."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        fix = f"chmod 600 {path}"
        raise KeyFileInsecure(
            f"private key {path} is accessible by group or others (mode {mode:04o}); "
            f"refusing to use it. Fix: {fix}",
            fix,
        )


MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM private key is a few KiB; anything larger is not one
MIN_RSA_BITS = 2048
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def read_key_file(path: Path) -> bytes:
    """The bytes of a key file that is a regular file of at most :data:`MAX_KEY_FILE_BYTES` (never a
    device, FIFO or socket, which could be read without end)."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileUnreadable(f"private key path {path} is not a regular file; point it at the PEM file")
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyNotPem(f"{path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a PEM private key")
    return data


def check_key_strength(key: object, path: Path) -> None:
    """Refuse an RSA key shorter than :data:`MIN_RSA_BITS` bits (other key types are not judged here)."""
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise KeyTypeUnsupported(f"private key {path} is RSA-{key.key_size}; at least RSA-{MIN_RSA_BITS} is "
                                 "required (make a new key on Kalshi, or `kalshid keygen` for the simulator)")


def check_key_id(key_id: str) -> None:
    """Refuse an API key id that is not shaped like Kalshi's (a UUID, ``8-4-4-4-12`` hex digits)."""
    if not _KEY_ID.fullmatch(key_id):
        raise ApiKeyMissing("exchange.api_key (KALSHI_API_KEY) does not look like a Kalshi API key id (a UUID "
                            "such as 0b5a1f2e-1111-4222-8333-444455556666); copy it from Kalshi's API keys page")


def load_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read and parse an RSA or Ed25519 private key PEM (PKCS#8 or PKCS#1, optionally encrypted).

    Raises the :class:`CredentialError` subclass that matches what is wrong.
    """
    try:
        check_permissions(path)
        data = read_key_file(path)
    except FileNotFoundError:
        raise KeyFileMissing(f"private key file not found: {path}") from None
    except IsADirectoryError:
        raise KeyFileUnreadable(f"private key path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise KeyFileUnreadable(f"cannot read private key {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise KeyNotPem(f"{path} is not a PEM file (expected '-----BEGIN PRIVATE KEY-----' "
                        "or '-----BEGIN RSA PRIVATE KEY-----')")
    if b"PRIVATE KEY-----" not in data:
        raise KeyNotPem(f"{path} holds no private key (a public key or certificate?); "
                        "Kalshi needs the private key PEM")
    encrypted = b"ENCRYPTED" in data  # PKCS#8 "ENCRYPTED PRIVATE KEY" or PKCS#1 "Proc-Type: 4,ENCRYPTED"
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise KeyPassphraseError(
                f"private key {path} is encrypted: set KALSHI_PRIVATE_KEY_PASSPHRASE or provide the "
                f"systemd credential {CREDENTIAL_PASS_NAME}") from None
        raise KeyPassphraseError(
            f"a passphrase was given but private key {path} is not encrypted; remove the passphrase"
        ) from None
    except ValueError:
        if encrypted and passphrase is not None:
            raise KeyPassphraseError(f"wrong passphrase for private key {path}") from None
        raise KeyNotPem(f"{path} is a malformed or unsupported PEM private key") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for exotic key types
        raise KeyNotPem(f"{path} holds an unsupported private key ({type(exc).__name__})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "") or "unknown"
        raise KeyTypeUnsupported(f"private key {path} is neither RSA nor Ed25519 (found {kind}); "
                                 "Kalshi API keys are RSA or Ed25519")
    check_key_strength(key, path)
    return key


def load_signer(exchange: ExchangeConfig, environ: Mapping[str, str] | None = None) -> Signer | None:
    """The request signer for the configured API key, or None when no credentials are configured.

    An API key id without a private key (or a key without an id) is an :class:`ApiKeyMissing` error:
    half a credential is always a mistake.
    """
    environ = os.environ if environ is None else environ
    source = find_key_source(exchange, environ)
    if source is None and not exchange.api_key:
        return None
    if source is None:
        raise ApiKeyMissing(
            "exchange.api_key (KALSHI_API_KEY) is set but no private key is configured: set "
            f"KALSHI_PRIVATE_KEY_PATH or provide the systemd credential {CREDENTIAL_KEY_NAME}"
        )
    if not exchange.api_key:
        raise ApiKeyMissing(f"a private key is configured ({source.path}) but exchange.api_key "
                            "(KALSHI_API_KEY) is not set")
    check_key_id(exchange.api_key)
    return Signer(exchange.api_key, load_private_key(source.path, source.passphrase))


@attrs.frozen
class KeyPair:
    """What :func:`generate_keypair` wrote."""

    key_id: str
    private_path: Path
    public_path: Path


def generate_keypair(out_dir: Path, *, force: bool = False, key_type: str = "rsa") -> KeyPair:
    """Write a fresh key pair of ``key_type`` (``rsa``: RSA-2048; ``ed25519``): ``kalshi.pem`` (PKCS#8,
    mode 0600) and ``kalshi.pub.pem`` (SubjectPublicKeyInfo, what Kalshi's key upload takes).

    The key id is a new UUID4 (what a simulator registers the public key under). Existing files are
    never overwritten unless ``force``; raises ``FileExistsError`` naming the file.
    """
    if key_type not in KEY_TYPES:
        raise ValueError(f"key type must be one of {KEY_TYPES}, got {key_type!r}")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = out_dir / CREDENTIAL_KEY_NAME, out_dir / "kalshi.pub.pem"
    if not force:
        for p in (private_path, public_path):
            if p.exists():
                raise FileExistsError(f"{p} already exists (use --force to replace it)")
    key: PrivateKey = (ed25519.Ed25519PrivateKey.generate() if key_type == "ed25519"
                       else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Create with 0600 from the first byte: never a window where the key is world-readable.
    if force:
        private_path.unlink(missing_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem)
    return KeyPair(str(uuid.uuid4()), private_path, public_path)
