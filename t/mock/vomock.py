#!/usr/bin/python3
"""Mock Rootly and VictorOps (Splunk On-Call) API servers for tests and local runs.

    vomock.py --kind rootly --token T [--openapi PATH]
    vomock.py --kind victorops --api-id ID --api-key KEY
    common: [--listen 127.0.0.1] [--port 0] [--port-file FILE] [--quiet | --simulator]

The server binds a loopback address only. API requests are answered from an
in-memory model of each service, and every one of them is recorded. Tests steer
the mock through control endpoints that need no authentication:

    GET  /_mock/health                      200 "ok"
    GET  /_mock/requests?wait=N&timeout=S&path=PREFIX&method=M&format=text
    POST /_mock/reset                       forget requests, faults and state
    POST /_mock/fault   {"mode": ..., ...}  queue a fault rule (see FaultRule)
    POST /_mock/seed    {...}               replace collections of the model
    GET  /_mock/state                       dump the model and pending faults

Rootly request bodies are validated against the request schema the OpenAPI
document gives for the matched operation (OpenAPI 3.0 "nullable" is translated to
JSON Schema). Needs Python 3 and Debian's python3-jsonschema.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import math
import os
import random
import re
import signal
import socket
import socketserver
import string
import struct
import sys
import threading
import time
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jsonschema
from jsonschema.exceptions import best_match

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OPENAPI = os.path.join(PROJECT_ROOT, "..", "shared", "reference", "rootly-openapi.json")

JSON_API = "application/vnd.api+json"
JSON = "application/json"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "untitled"


def shorten(text, width=60):
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def media_type(value):
    return (value or "").split(";", 1)[0].strip().lower()


FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_date_time(value):
    """RFC 3339 date-time (jsonschema only checks it when extra packages are installed)."""
    if not isinstance(value, str):
        return True
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError("RFC 3339 date-time needs a T separator and a time zone")
    return True


class Reply:
    """One HTTP answer: status, body bytes, content type, extra headers."""

    def __init__(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})

    @classmethod
    def json(cls, status, doc, content_type=JSON, headers=None):
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, content_type, headers)

    @classmethod
    def text(cls, status, text):
        return cls(status, text.encode())


class Abort(Exception):
    """Raised by request handlers to answer with an error reply."""

    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


class ApiRequest:
    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw = body
        self.operation = None  # the matched OpenAPI operation (Rootly)
        self.text = body.decode("utf-8", errors="replace")
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


# ---------------------------------------------------------------- recording


class Recorder:
    """Ordered log of API requests; readers may wait for more to arrive."""

    def __init__(self):
        self._cond = threading.Condition()
        self._records = []
        self._seq = 0

    def add(self, req, status):
        with self._cond:
            self._seq += 1
            record = {
                "seq": self._seq,
                "time": round(time.time(), 3),
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "headers": req.headers,
                "body": req.text,
                "json": req.json,
                "status": status,
            }
            self._records.append(record)
            self._cond.notify_all()

    def clear(self):
        with self._cond:
            self._records = []
            self._seq = 0

    def count(self):
        with self._cond:
            return len(self._records)

    def select(self, path=None, method=None, wait=0, timeout=5.0):
        def wanted(r):
            return (path is None or r["path"].startswith(path)) and (method is None or r["method"] == method)

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self._records if wanted(r)]
                remaining = deadline - time.monotonic()
                if len(found) >= wait or remaining <= 0:
                    return found
                self._cond.wait(remaining)


# ---------------------------------------------------------------- faults


class FaultRule:
    """A queued misbehaviour for the next matching API request(s).

    status      answer `status` (default 500) with `body` (a JSON document, sent as
                UTF-8), `body_base64` (these exact bytes, e.g. a Latin-1 error page,
                sent as `content_type`, default text/html) or a default error body
    ratelimit   answer 429; X-RateLimit-Reset = now + reset_in (default 2);
                Retry-After = retry_after (VictorOps: retry_after or reset_in)
    remaining0  answer normally but report X-RateLimit-Remaining: 0 (Rootly only)
    slow        sleep `delay` seconds (default 1), then answer normally
    late        answer normally (the request takes effect at once), but send the
                answer only after `delay` seconds: a client that dies meanwhile
                never learns that it succeeded
    reset       close the connection with a TCP RST, no answer
    drop        process the request (it takes effect), then close the connection
                with a TCP RST instead of answering: the answer is lost at once
    auth        answer as if the credentials were wrong
    invalid     process the request, then send only half of the body (bad JSON)

    Any mode but reset also takes `headers`, an object of header fields set on the
    answer last (e.g. an X-RateLimit-Reset a year ahead on a VictorOps 429).
    """

    MODES = ("status", "ratelimit", "remaining0", "slow", "late", "reset", "auth", "invalid")
    FIELDS = {"mode", "count", "path", "method", "status", "body", "body_base64", "content_type",
              "headers", "delay", "reset_in", "retry_after"}

    def __init__(self, spec, supported_modes):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise ValueError("unknown fault field(s): " + ", ".join(sorted(unknown)))
        self.mode = spec.get("mode")
        if self.mode not in supported_modes:
            raise ValueError("mode must be one of: " + ", ".join(supported_modes))
        self.count = spec.get("count", 1)
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count == 0 or self.count < -1:
            raise ValueError("count must be a positive integer or -1 (forever)")
        self.path = spec.get("path")
        if self.path is not None and not (isinstance(self.path, str) and self.path.startswith("/")):
            raise ValueError("path must be a path prefix starting with /")
        self.method = spec.get("method")
        if self.method is not None:
            if not isinstance(self.method, str):
                raise ValueError("method must be a string")
            self.method = self.method.upper()
        self.status = spec.get("status", 500)
        if not isinstance(self.status, int) or not 200 <= self.status <= 599:
            raise ValueError("status must be an integer between 200 and 599")
        self.body = spec.get("body")
        self.body_bytes = None
        if spec.get("body_base64") is not None:
            if self.body is not None:
                raise ValueError("body and body_base64 exclude each other")
            try:
                self.body_bytes = base64.b64decode(spec["body_base64"], validate=True)
            except (TypeError, ValueError):
                raise ValueError("body_base64 must be base64")
        self.content_type = spec.get("content_type", "text/html")
        if not isinstance(self.content_type, str):
            raise ValueError("content_type must be a string")
        self.headers = spec.get("headers", {})
        if not isinstance(self.headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()):
            raise ValueError("headers must be an object of strings")
        self.delay = self._number(spec, "delay", 1)
        # negative: a reset already past, as a server with a skewed clock says
        self.reset_in = self._number(spec, "reset_in", 2, signed=True)
        self.retry_after = spec.get("retry_after")
        if self.retry_after is not None and (not isinstance(self.retry_after, int) or self.retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer")
        self.spec = dict(spec)

    @staticmethod
    def _number(spec, name, default, signed=False):
        value = spec.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (value < 0 and not signed):
            raise ValueError(name + " must be a " + ("" if signed else "non-negative ") + "number")
        return value

    def matches(self, method, path):
        return (self.path is None or path.startswith(self.path)) and (self.method is None or self.method == method)

    def describe(self):
        return dict(self.spec, count=self.count)

    # a mode added after the first eight (see the list above)
    MODES += ("drop",)


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, rule):
        with self._lock:
            self._rules.append(rule)

    def clear(self):
        with self._lock:
            self._rules = []

    def pending(self):
        with self._lock:
            return [r.describe() for r in self._rules]

    def take(self, method, path):
        """Consume one use of the first rule matching the request."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.count > 0:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return rule
        return None


