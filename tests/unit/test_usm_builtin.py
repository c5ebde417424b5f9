"""The built-in SNMPv3 USM against the RFCs and pysnmp, the reference: RFC 3414 A.3 key
localization vectors, every auth and privacy key as pysnmp localizes it (SHA-2 as RFC 7860, the
AES-192/256 extensions as net-snmp and Cisco do), ciphertexts pysnmp decrypts, v3 messages pysnmp
(pyasn1) reads and builds, answers checked (signature, level, engine), and malformed messages a
clean SnmpDecodeError. Against net-snmp's snmpd: tests/integration/test_snmpv3.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import SnmpUSMSecurityModel, UsmSecurityParameters

from poller.config.model import Secret, Usm
from poller.errors import SnmpDecodeError, SnmpUnexpectedReport
from poller.oid import Oid
from poller.snmp import ber, ber_v3, usm, usm_crypto, usm_reports
from poller.snmp.types import Kind
from poller.snmp.usm_builtin import Keys, Peer, UsmEngine, _report_name

ENGINE_ID = bytes.fromhex("000000000000000000000002")  # RFC 3414 A.3's
AGENT_ID = bytes.fromhex("80001f8880a1b2c3d4e5f60708")


def test_rfc3414_a3_maplesyrup_vectors() -> None:
    """RFC 3414 A.3.1 (MD5) and A.3.2 (SHA): Ku and the key localized to engine ...02."""
    assert usm_crypto.hash_passphrase(b"maplesyrup", "md5").hex() == \
        "9faf3283884e92834ebc9847d8edd963"
    assert usm_crypto.auth_key(b"maplesyrup", ENGINE_ID, "MD5").hex() == \
        "526f5eed9fcce26f8964c2930787d82b"
    assert usm_crypto.hash_passphrase(b"maplesyrup", "sha1").hex() == \
        "9fb5cc0381497b3793528939ff788d5d79145211"
    assert usm_crypto.auth_key(b"maplesyrup", ENGINE_ID, "SHA").hex() == \
        "6695febc9288e36282235fc7151f128497b38f3f"


@pytest.mark.parametrize("auth", sorted(usm_crypto.AUTH))
def test_auth_keys_and_signatures_are_pysnmps(auth: str) -> None:
    service = SnmpUSMSecurityModel.AUTH_SERVICES[tuple(usm.AUTH[auth])]
    theirs = service.localize_key(service.hash_passphrase(b"s3cr3t-pass"), univ.OctetString(AGENT_ID))
    ours = usm_crypto.auth_key(b"s3cr3t-pass", AGENT_ID, auth)
    assert ours == bytes(theirs)
    digest = usm_crypto.signature(ours, auth, b"a whole message")
    assert len(digest) == service.digest_length == {"MD5": 12, "SHA": 12, "SHA-224": 16, "SHA-256": 24, "SHA-384": 32,
                           "SHA-512": 48}[auth]


def _pysnmp_priv_key(auth: str, priv: str, passphrase: bytes, engine_id: bytes) -> bytes:
    service = SnmpUSMSecurityModel.PRIV_SERVICES[tuple(usm.PRIV[priv])]
    auth_id = tuple(usm.AUTH[auth])
    return bytes(service.localize_key(auth_id, service.hash_passphrase(auth_id, passphrase),
                                      univ.OctetString(engine_id)))


@pytest.mark.parametrize("priv", sorted(usm_crypto.PRIV))
@pytest.mark.parametrize("auth", sorted(usm_crypto.AUTH))
def test_priv_keys_are_pysnmps(auth: str, priv: str) -> None:
    ours = usm_crypto.priv_key(b"s3cr3t-priv", AGENT_ID, auth, priv)
    assert ours == _pysnmp_priv_key(auth, priv, b"s3cr3t-priv", AGENT_ID)[: len(ours)]
    assert len(ours) == usm_crypto.PRIV[priv][0]


def test_the_two_aes_extensions_differ_only_where_the_hash_is_short() -> None:
    for auth, differ in (("MD5", True), ("SHA", True), ("SHA-256", False), ("SHA-512", False)):
        blumenthal = usm_crypto.priv_key(b"s3cr3t-priv", AGENT_ID, auth, "AES-256")
        reeder = usm_crypto.priv_key(b"s3cr3t-priv", AGENT_ID, auth, "AES-256-C")
        assert (blumenthal != reeder) is differ


@settings(max_examples=30, deadline=None)
@given(plain=st.binary(min_size=1, max_size=600), boots=st.integers(0, 2**31 - 1),
       time=st.integers(0, 2**31 - 1), salt=st.integers(0, 2**64 - 1),
       priv=st.sampled_from(sorted(usm_crypto.PRIV)))
def test_pysnmp_decrypts_what_we_encrypt(plain: bytes, boots: int, time: int, salt: int,
                                         priv: str) -> None:
    key = usm_crypto.priv_key(b"s3cr3t-priv", AGENT_ID, "SHA", priv)
    privacy = usm_crypto.Privacy(priv, key)
    cipher, params = privacy.encrypt(plain, boots, time, salt)
    service = SnmpUSMSecurityModel.PRIV_SERVICES[tuple(usm.PRIV[priv])]
    salt_arg: Any = univ.OctetString(params) if priv == "DES" else list(params)
    theirs = service.decrypt_data(univ.OctetString(key), (boots, time, salt_arg),
                                  univ.OctetString(cipher))
    assert bytes(theirs)[: len(plain)] == plain
    assert privacy.decrypt(cipher, boots, time, params)[: len(plain)] == plain


def _usm(level: str = "authPriv", auth: str | None = "SHA-256", priv: str | None = "AES") -> Usm:
    return Usm(user="ops", level=level, auth_protocol=auth, auth_key=Secret("s3cr3t-auth"),
               priv_protocol=priv, priv_key=Secret("s3cr3t-priv"), context="ctx")


@settings(max_examples=40, deadline=None)
@given(msg_id=st.integers(0, 2**31 - 1), boots=st.integers(0, 2**31 - 1),
       time=st.integers(0, 2**31 - 1), user=st.binary(max_size=32),
       engine_id=st.binary(min_size=5, max_size=32), flags=st.sampled_from([0, 1, 3, 4, 5, 7]),
       auth_size=st.sampled_from([0, 12, 16, 24, 32, 48]), priv_params=st.binary(max_size=8))
def test_pysnmp_reads_the_message_we_build(msg_id: int, boots: int, time: int, user: bytes,
                                           engine_id: bytes, flags: int, auth_size: int,
                                           priv_params: bytes) -> None:
    varbinds = ber.varbind_list([ber.null_varbind(ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 5, 0)))])
    scoped = ber_v3.scoped_pdu(engine_id, b"ctx", ber.GET_BULK, msg_id, 0, 25, varbinds)
    message, auth_at = ber_v3.encode_message(msg_id, flags, engine_id, boots, time, user,
                                             auth_size, priv_params, scoped)
    message[auth_at:auth_at + auth_size] = b"\xa5" * auth_size
    decoded, rest = decoder.decode(bytes(message), asn1Spec=SNMPv3Message())
    assert not rest
    header = decoded["msgGlobalData"]
    assert (int(header["msgID"]), bytes(header["msgFlags"]), int(header["msgSecurityModel"])) == \
        (msg_id, bytes((flags,)), 3)
    params, _ = decoder.decode(bytes(decoded["msgSecurityParameters"]),
                               asn1Spec=UsmSecurityParameters())
    assert (bytes(params["msgAuthoritativeEngineId"]), int(params["msgAuthoritativeEngineBoots"]),
            int(params["msgAuthoritativeEngineTime"]), bytes(params["msgUserName"]),
            bytes(params["msgAuthenticationParameters"]), bytes(params["msgPrivacyParameters"])) \
        == (engine_id, boots, time, user, b"\xa5" * auth_size, priv_params)
    pdu = decoded["msgData"]["plaintext"]
    assert bytes(pdu["contextEngineId"]) == engine_id and bytes(pdu["contextName"]) == b"ctx"
    bulk = pdu["data"]["get-bulk-request"]
    assert int(bulk["request-id"]) == msg_id and int(bulk["max-repetitions"]) == 25


def _pysnmp_response(msg_id: int, flags: int, user: bytes, value: Any, pdu_kind: str = "response",
                     oid: tuple[int, ...] = (1, 3, 6, 1, 2, 1, 1, 5, 0)) -> bytes:
    """A v3 Response (or Report) message as pyasn1 encodes pysnmp's types."""
    pdu = v2c.ResponsePDU() if pdu_kind == "response" else v2c.ReportPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, msg_id)
    v2c.apiPDU.set_varbinds(pdu, [(oid, value)])
    message = SNMPv3Message()
    message["msgVersion"] = 3
    header = message["msgGlobalData"]
    header["msgID"], header["msgMaxSize"] = msg_id, 65507
    header["msgFlags"], header["msgSecurityModel"] = bytes((flags,)), 3
    params = UsmSecurityParameters()
    for name, v in (("msgAuthoritativeEngineId", AGENT_ID), ("msgAuthoritativeEngineBoots", 4),
                    ("msgAuthoritativeEngineTime", 1234), ("msgUserName", user),
                    ("msgAuthenticationParameters", b""), ("msgPrivacyParameters", b"")):
        params[name] = v
    message["msgSecurityParameters"] = encoder.encode(params)
    scoped = message["msgData"]["plaintext"]
    scoped["contextEngineId"], scoped["contextName"] = AGENT_ID, b"ctx"
    scoped["data"][pdu_kind] = pdu
    return bytes(encoder.encode(message))


