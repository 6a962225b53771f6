"""Credentials: PKCS#8/PKCS#1, permissions, passphrases, wrong key kinds, systemd credentials, keygen."""

import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kalshid.config import ExchangeConfig
from kalshid.credentials import (
    ApiKeyMissing,
    CredentialError,
    KeyFileInsecure,
    KeyFileMissing,
    KeyNotPem,
    KeyPassphraseError,
    KeyTypeUnsupported,
    generate_keypair,
    load_private_key,
    load_signer,
)
from kalshid.exchange.kalshi.auth import verify

WriteKey = Callable[..., Path]
KEY_ID = "0b5a1f2e-1111-4222-8333-444455556666"


def test_pkcs8_key_loads_and_signs(key_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    signer = load_signer(ExchangeConfig(api_key=KEY_ID, private_key_path=str(key_file)), environ={})
    assert signer is not None and signer.key_id == KEY_ID
    headers = signer.headers(1_703_123_456_789, "GET", "/trade-api/v2/portfolio/balance")
    assert verify(rsa_key.public_key(), 1_703_123_456_789, "GET", "/trade-api/v2/portfolio/balance",
                  headers["KALSHI-ACCESS-SIGNATURE"])
    assert KEY_ID not in repr(signer)


def test_pkcs1_key_is_accepted(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, write_key: WriteKey) -> None:
    path = write_key(tmp_path / "pkcs1.pem", rsa_key, fmt="pkcs1")
    assert b"BEGIN RSA PRIVATE KEY" in path.read_bytes()
    assert load_private_key(path).private_numbers() == rsa_key.private_numbers()


def test_group_readable_key_is_refused_with_chmod_fix(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                                      write_key: WriteKey) -> None:
    path = write_key(tmp_path / "open.pem", rsa_key, mode=0o644)
    with pytest.raises(KeyFileInsecure) as info:
        load_private_key(path)
    assert info.value.fix == f"chmod 600 {path}"
    assert f"chmod 600 {path}" in str(info.value) and "0644" in str(info.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KeyFileMissing, match=str(tmp_path / "absent.pem")):
        load_private_key(tmp_path / "absent.pem")


def test_encrypted_key_with_and_without_passphrase(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                                   write_key: WriteKey) -> None:
    path = write_key(tmp_path / "enc.pem", rsa_key, passphrase=b"correct horse")
    assert load_private_key(path, b"correct horse").private_numbers() == rsa_key.private_numbers()
    with pytest.raises(KeyPassphraseError, match="is encrypted"):
        load_private_key(path)
    with pytest.raises(KeyPassphraseError, match="wrong passphrase"):
        load_private_key(path, b"battery staple")


def test_passphrase_for_unencrypted_key_is_an_error(key_file: Path) -> None:
    with pytest.raises(KeyPassphraseError, match="not encrypted"):
        load_private_key(key_file, b"unneeded")


def test_encrypted_pkcs1_key_via_config_passphrase(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                                   write_key: WriteKey) -> None:
    path = write_key(tmp_path / "enc1.pem", rsa_key, fmt="pkcs1", passphrase=b"pw-1234")
    exchange = ExchangeConfig(api_key=KEY_ID, private_key_path=str(path), private_key_passphrase="pw-1234")
    assert load_signer(exchange, environ={}) is not None


def test_ec_key_is_refused(tmp_path: Path, write_key: WriteKey) -> None:
    path = write_key(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(KeyTypeUnsupported, match="neither RSA nor Ed25519"):
        load_private_key(path)


def test_short_rsa_key_is_refused(tmp_path: Path, write_key: WriteKey) -> None:
    path = write_key(tmp_path / "rsa1024.pem", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(KeyTypeUnsupported, match="RSA-1024"):
        load_private_key(path)


def test_ed25519_key_loads_and_signs_verifiably(tmp_path: Path, write_key: WriteKey) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = write_key(tmp_path / "ed.pem", key)
    exchange = ExchangeConfig(api_key=KEY_ID, private_key_path=str(path))
    signer = load_signer(exchange, environ={})
    assert signer is not None and signer.key_type == "ed25519"
    sig = signer.sign(1_700_000_000_000, "POST", "/trade-api/v2/portfolio/events/orders?x=1")
    assert verify(key.public_key(), 1_700_000_000_000, "POST", "/trade-api/v2/portfolio/events/orders", sig)
    assert not verify(key.public_key(), 1_700_000_000_001, "POST", "/trade-api/v2/portfolio/events/orders", sig)
    assert not verify(key.public_key(), 1_700_000_000_000, "DELETE", "/trade-api/v2/portfolio/events/orders", sig)


def test_not_pem_and_public_key(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x30\x82\x01\x00 this is DER or garbage")
    junk.chmod(0o600)
    with pytest.raises(KeyNotPem, match="not a PEM file"):
        load_private_key(junk)
    pub = tmp_path / "pub.pem"
    pub.write_bytes(rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    pub.chmod(0o600)
    with pytest.raises(KeyNotPem, match="no private key"):
        load_private_key(pub)
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    with pytest.raises(KeyNotPem, match="malformed"):
        load_private_key(bad)


def test_errors_never_contain_key_material(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                           write_key: WriteKey) -> None:
    path = write_key(tmp_path / "open.pem", rsa_key, mode=0o640)
    with pytest.raises(CredentialError) as info:
        load_private_key(path)
    assert "BEGIN" not in str(info.value) and "MII" not in str(info.value)


def test_systemd_credentials_directory(tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
                                       write_key: WriteKey) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    write_key(creds / "kalshi.pem", rsa_key, passphrase=b"from-credential", mode=0o400)
    (creds / "kalshi.pem.pass").write_text("from-credential\n")
    signer = load_signer(ExchangeConfig(api_key=KEY_ID), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert signer is not None and signer.private_key.private_numbers() == rsa_key.private_numbers()


def test_no_credentials_and_half_credentials(key_file: Path) -> None:
    assert load_signer(ExchangeConfig(), environ={}) is None
    with pytest.raises(ApiKeyMissing, match="KALSHI_PRIVATE_KEY_PATH"):
        load_signer(ExchangeConfig(api_key=KEY_ID), environ={})
    with pytest.raises(ApiKeyMissing, match="KALSHI_API_KEY"):
        load_signer(ExchangeConfig(private_key_path=str(key_file)), environ={})


def test_generate_keypair_writes_0600_pkcs8_that_loads(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    assert uuid.UUID(pair.key_id).version == 4
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert pair.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    key = load_private_key(pair.private_path)
    assert key.key_size == 2048
    public = serialization.load_pem_public_key(pair.public_path.read_bytes())
    assert public.public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    with pytest.raises(FileExistsError, match="--force"):
        generate_keypair(tmp_path / "keys")
    again = generate_keypair(tmp_path / "keys", force=True)
    assert load_private_key(again.private_path).private_numbers() != key.private_numbers()


def _write_key(path: Path, key: object) -> Path:
    from cryptography.hazmat.primitives import serialization as ser

    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())  # type: ignore[attr-defined]
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def test_key_files_must_be_small_regular_files(tmp_path: Path) -> None:
    import os

    from kalshid.credentials import KeyFileUnreadable, KeyNotPem, read_key_file

    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileUnreadable, match="not a regular file"):
        read_key_file(fifo)
    with pytest.raises(KeyFileUnreadable, match="not a regular file"):
        read_key_file(Path("/dev/zero"))
    big = tmp_path / "big.pem"
    big.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 70_000)
    big.chmod(0o600)
    with pytest.raises(KeyNotPem, match="larger than 65536 bytes"):
        read_key_file(big)


def test_short_rsa_keys_and_malformed_key_ids_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

    from kalshid.credentials import ApiKeyMissing, KeyTypeUnsupported, check_key_strength

    weak = _write_key(tmp_path / "weak.pem", rsa_keys.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(KeyTypeUnsupported, match="RSA-1024; at least RSA-2048"):
        load_signer(ExchangeConfig(api_key=KEY_ID, private_key_path=str(weak)), environ={})
    check_key_strength(ed25519.Ed25519PrivateKey.generate(), tmp_path / "ed.pem")  # not RSA: not judged here
    for bad in ("abcd-1234", "0b5a1f2e11114222833344445555666", KEY_ID + "0", "{" + KEY_ID + "}"):
        with pytest.raises(ApiKeyMissing, match="does not look like a Kalshi API key id"):
            load_signer(ExchangeConfig(api_key=bad, private_key_path=str(weak)), environ={})
