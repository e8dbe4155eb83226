"""Who may use the local relay, and its limits. Pure Python: plain values in, decisions out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import hmac
import ipaddress
import re

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_NETWORKS = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "fc00::/7",
)
DEFAULT_PORT = 2525
DEFAULT_MAX_MB = 25
DEFAULT_HEARTBEAT_HOURS = 25

# Limits a camera never reaches and a misbehaving client soon does.
MAX_RECIPIENTS = 50
MAX_CONNECTIONS = 20
MAX_COMMANDS = 200  # of each command, per connection
IDLE_TIMEOUT = 60.0

_SENDER = re.compile(r"^(?:[^@\s]+@)?[A-Za-z0-9.-]+\.?[A-Za-z0-9-]*$")


class PolicyValueError(ValueError):
    """One entry of a list in the options is not valid; ``value`` names it."""

    def __init__(self, value: str) -> None:
        """Keep the offending entry for the form's message."""
        super().__init__(value)
        self.value = value


def split_lines(value: str | Iterable[str] | None) -> list[str]:
    """Entries from a text (one a line, or separated by commas) or a list; blanks dropped."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    return [entry.strip() for part in parts for entry in re.split(r"[\n,;]", part) if entry.strip()]


def parse_networks(value: str | Iterable[str] | None) -> tuple[Network, ...]:
    """CIDR networks (a bare address is its own /32 or /128). Raises :class:`PolicyValueError`."""
    networks = []
    for entry in split_lines(value):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as err:
            raise PolicyValueError(entry) from err
    return tuple(networks)


def parse_senders(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Sender addresses or ``@domain`` entries, lower case. Raises :class:`PolicyValueError`."""
    senders = []
    for entry in split_lines(value):
        if not _SENDER.match(entry.removeprefix("@")) or entry.count("@") > 1:
            raise PolicyValueError(entry)
        senders.append(entry.lower())
    return tuple(senders)


def client_ip(peer: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address from a socket peer name; IPv4-mapped IPv6 counts as IPv4."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Everything the server checks. An empty ``networks`` allows no client at all."""

    networks: tuple[Network, ...] = field(default_factory=lambda: parse_networks(DEFAULT_NETWORKS))
    senders: tuple[str, ...] = ()  # empty: any sender
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_plain_auth: bool = False  # AUTH before STARTTLS (old cameras cannot do TLS)
    max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024
    max_recipients: int = MAX_RECIPIENTS
    max_connections: int = MAX_CONNECTIONS
    max_commands: int = MAX_COMMANDS
    idle_timeout: float = IDLE_TIMEOUT

    @property
    def auth_required(self) -> bool:
        """A login is configured: every client must use it."""
        return bool(self.username)

    def client_allowed(self, peer: object) -> bool:
        """The client's address is in one of the allowed networks."""
        address = client_ip(peer)
        return address is not None and any(address in network for network in self.networks)

    def sender_allowed(self, address: str) -> bool:
        """The envelope sender is allowed (any when no list is set)."""
        if not self.senders:
            return True
        address = address.lower()
        domain = "@" + address.rpartition("@")[2]
        return address in self.senders or domain in self.senders

    def login_valid(self, username: bytes, password: bytes) -> bool:
        """Constant-time comparison of both parts."""
        if not self.username or self.password is None:
            return False
        user_ok = hmac.compare_digest(username, self.username.encode())
        password_ok = hmac.compare_digest(password, self.password.encode())
        return user_ok and password_ok
