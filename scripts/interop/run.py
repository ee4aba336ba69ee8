#!/usr/bin/env python3
"""Interop driver for scripts/interop.sh: real SOAP stacks against a running gateway.

Runs in the venv interop.sh made (lxml, zeep, suds-community, spyne). Starts, all on
127.0.0.1 with ports the OS chose:
  - `dualroad sim legacy` and `dualroad sim uxp` (the project's stack simulators);
  - a spyne legacy adapter (legacy_service.py, X-Road 3.1-eu);
  - three `dualroad serve` processes:
      v5     consumer listener (legacy stack = sim legacy, UXP stack = sim uxp) and a
             provider listener in front of spyne; mappings/ (legacy dialect 3.1-eu);
      x6     consumer listener in front of the two simulators for X-Road 6/7 (4.x)
             clients; fixtures/mappings/xroad6 (legacy dialect v4, instance PS);
      chain  consumer listener whose legacy stack is spyne and whose UXP stack is v5's
             provider listener (which calls spyne): spyne answers in every stage.
Then, for every stage (legacy, shadow, canary, uxp, uxp-shadow, set by rewriting the
gateways' config and POST /admin/reload), zeep and suds clients call the consumer
listeners with the WSDLs in fixtures/interop/wsdl/, and once the provider listener as a
UXP security server would. A case passes only when every check of it held:
  - the client library parsed the answer as its WSDL's output (no fault, no parse error);
  - the answer is about the request (the key it was asked for comes back);
  - the header echoed to the client names the client's own message id and client;
  - the gateway's metrics say the stage's stack served it (canary: both stacks over
    CANARY_CALLS calls) and, in shadow stages, the copy was compared as `match`;
  - where spyne is behind the gateway, spyne parsed the request and saw the right
    legacy header (consumer, service, user, message id).
Prints one line per case, the failures with the request and answer excerpts, and
`N passed, N failed`. Exit status 0 when all passed, 1 when any failed, 2 when the
set-up itself failed. The work directory (configs, logs, stores) is removed after a
clean run unless KEEP_TMP=1, and kept and named otherwise.
"""
import http.client
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid

from lxml import etree
import suds
import suds.client
import suds.plugin
import zeep
import zeep.exceptions
from zeep.plugins import HistoryPlugin

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Procs, msum, parse_metrics  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DUALROAD = os.environ["DUALROAD_BIN"]
WSDL = os.path.join(ROOT, "fixtures", "interop", "wsdl")
PYTHON = sys.executable
STAGES = ["legacy", "shadow", "canary", "uxp", "uxp-shadow"]
# Canary at 50 %: CANARY_CALLS calls with fresh message ids; both stacks must serve
# some (all on one side has probability 2 * 2^-16 per case).
CANARY_CALLS = 16
WAIT_S = 20  # longest wait for an asynchronous event (shadow comparison, start-up)

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_V31EU = "http://x-road.eu/xsd/x-road.xsd"
NS_V31 = "http://x-road.ee/xsd/x-road.xsd"
NS_V30 = "http://x-rd.net/xsd/xroad.xsd"
NS_V2 = "http://x-tee.riik.ee/xsd/xtee.xsd"
NS_XROAD = "http://x-road.eu/xsd/xroad.xsd"
NS_ID = "http://x-road.eu/xsd/identifiers"

logging.getLogger("zeep").setLevel(logging.ERROR)
logging.getLogger("suds").setLevel(logging.CRITICAL)


def log(msg):
    print(f"interop: {msg}", file=sys.stderr, flush=True)


class CaseFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CaseFailed(what)


# --- processes ---------------------------------------------------------------------


def wait_for(what, fn, proc=None, logfile=None):
    deadline = time.monotonic() + WAIT_S
    while True:
        v = fn()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: process exited ({proc.returncode}); see {logfile}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not ready after {WAIT_S} s; see {logfile}")
        time.sleep(0.1)


def read_first_line(path):
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return ""


def start_sim(procs, tmp, kind):
    out = os.path.join(tmp, f"sim-{kind}.addr")
    err = os.path.join(tmp, f"sim-{kind}.log")
    p = procs.start([DUALROAD, "sim", kind, "--listen", "127.0.0.1:0"],
                    stdout=open(out, "w"), stderr=open(err, "w"))
    return wait_for(f"sim {kind}", lambda: read_first_line(out), p, err)