# ---------------------------------------------------------------- API models


class MockApi:
    """Common request flow: rate limiting, faults, dispatch.

    Subclasses set kind, error_type and fault_modes and implement reset(), seed(data),
    dump(), dispatch(req), error(status, title, detail), rate_limited(rule) and
    auth_failure(wrong); Rootly also counts requests and adds rate-limit headers.
    """

    kind = None
    fault_modes = FaultRule.MODES

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def respond(self, req, rule):
        mode = rule.mode if rule else None
        with self.lock:
            over_limit = self.count_request()
            try:
                if mode == "ratelimit" or over_limit:
                    reply = self.rate_limited(rule)
                elif mode == "status":
                    reply = self.fault_status(rule)
                elif mode == "auth":
                    reply = self.auth_failure(wrong=True)
                else:
                    reply = self.dispatch(req)
            except Abort as abort:
                reply = abort.reply
            forced = mode in ("ratelimit", "remaining0")
            self.add_rate_headers(reply, forced or over_limit, rule.reset_in if forced else None)
        if rule:
            reply.headers.update(rule.headers)
        if mode == "invalid":
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    def fault_status(self, rule):
        if rule.body_bytes is not None:
            return Reply(rule.status, rule.body_bytes, rule.content_type)
        if rule.body is not None:
            return Reply.json(rule.status, rule.body, self.error_type)
        return self.error(rule.status, phrase(rule.status))

    def count_request(self):
        return False

    def add_rate_headers(self, reply, exhausted, reset_in):
        pass

    def json_body(self, req, allowed_types):
        """Parse a JSON request body, enforcing its media type."""
        if media_type(req.headers.get("content-type")) not in allowed_types:
            raise Abort(self.error(415, "Unsupported Media Type",
                                   "Content-Type must be " + " or ".join(allowed_types)))
        try:
            return json.loads(req.raw)
        except ValueError as exc:
            raise Abort(self.error(400, "Bad Request", "request body is not valid JSON: %s" % exc))


class RateWindow:
    """Rootly's per-key budget: LIMIT requests per fixed LENGTH-second window."""

    LIMIT = 3000
    LENGTH = 60

    def __init__(self):
        self.start = None
        self.used = 0

    def hit(self):
        now = time.time()
        if self.start is None or now >= self.start + self.LENGTH:
            self.start = now
            self.used = 0
        self.used += 1
        return self.used > self.LIMIT

    def reset_at(self):
        return int(math.ceil(self.start + self.LENGTH))

    def describe(self):
        if self.start is None:
            return {"limit": self.LIMIT, "used": 0}
        return {"limit": self.LIMIT, "used": self.used, "reset": self.reset_at()}


class Operation:
    """One method + path of the OpenAPI document, with its request-body validator."""

    def __init__(self, method, template, spec_op, components):
        self.method = method
        self.template = template
        self.operation_id = spec_op.get("operationId")
        self.query_params = {p.get("name") for p in spec_op.get("parameters", [])}
        self.validator = None
        self.body_required = False
        body = spec_op.get("requestBody")
        if body:
            content = body.get("content", {})
            media = content.get(JSON_API) or next(iter(content.values()))
            # "$ref"s resolve against the root schema, so carry the components along.
            schema = dict(media["schema"], components=components)
            self.validator = jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)
            self.body_required = bool(body.get("required"))

    def validate(self, doc):
        """Return a message for the most relevant schema violation, or None."""
        error = best_match(self.validator.iter_errors(doc))
        return None if error is None else "%s at %s" % (error.message, error.json_path)


