# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RabbitMQ access: AMQP 0-9-1 (pika) for every change, the management API (read only)
for the current definitions, compared argument by argument.

A broker answers a redeclare with other arguments by closing the channel (406
PRECONDITION_FAILED); the client reopens a channel and goes on.
"""

from __future__ import annotations

import base64
import json
import ssl
from urllib.parse import quote

from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError
from ansible_collections.ananta.platform.plugins.module_utils._http import http_get

try:
    import pika
    from pika.exceptions import AMQPError, ChannelClosedByBroker
    HAS_PIKA = True
    PIKA_IMPORT_ERROR = None
except ImportError as exc:  # guarded: the module calls missing_required_lib
    HAS_PIKA = False
    PIKA_IMPORT_ERROR = exc
    AMQPError = ChannelClosedByBroker = ()  # nothing to catch without pika


class BrokerRefused(Exception):
    """The broker closed the channel: code (404, 406...) and its text."""

    def __init__(self, code, text):
        super().__init__("%s %s" % (code, text))
        self.code = code
        self.text = text


def describe(exc):
    """A pika exception as words: its class, and its text where it has one (many have none)."""
    text = str(exc).strip()
    if exc.__class__.__name__ == "AMQPConnectionError" and exc.args and isinstance(exc.args[0], Exception):
        return describe(exc.args[0])
    return exc.__class__.__name__ + (": %s" % text if text and text != "()" else "")


class RabbitClient:
    def __init__(self, host, port=5672, vhost="/", user="guest", password="guest", tls=False, ca_cert=None,
                 client_cert=None, client_key=None, connect_timeout=10, management_url=None, validate_certs=True):
        if not HAS_PIKA:
            raise TopologyError("pika is not installed: %s" % PIKA_IMPORT_ERROR)
        self.vhost = vhost
        self.connect_timeout = connect_timeout  # also each management API call's deadline
        self.address = "%s:%s" % (host, port)
        self.management_url = management_url.rstrip("/") if management_url else None
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.validate_certs = validate_certs
        ssl_options = None
        if tls:
            context = ssl.create_default_context(cafile=ca_cert)
            if client_cert:
                context.load_cert_chain(client_cert, client_key)
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            ssl_options = pika.SSLOptions(context, host)
        params = pika.ConnectionParameters(host=host, port=port, virtual_host=vhost,
                                           credentials=pika.PlainCredentials(user, password), ssl_options=ssl_options,
                                           socket_timeout=connect_timeout, blocked_connection_timeout=connect_timeout,
                                           # the whole handshake (TCP, TLS, AMQP) within connect_timeout: an
                                           # endpoint that accepts TCP and never speaks AMQP is named in time
                                           stack_timeout=connect_timeout, connection_attempts=1)
        try:
            self.connection = pika.BlockingConnection(params)
            self.channel = self.connection.channel()
        except Exception as exc:  # pylint: disable=broad-except  # pika raises AMQPError, OSError, timeouts...
            raise TopologyError("cannot connect to RabbitMQ at %s (vhost %s) within %ss: %s" % (
                self.address, vhost, connect_timeout, describe(exc)))

    def close(self):
        try:
            self.connection.close()
        except AMQPError:
            pass

    def _call(self, method, *args, **kwargs):
        """Run a channel method; a broker refusal closes the channel: reopen it and raise BrokerRefused."""
        if not self.channel.is_open:
            self.channel = self.connection.channel()
        try:
            return getattr(self.channel, method)(*args, **kwargs)
        except ChannelClosedByBroker as exc:
            self.channel = self.connection.channel()
            raise BrokerRefused(exc.reply_code, exc.reply_text)

    # -- reading ---------------------------------------------------------------------------------
    def _management(self, path):
        url = "%s/api/%s" % (self.management_url, path)
        try:
            status, body = http_get(url, timeout=self.connect_timeout, headers={"Authorization": self.auth}, validate_certs=self.validate_certs,
                                    limit=16 * 1024 * 1024)
        except (OSError, ValueError) as exc:
            raise TopologyError("the management API at %s cannot be read (deadline %gs): %s"
                                % (self.management_url, self.connect_timeout, exc or type(exc).__name__))
        if status == 404:
            return None
        if status != 200:
            raise TopologyError("the management API at %s answered HTTP %d for %s" % (self.management_url, status, path))
        try:
            return json.loads(body)
        except ValueError as exc:
            raise TopologyError("the management API at %s answered something other than JSON: %s" % (self.management_url, exc))

    def current_exchange(self, name):
        """Definition dict, None when missing, or {} when it exists but cannot be read (no management API)."""
        if self.management_url:
            return self._management("exchanges/%s/%s" % (quote(self.vhost, safe=""), quote(name, safe="")))
        try:
            self._call("exchange_declare", exchange=name, passive=True)
            return {}
        except BrokerRefused as exc:
            if exc.code == 404:
                return None
            raise

    def current_queue(self, name):
        if self.management_url:
            return self._management("queues/%s/%s" % (quote(self.vhost, safe=""), quote(name, safe="")))
        try:
            self._call("queue_declare", queue=name, passive=True)
            return {}
        except BrokerRefused as exc:
            if exc.code == 404:
                return None
            raise

    def binding_exists(self, binding):
        """True/False from the management API, None when it cannot be told."""
        if not self.management_url:
            return None
        kind = "q" if binding.get("destination_type", "queue") == "queue" else "e"
        path = "bindings/%s/e/%s/%s/%s" % (
            quote(self.vhost, safe=""), quote(binding["source"], safe=""), kind, quote(binding["destination"], safe=""))
        found = self._management(path) or []
        wanted_args = binding.get("arguments") or {}
        return any(b.get("routing_key", "") == binding.get("routing_key", "") and (b.get("arguments") or {}) == wanted_args
                   for b in found)

    # -- changing ----------------------------------------------------------------------------------
    def declare_exchange(self, name, definition):
        self._call("exchange_declare", exchange=name, exchange_type=definition["type"], durable=definition["durable"],
                   auto_delete=definition["auto_delete"], internal=definition["internal"],
                   arguments=definition["arguments"] or None)

    def declare_queue(self, name, definition):
        self._call("queue_declare", queue=name, durable=definition["durable"], auto_delete=definition["auto_delete"],
                   exclusive=definition["exclusive"], arguments=definition["arguments"] or None)

    def bind(self, binding):
        if binding.get("destination_type", "queue") == "queue":
            self._call("queue_bind", queue=binding["destination"], exchange=binding["source"],
                       routing_key=binding.get("routing_key", ""), arguments=binding.get("arguments") or None)
        else:
            self._call("exchange_bind", destination=binding["destination"], source=binding["source"],
                       routing_key=binding.get("routing_key", ""), arguments=binding.get("arguments") or None)

    def unbind(self, binding):
        if binding.get("destination_type", "queue") == "queue":
            self._call("queue_unbind", queue=binding["destination"], exchange=binding["source"],
                       routing_key=binding.get("routing_key", ""), arguments=binding.get("arguments") or None)
        else:
            self._call("exchange_unbind", destination=binding["destination"], source=binding["source"],
                       routing_key=binding.get("routing_key", ""), arguments=binding.get("arguments") or None)

    def delete_exchange(self, name, if_unused=True):
        self._call("exchange_delete", exchange=name, if_unused=if_unused)

    def delete_queue(self, name, if_empty=True):
        self._call("queue_delete", queue=name, if_empty=if_empty)
