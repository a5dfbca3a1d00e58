"""The SMTP channel keeps one connection and sends every message on it; when the server closed it
meanwhile (idle timeout, 421, reset) the message goes out once on a new one, but a connection lost after
the message data went out is never sent on again (the server may have it); QUIT ends the session."""
from __future__ import annotations

import uuid

import pytest

from services.notifications.channels.base import Outgoing, PermanentDeliveryError, TransientDeliveryError
from services.notifications.channels.smtp_email import SmtpEmail
from tests.fakes.smtp import FakeSmtp
from tests.helpers import wait_until


def message(to: str | None = None) -> Outgoing:
    return Outgoing(notification_id=str(uuid.uuid4()), channel="email", to=to or f"pat-{uuid.uuid4().hex}@example.org",
                    subject="Your CareKey verification code", text="Your code is 482913.")


def email_channel(server: FakeSmtp) -> SmtpEmail:
    return SmtpEmail(host="127.0.0.1", port=server.port, mail_from="CareKey <no-reply@carekey.local>", timeout=5.0)


@pytest.fixture
def channel(smtp):
    opened = email_channel(smtp)
    yield opened
    opened.close()


def received_once(server: FakeSmtp, sent: Outgoing) -> bool:
    [copy] = server.to(sent.to)
    return copy["Message-ID"] == f"<{sent.notification_id}@carekey>"


def test_one_connection_carries_every_message(smtp, channel):
    sent = [message() for _ in range(20)]
    for each in sent:
        channel.send(each)
    assert all(received_once(smtp, each) for each in sent)
    assert smtp.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_message_goes_out_once():
    server = FakeSmtp(idle_timeout=0.5).start()
    channel = email_channel(server)
    try:
        first, second = message(), message()
        channel.send(first)
        assert wait_until(lambda: server.open_connections() == 0, 10), "the server closed the idle connection"
        channel.send(second)
        assert received_once(server, first) and received_once(server, second)
        assert server.connections == 2
    finally:
        channel.close()
        server.stop()


def test_a_421_closing_answer_is_followed_by_a_new_connection(smtp, channel):
    channel.send(message())
    smtp.closing_next_mail = True
    after = message()
    channel.send(after)
    assert received_once(smtp, after) and smtp.connections == 2


def test_a_reset_connection_is_replaced_and_the_message_goes_out_once(smtp, channel):
    channel.send(message())
    smtp.reset_connections()
    assert wait_until(lambda: smtp.open_connections() == 0, 10)
    after = message()
    channel.send(after)
    assert received_once(smtp, after) and smtp.connections == 2


def test_a_connection_lost_after_the_message_went_out_is_not_sent_on_again(smtp, channel):
    channel.send(message())
    smtp.reset_after_next_message = True  # the server keeps it, the client never hears its 250
    lost = message()
    with pytest.raises(TransientDeliveryError):
        channel.send(lost)
    assert received_once(smtp, lost), "one copy: the channel did not send it again on a new connection"
    channel.send(message())
    assert smtp.connections == 2


def test_a_refused_recipient_fails_alone_and_the_connection_stays(smtp, channel):
    smtp.refuse.add("nobody@example.org")
    with pytest.raises(PermanentDeliveryError):
        channel.send(message("nobody@example.org"))
    after = message()
    channel.send(after)
    assert received_once(smtp, after) and smtp.connections == 1


def test_close_ends_the_session_with_quit_and_a_later_message_reconnects(smtp, channel):
    channel.send(message())
    channel.close()
    assert wait_until(lambda: smtp.quits == 1 and smtp.open_connections() == 0, 10)
    after = message()
    channel.send(after)
    assert received_once(smtp, after) and smtp.connections == 2
