"""Every way a secret reaches poller (inline, `*_env`, `*_file`, `*_credential`; communities and
both SNMPv3 keys), right and wrong: the polls work or fail as they should, and no secret appears
in any record, in `poller check`'s output or in any message of `run`, `check` or `get`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SNMPD_COMMUNITY, Agent

WRONG = {
    "community_file": "wr0ng-community-from-file-5e1",
    "auth_key_env": "wr0ng-auth-from-env-2b7",
    "priv_key_credential": "wr0ng-priv-from-credential-8c4",
}


def _fleet(tmp_path: Path, snmpd: Agent) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The fleet file, the environment it needs and the expected status of each device."""
    user = next(u for u in snmpd.v3_users if u.name == "v3-sha256-aes")
    assert user.auth_key and user.priv_key
    creds = tmp_path / "credentials"
    creds.mkdir()
    env = {"CREDENTIALS_DIRECTORY": str(creds), "T_COMMUNITY": SNMPD_COMMUNITY,
           "T_AUTH": user.auth_key, "T_PRIV": user.priv_key, "T_WRONG_AUTH": WRONG["auth_key_env"]}
    (tmp_path / "community").write_text(SNMPD_COMMUNITY + "\n")
    (tmp_path / "wrong-community").write_text(WRONG["community_file"] + "\n")
    (tmp_path / "auth").write_text(user.auth_key + "\n")
    (tmp_path / "priv").write_text(user.priv_key + "\n")
    (creds / "community").write_text(SNMPD_COMMUNITY)
    (creds / "auth").write_text(user.auth_key)
    (creds / "priv").write_text(user.priv_key)
    (creds / "wrong-priv").write_text(WRONG["priv_key_credential"])
    v3 = (f'version = "3"\nuser = "{user.name}"\nsecurity_level = "authPriv"\n'
          'auth_protocol = "SHA-256"\npriv_protocol = "AES"\n')
    credentials = {
        "c_inline": f'community = "{SNMPD_COMMUNITY}"',
        "c_env": 'community_env = "T_COMMUNITY"',
        "c_file": f'community_file = "{tmp_path / "community"}"',
        "c_credential": 'community_credential = "community"',
        "c_wrong_file": f'community_file = "{tmp_path / "wrong-community"}"',
        "v3_inline": v3 + f'auth_key = "{user.auth_key}"\npriv_key = "{user.priv_key}"',
        "v3_env": v3 + 'auth_key_env = "T_AUTH"\npriv_key_env = "T_PRIV"',
        "v3_file": v3 + f'auth_key_file = "{tmp_path / "auth"}"\n'
                        f'priv_key_file = "{tmp_path / "priv"}"',
        "v3_credential": v3 + 'auth_key_credential = "auth"\npriv_key_credential = "priv"',
        "v3_wrong_auth_env": v3 + 'auth_key_env = "T_WRONG_AUTH"\npriv_key_env = "T_PRIV"',
        "v3_wrong_priv_credential": v3 + 'auth_key_env = "T_AUTH"\n'
                                         'priv_key_credential = "wrong-priv"',
    }
    expected = {name: "ok" for name in credentials}
    expected.update(c_wrong_file="timeout", v3_wrong_auth_env="error",
                    v3_wrong_priv_credential="timeout")
    text = (f'[output]\ndirectory = "{tmp_path / "out"}"\n'
            '[defaults]\ninterval = 10\ntimeout = 1\nretries = 0\nprofiles = ["system"]\n')
    for name, body in credentials.items():
        text += f"[credentials.{name}]\n{body}\n"
    for name in credentials:
        text += (f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {snmpd.port}\n'
                 f'credential = "{name}"\n')
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path, {**os.environ, **env}, expected


def _poller(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "poller", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_no_secret_from_any_source_reaches_a_record_or_a_message(
    tmp_path: Path, snmpd: Agent
) -> None:
    config, env, expected = _fleet(tmp_path, snmpd)
    ran = _poller(env, "run", "--once", "--config", str(config))
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in (tmp_path / "out" / "poller.jsonl").read_text()
             .splitlines()]
    polls = {r["device"]: r for r in lines if r["event"] == "poll"}
    assert {name: p["status"] for name, p in polls.items()} == expected
    assert polls["v3_wrong_auth_env"]["error_type"] == "auth_failed"
    assert {r["device"] for r in lines if r["event"] == "scalars"} == {
        name for name, status in expected.items() if status == "ok"}

    checked = _poller(env, "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    refused = _poller(env, "get", "--config", str(config), "v3_wrong_auth_env", "sysName.0")
    assert refused.returncode == 1 and "auth_failed" in refused.stderr
    unanswered = _poller(env, "get", "--config", str(config), "v3_wrong_priv_credential",
                         "sysName.0", "-t", "0.5", "-r", "0")
    assert unanswered.returncode == 1 and "timeout" in unanswered.stderr
    # a key that is too short, from each source, is one line that does not show it
    short = config.read_text().replace('auth_key_env = "T_WRONG_AUTH"', 'auth_key_env = "T_SHORT"')
    (tmp_path / "short.toml").write_text(short)
    (tmp_path / "short.toml").chmod(0o600)
    too_short = _poller({**env, "T_SHORT": "sh0rt"}, "check", "--config",
                        str(tmp_path / "short.toml"))
    assert too_short.returncode == 2 and "8 characters" in too_short.stderr

    everything = "".join(f.read_text() for f in (tmp_path / "out").iterdir())
    for done in (ran, checked, refused, unanswered, too_short):
        everything += done.stdout + done.stderr
    user = next(u for u in snmpd.v3_users if u.name == "v3-sha256-aes")
    for secret in (SNMPD_COMMUNITY, user.auth_key, user.priv_key, "sh0rt", *WRONG.values()):
        assert secret and secret not in everything, secret
