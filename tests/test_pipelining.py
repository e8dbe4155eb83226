"""Round trips on a slow link: pipelining, one-turn AUTH, QUIT not awaited, the greeting probe.

Every test goes through the link emulator (tests/link.py) to a real aiosmtpd server and counts
the turns of the conversation; none measures time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
import ssl

import aiosmtplib
import pytest

from custom_components.ptz_email_alert.mail import (
    Attachment,
    EmailContent,
    Encryption,
    FailureCause,
    RawMessage,
    SendResult,
    SmtpError,
    SmtpSession,
    SmtpSettings,
    build_message,
    send_messages,
)

from .link import Link, LinkProfile
from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer

FAST = LinkProfile("test", rtt=0.020, up_bps=20e6, down_bps=20e6)
JPEG = bytes.fromhex("ffd8ffe0") + bytes(range(256)) * 40 + b"\xff\xd9"

type MakeLink = Callable[..., Awaitable[Link]]


@pytest.fixture
async def make_link(socket_enabled: None) -> AsyncGenerator[MakeLink]:
    links: list[Link] = []

    async def make(server: TestSmtpServer, profile: LinkProfile = FAST, **options: int) -> Link:
        link = Link((server.host, server.port), profile, **options)  # type: ignore[arg-type]
        await link.start()
        links.append(link)
        return link

    yield make
    for link in links:
        await link.stop()


def settings_via(link: Link, mode: str, timeout: float = 10) -> SmtpSettings:
    return SmtpSettings(
        host=link.host,
        port=link.port,
        encryption=Encryption(mode),
        username=USERNAME,
        password=PASSWORD,
        timeout=timeout,
        tls_context=link_tls_context(),
        local_hostname="camera.test",
    )


def link_tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def alert(recipients: tuple[str, ...] = ("owner@example.com",), pictures: int = 3) -> RawMessage:
    content = EmailContent(
        subject="North Fence - Human Detected",
        text="Motion.",
        attachments=[Attachment(f"snap{i}.jpg", JPEG + bytes([i])) for i in range(pictures)],
    )
    message = build_message(content, sender="camera@example.com", recipients=list(recipients))
    return RawMessage.from_message(message)


# Turns on one connection, QUIT's exchange included (it is written, not awaited):
# TCP, TLS, greeting, EHLO, AUTH, then per message MAIL+RCPT+DATA and the body, then QUIT.
IMPLICIT_TLS_SETUP = 5
STARTTLS_SETUP = 7  # TCP, greeting, EHLO, STARTTLS, TLS, EHLO, AUTH


@pytest.mark.parametrize(
    ("mode", "setup"), [("ssl", IMPLICIT_TLS_SETUP), ("starttls", STARTTLS_SETUP)]
)
@pytest.mark.parametrize("recipients", [1, 2])
async def test_pipelining_when_offered(
    smtp_server: ServerFactory, make_link: MakeLink, mode: str, setup: int, recipients: int
) -> None:
    server = await smtp_server(mode)
    link = await make_link(server)
    to = tuple(f"person{i}@example.com" for i in range(recipients))
    outcomes = await send_messages(settings_via(link, mode), [alert(to), alert(to)])
    await link.idle()

    assert all(isinstance(o, SendResult) for o in outcomes)
    assert [m.rcpt_tos for m in server.received] == [list(to)] * 2
    # Two turns a message (MAIL/RCPT/DATA together, then the body), whatever the recipients.
    assert link.stats.round_trips == setup + 2 * 2 + 1


@pytest.mark.parametrize(
    ("mode", "setup"), [("ssl", IMPLICIT_TLS_SETUP), ("starttls", STARTTLS_SETUP)]
)
async def test_no_pipelining_when_absent(
    smtp_server: ServerFactory, make_link: MakeLink, mode: str, setup: int
) -> None:
    server = await smtp_server(mode, offer_pipelining=False)
    link = await make_link(server)
    to = ("a@example.com", "b@example.com")
    outcomes = await send_messages(settings_via(link, mode), [alert(to)])
    await link.idle()

    assert isinstance(outcomes[0], SendResult)
    assert server.received[0].rcpt_tos == list(to)
    # MAIL, each RCPT, DATA and the body: one turn each.
    assert link.stats.round_trips == setup + 1 + len(to) + 1 + 1 + 1


@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [
        ({"mail_reply": "553 5.7.1 Sender not allowed"}, FailureCause.SENDER_REFUSED),
        ({"rcpt_reply": "550 5.1.1 No such user"}, FailureCause.RECIPIENTS_REFUSED),
        ({"data_reply": "554 5.6.0 Message rejected"}, FailureCause.REJECTED),
        ({"mail_reply": "452 4.3.1 Insufficient storage"}, FailureCause.TEMPORARY),
    ],
)
@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "turn_by_turn"])
async def test_refusals_are_classified_and_the_batch_goes_on(
    smtp_server: ServerFactory,
    make_link: MakeLink,
    behaviour: dict[str, str],
    cause: FailureCause,
    pipelining: bool,
) -> None:
    server = await smtp_server("ssl", offer_pipelining=pipelining, **behaviour)
    link = await make_link(server)
    first, second = await send_messages(settings_via(link, "ssl"), [alert(), alert()])
    assert isinstance(first, SmtpError)
    assert first.cause is cause
    # The connection stayed usable: the second message got its own answer on it.
    assert isinstance(second, SmtpError)
    assert second.cause is cause
    assert len(link.stats.connections) == 1


async def test_one_recipient_refused_of_two(
    smtp_server: ServerFactory, make_link: MakeLink
) -> None:
    server = await smtp_server("ssl", rcpt_refusals={"gone@example.com": "550 5.1.1 No such user"})
    link = await make_link(server)
    (result,) = await send_messages(
        settings_via(link, "ssl"), [alert(("gone@example.com", "owner@example.com"))]
    )
    assert isinstance(result, SendResult)
    assert result.refused_recipients == {"gone@example.com": "550 5.1.1 No such user"}
    assert server.received[0].rcpt_tos == ["owner@example.com"]


async def test_tls_13_is_negotiated(smtp_server: ServerFactory, make_link: MakeLink) -> None:
    server = await smtp_server("ssl")
    link = await make_link(server)
    async with SmtpSession(settings_via(link, "ssl")) as session:
        assert tls_version(session.client) == "TLSv1.3"


@pytest.mark.parametrize("rtt", [0.150, 0.400])
async def test_slow_starttls_login_is_not_probed(
    smtp_server: ServerFactory, make_link: MakeLink, rtt: float
) -> None:
    """Seven turns of STARTTLS login take far over the greeting grace on these links; only a
    late greeting may start the implicit-TLS probe, so there is one connection, not two."""
    server = await smtp_server("starttls")
    profile = LinkProfile(f"rtt-{rtt}", rtt=rtt, up_bps=1e6, down_bps=4e6)
    link = await make_link(server, profile)
    outcomes = await send_messages(settings_via(link, "starttls", timeout=10), [alert(pictures=0)])
    assert isinstance(outcomes[0], SendResult)
    assert len(link.stats.connections) == 1
    assert server.connections == 1


def tls_version(client: aiosmtplib.SMTP) -> str | None:
    """The TLS version of a connected client (e.g. ``"TLSv1.3"``), or None in plain text."""
    try:
        ssl_object = client.get_transport_info("ssl_object")
    except aiosmtplib.SMTPServerDisconnected:
        return None
    return ssl_object.version() if isinstance(ssl_object, ssl.SSLObject) else None
