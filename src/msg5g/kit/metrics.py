"""Prometheus metrics, defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_ACCEPTED = Counter("msg5g_messages_accepted_total", "Messages accepted", ["traffic_class"])
MESSAGES_SENT = Counter("msg5g_messages_sent_total", "Messages the carrier accepted", ["channel", "traffic_class"])
MESSAGES_DELIVERED = Counter("msg5g_messages_delivered_total", "Messages delivered", ["channel", "traffic_class"])
MESSAGES_FAILED = Counter("msg5g_messages_failed_total", "Messages failed", ["channel", "traffic_class"])
CARRIER_CALLS = Histogram(
    "msg5g_carrier_call_seconds",
    "Latency of carrier API calls",
    ["channel", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("msg5g_queue_depth", "Queue entries by topic, lane and state", ["topic", "lane", "state"])
CALLBACKS = Counter("msg5g_callbacks_total", "Business callback deliveries", ["outcome"])
WEBHOOKS = Counter("msg5g_carrier_webhooks_total", "Carrier callbacks received", ["channel", "outcome"])
UPLINKS = Counter("msg5g_uplinks_total", "Uplink messages received", ["channel", "kind"])
