"""The SNMPv3 message (RFC 3412) for the built-in engine: msgGlobalData, the USM security
parameters (RFC 3414) and the scoped PDU, encoded by hand like poller.snmp.ber and decoded
strictly (anything malformed raises SnmpDecodeError). Keys and ciphers are poller.snmp.usm_crypto's;
this module only places and finds the bytes."""

from __future__ import annotations

from dataclasses import dataclass

from poller.errors import SnmpDecodeError
from poller.snmp import ber
from poller.snmp.ber import _expect, _header, _integer, _tlv  # the v1/v2c codec's primitives

AUTH_FLAG, PRIV_FLAG, REPORTABLE_FLAG = 0x01, 0x02, 0x04
USM_MODEL = 3
#: msgMaxSize: the largest UDP payload poller reads
MAX_SIZE = 65507
_OCTETS, _SEQUENCE = 0x04, 0x30
_VERSION_3 = ber.encode_integer(ber.VERSION_3)
_TAIL = ber.encode_integer(MAX_SIZE)


def scoped_pdu(context_engine_id: bytes, context: bytes, pdu: int, request_id: int, a: int,
               b: int, varbinds: bytes) -> bytes:
    body = ber.encode_integer(request_id) + ber.encode_integer(a) + ber.encode_integer(b) + varbinds
    return _tlv(_SEQUENCE, _tlv(_OCTETS, context_engine_id) + _tlv(_OCTETS, context) + _tlv(pdu, body))


def encrypted(cipher: bytes) -> bytes:
    """msgData of an authPriv message: the encrypted scoped PDU as an OCTET STRING."""
    return _tlv(_OCTETS, cipher)


def encode_message(msg_id: int, flags: int, engine_id: bytes, boots: int, time: int, user: bytes,
                   auth_size: int, priv_params: bytes, data: bytes) -> tuple[bytearray, int]:
    """The message with `auth_size` zero bytes for msgAuthenticationParameters, and where they
    start (for the HMAC to be written in). `data` is the scoped PDU, or the encrypted one
    already wrapped as an OCTET STRING."""
    global_data = _tlv(_SEQUENCE, ber.encode_integer(msg_id) + _TAIL + _tlv(_OCTETS, bytes((flags,)))
                       + ber.encode_integer(USM_MODEL))
    before_auth = (_tlv(_OCTETS, engine_id) + ber.encode_integer(boots) + ber.encode_integer(time)
                   + _tlv(_OCTETS, user))
    auth_header = _tlv(_OCTETS, bytes(auth_size))[: -auth_size or None]
    usm = _tlv(_SEQUENCE, before_auth + auth_header + bytes(auth_size) + _tlv(_OCTETS, priv_params))
    params = _tlv(_OCTETS, usm)
    body = _VERSION_3 + global_data + params + data
    message = bytearray(_tlv(_SEQUENCE, body))
    # the auth field sits at a fixed distance from the end of the security parameters
    params_end = len(message) - len(body) + len(_VERSION_3) + len(global_data) + len(params)
    auth_at = params_end - len(_tlv(_OCTETS, priv_params)) - auth_size
    return message, auth_at


@dataclass(slots=True)
class Message:
    """A decoded SNMPv3 message; `data` is the scoped PDU (plain) or its ciphertext."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth_params: bytes
    #: where msgAuthenticationParameters' content starts in the message
    auth_at: int
    priv_params: bytes
    data: bytes
    #: `data` is an encrypted scoped PDU
    encrypted: bool


def decode_message(data: bytes) -> Message:
    end = len(data)
    start, stop = _expect(data, 0, end, _SEQUENCE)
    if stop != end:
        raise SnmpDecodeError("trailing bytes after the message")
    version, at = _integer(data, start, stop)
    if version != ber.VERSION_3:
        raise SnmpDecodeError(f"not an SNMPv3 message (version {version})")
    g_start, at = _expect(data, at, stop, _SEQUENCE)
    msg_id, g_at = _integer(data, g_start, at)
    _, g_at = _integer(data, g_at, at)  # the agent's msgMaxSize
    f_start, g_at = _expect(data, g_at, at, _OCTETS)
    if g_at - f_start != 1:
        raise SnmpDecodeError("bad msgFlags length")
    model, g_at = _integer(data, g_at, at)
    if g_at != at or model != USM_MODEL:
        raise SnmpDecodeError("not a USM message")
    p_start, at = _expect(data, at, stop, _OCTETS)
    u_start, u_end = _expect(data, p_start, at, _SEQUENCE)
    if u_end != at:
        raise SnmpDecodeError("trailing bytes after the security parameters")
    engine_id, u_at = _octets(data, u_start, u_end)
    boots, u_at = _integer(data, u_at, u_end)
    time, u_at = _integer(data, u_at, u_end)
    user, u_at = _octets(data, u_at, u_end)
    auth_params, u_at = _octets(data, u_at, u_end)
    auth_at = u_at - len(auth_params)
    priv_params, u_at = _octets(data, u_at, u_end)
    if u_at != u_end:
        raise SnmpDecodeError("trailing bytes in the security parameters")
    tag, d_start, d_end = _header(data, at, stop)
    if d_end != stop or tag not in (_SEQUENCE, _OCTETS):
        raise SnmpDecodeError("bad scoped PDU")
    return Message(msg_id, data[f_start], engine_id, boots, time, user, auth_params, auth_at,
                   priv_params, data[d_start:d_end] if tag == _OCTETS else data[at:d_end], tag == _OCTETS)


def _octets(data: bytes, at: int, end: int) -> tuple[bytes, int]:
    start, stop = _expect(data, at, end, _OCTETS)
    return data[start:stop], stop


def decode_scoped(plain: bytes, padded: bool = False) -> ber.Response:
    """The Response or Report in a scoped PDU; its contextName stands in `community`. `padded`:
    decrypted DES, which may carry up to 7 bytes of padding after it."""
    start, stop = _expect(plain, 0, len(plain), _SEQUENCE)
    if stop != len(plain) and not (padded and len(plain) - stop < 8):
        raise SnmpDecodeError("trailing bytes after the scoped PDU")
    _, at = _octets(plain, start, stop)  # contextEngineID
    context, at = _octets(plain, at, stop)
    return ber.decode_pdu(plain, at, stop, ber.VERSION_3, context)