def start_spyne(procs, tmp):
    portfile = os.path.join(tmp, "spyne.port")
    records = os.path.join(tmp, "spyne-requests.jsonl")
    err = os.path.join(tmp, "spyne.log")
    p = procs.start([PYTHON, os.path.join(ROOT, "scripts", "interop", "legacy_service.py"),
                     portfile, records], stderr=open(err, "w"))
    port = wait_for("spyne", lambda: read_first_line(portfile), p, err)
    return f"127.0.0.1:{port}", records


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    """One `dualroad serve`: its config is rewritten for each stage and reloaded."""

    def __init__(self, name, tmp, mappings, legacy, legacy_dialect, uxp, provider_upstream=None):
        self.name = name
        self.dir = os.path.join(tmp, f"gw-{name}")
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "dualroad.toml")
        self.log = os.path.join(self.dir, "dualroad.log")
        self.mappings = mappings
        self.legacy, self.legacy_dialect, self.uxp = legacy, legacy_dialect, uxp
        self.provider_upstream = provider_upstream
        self.consumer_port = free_port()
        self.provider_port = free_port() if provider_upstream else None
        self.admin = f"127.0.0.1:{free_port()}"
        self.proc = None

    @property
    def consumer_url(self):
        return f"http://127.0.0.1:{self.consumer_port}/cgi-bin/consumer_proxy"

    @property
    def provider_url(self):
        return f"http://127.0.0.1:{self.provider_port}/"

    def write_config(self, stage):
        provider = ""
        if self.provider_upstream:
            provider = f"""
[[listeners]]
name = "uxp-providers"
role = "provider"
listen = "127.0.0.1:{self.provider_port}"
upstream = "adapter"
[upstreams.adapter]
url = "http://{self.provider_upstream}/"
dialect = "v3.1-eu"
request_timeout_ms = 10000
"""
        rule = ""
        if stage != "legacy":
            rule = f"""
[[rollout.rules]]
agency = "*"
service = "*"
stage = "{stage}"
"""
            if stage == "canary":
                rule += "percent = 50\n"
            if stage in ("shadow", "uxp-shadow"):
                rule += "sample = 1.0\n"
        with open(self.config, "w") as f:
            f.write(f"""# written by scripts/interop/run.py for stage {stage}
data_dir = "{self.dir}/data"
mappings = "{self.mappings}"
[admin]
listen = "{self.admin}"
[[listeners]]
name = "agencies"
role = "consumer"
listen = "127.0.0.1:{self.consumer_port}"
{provider}
[upstreams.legacy-ss]
url = "http://{self.legacy}/cgi-bin/consumer_proxy"
dialect = "{self.legacy_dialect}"
request_timeout_ms = 10000
[upstreams.uxp-ss]
url = "http://{self.uxp}/"
dialect = "uxp"
request_timeout_ms = 10000
[stacks]
legacy = "legacy-ss"
uxp = "uxp-ss"
[rollout]
fallback = "legacy"
{rule}""")

    def start(self, procs, stage):
        self.write_config(stage)
        self.proc = procs.start([DUALROAD, "serve", "--config", self.config],
                                stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
                                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})

        def healthy():
            try:
                return urllib.request.urlopen(f"http://{self.admin}/healthz", timeout=1).status == 200
            except OSError:
                return False
        wait_for(f"gateway {self.name}", healthy, self.proc, self.log)

    def admin_call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.admin, timeout=30)
        headers = {"Host": self.admin}
        if body is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body, headers)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")

    def set_stage(self, stage):
        self.write_config(stage)
        status, text = self.admin_call("POST", "/admin/reload", "{}")
        if status != 200:
            raise SystemExit(f"gateway {self.name}: reload for stage {stage} refused ({status}): {text}")
        status, text = self.admin_call("GET", "/admin/rollout")
        if status != 200 or (stage != "legacy" and f'"{stage}"' not in text):
            raise SystemExit(f"gateway {self.name}: /admin/rollout does not show stage {stage}: {text[:400]}")

    def metrics(self):
        status, text = self.admin_call("GET", "/metrics")
        return parse_metrics(text)


def served_counts(before, after):
    """{served_by: n} of requests answered between two metric snapshots."""
    out = {}
    for n, l, v in after:
        if n == "dualroad_requests_total":
            out[l.get("served_by")] = out.get(l.get("served_by"), 0) + v
    for n, l, v in before:
        if n == "dualroad_requests_total":
            out[l.get("served_by")] = out.get(l.get("served_by"), 0) - v
    return {k: int(v) for k, v in out.items() if v}