@settings(max_examples=30, deadline=None)
@given(msg_id=st.integers(0, 2**31 - 1), text=st.binary(max_size=200),
       counter=st.integers(0, 2**64 - 1))
def test_we_read_the_message_pysnmp_builds(msg_id: int, text: bytes, counter: int) -> None:
    for value, kind, expected in ((v2c.OctetString(text), Kind.OCTETS, text),
                                  (v2c.Counter64(counter), Kind.COUNTER64, counter)):
        data = _pysnmp_response(msg_id, 0, b"ops", value)
        assert ber.peek_request_id(data) == msg_id
        message = ber_v3.decode_message(data)
        assert (message.msg_id, message.engine_id, message.boots, message.time, message.user) == \
            (msg_id, AGENT_ID, 4, 1234, b"ops")
        response = ber_v3.decode_scoped(message.data)
        assert response.pdu == ber.RESPONSE and response.community == b"ctx"
        assert [tuple(vb) for vb in response.varbinds] == \
            [(Oid((1, 3, 6, 1, 2, 1, 1, 5, 0)), kind, expected)]


def test_a_report_names_its_usm_counter() -> None:
    for name, (arc, _, _) in usm_reports.REPORTS.items():
        data = _pysnmp_response(9, 0, b"ops", v2c.Counter32(1), pdu_kind="report",
                                oid=(*usm_reports.USM_STATS, arc, 0))
        response = ber_v3.decode_scoped(ber_v3.decode_message(data).data)
        assert response.pdu == ber.REPORT and _report_name(response) == name


