"""mail.sender and mail.errors against a real aiosmtpd server (no Home Assistant involved)."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

import pytest

from custom_components.ptz_email_alert.mail import (
    Attachment,
    EmailContent,
    Encryption,
    ErrorKind,
    FailureCause,
    SmtpError,
    SmtpSettings,
    build_message,
    send_message,
    send_messages,
    verify_login,
)

from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer, refused_port

JPEG = bytes.fromhex("ffd8ffe000104a464946") + bytes(range(256)) * 40 + b"\xff\xd9"


def _settings(
    server: TestSmtpServer | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    encryption: Encryption | None = None,
    verify: ssl.SSLContext | None = None,
    timeout: float = 5,
    username: str | None = USERNAME,
    password: str | None = PASSWORD,
) -> SmtpSettings:
    if encryption is None:
        assert server is not None
        encryption = Encryption(server.mode)
    if verify is None:
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        verify.check_hostname = False
        verify.verify_mode = ssl.CERT_NONE
    return SmtpSettings(
        host=server.host if server else host,
        port=server.port if server else port,
        encryption=encryption,
        username=username,
        password=password,
        timeout=timeout,
        tls_context=verify,
    )


def _message(subject: str = "Front gate – Human Detected", attachments: int = 0) -> object:
    content = EmailContent(
        subject=subject,
        text="Motion at the front gate.",
        html="<p>Motion at the <b>front gate</b>.</p>",
        attachments=[Attachment(f"snap{i}.jpg", JPEG + bytes([i])) for i in range(attachments)],
    )
    return build_message(content, sender="camera@example.com", recipients=["owner@example.com"])


@pytest.mark.parametrize("mode", ["ssl", "starttls", "none"])
async def test_send_in_each_mode(smtp_server: ServerFactory, mode: str) -> None:
    server = await smtp_server(mode)
    message = _message(attachments=3)
    result = await send_message(_settings(server), message)  # type: ignore[arg-type]

    assert len(server.received) == 1
    received = server.received[0]
    assert received.login == USERNAME
    assert received.mail_from == "camera@example.com"
    assert received.rcpt_tos == ["owner@example.com"]
    parsed = received.message
    assert parsed["Subject"] == "Front gate – Human Detected"
    assert parsed["Message-ID"] == result.message_id
    assert result.response.startswith("2.0.0 OK")
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "Motion at the front gate."
    files = [(p.get_filename(), p.get_content()) for p in parsed.iter_attachments()]
    assert files == [(f"snap{i}.jpg", JPEG + bytes([i])) for i in range(3)]


async def test_verified_tls_with_trusted_ca(smtp_server: ServerFactory) -> None:
    server = await smtp_server("ssl")
    trusted = server.certificates.client_context()
    await verify_login(_settings(server, verify=trusted))
    await verify_login(_settings(server, host="localhost", verify=trusted))


async def test_untrusted_certificate_is_invalid_cert(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(server, verify=ssl.create_default_context()))
    assert err.value.cause is FailureCause.INVALID_CERT
    assert err.value.kind is ErrorKind.TLS


async def test_batch_uses_one_connection(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    messages = [_message(subject=f"Alert {i}") for i in range(5)]
    outcomes = await send_messages(_settings(server), messages)  # type: ignore[arg-type]
    assert all(not isinstance(o, SmtpError) for o in outcomes)
    assert [r.message["Subject"] for r in server.received] == [f"Alert {i}" for i in range(5)]
    assert server.connections == 1


async def test_batch_keeps_going_after_a_refused_message(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls", data_reply="552 5.3.4 Message size exceeds limit")
    outcomes = await send_messages(_settings(server), [_message(), _message()])  # type: ignore[list-item]
    assert [o.cause for o in outcomes if isinstance(o, SmtpError)] == [
        FailureCause.MESSAGE_TOO_LARGE,
        FailureCause.MESSAGE_TOO_LARGE,
    ]
    assert server.connections == 1


@pytest.mark.parametrize(
    ("behaviour", "cause", "kind", "code"),
    [
        (
            {"auth_reply": "535 5.7.8 Username and Password not accepted."},
            FailureCause.AUTH,
            ErrorKind.AUTH,
            535,
        ),
        (
            {"auth_reply": "534 5.7.9 Application-specific password required."},
            FailureCause.APP_PASSWORD_REQUIRED,
            ErrorKind.APP_PASSWORD_REQUIRED,
            534,
        ),
        (
            {
                "auth_reply": "535 5.7.139 Authentication unsuccessful, basic authentication "
                "is disabled."
            },
            FailureCause.BASIC_AUTH_DISABLED,
            ErrorKind.BASIC_AUTH_DISABLED,
            535,
        ),
        (
            {"auth_reply": "535 5.7.3 Authentication unsuccessful"},
            FailureCause.BASIC_AUTH_DISABLED,
            ErrorKind.BASIC_AUTH_DISABLED,
            535,
        ),
        (
            {
                "mail_reply": "550 5.7.30 Basic authentication is not supported for Client Submission."
            },
            FailureCause.BASIC_AUTH_DISABLED,
            ErrorKind.BASIC_AUTH_DISABLED,
            550,
        ),
        (
            {"auth_reply": "454 4.7.0 Too many login attempts, please try again later."},
            FailureCause.TEMPORARY,
            ErrorKind.TEMPORARY,
            454,
        ),
        (
            {"mail_reply": "553 5.7.1 Sender address rejected: not owned by user"},
            FailureCause.SENDER_REFUSED,
            ErrorKind.SENDER_REFUSED,
            553,
        ),
        (
            {"mail_reply": "552 5.3.4 Message size exceeds fixed limit"},
            FailureCause.MESSAGE_TOO_LARGE,
            ErrorKind.MESSAGE_TOO_LARGE,
            552,
        ),
        (
            {"rcpt_reply": "550 5.1.1 The email account that you tried to reach does not exist."},
            FailureCause.RECIPIENTS_REFUSED,
            ErrorKind.RECIPIENTS_REFUSED,
            550,
        ),
        (
            {"rcpt_reply": "450 4.2.1 Mailbox busy, try again"},
            FailureCause.TEMPORARY,
            ErrorKind.TEMPORARY,
            450,
        ),
        (
            {"data_reply": "552 5.2.3 Your message exceeded Google's message size limits."},
            FailureCause.MESSAGE_TOO_LARGE,
            ErrorKind.MESSAGE_TOO_LARGE,
            552,
        ),
        (
            {"data_reply": "421 4.7.0 Try again later, closing connection."},
            FailureCause.TEMPORARY,
            ErrorKind.TEMPORARY,
            421,
        ),
        (
            {"data_reply": "554 5.7.1 Message rejected as spam"},
            FailureCause.REJECTED,
            ErrorKind.REJECTED,
            554,
        ),
        ({"drop_in_data": True}, FailureCause.DISCONNECTED, ErrorKind.DISCONNECTED, None),
    ],
)
async def test_server_replies_are_classified(
    smtp_server: ServerFactory,
    behaviour: dict[str, object],
    cause: FailureCause,
    kind: ErrorKind,
    code: int | None,
) -> None:
    server = await smtp_server("starttls", **behaviour)
    with pytest.raises(SmtpError) as err:
        await send_message(_settings(server), _message())  # type: ignore[arg-type]
    assert err.value.cause is cause
    assert err.value.kind is kind
    assert err.value.code == code
    assert err.value.server == f"127.0.0.1:{server.port}"
    assert PASSWORD not in str(err.value)
    assert server.received == []


async def test_wrong_password_is_auth(smtp_server: ServerFactory) -> None:
    server = await smtp_server("ssl")
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(server, password="wrong"))
    assert err.value.cause is FailureCause.AUTH
    assert err.value.code == 535
    assert err.value.cause.is_permanent


async def test_no_auth_offered(smtp_server: ServerFactory) -> None:
    server = await smtp_server("none", offer_auth=False)
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(server))
    assert err.value.cause is FailureCause.AUTH_NOT_SUPPORTED
    # Without a login the same relay takes the mail.
    await send_message(_settings(server, username=None, password=None), _message())  # type: ignore[arg-type]
    assert len(server.received) == 1
    assert server.received[0].login is None


async def test_starttls_required_but_not_offered(smtp_server: ServerFactory) -> None:
    server = await smtp_server("none")
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(server, encryption=Encryption.STARTTLS))
    assert err.value.cause is FailureCause.TLS_MODE_MISMATCH
    assert server.received == []


async def test_implicit_tls_on_a_starttls_port(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(server, encryption=Encryption.SSL))
    assert err.value.cause is FailureCause.TLS_MODE_MISMATCH


async def test_starttls_on_an_implicit_tls_port_is_found_quickly(
    smtp_server: ServerFactory,
) -> None:
    """Both sides wait for the other; the probe finds the TLS port well before the timeout."""
    server = await smtp_server("ssl")
    with pytest.raises(SmtpError) as err:
        # A 60 s timeout: if the probe did not work, pytest's timeout would end the test.
        await verify_login(_settings(server, encryption=Encryption.STARTTLS, timeout=60))
    assert err.value.cause is FailureCause.TLS_MODE_MISMATCH


async def test_silent_server_times_out(smtp_server: ServerFactory) -> None:
    server = await smtp_server.stalling()
    with pytest.raises(SmtpError) as err:
        await verify_login(
            _settings(
                host=server.host, port=server.port, encryption=Encryption.STARTTLS, timeout=1.5
            )
        )
    assert err.value.cause is FailureCause.TIMEOUT
    assert not err.value.cause.is_permanent


async def test_connection_refused(socket_enabled: None) -> None:
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(port=refused_port(), encryption=Encryption.SSL))
    assert err.value.cause is FailureCause.REFUSED
    assert err.value.kind is ErrorKind.REFUSED


async def test_unknown_host_is_dns(socket_enabled: None, unknown_host: str) -> None:
    with pytest.raises(SmtpError) as err:
        await verify_login(_settings(host=unknown_host, port=587, encryption=Encryption.STARTTLS))
    assert err.value.cause is FailureCause.DNS


@pytest.mark.parametrize("phase", ["connecting", "greeting", "probe"])
async def test_cancelled_send_hangs_up(smtp_server: ServerFactory, phase: str) -> None:
    """An unload or reload during an alert cancels the send: no connection may stay open.

    ``connecting``: cancelled while the TCP connection is being made (the server accepts it
    afterwards); ``greeting``: while waiting for the server's first words; ``probe``: after the
    grace time, while a second connection tries TLS.
    """
    server = await smtp_server.stalling()
    settings = _settings(
        host=server.host, port=server.port, encryption=Encryption.STARTTLS, timeout=60
    )
    # A set local name: no name lookup in a thread, so the connect's first step is its socket.
    settings = dataclasses.replace(settings, local_hostname="camera.test")
    sending = asyncio.ensure_future(send_messages(settings, [_message()]))  # type: ignore[list-item]
    if phase == "connecting":
        for _ in range(3):  # let the send make its connect call (yields, no time passes)
            await asyncio.sleep(0)
    else:
        await server.connected.wait()
    if phase == "probe":
        server.connected.clear()
        await server.connected.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    async with asyncio.timeout(5):  # a guard only: each step is an event
        await server.connected.wait()
        for hangup in server.hangups:
            await hangup.wait()