def mirror_delta(before, after):
    d = {}
    for sign, ms in ((-1, before), (1, after)):
        for n, l, v in ms:
            if n == "dualroad_mirror_total":
                k = (l.get("stack"), l.get("outcome"))
                d[k] = d.get(k, 0) + sign * v
    return {k: int(v) for k, v in d.items() if v}


# --- clients -----------------------------------------------------------------------


def excerpt(xml, limit=1500):
    if xml is None:
        return "(nothing)"
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", "replace")
    xml = re.sub(r">\s+<", "><", xml.strip())
    return xml if len(xml) <= limit else xml[:limit] + f"... ({len(xml)} chars)"


class Call:
    """One request/answer, as the client library saw it."""

    def __init__(self):
        self.sent = None
        self.received = None
        self.result = None
        self.error = None

    def evidence(self):
        return f"    sent:     {excerpt(self.sent)}\n    received: {excerpt(self.received)}"


class ZeepClient:
    lib = "zeep"

    def __init__(self, wsdl, binding, url):
        self.history = HistoryPlugin()
        self.client = zeep.Client(os.path.join(WSDL, wsdl), plugins=[self.history])
        self.service = self.client.create_service(binding, url)

    def call(self, op, body, headers):
        c = Call()
        self.history._buffer.clear()
        try:
            c.result = getattr(self.service, op)(**body, _soapheaders=headers)
        except zeep.exceptions.Fault as e:
            c.error = f"SOAP fault {e.code}: {e.message}"
        except Exception as e:  # a parse error is an interop failure, not a crash
            c.error = f"{type(e).__name__}: {e}"
        if self.history.last_sent:
            c.sent = etree.tostring(self.history.last_sent["envelope"])
        if self.history.last_received:
            c.received = etree.tostring(self.history.last_received["envelope"])
        return c


class QualifyObjectType(suds.plugin.MessagePlugin):
    """suds writes attributes unqualified whatever the schema says; X-Road's
    `objectType` is a global attribute of the identifiers namespace (`id:objectType`).
    This is what suds users of X-Road 6/7 do: qualify it before sending."""

    def marshalled(self, context):
        header = context.envelope.getChild("Header")
        if header is None:
            return
        for el in header.getChildren():
            a = el.getAttribute("objectType")
            if a is not None and a.prefix is None:
                el.addPrefix("iden", NS_ID)
                a.prefix = "iden"


class SudsClient:
    lib = "suds"

    def __init__(self, wsdl, url):
        self.client = suds.client.Client("file://" + os.path.join(WSDL, wsdl), location=url,
                                         cache=None, timeout=30, plugins=[QualifyObjectType()])

    def create(self, type_name):
        return self.client.factory.create(type_name)

    def call(self, op, args, headers):
        c = Call()
        self.client.set_options(soapheaders=headers)
        try:
            c.result = getattr(self.client.service, op)(*args)
        except suds.WebFault as e:
            f = e.fault
            c.error = f"SOAP fault {getattr(f, 'faultcode', '?')}: {getattr(f, 'faultstring', '?')}"
        except Exception as e:
            c.error = f"{type(e).__name__}: {e}"
        sent = self.client.last_sent()
        received = self.client.last_received()
        c.sent = str(sent) if sent is not None else None
        c.received = str(received) if received is not None else None
        return c


def header_values(received, ns):
    """{local name: text} of the X-Road header elements in `ns` of an answer."""
    doc = etree.fromstring(received.encode() if isinstance(received, str) else received)
    out = {}
    for h in doc.findall(f"{{{NS_SOAP}}}Header"):
        for e in h:
            if isinstance(e.tag, str) and e.tag.startswith(f"{{{ns}}}"):
                local = etree.QName(e).localname
                if len(e):
                    out[local] = "/".join((c.text or "") for c in e)
                else:
                    out[local] = e.text or ""
    return out


# --- request shapes ----------------------------------------------------------------


def new_id():
    return str(uuid.uuid4())


def new_code(unknown=False):
    # a personal code in the fixtures' invented range, unique per call; PS4999… is a
    # patient the spyne adapter does not know (it answers a SOAP fault)
    if unknown:
        return "PS4999" + str(uuid.uuid4().int)[:5]
    return "PS4" + str(uuid.uuid4().int)[:8]


def v31eu_headers(mid, service, producer, consumer="10000042"):
    return {"consumer": consumer, "producer": producer, "userId": "PS400123456",
            "id": mid, "service": service, "issue": "INTEROP-1"}


