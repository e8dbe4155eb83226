"""What the local relay refuses, with which code, and that it keeps serving afterwards."""

from __future__ import annotations

import base64
import re
import smtplib
import socket

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from homeassistant.core import HomeAssistant

from .relay_helpers import CAMERA, Camera, camera_message, relay_port, setup_relay
from .smtp_server import TestSmtpServer
from .test_relay import received

REPLY = re.compile(rb"^[2-5]\d\d[ -]")


async def test_client_from_a_network_not_allowed(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    entry = await setup_relay(hass, mail_server, relay_networks=["127.0.0.1/32"])
    data, _ = camera_message(size=100)
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await Camera(hass, relay_port(entry), source="127.0.0.2").send(data)
    assert refused.value.smtp_code == 550
    assert b"5.7.1" in refused.value.smtp_error
    # Nor may it try passwords, and the server still serves the allowed network.
    reply = await Camera(hass, relay_port(entry), source="127.0.0.2").run(
        lambda c: c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0a\0b").decode())
    )
    assert reply[0] in (538, 550)  # TLS first (aiosmtpd's check), then the network
    assert await Camera(hass, relay_port(entry)).send(data) == {}


async def test_sender_not_allowed(hass: HomeAssistant, mail_server: TestSmtpServer) -> None:
    entry = await setup_relay(hass, mail_server, relay_senders=["@cameras.lan"])
    data, _ = camera_message(size=100)
    camera = Camera(hass, relay_port(entry))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await camera.send(data, sender="intruder@example.com")
    assert refused.value.smtp_code == 550
    assert await camera.send(data) == {}


async def test_login_required_and_checked(
    hass: HomeAssistant, mail_server: TestSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_relay(
        hass, mail_server, relay_username="camera", relay_password="s3cret-relay-pw"
    )
    port = relay_port(entry)
    data, _ = camera_message(size=100)
    # No login: refused before anything is taken.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await Camera(hass, port).send(data)
    assert refused.value.smtp_code == 530
    # AUTH without TLS: not offered, and refused when tried.
    features = await Camera(hass, port).run(lambda c: c.esmtp_features)
    assert "auth" not in features
    assert "starttls" in features
    plain = base64.b64encode(b"\0camera\0s3cret-relay-pw").decode()
    reply = await Camera(hass, port).run(lambda c: c.docmd("AUTH", f"PLAIN {plain}"))
    assert reply[0] == 538
    # Wrong login over TLS.
    with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
        await Camera(hass, port, starttls=True, login=("camera", "wrong")).send(data)
    assert wrong.value.smtp_code == 535
    # The right one over STARTTLS (a self-signed certificate made on first start).
    good = Camera(hass, port, starttls=True, login=("camera", "s3cret-relay-pw"))
    assert await good.send(data) == {}
    await received(mail_server)
    assert (entry.runtime_data.relay.tls_folder / "relay-key.pem").stat().st_mode & 0o077 == 0
    assert "s3cret-relay-pw" not in caplog.text
    assert plain not in caplog.text


async def test_plain_login_when_allowed(hass: HomeAssistant, mail_server: TestSmtpServer) -> None:
    entry = await setup_relay(
        hass,
        mail_server,
        relay_username="camera",
        relay_password="pw",
        relay_allow_plain_auth=True,
    )
    data, _ = camera_message(size=100)
    assert await Camera(hass, relay_port(entry), login=("camera", "pw")).send(data) == {}


async def test_too_large_and_too_many_recipients(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    entry = await setup_relay(hass, mail_server, relay_max_mb=1)
    camera = Camera(hass, relay_port(entry))
    big, _ = camera_message(size=1_200_000)
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE declared in MAIL FROM
        await camera.send(big)
    assert refused.value.smtp_code == 552

    def undeclared(client: smtplib.SMTP) -> tuple[int, bytes]:
        client.mail(CAMERA)
        client.rcpt("guard@example.org")
        return client.data(big)

    assert (await camera.run(undeclared))[0] == 552

    small, _ = camera_message(size=100)
    many = [f"user{n}@example.org" for n in range(51)]
    refused_rcpt = await camera.send(small, recipients=many)
    assert refused_rcpt == {"user50@example.org": (452, b"4.5.3 Too many recipients")}
    await received(mail_server)
    assert len(mail_server.received[0].rcpt_tos) == 50


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Subject: x\r\n\r\nnul \x00 here\r\n", 554),
        (b"Subject: x\r\n\r\nbare\nline feed\r\n", 554),
        (b"Subject: " + b"x" * 2000 + b"\r\n\r\nhuge header\r\n", 500),
    ],
)
async def test_malformed_messages_get_an_error(
    hass: HomeAssistant, mail_server: TestSmtpServer, body: bytes, code: int
) -> None:
    entry = await setup_relay(hass, mail_server)
    camera = Camera(hass, relay_port(entry))

    def send_raw(client: smtplib.SMTP) -> tuple[int, bytes]:
        client.mail(CAMERA)
        client.rcpt("guard@example.org")
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(body + b".\r\n")
        return client.getreply()

    assert (await camera.run(send_raw))[0] == code
    good, _ = camera_message(size=100)
    assert await camera.send(good) == {}


async def test_broken_mime_is_relayed_as_it_came(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    body = (
        b'--zz\r\nContent-Type: image/jpeg; name="a.jpg\r\nContent-Transfer-Encoding: base64\r\n'
        b"\r\n!!!not base64@@\r\n--zz\r\nContent-Type: text/plain; charset=nonsense\r\n\r\n"
        b"\xe9t\xe9 8-bit\r\n"
    )  # an unterminated quote, no closing boundary, an unknown charset, 8-bit text
    data = (
        b"From: =?bad?Q?x?= <cam2@cameras.lan>\r\nSubject: =?utf-8?B?!!?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\nX-Odd:\r\n\r\n' + body
    )
    entry = await setup_relay(hass, mail_server)
    assert await Camera(hass, relay_port(entry)).send(data, sender="cam2@cameras.lan") == {}
    await received(mail_server)
    raw = mail_server.received[0].raw
    assert raw.endswith(b"\r\n\r\n" + body)
    assert b"X-Original-From: =?bad?Q?x?= <cam2@cameras.lan>\r\n" in raw
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "cam2@cameras.lan" in entry.runtime_data.relay.cameras


_JUNK = st.one_of(
    st.binary(max_size=700),
    st.tuples(
        st.sampled_from(
            [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"AUTH", b"STARTTLS", b"BDAT"]
        ),
        st.binary(max_size=300),
    ).map(lambda parts: parts[0] + b" " + parts[1]),
).map(lambda line: line.replace(b"\r", b"").replace(b"\n", b""))


async def test_malformed_commands_get_an_smtp_error(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    entry = await setup_relay(hass, mail_server)
    port = relay_port(entry)

    def reply(conn: socket.socket) -> bytes:
        data = b""
        while not re.search(rb"(^|\r\n)\d\d\d [^\r\n]*\r\n$", data):
            chunk = conn.recv(4096)
            assert chunk, f"hung up after {data!r}"
            data += chunk
        return data

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(line=_JUNK, ehlo=st.booleans())
    def every_line_gets_a_reply(line: bytes, ehlo: bool) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            assert reply(conn).startswith(b"220 ")
            if ehlo:
                conn.sendall(b"EHLO fuzz\r\n")
                reply(conn)
            conn.sendall(line + b"\r\n")
            answer = reply(conn)
            assert all(REPLY.match(part) for part in answer.split(b"\r\n") if part)

    await hass.async_add_executor_job(every_line_gets_a_reply)
    good, _ = camera_message(size=100)
    assert await Camera(hass, relay_port(entry)).send(good) == {}
