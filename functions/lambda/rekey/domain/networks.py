"""Whose network an address is in: AWS's, GitHub Actions' hosted runners', a CI system's, or
nobody's that rekey knows. Pure: the ranges are given, never fetched.

The defaults are small pinned subsets, so that the advisor runs offline and its tests are
deterministic; they are NOT the full lists. For real use, download the current files and hand
them over (`rekey advise --aws-ranges ip-ranges.json --github-meta meta.json`):

- AWS: https://ip-ranges.amazonaws.com/ip-ranges.json (`prefixes[].ip_prefix`,
  `ipv6_prefixes[].ipv6_prefix`; AWS updates it several times a day). Subset below: prefixes as
  they appear in copies of that file from 2024 (`3.80.0.0/12` EC2 us-east-1, `3.5.140.0/22`
  ap-northeast-2, `3.2.34.0/26` af-south-1, `35.180.0.0/16` eu-west-3).
- GitHub Actions: https://api.github.com/meta, its `actions` list (GitHub-hosted runners; they
  run in Azure, so these ranges are shared with other Azure tenants: an address alone is a hint,
  not proof). Subset below: the first entries of that list as copies of it showed in 2025
  (`4.148.0.0/16` ... `4.180.0.0/16`).
- Other CI systems publish ranges of their own (CircleCI's IP ranges feature, HCP Terraform's
  /api/meta/ip-ranges): none is built in; name them in the networks file (`ci:<system>`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

AWS = "aws"
GITHUB_ACTIONS = "github-actions"
CI_PREFIX = "ci:"

PINNED_AWS = ("3.80.0.0/12", "3.5.140.0/22", "3.2.34.0/26", "35.180.0.0/16")
PINNED_GITHUB_ACTIONS = (
    "4.148.0.0/16",
    "4.149.0.0/18",
    "4.150.0.0/18",
    "4.151.0.0/16",
    "4.152.0.0/15",
    "4.154.0.0/15",
    "4.156.0.0/15",
    "4.175.0.0/16",
    "4.180.0.0/16",
)
PINNED_SNAPSHOT = "pinned subsets (AWS ip-ranges.json 2024, GitHub /meta actions 2025): not the full lists"


class NetworksError(ValueError):
    """A ranges file that is not what it claims to be."""


@dataclass(frozen=True)
class Networks:
    """Named sets of address ranges, and where they came from (said beside every advice)."""

    ranges: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    source: str = PINNED_SNAPSHOT

    def owner(self, address: str) -> str | None:
        """The name of the first network holding `address` (GitHub Actions before AWS before a
        CI system's); None when it is in none, or is no IP address (CloudTrail writes a service's
        name, e.g. `codecommit.amazonaws.com`, or `AWS Internal`, for calls AWS made itself)."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
        for name in sorted(self.ranges, key=_order):
            if any(ip.version == net.version and ip in net for net in self.ranges[name]):
                return name
        return None

    def merged(self, other: Networks) -> Networks:
        """These ranges with `other`'s; a name `other` has replaces this one's."""
        return Networks({**self.ranges, **other.ranges}, f"{other.source}; {self.source}")


def _order(name: str) -> tuple[int, str]:
    return ({GITHUB_ACTIONS: 0, AWS: 1}.get(name, 2), name)


def parse(cidrs: Iterable[str], what: str) -> tuple[Network, ...]:
    """CIDRs as networks, or NetworksError naming the first bad one."""
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise NetworksError(f"{what}: {cidr!r} is not an address range") from None
    return tuple(nets)


def pinned() -> Networks:
    """The built-in subsets (see the module's docstring)."""
    return Networks(
        {AWS: parse(PINNED_AWS, AWS), GITHUB_ACTIONS: parse(PINNED_GITHUB_ACTIONS, GITHUB_ACTIONS)}, PINNED_SNAPSHOT
    )


def from_aws_ip_ranges(document: Any, what: str = "ip-ranges.json") -> Networks:
    """AWS's ip-ranges.json (every prefix, every service: an address AWS owns)."""
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise NetworksError(f"{what}: not AWS's ip-ranges.json (no `prefixes` list)")
    cidrs = [p.get("ip_prefix") for p in document["prefixes"] if isinstance(p, dict)]
    cidrs += [p.get("ipv6_prefix") for p in document.get("ipv6_prefixes") or [] if isinstance(p, dict)]
    created = document.get("createDate", "undated")
    return Networks({AWS: parse([c for c in cidrs if c], what)}, f"{what} of {created}")


def from_github_meta(document: Any, what: str = "GitHub /meta") -> Networks:
    """GitHub's /meta answer: its `actions` list (GitHub-hosted runners)."""
    if not isinstance(document, dict) or not isinstance(document.get("actions"), list):
        raise NetworksError(f"{what}: not GitHub's /meta answer (no `actions` list)")
    return Networks({GITHUB_ACTIONS: parse(document["actions"], what)}, what)


def from_named(document: Any, what: str = "networks file") -> Networks:
    """`{"<name>": ["cidr", ...], ...}`: names `aws`, `github-actions` or `ci:<system>`."""
    if not isinstance(document, dict):
        raise NetworksError(f"{what}: not an object of named CIDR lists")
    ranges = {}
    for name, cidrs in document.items():
        if name not in (AWS, GITHUB_ACTIONS) and not (name.startswith(CI_PREFIX) and len(name) > len(CI_PREFIX)):
            raise NetworksError(f"{what}: {name!r} is not aws, github-actions or ci:<system>")
        if not isinstance(cidrs, list):
            raise NetworksError(f"{what}: {name!r} is not a list of CIDRs")
        ranges[name] = parse(cidrs, f"{what} {name}")
    return Networks(ranges, what)