def xroad_id(kind, instance, cls, code, subsystem, service=None, version=None):
    d = {"objectType": kind, "xRoadInstance": instance, "memberClass": cls,
         "memberCode": code, "subsystemCode": subsystem}
    if service:
        d["serviceCode"] = service
        if version:
            d["serviceVersion"] = version
    return d


def suds_xroad_id(client, type_name, values):
    o = client.create(type_name)
    for k, v in values.items():
        if k == "objectType":
            o._objectType = v
        else:
            setattr(o, k, v)
    return o


# Each variant: how to call one service through one client library. `call(client, code,
# mid)` returns a Call; `key(result)` the personal code the answer is about;
# `echo` = (header namespace, {element: expected value}) checked in the answer.


class Variant:
    def __init__(self, name, make_client, call, key, echo, legacy_service, spyne_op=None,
                 fault=None):
        self.name = name
        # (code suffix, message prefix) of the service fault the call must end in.
        self.fault = fault
        self.make_client = make_client
        self.call = call
        self.key = key
        self.echo = echo
        self.legacy_service = legacy_service
        self.spyne_op = spyne_op


def sim_v31eu_summary(cl, code, mid):
    headers = v31eu_headers(mid, "moh.getPatientSummary.v2", "moh")
    if cl.lib == "zeep":
        return cl.call("getPatientSummary",
                       {"request": {"patientCode": code, "sections": {"section": ["allergies", "medication"]}}},
                       headers)
    req = cl.create("{http://interop.dualroad.test/sim}PatientSummaryRequest")
    req.patientCode = code
    req.sections = cl.create("{http://interop.dualroad.test/sim}Sections")
    req.sections.section = ["allergies", "medication"]
    return cl.call("getPatientSummary", [req], headers)


def sim_v31eu_residence(cl, code, mid):
    headers = v31eu_headers(mid, "pop.RR19IsikuElukoht.v1", "pop")
    if cl.lib == "zeep":
        return cl.call("RR19IsikuElukoht", {"request": {"personalCode": code}}, headers)
    req = cl.create("{http://interop.dualroad.test/sim}ResidenceRequest")
    req.personalCode = code
    return cl.call("RR19IsikuElukoht", [req], headers)


def sim_v2_residence(cl, code, mid):
    keha = cl.create("{http://producers.pop.xtee.ps/producer/pop}RR19Paring")
    keha.isikukood = code
    headers = {"asutus": "10000055", "andmekogu": "pop", "isikukood": "PS400554433", "id": mid,
               "nimi": "pop.RR19IsikuElukoht.v1", "toimik": ""}
    return cl.call("RR19IsikuElukoht", [keha], headers)


X6_CLIENT = xroad_id("SUBSYSTEM", "PS", "GOV", "10000042", "moh-portal")
X6_SERVICE = xroad_id("SERVICE", "PS", "GOV", "10000001", "moh", "getPatientSummary", "v2")


def sim_v4_summary(cl, code, mid):
    if cl.lib == "zeep":
        headers = {"client": X6_CLIENT, "service": X6_SERVICE, "id": mid, "userId": "PS400123456",
                   "issue": "INTEROP-4", "protocolVersion": "4.0"}
        return cl.call("getPatientSummary", {"patientCode": code, "sections": {"section": ["allergies"]}}, headers)
    headers = {"client": suds_xroad_id(cl, "{http://x-road.eu/xsd/identifiers}ClientId", X6_CLIENT),
               "service": suds_xroad_id(cl, "{http://x-road.eu/xsd/identifiers}ServiceId", X6_SERVICE),
               "id": mid, "userId": "PS400123456", "issue": "INTEROP-4", "protocolVersion": "4.0"}
    sections = cl.create("{http://interop.dualroad.test/sim4}Sections")
    sections.section = ["allergies"]
    return cl.call("getPatientSummary", [code, sections], headers)


def adapter_v31eu(op, service, producer):
    def call(cl, code, mid):
        headers = v31eu_headers(mid, service, producer)
        key = "patientCode" if op == "getPatientSummary" else "personalCode"
        if cl.lib == "zeep":
            return cl.call(op, {"request": {key: code}}, headers)
        t = "PatientSummaryRequest" if op == "getPatientSummary" else "ResidenceRequest"
        req = cl.create(f"{{http://interop.dualroad.test/producer}}{t}")
        setattr(req, key, code)
        return cl.call(op, [req], headers)
    return call


