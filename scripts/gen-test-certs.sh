#!/usr/bin/env bash
# Test TLS material for dualroad's tests, made with openssl and committed under
# fixtures/tls/ so the tests need no openssl. Re-run to regenerate everything (the
# fingerprints in tests are read from the files, never hard-coded).
#
#   ca.pem / ca.key                 test CA ("dualroad test CA")
#   other-ca.pem / other-ca.key     a second, unrelated CA
#   server.pem / server.key         127.0.0.1 + localhost, signed by ca
#   server2.pem / server2.key       same names, another key: "the renewed certificate"
#   client-moh.pem / .key           CN=moh-portal, O=Ministry of Health, signed by ca
#   client-tax.pem / .key           CN=tax-office, O=Tax Board, signed by ca
#   rogue.pem / rogue.key           CN=moh-portal (same subject!), signed by other-ca
#   other-server.pem / .key         127.0.0.1 + localhost, signed by other-ca
#
# Keys are ECDSA P-256 (PKCS#8), validity 100 years.
set -euo pipefail
out="${1:-$(cd "$(dirname "$0")/.." && pwd)/fixtures/tls}"
mkdir -p "$out"
cd "$out"
days=36500
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

ca() { # name subject
    key "$1"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.pem"
}

leaf() { # name subject issuer extfile-lines
    key "$1"
    openssl req -new -key "$1.key" -subj "$2" -out "$tmp/$1.csr"
    printf '%b\n' "$4" >"$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
        -CAserial "$tmp/$3.srl" -sha256 -days "$days" -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
}

server_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost'
client_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'

ca ca "/O=dualroad tests/CN=dualroad test CA"
ca other-ca "/O=Somebody Else/CN=unrelated test CA"
leaf server "/O=dualroad tests/CN=localhost" ca "$server_ext"
leaf server2 "/O=dualroad tests/CN=localhost (renewed)" ca "$server_ext"
leaf client-moh "/C=EE/O=Ministry of Health/CN=moh-portal" ca "$client_ext"
leaf client-tax "/C=EE/O=Tax Board/CN=tax-office" ca "$client_ext"
leaf rogue "/C=EE/O=Ministry of Health/CN=moh-portal" other-ca "$client_ext"
leaf other-server "/O=Somebody Else/CN=localhost" other-ca "$server_ext"
rm -f ./*.srl
for c in *.pem; do
    printf '%s  %s\n' "$(openssl x509 -in "$c" -noout -fingerprint -sha256 | cut -d= -f2)" "$c"
done >FINGERPRINTS
echo "wrote $(ls | wc -l) files to $out"
