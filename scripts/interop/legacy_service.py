#!/usr/bin/env python3
"""A legacy X-Road 3.1-eu service adapter written with spyne, for scripts/interop.sh.

It stands where a producer's adapter stands behind the gateway's provider listener
(UXP security server -> dualroad provider listener -> this service) and, in the chain
gateway, behind a consumer listener's legacy stack too. It declares the six 3.1-eu
header elements as SOAP headers, validates every request against its own schema
(spyne's lxml validator: a request spyne cannot parse is a Client fault, never a
guess) and echoes the header back, as an X-Road adapter must.

Two operations, in the conventions of mappings/: `getPatientSummary` (moh) and
`RR19IsikuElukoht` (pop; UXP calls it `getResidence`, the gateway renames the wrapper).
Answers are derived only from the request's key, so two calls with the same key give
the same answer (what shadow mode compares). A patient code starting with PS4999 is
unknown: the answer is the service's own SOAP fault `Server.NoSuchPatient`.

Usage: legacy_service.py PORTFILE RECORDS -- listens on 127.0.0.1:0, writes the port
to PORTFILE, appends one JSON line per parsed request to RECORDS (operation, key,
header values), serves until SIGTERM.
"""
import hashlib
import json
import logging
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from spyne import Application, ComplexModel, Fault, Unicode, rpc, ServiceBase
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

RECORDS_LOCK = threading.Lock()
XRD = "http://x-road.eu/xsd/x-road.xsd"
TNS = "http://interop.dualroad.test/producer"
# Patient codes with this prefix are unknown: getPatientSummary answers a SOAP Fault.
UNKNOWN_PREFIX = "PS4999"


def header(name):
    return type(name, (Unicode,), {"__namespace__": XRD, "__type_name__": name})


# The 3.1-eu header, in the order X-Road adapters declare it.
HEADERS = tuple(header(n) for n in ("consumer", "producer", "userId", "id", "service", "issue"))


class SectionList(ComplexModel):
    __namespace__ = TNS
    section = Unicode(max_occurs="unbounded")


class PatientSummaryRequest(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("patientCode", Unicode(min_occurs=1, nillable=False)),
        ("sections", SectionList),
        ("language", Unicode),
    ]


class Patient(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("personalCode", Unicode),
        ("fullName", Unicode),
        ("bloodType", Unicode),
    ]


class PatientSummaryResponse(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("patient", Patient),
        ("sections", SectionList),
    ]


class ResidenceRequest(ComplexModel):
    __namespace__ = TNS
    _type_info = [("personalCode", Unicode(min_occurs=1, nillable=False))]


class Residence(ComplexModel):
    __namespace__ = TNS
    _type_info = [("locality", Unicode), ("street", Unicode)]


class ResidenceResponse(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("personalCode", Unicode),
        ("fullName", Unicode),
        ("residence", Residence),
    ]


GIVEN = ["Lina", "Omar", "Rania", "Yousef", "Huda", "Karim"]
FAMILY = ["Haddad", "Nasser", "Khoury", "Saleh", "Odeh", "Barghouti"]
BLOOD = ["O+", "A+", "B+", "AB+", "O-", "A-"]
TOWNS = ["Ramallah", "Nablus", "Hebron", "Jenin", "Jericho", "Bethlehem"]


def pick(table, key, salt):
    d = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return table[d[0] % len(table)]


def full_name(code):
    return f"{pick(GIVEN, code, 'given')} {pick(FAMILY, code, 'family')}"


class LegacyAdapter(ServiceBase):
    __in_header__ = HEADERS
    __out_header__ = HEADERS

    @rpc(PatientSummaryRequest, _returns=PatientSummaryResponse,
         _out_variable_name="response")
    def getPatientSummary(ctx, request):
        log_request(ctx, "getPatientSummary", request.patientCode)
        ctx.out_header = ctx.in_header
        code = request.patientCode
        if code.startswith(UNKNOWN_PREFIX):
            # The service's own fault, which the gateway must pass through.
            raise Fault(faultcode="Server.NoSuchPatient", faultstring=f"no patient {code}")
        return PatientSummaryResponse(
            patient=Patient(personalCode=code, fullName=full_name(code),
                            bloodType=pick(BLOOD, code, "blood")),
            sections=request.sections,
        )

    @rpc(ResidenceRequest, _returns=ResidenceResponse, _out_variable_name="response")
    def RR19IsikuElukoht(ctx, request):
        log_request(ctx, "RR19IsikuElukoht", request.personalCode)
        ctx.out_header = ctx.in_header
        code = request.personalCode
        return ResidenceResponse(
            personalCode=code, fullName=full_name(code),
            residence=Residence(locality=pick(TOWNS, code, "town"),
                                street=f"Street {int(hashlib.sha256(code.encode()).hexdigest()[:4], 16) % 90 + 1}"),
        )


RECORDS = None


def log_request(ctx, op, key):
    """One JSON line per parsed request: what spyne understood of it."""
    names = [h.__type_name__ for h in HEADERS]
    values = ctx.in_header if isinstance(ctx.in_header, (list, tuple)) else [ctx.in_header]
    got = {n: v for n, v in zip(names, values or []) if v is not None}
    with RECORDS_LOCK:
        RECORDS.write(json.dumps({"op": op, "key": key, "header": got}) + "\n")
        RECORDS.flush()


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    global RECORDS
    logging.basicConfig(level=logging.WARNING)
    RECORDS = open(sys.argv[2], "a")
    app = Application([LegacyAdapter], tns=TNS, name="LegacyAdapter",
                      in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    server = make_server("127.0.0.1", 0, WsgiApplication(app), server_class=ThreadingServer,
                         handler_class=QuietHandler)
    with open(sys.argv[1], "w") as f:
        f.write(f"{server.server_port}\n")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
