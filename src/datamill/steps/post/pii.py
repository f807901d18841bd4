"""``post_pii``: redact e-mail and public IP addresses in every message of a post-training
record (prompt, chosen, rejected, completion, ranked responses, and string tool-call
arguments), with ``pii_redact``'s detection and placeholders (see
:mod:`datamill.steps.safety.pii`). Counts go into ``signals["pii_emails"]`` and
``signals["pii_ips"]`` when non-zero. Redaction is idempotent and deterministic, so chosen and
rejected that were equal stay equal.
"""

from __future__ import annotations

from datamill.core.record import Record
from datamill.core.step import Transform, register
from datamill.post.walk import iter_messages
from datamill.steps.post.sides import set_signals
from datamill.steps.safety.pii import (DEFAULT_EMAIL_REPLACEMENT, DEFAULT_IPV6_REPLACEMENT,
                                       PIIRedact)


@register("post_pii")
class PostPII(Transform):
    """Replace e-mail addresses and public IP addresses in every message."""

    def __init__(self, emails: bool = True, ip_addresses: bool = True,
                 only_public_ips: bool = True,
                 email_replacement: str = DEFAULT_EMAIL_REPLACEMENT,
                 ip_replacements: list[str] | None = None,
                 ipv6_replacement: str = DEFAULT_IPV6_REPLACEMENT,
                 roles: list[str] | None = None) -> None:
        self._redactor = PIIRedact(emails=emails, ip_addresses=ip_addresses,
                                   only_public_ips=only_public_ips,
                                   email_replacement=email_replacement,
                                   ip_replacements=ip_replacements,
                                   ipv6_replacement=ipv6_replacement)
        self.roles = frozenset(roles) if roles else None

    def transform(self, record: Record) -> Record:
        n_emails = n_ips = 0
        for _, msg in iter_messages(record):
            if self.roles is not None and msg.get("role") not in self.roles:
                continue
            content = msg.get("content")
            if isinstance(content, str) and content:
                new, e, i = self._redactor.redact(content)
                if e or i:
                    msg["content"] = new
                    n_emails += e
                    n_ips += i
            for call in msg.get("tool_calls") or ():
                args = call.get("arguments") if isinstance(call, dict) else None
                if isinstance(args, str) and args:
                    new, e, i = self._redactor.redact(args)
                    if e or i:
                        call["arguments"] = new
                        n_emails += e
                        n_ips += i
        if n_emails or n_ips:
            sig = {}
            if n_emails:
                sig["pii_emails"] = n_emails
            if n_ips:
                sig["pii_ips"] = n_ips
            set_signals(record, self.label, **sig)
        return record
