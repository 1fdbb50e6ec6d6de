"""The event document under construction: ECS sections, host sides, addresses and error facts."""

from __future__ import annotations

from typing import Any

from shipper.exim.classify import (
    CONNECT_CLASSES,
    classify,
    hint_for,
    response_codes,
    routed_locally,
    smtp_error,
)
from shipper.exim.fields import ip_facts, strip_angle

# Documents are JSON objects built field by field; their schema is docs/fields.md.
Document = dict[str, Any]


class Event:
    """Mutable builder of one event document; sections are created on first use."""

    __slots__ = ("doc", "exim")

    def __init__(self) -> None:
        self.doc: Document = {}
        self.exim: dict[str, Any] = {}

    def sec(self, name: str) -> dict[str, Any]:
        """A top-level section (`email`, `source`, …), created empty when first needed."""
        s: dict[str, Any] | None = self.doc.get(name)
        if s is None:
            s = self.doc[name] = {}
        return s

    def sub(self, name: str) -> dict[str, Any]:
        """An `exim.*` sub-object (`exim.error`, `exim.tls`, …), created when first needed."""
        s: dict[str, Any] | None = self.exim.get(name)
        if s is None:
            s = self.exim[name] = {}
        return s

    # --- hosts ---------------------------------------------------------------------------

    def host(self, side: str, group: dict[str, Any]) -> None:
        """Record an `H=` group as the remote `source` (inbound) or `destination` (outbound)."""
        s = self.sec(side)
        address = group["address"]
        s["address"] = address
        facts = ip_facts(address)
        if facts is not None:
            s["ip"] = facts[0]
        port = group.get("port")
        if isinstance(port, int):
            s["port"] = port
        name = group.get("name")
        if name:
            s["domain"] = name
        if "helo" in group:
            self.exim["helo"] = group["helo"]
        if group.get("connection_reused"):
            self.exim["connection_reused"] = True
        if group.get("dnssec"):
            self.exim["dnssec"] = True
        if "raw" in group:
            self.exim["host_raw"] = group["raw"]

    def remote_host(self, side: str, name: str, address: str) -> None:
        """A remote host named inside free text (`host mx.example [192.0.2.1]: …`)."""
        if side in self.doc:
            return
        self.host(side, {"address": address, "name": name})

    # --- addresses -----------------------------------------------------------------------

    def sender(self, address: str) -> None:
        """The envelope sender; `<>` (bounces) is recorded as exim.sender_empty, not an address."""
        address = strip_angle(address)
        if address in ("", "<>"):
            self.exim["sender_empty"] = True
            return
        self.sec("email").setdefault("from", {})["address"] = address

    def recipients(self, addresses: list[str]) -> None:
        """Append envelope recipients to email.to.address."""
        if not addresses:
            return
        to = self.sec("email").setdefault("to", {}).setdefault("address", [])
        to.extend(addresses)

    # --- errors --------------------------------------------------------------------------

    def error(
        self,
        message: str,
        *,
        temporary: bool | None,
        errno: str | None = None,
        context: str | None = None,
        stage: str | None = None,
        side: str = "destination",
        default: str | None = None,
    ) -> None:
        """Fill exim.error.* from a failure text: stage, codes, response text, class and hint."""
        err = self.sub("error")
        message = message.strip()
        if message:
            err["message"] = message
        facts = smtp_error(message) if "SMTP" in message or "after" in message else {}
        if "host" in facts:
            self.remote_host(side, facts["host"], facts["host_ip"])
        text = facts.get("text")
        code = facts.get("smtp_code")
        enhanced = facts.get("enhanced_code")
        if text is None:
            text = message
            codes = response_codes(message)
            code = codes.get("smtp_code")
            enhanced = codes.get("enhanced_code")
        if text:
            err["text"] = text
        if code is not None:
            err["smtp_code"] = code
        if enhanced:
            err["enhanced_code"] = enhanced
        stage = facts.get("stage") or stage
        if stage:
            err["stage"] = stage
        if errno is not None:
            try:
                err["errno"] = int(errno)
            except ValueError:
                err["errno_raw"] = errno
        name, temp = classify(
            text or message,
            smtp_code=code,
            enhanced=enhanced,
            errno=errno,
            temporary=temporary,
            context=context,
            default=default,
        )
        if "stage" not in err:
            if name in CONNECT_CLASSES:
                err["stage"] = "connect"
            elif side == "destination" and "destination" not in self.doc:
                err["stage"] = "local"  # no remote host involved: routing or local delivery
        err["class"] = name
        err["temporary"] = temp
        local = side == "destination" and routed_locally(self.exim.get("router"))
        err["hint"] = hint_for(name, local=local)