UXP_CLIENT = xroad_id("SUBSYSTEM", "PS-UXP", "GOV", "10000042", "moh-portal")
UXP_SERVICES = {
    "getPatientSummary": xroad_id("SERVICE", "PS-UXP", "GOV", "10000001", "moh", "getPatientSummary", "v2"),
    "getResidence": xroad_id("SERVICE", "PS-UXP", "GOV", "10000002", "poprr", "getResidence", "v1"),
}


def adapter_uxp(op):
    def call(cl, code, mid):
        key = "patientCode" if op == "getPatientSummary" else "personalCode"
        t = "PatientSummaryRequest" if op == "getPatientSummary" else "ResidenceRequest"
        if cl.lib == "zeep":
            headers = {"client": UXP_CLIENT, "service": UXP_SERVICES[op], "id": mid,
                       "userId": "PS400123456", "issue": "INTEROP-UXP", "protocolVersion": "4.0"}
            return cl.call(op, {"request": {key: code}}, headers)
        headers = {"client": suds_xroad_id(cl, "{http://x-road.eu/xsd/identifiers}ClientId", UXP_CLIENT),
                   "service": suds_xroad_id(cl, "{http://x-road.eu/xsd/identifiers}ServiceId", UXP_SERVICES[op]),
                   "id": mid, "userId": "PS400123456", "issue": "INTEROP-UXP", "protocolVersion": "4.0"}
        req = cl.create(f"{{http://interop.dualroad.test/producer}}{t}")
        setattr(req, key, code)
        return cl.call(op, [req], headers)
    return call


def attr(o, *path):
    for p in path:
        if o is None:
            return None
        o = o[p] if isinstance(o, dict) else getattr(o, p, None)
    return o


def key_of_body(*path):
    """The answer's key at `path` inside the output wrapper. zeep returns the wrapper's
    children under `body` (the WSDL declares output headers); suds returns them
    directly, and unwraps a wrapper with a single child (`response`) to that child."""
    def key(result, lib):
        if lib == "zeep":
            return attr(result, "body", *path)
        got = attr(result, *path)
        if got is None and len(path) > 1:
            got = attr(result, *path[1:])
        return got
    return key


# --- the run -----------------------------------------------------------------------


class Results:
    def __init__(self):
        self.rows = []

    def add(self, name, ok, detail=""):
        self.rows.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f"\n{detail}"), flush=True)