def test_a_report_outside_the_usm_is_an_agent_report() -> None:
    """A REPORT poller has no name for (here snmpUnknownContexts, which some agents send for a
    context they do not serve; net-snmp stays silent) ends as `agent_report`, naming its OID."""
    engine, user = UsmEngine(), _usm("noAuthNoPriv", None, None)
    address = ("127.0.0.1", 161)
    engine._peers[address] = Peer(AGENT_ID, 4, 1234, time.monotonic())
    sent: list[bytes] = []

    async def exchange(build: Any) -> bytes:
        sent.append(build(9))
        return _pysnmp_response(9, 0, b"ops", v2c.Counter32(3), pdu_kind="report",
                                oid=(1, 3, 6, 1, 6, 3, 12, 1, 5, 0))

    request = engine.request(user, address, ber.GET, ber.varbind_list([]), 0, 0, exchange, "d")
    with pytest.raises(SnmpUnexpectedReport) as caught:
        asyncio.run(request)
    assert str(caught.value) == "d: the agent answered with REPORT 1.3.6.1.6.3.12.1.5.0"
    assert caught.value.error_type == "agent_report" and len(sent) == 1


def _answer(engine: UsmEngine, usm_: Usm, peer: Peer, keys: Keys) -> bytes:
    """An agent's answer as the built-in encoder makes it (same format, a Response PDU)."""
    varbinds = ber.varbind_list([ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 5, 0)) and
                                 b"\x30\x0f" + ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 5, 0))
                                 + b"\x04\x03abc"])
    return engine._encode(usm_, keys, peer, 77, ber.RESPONSE, 0, 0, varbinds)