class OpenApiSpec:
    """Routes and request-body validators derived from an OpenAPI 3.0 document."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = self.to_json_schema(json.load(f))
        self.schemas = doc["components"]["schemas"]
        self.routes = []
        for template, item in doc["paths"].items():
            parts = re.split(r"({[^}]+})", template)
            names = [part[1:-1] for part in parts if part.startswith("{")]
            pattern = "".join("([^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
            for method, spec_op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    op = Operation(method.upper(), template, spec_op, doc["components"])
                    self.routes.append((len(names), re.compile(pattern + "$"), names, op))
        self.routes.sort(key=lambda route: route[0])  # literal segments win over {params}

    @staticmethod
    def to_json_schema(node):
        """Translate OpenAPI 3.0 `nullable: true` into JSON Schema (null allowed)."""
        if isinstance(node, list):
            return [OpenApiSpec.to_json_schema(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: OpenApiSpec.to_json_schema(value) for key, value in node.items()}
        if out.get("nullable") is True:
            del out["nullable"]
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = out["enum"] + [None]
            else:
                out = {"anyOf": [{"type": "null"}, out]}
        return out

    def match(self, method, path):
        for _, regex, names, op in self.routes:
            if op.method == method:
                m = regex.match(path)
                if m:
                    return op, {name: unquote(value) for name, value in zip(names, m.groups())}
        return None, None

    def blank(self, schema_name):
        """Attributes of a resource schema, all empty: [] for arrays, else null."""
        blank = {}
        for name, prop in self.schemas[schema_name].get("properties", {}).items():
            types = prop.get("type")
            types = types if isinstance(types, list) else [types]
            blank[name] = [] if "array" in types else None
        return blank


class RootlyApi(MockApi):
    kind = "rootly"
    error_type = JSON_API
    body_types = (JSON_API, JSON)
    page_size = 10

    def __init__(self, token, spec):
        self.token = token
        self.spec = spec
        self.handlers = {
            "createAlert": self.create_alert,
            "listAlerts": self.list_alerts,
            "getAlert": self.get_alert,
            "acknowledgeAlert": self.acknowledge_alert,
            "resolveAlert": self.resolve_alert,
            "createAlertEvent": self.create_alert_event,
            "listAlertEvents": self.list_alert_events,
            "getIncident": self.get_incident,
            "createIncidentEvent": self.create_incident_event,
            "listIncidentEvents": self.list_incident_events,
            "listTeams": self.list_teams,
            "createTeam": self.create_team,
            "getTeam": self.get_team,
            "updateTeam": self.update_team,
        }
        super().__init__()

    def reset(self):
        with self.lock:
            self.window = RateWindow()
            self.alerts = {}
            self.alert_events = {}
            self.incidents = {}
            self.incident_events = {}
            self.teams = {}
            self.incident_seq = 0

    # -- common flow

    def error(self, status, title, detail=None, code=None):
        entry = {"title": title, "status": str(status),
                 "code": code or slugify(phrase(status)).replace("-", "_")}
        if detail is not None:
            entry["detail"] = detail
        return Reply.json(status, {"errors": [entry]}, JSON_API)

    def count_request(self):
        return self.window.hit()

    def rate_limited(self, rule):
        headers = {}
        if rule and rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        return Reply.json(429, {"error": "Rate limit exceeded. Try again later."}, JSON, headers)

    def auth_failure(self, wrong):
        detail = "The API key is invalid or has been revoked" if wrong else "Missing bearer token"
        return self.error(401, "Unauthorized", detail, "unauthorized")

    def add_rate_headers(self, reply, exhausted, reset_in):
        limit = RateWindow.LIMIT
        if exhausted:
            used, remaining = max(limit, self.window.used), 0
            reset = int(math.ceil(time.time() + reset_in)) if reset_in is not None else self.window.reset_at()
        else:
            used, remaining, reset = self.window.used, limit - self.window.used, self.window.reset_at()
        reply.headers.update({
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Reset": str(reset),
        })

    def dispatch(self, req):
        auth = req.headers.get("authorization")
        if not auth:
            raise Abort(self.auth_failure(wrong=False))
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            raise Abort(self.auth_failure(wrong=True))
        op, params = self.spec.match(req.method, req.path)
        if op is None:
            raise Abort(self.error(404, "Not Found", "No route matches %s %s" % (req.method, req.path)))
        handler = self.handlers.get(op.operation_id)
        if handler is None:
            raise Abort(self.error(501, "Not Implemented",
                                   "vomock does not simulate %s (%s %s)" % (op.operation_id, op.method, op.template)))
        req.operation = op
        return handler(req, params, self.request_body(req, op))

    def request_body(self, req, op):
        if op.validator is None or (not req.raw.strip() and not op.body_required):
            return None
        doc = self.json_body(req, self.body_types) if req.raw.strip() else {}
        problem = op.validate(doc)  # under self.lock: jsonschema's ref resolver is not thread-safe
        if problem:
            raise Abort(self.error(422, "Invalid request body", problem, "invalid"))
        return doc

    # -- helpers

    def not_found(self, what, ident):
        return Abort(self.error(404, "Not Found", "Couldn't find %s with id %r" % (what, ident), "not_found"))

    @staticmethod
    def resource(ident, rtype, attributes):
        return {"id": ident, "type": rtype, "attributes": attributes}

    def single(self, status, resource):
        return Reply.json(status, {"data": resource}, JSON_API)

    def listing(self, req, items):
        """Filter (on the filter[...] parameters the spec declares) and paginate."""
        for key, value in req.query.items():
            m = re.fullmatch(r"filter\[(\w+)\]", key)
            if not m or key not in req.operation.query_params or not isinstance(value, str):
                continue
            field = m.group(1)
            if field == "search":
                items = [i for i in items if value.lower() in json.dumps(i["attributes"]).lower()]
            else:
                items = [i for i in items if self.filter_value(i["attributes"].get(field)) == value]
        try:
            number = max(1, int(req.query.get("page[number]", 1)))
            size = max(1, int(req.query.get("page[size]", self.page_size)))
        except (TypeError, ValueError):
            raise Abort(self.error(400, "Bad Request", "page[number] and page[size] must be integers"))
        total = len(items)
        pages = max(1, math.ceil(total / size))
        base = "http://%s%s?page[size]=%d&page[number]=" % (req.headers.get("host", "localhost"), req.path, size)
        return Reply.json(200, {
            "data": items[(number - 1) * size: number * size],
            "links": {
                "self": base + str(number), "first": base + "1", "last": base + str(pages),
                "prev": base + str(number - 1) if number > 1 else None,
                "next": base + str(number + 1) if number < pages else None,
            },
            "meta": {
                "current_page": number, "next_page": number + 1 if number < pages else None,
                "prev_page": number - 1 if number > 1 else None, "total_count": total, "total_pages": pages,
            },
        }, JSON_API)

    @staticmethod
    def filter_value(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None or isinstance(value, (list, dict)):
            return None
        return str(value)

    # -- alerts

    def find_alert(self, ident):
        alert = self.alerts.get(ident)
        if alert is None:
            raise self.not_found("Alert", ident)
        return alert

    def add_alert_event(self, alert_id, kind, action, details=None, user_id=None):
        ts = now_iso()
        attributes = self.spec.blank("alert_event")
        attributes.update(alert_id=alert_id, kind=kind, action=action, source="api",
                          details=details, user_id=user_id, created_at=ts, updated_at=ts)
        event = self.resource(str(uuid.uuid4()), "alert_events", attributes)
        self.alert_events[alert_id].append(event)
        return event

    def new_short_id(self):
        taken = {a["attributes"]["short_id"] for a in self.alerts.values()}
        while True:
            short_id = "".join(random.choices(string.ascii_uppercase, k=3) + random.choices(string.digits, k=3))
            if short_id not in taken:
                return short_id

    def create_alert(self, req, params, body):
        given = body["data"]["attributes"]
        key = given.get("deduplication_key")
        if key:
            for alert in self.alerts.values():
                attrs = alert["attributes"]
                if attrs["deduplication_key"] == key and attrs["status"] != "resolved":
                    attrs["updated_at"] = now_iso()
                    self.add_alert_event(alert["id"], "informational", "retriggered", given["summary"])
                    return self.single(201, alert)
        ts = now_iso()
        short_id = self.new_short_id()
        attrs = self.spec.blank("alert")
        attrs.update({name: value for name, value in given.items() if name in attrs})
        attrs.update(
            short_id=short_id,
            source=given.get("source") or "api",
            status=given.get("status") or "triggered",
            noise=given.get("noise") or "not_noise",
            groups=[self.team_ref(t) for t in self.teams.values() if t["id"] in (given.get("group_ids") or [])],
            url="https://rootly.com/account/alerts/" + short_id,
            started_at=given.get("started_at") or ts,
            created_at=ts,
            updated_at=ts,
        )
        for name in ("service_ids", "group_ids", "functionality_ids", "environment_ids", "labels"):
            attrs[name] = attrs[name] or []
        alert = self.resource(str(uuid.uuid4()), "alerts", attrs)
        self.alerts[alert["id"]] = alert
        self.alert_events[alert["id"]] = []
        self.add_alert_event(alert["id"], "action", "created")
        return self.single(201, alert)

    def list_alerts(self, req, params, body):
        return self.listing(req, list(self.alerts.values()))

    def get_alert(self, req, params, body):
        return self.single(200, self.find_alert(params["id"]))

    def acknowledge_alert(self, req, params, body):
        alert = self.find_alert(params["id"])
        attrs = alert["attributes"]
        if attrs["status"] == "resolved":
            raise Abort(self.error(400, "Bad Request", "Alert %s is resolved and cannot be acknowledged"
                                   % attrs["short_id"], "bad_request"))
        if attrs["status"] != "acknowledged":
            attrs.update(status="acknowledged", updated_at=now_iso())
            self.add_alert_event(alert["id"], "action", "acknowledged")
        return self.single(200, alert)

    def resolve_alert(self, req, params, body):
        alert = self.find_alert(params["id"])
        attrs = alert["attributes"]
        if attrs["status"] != "resolved":
            message = ((body or {}).get("data") or {}).get("attributes", {}).get("resolution_message")
            ts = now_iso()
            attrs.update(status="resolved", ended_at=attrs["ended_at"] or ts, updated_at=ts)
            self.add_alert_event(alert["id"], "action", "resolved", message)
        return self.single(200, alert)

    def create_alert_event(self, req, params, body):
        alert = self.find_alert(params["alert_id"])
        given = body["data"]["attributes"]
        event = self.add_alert_event(alert["id"], given["kind"], "added", given["details"], given.get("user_id"))
        return self.single(201, event)

    def list_alert_events(self, req, params, body):
        alert = self.find_alert(params["alert_id"])
        return self.listing(req, self.alert_events[alert["id"]])

    # -- incidents

    def find_incident(self, ident):
        for incident in self.incidents.values():
            if ident in (incident["id"], incident["attributes"]["slug"]):
                return incident
        raise self.not_found("Incident", ident)

    def get_incident(self, req, params, body):
        return self.single(200, self.find_incident(params["id"]))

    def create_incident_event(self, req, params, body):
        incident = self.find_incident(params["incident_id"])
        given = body["data"]["attributes"]
        ts = now_iso()
        event = self.resource(str(uuid.uuid4()), "incident_events", {
            "event": given["event"],
            "visibility": given.get("visibility") or "internal",
            "occurred_at": ts,
            "created_at": ts,
            "updated_at": ts,
        })
        self.incident_events[incident["id"]].append(event)
        return self.single(201, event)

    def list_incident_events(self, req, params, body):
        incident = self.find_incident(params["incident_id"])
        return self.listing(req, self.incident_events[incident["id"]])

    def add_incident(self, given):
        if not isinstance(given, dict) or not isinstance(given.get("title"), str):
            raise ValueError("each incident needs a string title")
        self.incident_seq += 1
        ts = now_iso()
        ident = given.get("id") or str(uuid.uuid4())
        attrs = self.spec.blank("incident")
        slug = given.get("slug") or slugify(given["title"])
        attrs.update(
            id=ident, sequential_id=self.incident_seq, title=given["title"], slug=slug, kind="normal",
            private=False, source="api", status="started",
            url="https://rootly.com/account/incidents/%d-%s" % (self.incident_seq, slug),
            started_at=ts, detected_at=ts, created_at=ts, updated_at=ts,
        )
        attrs.update({name: value for name, value in given.items() if name != "id"})
        severity = given.get("severity")
        if isinstance(severity, str):
            attrs["severity"] = {"data": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "severity/" + severity)),
                                          "type": "severities",
                                          "attributes": {"name": severity, "slug": slugify(severity)}}}
        if not isinstance(attrs["groups"], list):
            raise ValueError("incident groups must be an array")
        attrs["groups"] = [self.group_ref(g) for g in attrs["groups"]]
        self.incidents[ident] = self.resource(ident, "incidents", attrs)
        self.incident_events[ident] = []

    @staticmethod
    def group_ref(item):
        """A team given as a plain name becomes {id, name, slug}."""
        if isinstance(item, str):
            return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "group/" + item)), "name": item, "slug": slugify(item)}
        return item

    # -- teams

    def find_team(self, ident):
        for team in self.teams.values():
            if ident in (team["id"], team["attributes"]["slug"]):
                return team
        raise self.not_found("Group", ident)

    @staticmethod
    def team_ref(team):
        return {"id": team["id"], "name": team["attributes"]["name"], "slug": team["attributes"]["slug"]}

    def check_team_name(self, name, team_id=None):
        for team in self.teams.values():
            if team["id"] != team_id and team["attributes"]["name"].lower() == name.lower():
                raise Abort(self.error(422, "Name has already been taken",
                                       "name: %r has already been taken" % name, "invalid"))

    def add_team(self, given):
        ts = now_iso()
        attrs = self.spec.blank("team")
        attrs.update(given)
        attrs.update(slug=slugify(given["name"]), managed_by="api", position=attrs["position"] or len(self.teams) + 1,
                     alerts_email_enabled=bool(attrs["alerts_email_enabled"]), created_at=ts, updated_at=ts)
        team = self.resource(str(uuid.uuid4()), "groups", attrs)
        self.teams[team["id"]] = team
        return team

    def list_teams(self, req, params, body):
        return self.listing(req, list(self.teams.values()))

    def create_team(self, req, params, body):
        given = body["data"]["attributes"]
        self.check_team_name(given["name"])
        return self.single(201, self.add_team(given))

    def get_team(self, req, params, body):
        return self.single(200, self.find_team(params["id"]))

    def update_team(self, req, params, body):
        team = self.find_team(params["id"])
        given = body["data"]["attributes"]
        if "name" in given:
            self.check_team_name(given["name"], team["id"])
        team["attributes"].update(given, updated_at=now_iso())
        return self.single(200, team)

    # -- control

    def seed(self, data):
        """Replace the incidents and/or teams collections."""
        unknown = set(data) - {"incidents", "teams"}
        if unknown:
            raise ValueError("rootly seed takes incidents and teams, not: " + ", ".join(sorted(unknown)))
        for key in data:
            if not isinstance(data[key], list):
                raise ValueError(key + " must be an array")
        with self.lock:
            if "teams" in data:
                self.teams = {}
                for given in data["teams"]:
                    if not isinstance(given, dict) or not isinstance(given.get("name"), str):
                        raise ValueError("each team needs a string name")
                    self.add_team(given)
            if "incidents" in data:
                self.incidents, self.incident_events, self.incident_seq = {}, {}, 0
                for given in data["incidents"]:
                    self.add_incident(given)

    def dump(self):
        with self.lock:
            return {
                "alerts": [dict(a, events=self.alert_events[a["id"]]) for a in self.alerts.values()],
                "incidents": [dict(i, events=self.incident_events[i["id"]]) for i in self.incidents.values()],
                "teams": list(self.teams.values()),
                "ratelimit": self.window.describe(),
            }


DEFAULT_VICTOROPS_SEED = {
    "users": [
        {"username": "alice", "firstName": "Alice", "lastName": "Anders", "email": "alice@example.com"},
        {"username": "bob", "firstName": "Bob", "lastName": "Brown", "email": "bob@example.com"},
        {"username": "carol", "firstName": "Carol", "lastName": "Chen", "email": "carol@example.com"},
    ],
    "teams": [
        {"name": "Payments", "slug": "team-payments", "members": ["alice", "bob"], "policies": [
            {"name": "Payments Primary", "slug": "pol-payments-primary", "onCall": ["alice"]},
            {"name": "Payments Secondary", "slug": "pol-payments-secondary", "onCall": ["bob"]},
        ]},
        {"name": "Database", "slug": "team-dba", "members": ["bob", "carol"], "policies": [
            {"name": "Database Primary", "slug": "pol-dba-primary", "onCall": ["bob"]},
        ]},
    ],
    "incidents": [],
}


class VictorOpsApi(MockApi):
    kind = "victorops"
    error_type = JSON
    fault_modes = tuple(m for m in FaultRule.MODES if m != "remaining0")
    first_incident_number = 2201
    routes = [
        ("GET", r"/api-public/v1/incidents", "list_incidents"),
        ("POST", r"/api-public/v1/incidents", "create_incident"),
        ("PATCH", r"/api-public/v1/incidents/ack", "ack_incidents"),
        ("PATCH", r"/api-public/v1/incidents/resolve", "resolve_incidents"),
        ("POST", r"/api-public/v1/incidents/reroute", "reroute_incidents"),
        ("GET", r"/api-public/v1/team", "list_teams"),
        ("GET", r"/api-public/v1/team/([^/]+)", "get_team"),
        ("GET", r"/api-public/v1/team/([^/]+)/members", "team_members"),
        ("GET", r"/api-public/v1/team/([^/]+)/policies", "team_policies"),
        ("GET", r"/api-public/v1/oncall/current", "oncall_current"),
        ("GET", r"/api-public/v2/team/([^/]+)/oncall/schedule", "team_schedule"),
    ]

    def __init__(self, api_id, api_key):
        self.api_id = api_id
        self.api_key = api_key
        self.compiled = [(method, re.compile(pattern + "$"), getattr(self, name)) for method, pattern, name in self.routes]
        super().__init__()

    def reset(self):
        self.seed(DEFAULT_VICTOROPS_SEED)  # replaces users, teams and incidents

    # -- common flow

    def error(self, status, title, detail=None):
        return Reply.json(status, {"error": detail} if detail else {"message": title})

    def rate_limited(self, rule):
        retry_after = rule.retry_after if rule.retry_after is not None else int(math.ceil(rule.reset_in))
        return Reply.json(429, {"message": "Too Many Requests"}, JSON, {"Retry-After": str(retry_after)})

    def auth_failure(self, wrong):
        if wrong:
            return Reply.json(403, {"message": "authentication failed"})
        return Reply.json(401, {"message": "Unauthorized"})

    def dispatch(self, req):
        given_id, given_key = req.headers.get("x-vo-api-id"), req.headers.get("x-vo-api-key")
        if not given_id or not given_key:
            raise Abort(self.auth_failure(wrong=False))
        if given_id != self.api_id or given_key != self.api_key:
            raise Abort(self.auth_failure(wrong=True))
        allowed = []
        for method, regex, handler in self.compiled:
            m = regex.match(req.path)
            if m:
                if method == req.method:
                    body = self.json_body(req, (JSON,)) if method in ("POST", "PATCH") else None
                    return handler(body, *[unquote(g) for g in m.groups()])
                allowed.append(method)
        if allowed:
            raise Abort(Reply.json(405, {"message": "HTTP 405 Method Not Allowed"}, JSON,
                                   {"Allow": ", ".join(sorted(set(allowed)))}))
        raise Abort(Reply.json(404, {"message": "HTTP 404 Not Found"}))

    # -- helpers

    def bad_request(self, detail):
        return Abort(self.error(400, "Bad Request", detail))

    def require(self, body, fields):
        """fields: name -> expected Python type(s); a missing or mistyped one is a 400."""
        if not isinstance(body, dict):
            raise self.bad_request("request body must be a JSON object")
        missing = [name for name in fields if name not in body or body[name] in (None, "")]
        if missing:
            raise self.bad_request("Missing required field(s): " + ", ".join(missing))
        for name, kind in fields.items():
            if not isinstance(body[name], kind):
                raise self.bad_request("Field %s has the wrong type" % name)

    def known_user(self, username):
        if username not in self.users:
            raise Abort(self.error(404, "Not Found", "User %s not found" % username))

    def find_policy(self, slug):
        for team in self.teams.values():
            for policy in team["policies"]:
                if policy["slug"] == slug:
                    return team, policy
        return None, None

    def check_targets(self, targets):
        """Validate [{type, slug}]; return (user names, (team, policy) pairs, (slug, problem) pairs)."""
        if not isinstance(targets, list) or not targets:
            raise self.bad_request("targets must be a non-empty array")
        users, policies, errors = [], [], []
        for target in targets:
            if not isinstance(target, dict) or target.get("type") not in ("User", "EscalationPolicy") \
                    or not isinstance(target.get("slug"), str):
                raise self.bad_request("each target needs type User or EscalationPolicy and a slug")
            if target["type"] == "User":
                if target["slug"] in self.users:
                    users.append(target["slug"])
                else:
                    errors.append((target["slug"], "User not found"))
            else:
                team, policy = self.find_policy(target["slug"])
                if policy:
                    policies.append((team, policy))
                else:
                    errors.append((target["slug"], "Escalation policy not found"))
        return users, policies, errors

    @staticmethod
    def policy_info(team, policy):
        return {"policy": {"name": policy["name"], "slug": policy["slug"]},
                "team": {"name": team["name"], "slug": team["slug"]}}

    def page(self, incident, users, policies):
        paged_users = incident["pagedUsers"] + users + [u for _, p in policies for u in p["onCall"]]
        incident["pagedUsers"] = list(dict.fromkeys(paged_users))
        incident["pagedPolicies"] += [self.policy_info(t, p) for t, p in policies
                                      if self.policy_info(t, p) not in incident["pagedPolicies"]]
        incident["pagedTeams"] = list(dict.fromkeys(incident["pagedTeams"] + [t["slug"] for t, _ in policies]))

    @staticmethod
    def transition(incident, name, user, message):
        incident["transitions"].append({"name": name, "at": now_iso(), "by": user, "message": message or "",
                                        "manually": True})

    def allocate_number(self):
        while str(self.next_number) in self.incidents:
            self.next_number += 1
        number = str(self.next_number)
        self.next_number += 1
        return number

    def new_incident(self, number, summary, phase="UNACKED", entity_id=None):
        ts = now_iso()
        return {
            "incidentNumber": number, "startTime": ts, "currentPhase": phase, "alertCount": 1,
            "lastAlertTime": ts, "lastAlertId": str(uuid.uuid4()), "entityId": entity_id or str(uuid.uuid4()),
            "host": "", "service": summary, "entityType": "SERVICE", "entityDisplayName": summary,
            "entityState": "CRITICAL" if phase != "RESOLVED" else "OK", "routingKey": "",
            "pagedTeams": [], "pagedUsers": [], "pagedPolicies": [], "transitions": [],
        }

    # -- incidents

    def list_incidents(self, body):
        return Reply.json(200, {"incidents": list(self.incidents.values())})

    def create_incident(self, body):
        self.require(body, {"summary": str, "details": str, "userName": str, "targets": list})
        if "isMultiResponder" in body and not isinstance(body["isMultiResponder"], bool):
            raise self.bad_request("Field isMultiResponder has the wrong type")
        if body["userName"] not in self.users:
            raise self.bad_request("Invalid userName: %s is not a member of this organization" % body["userName"])
        users, policies, errors = self.check_targets(body["targets"])
        if errors:
            raise self.bad_request("Invalid target(s): " + ", ".join("%s (%s)" % e for e in errors))
        incident = self.new_incident(self.allocate_number(), body["summary"])
        self.page(incident, users, policies)
        self.transition(incident, "UNACKED", body["userName"], body["details"])
        self.incidents[incident["incidentNumber"]] = incident
        return Reply.json(200, {"incidentNumber": incident["incidentNumber"], "entityId": incident["entityId"]})

    def change_phase(self, body, target, verb):
        self.require(body, {"userName": str, "incidentNames": list})
        self.known_user(body["userName"])
        results = []
        for name in body["incidentNames"]:
            name = str(name)
            incident = self.incidents.get(name)
            result = {"incidentNumber": name, "entityId": incident["entityId"] if incident else "",
                      "cmdAccepted": False}
            if incident is None:
                result["message"] = "Incident %s not found" % name
            elif incident["currentPhase"] == "RESOLVED":
                result["message"] = "Incident is already resolved"
            elif incident["currentPhase"] == target:
                result["message"] = "Incident is already acknowledged"
            else:
                incident["currentPhase"] = target
                if target == "RESOLVED":
                    incident["entityState"] = "OK"
                self.transition(incident, target, body["userName"], body.get("message"))
                result.update(cmdAccepted=True, message="Incident %s" % verb)
            results.append(result)
        return Reply.json(200, {"results": results})

    def ack_incidents(self, body):
        return self.change_phase(body, "ACKED", "acknowledged")

    def resolve_incidents(self, body):
        return self.change_phase(body, "RESOLVED", "resolved")

    def reroute_incidents(self, body):
        self.require(body, {"userName": str, "reroutes": list})
        self.known_user(body["userName"])
        statuses = []
        for reroute in body["reroutes"]:
            self.require(reroute, {"incidentNumber": (str, int), "targets": list})
            number = str(reroute["incidentNumber"])
            incident = self.incidents.get(number)
            users, policies, errors = self.check_targets(reroute["targets"])
            status = {"incidentNumber": number, "success": False, "targetStatus": []}
            if incident is None:
                status["message"] = "Incident %s not found" % number
            elif incident["currentPhase"] == "RESOLVED":
                status["message"] = "Incident is already resolved"
            else:
                failed = dict(errors)
                status["targetStatus"] = [
                    {"slug": t["slug"], "success": t["slug"] not in failed, "message": failed.get(t["slug"], "")}
                    for t in reroute["targets"]]
                status.update(success=not errors, message="" if not errors else "Some targets were not found")
                if users or policies:
                    self.page(incident, users, policies)
                    incident["currentPhase"] = "UNACKED"
                    self.transition(incident, "REROUTED", body["userName"], "")
            statuses.append(status)
        return Reply.json(200, {"statuses": statuses})

    # -- teams and on-call

    def find_team(self, slug):
        team = self.teams.get(slug)
        if team is None:
            raise Abort(self.error(404, "Not Found", "Team %s not found" % slug))
        return team

    def team_detail(self, team):
        url = "/api-public/v1/team/" + quote(team["slug"])
        return {"name": team["name"], "slug": team["slug"], "memberCount": len(team["members"]), "version": 1,
                "isDefaultTeam": False, "_selfUrl": url, "_membersUrl": url + "/members",
                "_policiesUrl": url + "/policies", "_adminsUrl": url + "/admins"}

    def list_teams(self, body):
        return Reply.json(200, [self.team_detail(t) for t in self.teams.values()])

    def get_team(self, body, slug):
        return Reply.json(200, self.team_detail(self.find_team(slug)))

    def team_members(self, body, slug):
        team = self.find_team(slug)
        members = [{"username": u, "firstName": self.users[u]["firstName"], "lastName": self.users[u]["lastName"],
                    "verified": "true", "version": 1} for u in team["members"]]
        url = "/api-public/v1/team/" + quote(slug)
        return Reply.json(200, {"_selfUrl": url + "/members", "_teamUrl": url, "members": members})

    def team_policies(self, body, slug):
        team = self.find_team(slug)
        return Reply.json(200, {"policies": [{"name": p["name"], "slug": p["slug"]} for p in team["policies"]]})

    def oncall_current(self, body):
        return Reply.json(200, {"teamsOnCall": [{
            "team": {"name": t["name"], "slug": t["slug"]},
            "onCallNow": [{"escalationPolicy": {"name": p["name"], "slug": p["slug"]},
                           "users": [{"onCallUser": {"username": u}} for u in p["onCall"]]}
                          for p in t["policies"] if p["onCall"]],
        } for t in self.teams.values()]})

    def team_schedule(self, body, slug):
        team = self.find_team(slug)
        shift_start = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
        start, end = (moment.isoformat().replace("+00:00", "Z")
                      for moment in (shift_start, shift_start + datetime.timedelta(days=7)))
        schedules = []
        for policy in team["policies"]:
            entries = [{"onCallType": "rotation_group", "rotationName": policy["name"], "shiftName": "Weekly",
                        "shiftRoll": end, "onCallUser": {"username": u},
                        "rolls": [{"start": start, "end": end, "onCallUser": {"username": u}, "isRoll": False}]}
                       for u in policy["onCall"]]
            schedules.append({"policy": {"name": policy["name"], "slug": policy["slug"]},
                              "schedule": entries, "overrides": []})
        return Reply.json(200, {"team": {"name": team["name"], "slug": team["slug"]}, "schedules": schedules})

    # -- control

    def seed(self, data):
        """Replace users, teams and/or incidents. Team members become users if unknown."""
        unknown = set(data) - {"users", "teams", "incidents"}
        if unknown:
            raise ValueError("victorops seed takes users, teams and incidents, not: " + ", ".join(sorted(unknown)))
        for key in data:
            if not isinstance(data[key], list):
                raise ValueError(key + " must be an array")
        with self.lock:
            if "users" in data:
                self.users = {}
                for user in data["users"]:
                    if not isinstance(user, dict) or not isinstance(user.get("username"), str):
                        raise ValueError("each user needs a string username")
                    self.add_user(user)
            if "teams" in data:
                self.teams = {}
                for team in data["teams"]:
                    self.add_team(team)
            if "incidents" in data:
                self.incidents = {}
                self.next_number = self.first_incident_number
                for incident in data["incidents"]:
                    self.add_incident(incident)

    def add_user(self, user):
        name = user["username"]
        self.users[name] = {"username": name, "firstName": user.get("firstName", name.capitalize()),
                            "lastName": user.get("lastName", ""), "email": user.get("email", name + "@example.com")}

    def add_team(self, team):
        if not isinstance(team, dict) or not isinstance(team.get("name"), str):
            raise ValueError("each team needs a string name")
        slug = team.get("slug") or "team-" + slugify(team["name"])
        policies = []
        for policy in team.get("policies", []):
            if not isinstance(policy, dict) or not isinstance(policy.get("name"), str):
                raise ValueError("each policy needs a string name")
            policies.append({"name": policy["name"], "slug": policy.get("slug") or "pol-" + slugify(policy["name"]),
                             "onCall": list(policy.get("onCall", []))})
        members = list(dict.fromkeys(list(team.get("members", [])) + [u for p in policies for u in p["onCall"]]))
        for name in members:
            if name not in self.users:
                self.add_user({"username": name})
        self.teams[slug] = {"name": team["name"], "slug": slug, "members": members, "policies": policies}

    def add_incident(self, given):
        """Seed an incident as if it came from an alert: {incidentNumber?, entityId?, summary?,
        currentPhase?, policies?: [slug], users?: [name], ...extra fields kept}."""
        if not isinstance(given, dict):
            raise ValueError("each incident must be an object")
        phase = given.get("currentPhase", "UNACKED")
        if phase not in ("UNACKED", "ACKED", "RESOLVED"):
            raise ValueError("currentPhase must be UNACKED, ACKED or RESOLVED")
        number = str(given["incidentNumber"]) if "incidentNumber" in given else self.allocate_number()
        summary = given.get("summary", "Incident " + number)
        incident = self.new_incident(number, summary, phase, given.get("entityId"))
        policies = []
        for slug in given.get("policies", []):
            team, policy = self.find_policy(slug)
            if policy is None:
                raise ValueError("unknown escalation policy " + slug)
            policies.append((team, policy))
        self.page(incident, list(given.get("users", [])), policies)
        incident.update({k: v for k, v in given.items() if k not in ("policies", "users", "summary")})
        incident["incidentNumber"] = number
        self.incidents[number] = incident

    def dump(self):
        with self.lock:
            return {"users": list(self.users.values()), "teams": list(self.teams.values()),
                    "incidents": list(self.incidents.values()), "nextIncidentNumber": self.next_number}


class SlackApi(MockApi):
    """Slack's response_url endpoints (hooks.slack.com/commands/...): a POST of a
    JSON message {"text", "response_type"?} answers 200 "ok"; anything else the
    way Slack does (400 invalid_payload, 404 for an unknown or expired URL)."""

    kind = "slack"
    error_type = "text/html"
    fault_modes = tuple(m for m in FaultRule.MODES if m != "remaining0")

    def reset(self):
        self.messages = []

    def error(self, status, title, detail=None):
        return Reply.text(status, detail or title)

    def rate_limited(self, rule):
        return Reply(429, b"rate_limited", "text/plain", {"Retry-After": str(rule.retry_after or 1)})

    def auth_failure(self, wrong):
        return Reply.text(404, "no_text")

    def dispatch(self, req):
        if not req.path.startswith("/commands/"):
            raise Abort(Reply.text(404, "no_service"))
        if req.method != "POST":
            raise Abort(Reply.text(405, "method_not_allowed"))
        doc = req.json
        if media_type(req.headers.get("content-type")) != JSON or not isinstance(doc, dict) \
                or not isinstance(doc.get("text"), str) \
                or doc.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
            raise Abort(Reply.text(400, "invalid_payload"))
        with self.lock:
            self.messages.append(doc)
        return Reply.text(200, "ok")

    def seed(self, data):
        raise ValueError("the slack mock takes no seed")

    def dump(self):
        with self.lock:
            return {"messages": list(self.messages)}


# ---------------------------------------------------------------- HTTP server


SUMMARY_KEYS = ("summary", "event", "details", "name", "resolution_message", "incidentNames", "reroutes")


def describe(doc):
    """A short key=value hint about a request body for log lines."""
    if not isinstance(doc, dict):
        return ""
    data = doc.get("data")
    source = data.get("attributes") if isinstance(data, dict) and isinstance(data.get("attributes"), dict) else doc
    for key in SUMMARY_KEYS:
        if key in source:
            value = source[key]
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            return "%s=%s" % (key, shorten(text))
    return ""


class MockApp:
    """Glue between the HTTP handler, the API model, recording and faults."""

    def __init__(self, api, log_mode):
        self.api = api
        self.recorder = Recorder()
        self.generation = 0
        self.faults = Faults()
        self.log_mode = log_mode  # "quiet", "stderr" or "simulator"
        self.log_lock = threading.Lock()

    def log(self, line, api_request=True):
        if self.log_mode == "quiet" or (self.log_mode == "simulator" and not api_request):
            return
        stream = sys.stdout if self.log_mode == "simulator" else sys.stderr
        with self.log_lock:
            stream.write(line + "\n")
            stream.flush()

    def record(self, req, status, generation=None):
        # a request that was still being answered when the mock was reset
        # belongs to the test before: it is not recorded for the next one
        if generation is not None and generation != self.generation:
            return
        self.recorder.add(req, status)
        self.log(("%s <- %s %s %s %s" % (self.api.kind, req.method, req.path, status or "RST",
                                          describe(req.json))).rstrip())

    def control(self, method, path, query, body):
        try:
            if (method, path) == ("GET", "/_mock/health"):
                return Reply.text(200, "ok")
            if (method, path) == ("GET", "/_mock/requests"):
                return self.list_requests(query)
            if (method, path) == ("GET", "/_mock/state"):
                state = dict(self.api.dump(), faults=self.faults.pending(), requests=self.recorder.count())
                return Reply(200, json.dumps(state, indent=2).encode(), JSON)
            if (method, path) == ("POST", "/_mock/reset"):
                self.generation += 1
                self.faults.clear()
                self.recorder.clear()
                self.api.reset()
                return Reply.json(200, {"reset": True})
            if (method, path) == ("POST", "/_mock/fault"):
                rule = FaultRule(self.control_body(body), self.api.fault_modes)
                self.faults.add(rule)
                return Reply.json(201, {"fault": rule.describe(), "pending": len(self.faults.pending())})
            if (method, path) == ("POST", "/_mock/seed"):
                doc = self.control_body(body)
                if not isinstance(doc, dict):
                    raise ValueError("seed must be a JSON object")
                self.api.seed(doc)
                return Reply.json(200, self.api.dump())
        except ValueError as exc:
            return Reply.json(400, {"error": str(exc)})
        return Reply.json(404, {"error": "unknown control endpoint %s %s" % (method, path)})

    @staticmethod
    def control_body(body):
        try:
            return json.loads(body or b"{}")
        except ValueError as exc:
            raise ValueError("body is not valid JSON: %s" % exc)

    def list_requests(self, query):
        try:
            wait = int(query.get("wait", 0))
            timeout = float(query.get("timeout", 5))
        except ValueError:
            raise ValueError("wait must be an integer and timeout a number")
        records = self.recorder.select(query.get("path"), query.get("method", "").upper() or None, wait, timeout)
        if query.get("format") == "text":
            lines = []
            for r in records:
                stamp = time.strftime("%H:%M:%S", time.localtime(r["time"]))
                target = r["path"] + ("?" + "&".join("%s=%s" % kv for kv in r["query"].items()) if r["query"] else "")
                lines.append(("#%-4d %s %-6s %s -> %s %s" % (r["seq"], stamp, r["method"], target,
                                                             r["status"] or "RST", describe(r["json"]))).rstrip())
            return Reply.text(200, "\n".join(lines) + ("\n" if lines else "(no requests)\n"))
        return Reply.json(200, records)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vomock/1.0"

    def do_GET(self):
        self.handle_request()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_request(self):
        app = self.server.app
        url = urlsplit(self.path)
        try:
            body = self.read_body()
        except ValueError as exc:
            self.close_connection = True
            self.send(Reply.text(400, "bad request body: %s\n" % exc))
            return
        query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path.startswith("/_mock/"):
            reply = self.guarded(app.control, self.command, url.path, query, body)
            app.log("%s control %s %s %d" % (app.api.kind, self.command, url.path, reply.status), api_request=False)
            self.send(reply)
            return
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        req = ApiRequest(self.command, url.path, query, headers, body)
        generation = app.generation
        rule = app.faults.take(req.method, req.path)
        if rule and rule.mode == "reset":
            app.record(req, 0, generation)
            self.reset_connection()
            return
        if rule and rule.mode == "slow":
            time.sleep(rule.delay)
        reply = self.guarded(app.api.respond, req, rule)
        app.record(req, reply.status, generation)
        if rule and rule.mode == "drop":
            self.reset_connection()
            return
        if rule and rule.mode == "late":
            time.sleep(rule.delay)
        self.send(reply)

    @staticmethod
    def guarded(function, *args):
        try:
            return function(*args)
        except Exception:  # a bug in the mock: say so loudly instead of hanging up
            traceback.print_exc()
            return Reply.json(500, {"error": "vomock internal error, see its log"})

    def read_body(self):
        """Read the request body by Content-Length or chunked Transfer-Encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip(), 16)  # ValueError on garbage or EOF
                if size == 0:
                    break
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("truncated chunk")
                chunks.append(chunk)
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ValueError("body shorter than Content-Length")
        return body

    def send(self, reply):
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out on a slow reply)

    def reset_connection(self):
        """Drop the connection with a TCP RST instead of an answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    def version_string(self):
        return self.server_version

    def log_request(self, code="-", size="-"):
        pass  # MockApp logs requests itself

    def log_message(self, fmt, *args):
        if self.server.app.log_mode != "quiet":
            sys.stderr.write("%s vomock: %s\n" % (self.address_string(), fmt % args))


class MockHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128    # bursts of new connections must not lose SYNs

    def __init__(self, address, app):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Mock Rootly / VictorOps / Slack API server (loopback only).")
    parser.add_argument("--kind", required=True, choices=("rootly", "victorops", "slack"))
    parser.add_argument("--listen", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port, 0 picks a free one (default)")
    parser.add_argument("--port-file", help="write the bound port here (atomically) once listening")
    parser.add_argument("--token", help="rootly: the accepted bearer token")
    parser.add_argument("--api-id", help="victorops: the accepted X-VO-Api-Id")
    parser.add_argument("--api-key", help="victorops: the accepted X-VO-Api-Key")
    parser.add_argument("--openapi", default=os.environ.get("VOMOCK_OPENAPI", DEFAULT_OPENAPI),
                        help="rootly: OpenAPI document used to validate request bodies")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="log nothing")
    output.add_argument("--simulator", action="store_true",
                        help="human-friendly: banner and one line per API request on stdout")
    args = parser.parse_args(argv)
    try:
        if not ipaddress.ip_address(args.listen).is_loopback:
            parser.error("--listen %s is not a loopback address; vomock only binds loopback" % args.listen)
    except ValueError:
        parser.error("--listen must be a loopback IP address such as 127.0.0.1 or ::1")
    if args.kind == "rootly":
        if not args.token:
            parser.error("--kind rootly needs --token")
        if not os.path.isfile(args.openapi):
            parser.error("OpenAPI document not found: %s (use --openapi or VOMOCK_OPENAPI)" % args.openapi)
    elif args.kind == "victorops" and not (args.api_id and args.api_key):
        parser.error("--kind victorops needs --api-id and --api-key")
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    if args.kind == "rootly":
        api = RootlyApi(args.token, OpenApiSpec(args.openapi))
    elif args.kind == "slack":
        api = SlackApi()
    else:
        api = VictorOpsApi(args.api_id, args.api_key)
    log_mode = "quiet" if args.quiet else "simulator" if args.simulator else "stderr"
    server = MockHTTPServer((args.listen, args.port), MockApp(api, log_mode))
    port = server.server_address[1]
    host = "[%s]" % args.listen if ":" in args.listen else args.listen
    if args.port_file:
        write_port_file(args.port_file, port)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.simulator:
        print("%s simulator listening on http://%s:%d  (requests: http://%s:%d/_mock/requests?format=text)"
              % (args.kind, host, port, host, port), flush=True)
    elif not args.quiet:
        print("vomock %s listening on http://%s:%d" % (args.kind, host, port), file=sys.stderr, flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
