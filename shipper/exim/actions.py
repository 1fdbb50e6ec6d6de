"""The `event.action` vocabulary and each action's ECS kind/category/type/outcome, in one table."""

from __future__ import annotations

from typing import NamedTuple


class ActionMeta(NamedTuple):
    """ECS categorisation shared by every event of one action."""

    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: str  # success | failure | unknown


_E, _N, _A, _P, _C, _M, _S = (
    ("email",),
    ("network",),
    ("authentication",),
    ("process",),
    ("configuration",),
    ("malware",),
    ("session",),
)
OK, FAIL, UNK = "success", "failure", "unknown"

ACTIONS: dict[str, ActionMeta] = {
    # flag lines
    "message_arrived": ActionMeta(_E, ("info",), OK),
    "message_arrived_fakereject": ActionMeta(_E, ("info",), OK),
    "delivered": ActionMeta(_E, ("info",), OK),
    "delivered_additional": ActionMeta(_E, ("info",), OK),
    "delivered_cutthrough": ActionMeta(_E, ("info",), OK),
    "delivery_suppressed": ActionMeta(_E, ("info",), UNK),
    "delivery_failed": ActionMeta(_E, ("error",), FAIL),
    "delivery_deferred": ActionMeta(_E, ("error",), FAIL),
    # per-message status lines
    "message_completed": ActionMeta(_E, ("end",), OK),
    "message_frozen": ActionMeta(_E, ("change",), FAIL),
    "message_frozen_skipped": ActionMeta(_E, ("info",), UNK),
    "message_unfrozen": ActionMeta(_E, ("change",), OK),
    "message_removed": ActionMeta(_E, ("deletion",), UNK),
    "message_cancelled": ActionMeta(_E, ("deletion",), FAIL),
    "message_moved": ActionMeta(_E, ("change",), OK),
    "message_queued": ActionMeta(_E, ("info",), UNK),
    "message_rejected": ActionMeta(_E, ("denied",), FAIL),
    "message_abandoned": ActionMeta(_E, ("error",), FAIL),
    "spool_locked": ActionMeta(_E, ("info",), UNK),
    "error_ignored": ActionMeta(_E, ("info",), UNK),
    "transport_output": ActionMeta(_E, ("info",), UNK),
    "queue_admin": ActionMeta(_E, ("admin", "change"), OK),
    "system_filter": ActionMeta(_E, ("info",), UNK),
    "address_rewritten": ActionMeta(_E, ("change",), OK),
    "router_error": ActionMeta(_E, ("error",), FAIL),
    "rewrite_error": ActionMeta(_E, ("error",), FAIL),
    "remote_smtp_error": ActionMeta((*_E, *_N), ("error",), FAIL),
    "remote_host_error": ActionMeta((*_E, *_N), ("error",), FAIL),
    "remote_auth_failed": ActionMeta((*_E, *_A), ("error",), FAIL),
    "cutthrough_rejected": ActionMeta(_E, ("denied",), FAIL),
    "prdr_result": ActionMeta(_E, ("info",), UNK),
    "dkim_verify": ActionMeta(_E, ("info",), UNK),
    "dkim_error": ActionMeta(_E, ("error",), FAIL),
    "arc_error": ActionMeta(_E, ("error",), FAIL),
    "dmarc_result": ActionMeta(_E, ("info",), UNK),
    "spam_verdict": ActionMeta(_E, ("info",), UNK),
    "virus_scan": ActionMeta((*_E, *_M), ("info",), UNK),
    "acl_warning": ActionMeta(_E, ("info",), UNK),
    # SMTP sessions
    "smtp_connection_opened": ActionMeta(_N, ("connection", "start"), OK),
    "smtp_connection_closed": ActionMeta(_N, ("connection", "end"), OK),
    "smtp_connection_lost": ActionMeta(_N, ("connection", "end"), FAIL),
    "smtp_connection_outbound": ActionMeta((*_E, *_N), ("connection", "info"), OK),
    "smtp_timeout": ActionMeta(_N, ("connection", "end"), FAIL),
    "smtp_no_mail": ActionMeta(_N, ("connection", "end"), UNK),
    "smtp_incomplete_transaction": ActionMeta(_N, ("connection",), FAIL),
    "smtp_sync_error": ActionMeta(_N, ("protocol", "denied"), FAIL),
    "smtp_syntax_error": ActionMeta(_N, ("protocol", "error"), FAIL),
    "smtp_protocol_error": ActionMeta(_N, ("protocol", "error"), FAIL),
    "smtp_call_dropped": ActionMeta(_N, ("connection", "denied"), FAIL),
    "smtp_input_error": ActionMeta(_N, ("connection", "error"), FAIL),
    "connection_refused": ActionMeta(_N, ("connection", "denied"), FAIL),
    "connection_rejected": ActionMeta(_N, ("connection", "denied"), FAIL),
    "connection_dropped": ActionMeta(_N, ("connection", "denied"), FAIL),
    "host_lookup_failed": ActionMeta(_N, ("info",), FAIL),
    "helo_rejected": ActionMeta((*_E, *_N), ("denied",), FAIL),
    "mail_rejected": ActionMeta(_E, ("denied",), FAIL),
    "rcpt_rejected": ActionMeta(_E, ("denied",), FAIL),
    "rcpt_discarded": ActionMeta(_E, ("denied",), FAIL),
    "data_rejected": ActionMeta(_E, ("denied",), FAIL),
    "auth_rejected": ActionMeta((*_E, *_A), ("denied",), FAIL),
    "starttls_rejected": ActionMeta((*_E, *_N), ("denied",), FAIL),
    "command_rejected": ActionMeta(_E, ("denied",), FAIL),
    "size_rejected": ActionMeta(_E, ("denied",), FAIL),
    "too_many_recipients": ActionMeta(_E, ("denied",), FAIL),
    "sender_verify_failed": ActionMeta(_E, ("denied",), FAIL),
    "sender_verify_deferred": ActionMeta(_E, ("error",), FAIL),
    "recipient_verify_failed": ActionMeta(_E, ("denied",), FAIL),
    "recipient_verify_deferred": ActionMeta(_E, ("error",), FAIL),
    "auth_failed": ActionMeta((*_E, *_A), ("start",), FAIL),
    "auth_ignored": ActionMeta((*_E, *_A), ("info",), UNK),
    "tls_error": ActionMeta(_N, ("error",), FAIL),
    "tls_verify_error": ActionMeta(_N, ("error",), FAIL),
    "tls_fallback": ActionMeta(_N, ("error",), FAIL),
    "etrn_received": ActionMeta(_E, ("info",), UNK),
    "vrfy_failed": ActionMeta(_E, ("denied",), FAIL),
    "ident_timeout": ActionMeta(_N, ("error",), FAIL),
    # daemon, queue runner, processes
    "daemon_started": ActionMeta(_P, ("start",), OK),
    "daemon_sighup": ActionMeta(_P, ("change",), OK),
    "daemon_stopped": ActionMeta(_P, ("end",), OK),
    "daemon_error": ActionMeta(_P, ("error",), FAIL),
    "listen_backlog": ActionMeta(_N, ("info",), UNK),
    "queue_run_started": ActionMeta(_P, ("start",), OK),
    "queue_run_ended": ActionMeta(_P, ("end",), OK),
    "queue_run_abandoned": ActionMeta(_P, ("end",), FAIL),
    "queue_run_triggered": ActionMeta(_P, ("info",), OK),
    "process_started": ActionMeta(_P, ("start",), OK),
    "process_crashed": ActionMeta(_P, ("error",), FAIL),
    "transport_failed": ActionMeta((*_E, *_P), ("error",), FAIL),
    # errors and warnings
    "config_error": ActionMeta(_C, ("error",), FAIL),
    "expansion_failed": ActionMeta(_C, ("error",), FAIL),
    "resource_error": ActionMeta(_P, ("error",), FAIL),
    "slow_lookup": ActionMeta(_P, ("info",), UNK),
    "scanner_error": ActionMeta((*_E, *_M), ("error",), FAIL),
    "dnslist_defer": ActionMeta(_N, ("error",), FAIL),
    "dnslist_result": ActionMeta(_N, ("info",), UNK),
    "tls_config_warning": ActionMeta(_C, ("info",), UNK),
    "warning": ActionMeta(_P, ("info",), UNK),
    "panic": ActionMeta(_P, ("error",), FAIL),
    "unrecognized": ActionMeta((), ("info",), UNK),
}
