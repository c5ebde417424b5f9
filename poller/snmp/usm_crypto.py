"""SNMPv3 USM cryptography for the built-in engine: passphrase to localized key (RFC 3414 A.2,
RFC 7860 for SHA-2), the truncated HMACs (RFC 3414, RFC 7860) and the privacy ciphers: DES-CBC
(RFC 3414 8), AES-128-CFB (RFC 3826), AES-192/256 with the Blumenthal key extension (net-snmp's
AES-192/AES-256) or the Reeder ("Cisco") one (AES-192-C/AES-256-C). Checked against pysnmp's and
the RFCs' test vectors by tests/unit/test_usm_builtin.py."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from poller.errors import SnmpDecodeError

#: auth protocol -> (hash name, length of msgAuthenticationParameters)
AUTH: dict[str, tuple[str, int]] = {
    "MD5": ("md5", 12),
    "SHA": ("sha1", 12),
    "SHA-224": ("sha224", 16),
    "SHA-256": ("sha256", 24),
    "SHA-384": ("sha384", 32),
    "SHA-512": ("sha512", 48),
}
#: priv protocol -> (key bytes, key extension: "" none, "blumenthal" or "reeder")
PRIV: dict[str, tuple[int, str]] = {
    "DES": (16, ""),  # 8 for the key, 8 for the pre-IV
    "AES": (16, ""),
    "AES-192": (24, "blumenthal"),
    "AES-256": (32, "blumenthal"),
    "AES-192-C": (24, "reeder"),
    "AES-256-C": (32, "reeder"),
}


def hash_passphrase(passphrase: bytes, hash_name: str) -> bytes:
    """Ku: the hash of 1 MB of the repeated passphrase (RFC 3414 A.2) - the expensive part."""
    if not passphrase:
        raise ValueError("empty passphrase")
    repeated = passphrase * (1_048_576 // len(passphrase) + 1)
    return hashlib.new(hash_name, repeated[:1_048_576]).digest()


def localize(ku: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """Kul = H(Ku | engineID | Ku)."""
    return hashlib.new(hash_name, ku + engine_id + ku).digest()


def auth_key(passphrase: bytes, engine_id: bytes, protocol: str) -> bytes:
    return localize(hash_passphrase(passphrase, AUTH[protocol][0]), engine_id, AUTH[protocol][0])


def priv_key(passphrase: bytes, engine_id: bytes, auth_protocol: str, protocol: str) -> bytes:
    """The localized privacy key, hashed with the auth protocol's hash and extended to the
    cipher's key size when the hash is shorter."""
    hash_name = AUTH[auth_protocol][0]
    size, extension = PRIV[protocol]
    key = localize(hash_passphrase(passphrase, hash_name), engine_id, hash_name)
    while len(key) < size:
        if extension == "blumenthal":
            key += hashlib.new(hash_name, key).digest()
        elif extension == "reeder":
            key += localize(hash_passphrase(key, hash_name), engine_id, hash_name)
        else:
            raise ValueError(f"{protocol} key too short")
    return key[:size]


def signature(key: bytes, protocol: str, message: bytes) -> bytes:
    """msgAuthenticationParameters of `message` (whose own field is all zeros)."""
    hash_name, size = AUTH[protocol]
    return hmac.new(key, message, hash_name).digest()[:size]


@dataclass(frozen=True, slots=True)
class Privacy:
    """One localized privacy key and its cipher."""

    protocol: str
    key: bytes

    def encrypt(self, plain: bytes, boots: int, time: int, salt: int) -> tuple[bytes, bytes]:
        """(ciphertext, msgPrivacyParameters); `salt` is a per-message counter."""
        if self.protocol == "DES":
            params = (boots & 0xFFFFFFFF).to_bytes(4, "big") + (salt & 0xFFFFFFFF).to_bytes(4, "big")
            padded = plain + b"\x00" * (-len(plain) % 8)
            return self._des(params).encryptor().update(padded), params
        params = (salt & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
        return self._aes(boots, time, params).encryptor().update(plain), params

    def decrypt(self, cipher: bytes, boots: int, time: int, params: bytes) -> bytes:
        if len(params) != 8:
            raise SnmpDecodeError("bad msgPrivacyParameters length")
        if self.protocol == "DES":
            if len(cipher) % 8:
                raise SnmpDecodeError("DES ciphertext is not a multiple of 8 bytes")
            return self._des(params).decryptor().update(cipher)
        return self._aes(boots, time, params).decryptor().update(cipher)

    def _des(self, params: bytes) -> Cipher[modes.CBC]:
        iv = bytes(a ^ b for a, b in zip(self.key[8:16], params))
        return Cipher(TripleDES(self.key[:8] * 3), modes.CBC(iv))

    def _aes(self, boots: int, time: int, params: bytes) -> Cipher[CFB]:
        iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + params
        return Cipher(algorithms.AES(self.key), CFB(iv))