def spyne_records(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    except OSError:
        pass
    return out


def run_case(res, name, gw, stage, client, variant, spyne_log):
    calls = CANARY_CALLS if stage == "canary" else 1
    try:
        before = gw.metrics()
        sent = []
        for _ in range(calls):
            code, mid = new_code(unknown=variant.fault is not None), new_id()
            c = variant.call(client, code, mid)
            sent.append((code, mid))
            if variant.fault:
                fcode, fmsg = variant.fault
                check(c.error is not None and c.error.startswith("SOAP fault "),
                      f"want the service's fault {fcode}, got {c.error or 'an answer'}\n{c.evidence()}")
                code_got, _, msg_got = c.error[len("SOAP fault "):].partition(": ")
                check(code_got.split(":")[-1].endswith(fcode) and msg_got == f"{fmsg} {code}",
                      f"want fault {fcode} '{fmsg} {code}', got {c.error}\n{c.evidence()}")
                continue
            if c.error:
                raise CaseFailed(f"client error: {c.error}\n{c.evidence()}")
            got = variant.key(c.result, client.lib)
            check(got == code, f"answer is about {got!r}, asked for {code!r}\n{c.evidence()}")
            ns, want = variant.echo
            echoed = header_values(c.received, ns)
            for k, v in want(mid).items():
                check(echoed.get(k) == v,
                      f"echoed header {k} = {echoed.get(k)!r}, sent {v!r}\n{c.evidence()}")
        after = gw.metrics()
        served = served_counts(before, after)
        if stage == "canary":
            check(set(served) <= {"legacy", "uxp"} and served.get("legacy", 0) > 0 and served.get("uxp", 0) > 0
                  and sum(served.values()) == calls,
                  f"canary 50 %: served_by over {calls} calls = {served}, want both stacks")
        else:
            want_by = "uxp" if stage in ("uxp", "uxp-shadow") else "legacy"
            check(served == {want_by: calls}, f"served_by = {served}, want {{{want_by!r}: {calls}}}")
        if stage in ("shadow", "uxp-shadow"):
            other = "uxp" if stage == "shadow" else "legacy"
            deadline = time.monotonic() + WAIT_S
            while True:
                mirrored = mirror_delta(before, gw.metrics())
                if sum(mirrored.values()) >= calls or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            check(mirrored == {(other, "match"): calls},
                  f"shadow copy to {other}: mirror outcomes {mirrored}, want {{({other!r}, 'match'): {calls}}}"
                  f"\n    (gateway log: {gw.log})")
        if spyne_log is not None and variant.spyne_op:
            # spyne must have parsed each request with the client's legacy header.
            expect_copies = {"shadow": 1, "uxp-shadow": 1}.get(stage, 0)
            deadline = time.monotonic() + WAIT_S
            while True:
                recs = spyne_records(spyne_log)
                mine = {code: [r for r in recs if r.get("key") == code] for code, _ in sent}
                if all(len(v) >= 1 + expect_copies for v in mine.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            for code, mid in sent:
                got = mine[code]
                check(len(got) == 1 + expect_copies,
                      f"spyne parsed {len(got)} requests for key {code}, want {1 + expect_copies}"
                      f" (see {spyne_log})")
                for r in got:
                    h = r.get("header", {})
                    check(r.get("op") == variant.spyne_op, f"spyne ran {r.get('op')}, want {variant.spyne_op}")
                    for k, v in (("consumer", "10000042"), ("service", variant.legacy_service),
                                 ("userId", "PS400123456")):
                        check(h.get(k) == v, f"spyne saw header {k} = {h.get(k)!r}, want {v!r}: {r}")
                check(any(r.get("header", {}).get("id") == mid for r in got),
                      f"spyne never saw the client's message id {mid}: {got}")
        res.add(name, True)
    except CaseFailed as e:
        res.add(name, False, f"  {e}")
    except Exception as e:
        res.add(name, False, f"  driver error: {type(e).__name__}: {e}\n{traceback.format_exc()}")


def store_evidence(gateways):
    """Every shadow comparison that was not a match, as the gateway recorded it: after
    the gateways stopped (sled lets one process open a store), `dualroad diffs`."""
    for g in gateways:
        data = os.path.join(g.dir, "data")
        r = subprocess.run([DUALROAD, "diffs", "list", "--data", data, "--limit", "50"],
                           capture_output=True, text=True)
        rows = [l for l in r.stdout.splitlines()[1:] if l.strip()]
        if r.returncode != 0 or not rows:
            continue
        print(f"\nshadow comparisons of gateway {g.name} that were not a match ({len(rows)}; `dualroad diffs`):")
        for row in rows[:50]:
            print(f"  {row}")
        shown = set()
        for row in rows:
            diff_id, outcome = row.split()[0], row.split()[5] if len(row.split()) > 5 else "?"
            if outcome in shown:
                continue
            shown.add(outcome)
            r = subprocess.run([DUALROAD, "diffs", "show", diff_id, "--data", data, "--color", "never"],
                               capture_output=True, text=True)
            keep = [l for l in r.stdout.splitlines()
                    if re.match(r"^\s+(outcome|stage|served by|primary fault|shadow fault)\b", l)
                    or re.match(r"^\s+(added|removed|changed)\s", l)
                    or re.match(r"^\s+(primary|shadow):", l)]
            print(f"  diff {diff_id}:")
            for l in keep[:16]:
                print(f"  {l}")


def main():
    tmp = tempfile.mkdtemp(prefix="dualroad-interop.")
    log(f"workdir {tmp}")
    procs = Procs()
    res = Results()
    gateways = []
    try:
        legacy = start_sim(procs, tmp, "legacy")
        uxp = start_sim(procs, tmp, "uxp")
        spyne, spyne_log = start_spyne(procs, tmp)
        log(f"sim legacy {legacy}, sim uxp {uxp}, spyne {spyne}")
        v5 = Gateway("v5", tmp, os.path.join(ROOT, "mappings"), legacy, "v3.1-eu", uxp, provider_upstream=spyne)
        x6 = Gateway("x6", tmp, os.path.join(ROOT, "fixtures", "mappings", "xroad6"), legacy, "v4", uxp)
        v5.start(procs, "legacy")
        chain = Gateway("chain", tmp, os.path.join(ROOT, "mappings"), spyne, "v3.1-eu",
                        f"127.0.0.1:{v5.provider_port}")
        x6.start(procs, "legacy")
        chain.start(procs, "legacy")
        gateways.extend([v5, x6, chain])
        log("gateways up: " + ", ".join(f"{g.name} consumer :{g.consumer_port} admin {g.admin}" for g in gateways)
            + f", v5 provider :{v5.provider_port}")

        def v31_echo(mid):
            return {"id": mid, "consumer": "10000042", "userId": "PS400123456"}

        sim31 = "{http://interop.dualroad.test/sim}SimBinding"
        adapter = "{http://interop.dualroad.test/producer}AdapterBinding"
        consumer_cases = [
            # (gateway, library, dialect, variant)
            (v5, "zeep", "3.1-eu", Variant(
                "getPatientSummary", lambda: ZeepClient("sim-v31eu.wsdl", sim31, v5.consumer_url),
                sim_v31eu_summary, key_of_body("response", "patient", "personalCode"),
                (NS_V31EU, v31_echo), "moh.getPatientSummary.v2")),
            (v5, "suds", "3.1-eu", Variant(
                "getPatientSummary", lambda: SudsClient("sim-v31eu.wsdl", v5.consumer_url),
                sim_v31eu_summary, key_of_body("response", "patient", "personalCode"),
                (NS_V31EU, v31_echo), "moh.getPatientSummary.v2")),
            (v5, "zeep", "3.1-eu", Variant(
                "RR19IsikuElukoht", lambda: ZeepClient("sim-v31eu.wsdl", sim31, v5.consumer_url),
                sim_v31eu_residence, key_of_body("response", "personalCode"),
                (NS_V31EU, v31_echo), "pop.RR19IsikuElukoht.v1")),
            (v5, "zeep", "3.1", Variant(
                "getPatientSummary", lambda: ZeepClient("sim-v31.wsdl", sim31, v5.consumer_url),
                sim_v31eu_summary, key_of_body("response", "patient", "personalCode"),
                (NS_V31, v31_echo), "moh.getPatientSummary.v2")),
            (v5, "suds", "3.1", Variant(
                "getPatientSummary", lambda: SudsClient("sim-v31.wsdl", v5.consumer_url),
                sim_v31eu_summary, key_of_body("response", "patient", "personalCode"),
                (NS_V31, v31_echo), "moh.getPatientSummary.v2")),
            (v5, "zeep", "3.0", Variant(
                "RR19IsikuElukoht", lambda: ZeepClient("sim-v30.wsdl", sim31, v5.consumer_url),
                sim_v31eu_residence, key_of_body("response", "personalCode"),
                (NS_V30, v31_echo), "pop.RR19IsikuElukoht.v1")),
            (v5, "suds", "3.0", Variant(
                "RR19IsikuElukoht", lambda: SudsClient("sim-v30.wsdl", v5.consumer_url),
                sim_v31eu_residence, key_of_body("response", "personalCode"),
                (NS_V30, v31_echo), "pop.RR19IsikuElukoht.v1")),
            (v5, "suds", "2.0-rpc-encoded", Variant(
                "RR19IsikuElukoht", lambda: SudsClient("sim-v2-rpc-encoded.wsdl", v5.consumer_url),
                sim_v2_residence, key_of_body("keha", "personalCode"),
                (NS_V2, lambda mid: {"id": mid, "asutus": "10000055", "nimi": "pop.RR19IsikuElukoht.v1"}),
                "pop.RR19IsikuElukoht.v1")),
            (x6, "zeep", "4.x", Variant(
                "getPatientSummary",
                lambda: ZeepClient("sim-v4.wsdl", "{http://interop.dualroad.test/sim4}MohBinding", x6.consumer_url),
                sim_v4_summary, key_of_body("patient", "personalCode"),
                (NS_XROAD, lambda mid: {"id": mid, "client": "PS/GOV/10000042/moh-portal", "protocolVersion": "4.0"}),
                "getPatientSummary")),
            (x6, "suds", "4.x", Variant(
                "getPatientSummary", lambda: SudsClient("sim-v4.wsdl", x6.consumer_url),
                sim_v4_summary, key_of_body("patient", "personalCode"),
                (NS_XROAD, lambda mid: {"id": mid, "client": "PS/GOV/10000042/moh-portal", "protocolVersion": "4.0"}),
                "getPatientSummary")),
            (chain, "zeep", "3.1-eu", Variant(
                "getPatientSummary", lambda: ZeepClient("adapter-v31eu.wsdl", adapter, chain.consumer_url),
                adapter_v31eu("getPatientSummary", "moh.getPatientSummary.v2", "moh"),
                key_of_body("response", "patient", "personalCode"),
                (NS_V31EU, v31_echo), "moh.getPatientSummary.v2", spyne_op="getPatientSummary")),
            (chain, "zeep", "3.1-eu", Variant(
                "getPatientSummary-fault", lambda: ZeepClient("adapter-v31eu.wsdl", adapter, chain.consumer_url),
                adapter_v31eu("getPatientSummary", "moh.getPatientSummary.v2", "moh"), None,
                (NS_V31EU, v31_echo), "moh.getPatientSummary.v2", spyne_op="getPatientSummary",
                fault=("NoSuchPatient", "no patient"))),
            (chain, "suds", "3.1-eu", Variant(
                "RR19IsikuElukoht", lambda: SudsClient("adapter-v31eu.wsdl", chain.consumer_url),
                adapter_v31eu("RR19IsikuElukoht", "pop.RR19IsikuElukoht.v1", "pop"),
                key_of_body("response", "personalCode"),
                (NS_V31EU, v31_echo), "pop.RR19IsikuElukoht.v1", spyne_op="RR19IsikuElukoht")),
        ]
        clients = {}
        for stage in STAGES:
            for g in gateways:
                g.set_stage(stage)
            log(f"stage {stage}")
            for gw, lib, dialect, v in consumer_cases:
                name = f"{stage:<10} {gw.name:<5} {lib:<4} {dialect:<15} {v.name}"
                try:
                    key = (gw.name, lib, dialect, v.name)
                    if key not in clients:
                        clients[key] = v.make_client()
                    client = clients[key]
                except Exception as e:
                    res.add(name, False, f"  client set-up failed: {type(e).__name__}: {e}")
                    continue
                run_case(res, name, gw, stage, client, v, spyne_log if v.spyne_op else None)

        # The provider listener, as a UXP security server calls it (stage-independent).
        def uxp_echo(op):
            return lambda mid: {"id": mid, "client": "PS-UXP/GOV/10000042/moh-portal", "protocolVersion": "4.0"}
        provider_cases = [
            ("zeep", "getPatientSummary", "moh.getPatientSummary.v2", "getPatientSummary",
             ("response", "patient", "personalCode")),
            ("suds", "getPatientSummary", "moh.getPatientSummary.v2", "getPatientSummary",
             ("response", "patient", "personalCode")),
            ("zeep", "getResidence", "pop.RR19IsikuElukoht.v1", "RR19IsikuElukoht", ("response", "personalCode")),
            ("suds", "getResidence", "pop.RR19IsikuElukoht.v1", "RR19IsikuElukoht", ("response", "personalCode")),
        ]
        provider_cases += [(lib, "getPatientSummary", "moh.getPatientSummary.v2", "getPatientSummary", None)
                           for lib in ("zeep", "suds")]
        for lib, op, legacy_service, spyne_op, path in provider_cases:
            fault = None if path else ("NoSuchPatient", "no patient")
            name = f"{'provider':<10} {'v5':<5} {lib:<4} {'uxp-4.0':<15} {op}{'-fault' if fault else ''}"
            v = Variant(op, None, adapter_uxp(op), key_of_body(*path) if path else None,
                        (NS_XROAD, uxp_echo(op)), legacy_service, spyne_op=spyne_op, fault=fault)
            try:
                client = (ZeepClient("adapter-uxp.wsdl", adapter, v5.provider_url) if lib == "zeep"
                          else SudsClient("adapter-uxp.wsdl", v5.provider_url))
            except Exception as e:
                res.add(name, False, f"  client set-up failed: {type(e).__name__}: {e}")
                continue
            # Provider listeners have no stages: served_by is checked as "legacy" (the
            # legacy adapter answered); see run_case.
            run_case(res, name, v5, "legacy", client, v, spyne_log)
    except SystemExit as e:
        log(f"set-up failed: {e}; logs in {tmp}")
        procs.stop()
        return 2
    finally:
        procs.stop()
    if gateways:
        store_evidence(gateways)
    passed = sum(1 for _, ok, _ in res.rows if ok)
    failed = len(res.rows) - passed
    if failed:
        print("\nfailed cases:")
        for name, ok, _ in res.rows:
            if not ok:
                print(f"  {name}")
        log(f"logs kept in {tmp}")
    elif os.environ.get("KEEP_TMP") == "1":
        log(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