LEVELS = [("noAuthNoPriv", None, None)] + [("authNoPriv", a, None) for a in usm_crypto.AUTH] + [
    ("authPriv", a, p) for a in ("MD5", "SHA", "SHA-512") for p in usm_crypto.PRIV]


@pytest.mark.parametrize(("level", "auth", "priv"), LEVELS)
def test_an_answer_at_every_level_is_checked_and_read(level: str, auth: str | None,
                                                      priv: str | None) -> None:
    engine, user = UsmEngine(), _usm(level, auth, priv)
    peer = Peer(AGENT_ID, 4, 1234, 0.0)
    keys = engine._keys_for(user, AGENT_ID)
    data = _answer(engine, user, peer, keys)
    response, authentic, _ = engine._decode(data, user, keys, peer, "d")
    assert response.varbinds[0].value == b"abc" and response.request_id == 77
    assert authentic is (level != "noAuthNoPriv")
    if level == "noAuthNoPriv":
        return
    tampered = bytearray(data)
    tampered[-1] ^= 1
    with pytest.raises(SnmpDecodeError, match="fails authentication"):
        engine._decode(bytes(tampered), user, keys, peer, "d")
    other = Peer(b"\x80\x00other", 4, 1234, 0.0)
    with pytest.raises(SnmpDecodeError, match="another user or engine"):
        engine._decode(data, user, keys, other, "d")


def test_a_response_below_the_request_level_is_rejected() -> None:
    engine = UsmEngine()
    peer = Peer(AGENT_ID, 4, 1234, 0.0)
    plain = _usm("noAuthNoPriv", None, None)
    data = _answer(engine, plain, peer, engine._keys_for(plain, AGENT_ID))
    secure = _usm()
    with pytest.raises(SnmpDecodeError, match="below the request's security level"):
        engine._decode(data, secure, engine._keys_for(secure, AGENT_ID), peer, "d")


def test_keys_are_localized_once_per_credential_and_engine() -> None:
    engine = UsmEngine()
    first = engine._keys_for(_usm(), AGENT_ID)
    assert engine._keys_for(_usm(), AGENT_ID) is first
    assert engine._keys_for(_usm(), ENGINE_ID) is not first
    assert engine._keys_for(_usm(priv="DES"), AGENT_ID) is not first


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 200), flip=st.integers(0, 400), bit=st.integers(0, 7))
def test_malformed_v3_messages_are_decode_errors(cut: int, flip: int, bit: int) -> None:
    data = bytearray(_pysnmp_response(5, 0, b"ops", v2c.OctetString(b"x" * 40)))
    with pytest.raises(SnmpDecodeError):  # every truncation
        ber_v3.decode_scoped(ber_v3.decode_message(bytes(data[: cut % len(data)])).data)
    at = flip % len(data)
    data[at] ^= 1 << bit
    try:  # a flipped bit may still be a well-formed message: then it reads as one
        response = ber_v3.decode_scoped(ber_v3.decode_message(bytes(data)).data)
    except SnmpDecodeError:
        return
    assert response.pdu in (ber.RESPONSE, ber.REPORT) and len(response.varbinds) <= 1


@pytest.mark.parametrize("broken", [
    b"", b"\x30\x00", b"\x30\x03\x02\x01\x01",  # empty, no version, v2c
    bytes.fromhex("3006020103300100"),  # a global data that is not one
])
def test_short_or_foreign_messages_are_decode_errors(broken: bytes) -> None:
    with pytest.raises(SnmpDecodeError):
        ber_v3.decode_message(broken)


def test_trailing_bytes_after_a_scoped_pdu_are_rejected_unless_des_padding() -> None:
    scoped = ber_v3.decode_message(_pysnmp_response(5, 0, b"ops", v2c.OctetString(b"x"))).data
    assert ber_v3.decode_scoped(scoped + b"\x00" * 7, padded=True).varbinds[0].value == b"x"
    with pytest.raises(SnmpDecodeError):
        ber_v3.decode_scoped(scoped + b"\x00")
    with pytest.raises(SnmpDecodeError):
        ber_v3.decode_scoped(scoped + b"\x00" * 8, padded=True)


def test_the_builtin_usm_imports_no_pysnmp() -> None:
    code = ("import sys\nfrom poller.snmp import usm_builtin, udp_requester\n"
            "print(sorted(m for m in sys.modules if m.startswith('pysnmp')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
