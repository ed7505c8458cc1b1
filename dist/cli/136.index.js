"use strict";
exports.id = 136;
exports.ids = [136];
exports.modules = {

/***/ 61412:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   As: () => (/* binding */ utf8),
/* harmony export */   Lz: () => (/* binding */ bits),
/* harmony export */   O6: () => (/* binding */ seq),
/* harmony export */   ad: () => (/* binding */ unsigned),
/* harmony export */   hZ: () => (/* binding */ set),
/* harmony export */   kB: () => (/* binding */ time),
/* harmony export */   mR: () => (/* binding */ spkiPublicKey),
/* harmony export */   t: () => (/* binding */ tlv),
/* harmony export */   tF: () => (/* binding */ ipBytes),
/* harmony export */   tu: () => (/* binding */ octets),
/* harmony export */   xy: () => (/* binding */ tbsFields)
/* harmony export */ });
/* unused harmony exports read, children */
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_0__);
// DER (ITU-T X.690), as much as Hoist's certificates need: writing the few value types of a
// certificate, and reading a certificate's top-level fields back as raw bytes.

/** One value: tag, definite length, content. */
function tlv(tag, ...content) {
    const body = Buffer.concat(content);
    const n = body.length;
    let len;
    if (n < 0x80)
        len = [n];
    else if (n < 0x100)
        len = [0x81, n];
    else if (n < 0x10000)
        len = [0x82, n >> 8, n & 0xff];
    else
        throw new Error(`a DER value of ${n} bytes is longer than a certificate needs`);
    return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
const seq = (...content) => tlv(0x30, ...content);
const set = (...content) => tlv(0x31, ...content);
const octets = (content) => tlv(0x04, content);
/** A BIT STRING of whole bytes (no unused bits). */
const bits = (content) => tlv(0x03, Buffer.from([0]), content);
const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
/** A non-negative INTEGER from big-endian bytes: minimal, with a 0 byte where the top bit is set. */
function unsigned(bytes) {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0 && bytes[i + 1] < 0x80)
        i++;
    const b = Buffer.from(bytes.subarray(i));
    return tlv(0x02, b[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}
/**
 * An X.509 Time (RFC 5280 4.1.2.5): UTCTime for 1950 to 2049, GeneralizedTime otherwise, in whole
 * seconds (a fraction is cut off, never rounded up past the time given).
 */
function time(d) {
    if (Number.isNaN(d.getTime()))
        throw new Error('a certificate time must be a valid date');
    const year = d.getUTCFullYear();
    if (year < 0 || year > 9999)
        throw new Error(`year ${year} cannot be written in a certificate`);
    const digits = d.toISOString().slice(0, 19).replace(/[-:T]/g, ''); // YYYYMMDDHHMMSS
    return year >= 1950 && year < 2050
        ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
        : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}
/** The 4 or 16 bytes of an IP address (an iPAddress SAN), IPv4-in-IPv6 tails included. */
function ipBytes(ip) {
    const family = (0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIP)(ip);
    if (family === 4)
        return Buffer.from(ip.split('.').map(Number));
    if (family !== 6 || ip.includes('%'))
        throw new Error(`"${ip}" is not an IP address`);
    let text = ip;
    const lastColon = text.lastIndexOf(':');
    if (text.includes('.', lastColon)) {
        const [a, b, c, d] = text
            .slice(lastColon + 1)
            .split('.')
            .map(Number);
        text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const [head, tail] = text.split('::');
    const groups = (s) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
    const h = groups(head);
    const t = groups(tail);
    const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
    const out = Buffer.alloc(16);
    all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
    return out;
}
function read(buf, offset) {
    const tag = buf[offset];
    let n = buf[offset + 1];
    if (tag === undefined || n === undefined)
        throw new Error('truncated DER');
    let p = offset + 2;
    if (n & 0x80) {
        const count = n & 0x7f;
        if (count < 1 || count > 3)
            throw new Error('unsupported DER length');
        n = 0;
        for (let i = 0; i < count; i++)
            n = (n << 8) | buf[p++];
    }
    if (p + n > buf.length)
        throw new Error('truncated DER');
    return { tag, start: offset, contentStart: p, end: p + n };
}
/** The values inside a constructed value, in order. */
function children(buf, parent) {
    const out = [];
    for (let p = parent.contentStart; p < parent.end;) {
        const r = read(buf, p);
        out.push(r);
        p = r.end;
    }
    return out;
}
function tbsFields(certDer) {
    const cert = read(certDer, 0);
    const tbs = children(certDer, cert)[0];
    if (cert.tag !== 0x30 || tbs?.tag !== 0x30)
        throw new Error('not an X.509 certificate');
    const f = children(certDer, tbs);
    const at = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
    const [serial, , issuer, , subject, spki] = f.slice(at);
    if (!serial || !issuer || !subject || !spki)
        throw new Error('not an X.509 certificate');
    const raw = (r) => Buffer.from(certDer.subarray(r.start, r.end));
    return {
        serial: raw(serial),
        issuer: raw(issuer),
        subject: raw(subject),
        spki: raw(spki),
        publicKey: spkiPublicKey(raw(spki)),
    };
}
/** The key of a SubjectPublicKeyInfo: its BIT STRING's content, unused-bits byte dropped. */
function spkiPublicKey(spki) {
    const key = children(spki, read(spki, 0))[1];
    if (key?.tag !== 0x03)
        throw new Error('not a SubjectPublicKeyInfo');
    return Buffer.from(spki.subarray(key.contentStart + 1, key.end));
}


/***/ }),

/***/ 58027:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   fD: () => (/* binding */ issueServerCert),
/* harmony export */   lw: () => (/* binding */ issueClientCert),
/* harmony export */   xs: () => (/* binding */ createCa),
/* harmony export */   z8: () => (/* binding */ renewClientCert)
/* harmony export */ });
/* unused harmony export certInfo */
/* harmony import */ var reflect_metadata__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(80477);
/* harmony import */ var reflect_metadata__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(reflect_metadata__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(57975);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_util__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(8927);
/* harmony import */ var _der_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(61412);
// Certificates for builders: one CA per builder signs its server certificate
// and every build's short-lived client certificate. EC P-256, no openssl binary:
// a CA is made with @peculiar/x509 on WebCrypto, what it issues is written as DER
// (der.ts) and signed with node:crypto. The extensions are the ones
// Go's crypto/tls (buildkitd) checks: basicConstraints, keyUsage,
// extKeyUsage, subjectAltName, and subject/authority key identifiers.
// @peculiar/x509 uses tsyringe, which needs a Reflect polyfill loaded before it.





const crypto = node_crypto__WEBPACK_IMPORTED_MODULE_1__.webcrypto;
_peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .cryptoProvider */ .Ve.set(crypto);
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
// Tolerates small clock differences between the signer and the verifier.
const BACKDATE_MS = 5 * 60 * 1000;
/** A random positive 128-bit serial, hex (first byte 0x01..0x7f: positive and minimally encoded). */
function randomSerial() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    return Buffer.from(bytes).toString('hex');
}
/** A distinguished name string with RFC 4514 escaping of the values. */
function dn(commonName, organization) {
    const esc = (v) => v.replace(/([,+"\\<>;=])/g, '\\$1');
    const parts = [`CN=${esc(commonName)}`];
    if (organization)
        parts.push(`O=${esc(organization)}`);
    return parts.join(', ');
}
async function generateKeys() {
    return crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}
async function exportKeyPem(key) {
    const der = await crypto.subtle.exportKey('pkcs8', key);
    return _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .PemConverter */ .v6.encode(der, 'PRIVATE KEY');
}
// A builder's CA signs every build's client certificate (and its renewals): read once, not per
// certificate. Bounded: the oldest go first. A CA that cannot be read is never kept.
const importedCas = new Map();
const IMPORTED_CAS_MAX = 256;
function importCa(ca) {
    const id = `${ca.certPem}\u0000${ca.keyPem}`;
    const hit = importedCas.get(id);
    if (hit)
        return hit;
    const fields = _der_js__WEBPACK_IMPORTED_MODULE_4__/* .tbsFields */ .xy(new node_crypto__WEBPACK_IMPORTED_MODULE_1__.X509Certificate(ca.certPem).raw);
    const imported = {
        issuer: fields.subject,
        key: (0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.createPrivateKey)(ca.keyPem),
        aki: akiExtension(fields.publicKey),
    };
    importedCas.set(id, imported);
    while (importedCas.size > IMPORTED_CAS_MAX)
        importedCas.delete(importedCas.keys().next().value);
    return imported;
}
const generateEcKey = (0,node_util__WEBPACK_IMPORTED_MODULE_2__.promisify)(node_crypto__WEBPACK_IMPORTED_MODULE_1__.generateKeyPair);
async function freshKey() {
    const { publicKey, privateKey } = await generateEcKey('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    return {
        spki,
        ski: skiExtension(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .spkiPublicKey */ .mR(spki)),
        keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    };
}
// Client keys are made ahead, a few at a time, so that issuing a certificate (on the path of every
// build's acquire) only signs. Each key is handed out once and is never kept after that.
const spareKeys = [];
const SPARE_KEYS = 2;
function takeKey() {
    const key = spareKeys.shift() ?? freshKey();
    while (spareKeys.length < SPARE_KEYS) {
        const next = freshKey();
        next.catch(() => undefined); // reported when taken
        spareKeys.push(next);
    }
    return key;
}
// The certificates a CA issues are written as DER directly: a handful of fixed parts around the
// subject, the key and the validity, signed with node:crypto. (Building them with @peculiar/x509
// took about 3 ms of the event loop per certificate, on the path of every build's acquire.)
const hex = (h) => Buffer.from(h, 'hex');
const V3 = hex('a003020102'); // [0] EXPLICIT version v3
const ECDSA_WITH_SHA256 = _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(hex('06082a8648ce3d040302'));
const OID_CN = hex('0603550403');
const OID_O = hex('060355040a');
const EXTENSIONS = {
    /** basicConstraints, critical: not a CA. */
    notCa: hex('300c0603551d130101ff04023000'),
    /** keyUsage, critical: digitalSignature. */
    digitalSignature: hex('300e0603551d0f0101ff040403020780'),
    /** extKeyUsage: clientAuth or serverAuth. */
    clientAuth: hex('30130603551d25040c300a06082b06010505070302'),
    serverAuth: hex('30130603551d25040c300a06082b06010505070301'),
};
/** RFC 5280's key identifier: SHA-1 of the key's bits. */
const keyId = (publicKey) => (0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.createHash)('sha1').update(publicKey).digest();
const skiExtension = (publicKey) => _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(hex('0603551d0e'), _der_js__WEBPACK_IMPORTED_MODULE_4__/* .octets */ .tu(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .octets */ .tu(keyId(publicKey))));
const akiExtension = (caPublicKey) => _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(hex('0603551d23'), _der_js__WEBPACK_IMPORTED_MODULE_4__/* .octets */ .tu(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .tlv */ .t(0x80, keyId(caPublicKey)))));
function subjectName(commonName, organization) {
    const rdn = (oid, value) => _der_js__WEBPACK_IMPORTED_MODULE_4__/* .set */ .hZ(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(oid, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .utf8 */ .As(value)));
    return _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(rdn(OID_CN, commonName), ...(organization ? [rdn(OID_O, organization)] : []));
}
function toPem(body, label) {
    const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----`;
}
function assertValidity(notBefore, notAfter) {
    if (Number.isNaN(notAfter.getTime()) || Number.isNaN(notBefore.getTime())) {
        throw new Error('certificate validity dates must be valid dates');
    }
    if (notAfter.getTime() <= notBefore.getTime()) {
        throw new Error(`certificate notAfter (${notAfter.toISOString()}) must be later than notBefore (${notBefore.toISOString()})`);
    }
}
/** A self-signed CA certificate (10 years unless `notAfter` is given). */
async function createCa(opts) {
    const keys = await generateKeys();
    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const notAfter = opts.notAfter ?? new Date(Date.now() + 3650 * DAY_MS);
    assertValidity(notBefore, notAfter);
    const name = dn(opts.commonName);
    const cert = await _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .X509CertificateGenerator */ .Jy.create({
        serialNumber: randomSerial(),
        subject: name,
        issuer: name,
        notBefore,
        notAfter,
        signingAlgorithm: SIGNING,
        publicKey: keys.publicKey,
        signingKey: keys.privateKey,
        extensions: [
            new _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .BasicConstraintsExtension */ .WA(true, 0, true),
            new _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .KeyUsagesExtension */ .hy(_peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .KeyUsageFlags */ .Ob.keyCertSign | _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .KeyUsageFlags */ .Ob.cRLSign | _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .KeyUsageFlags */ .Ob.digitalSignature, true),
            await _peculiar_x509__WEBPACK_IMPORTED_MODULE_3__/* .SubjectKeyIdentifierExtension */ .QE.create(keys.publicKey),
        ],
    });
    return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}
function issue(ca, opts) {
    const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
    assertValidity(notBefore, opts.notAfter);
    const { issuer, key: caKey, aki } = importCa(ca);
    const extensions = [
        EXTENSIONS.notCa,
        EXTENSIONS.digitalSignature,
        EXTENSIONS[opts.usage],
        opts.key.ski,
        aki,
    ];
    const names = [
        ...(opts.dnsNames ?? []).map((n) => _der_js__WEBPACK_IMPORTED_MODULE_4__/* .tlv */ .t(0x82, Buffer.from(n, 'ascii'))),
        ...(opts.ipAddresses ?? []).map((ip) => _der_js__WEBPACK_IMPORTED_MODULE_4__/* .tlv */ .t(0x87, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .ipBytes */ .tF(ip))),
    ];
    if (names.length)
        extensions.push(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(hex('0603551d11'), _der_js__WEBPACK_IMPORTED_MODULE_4__/* .octets */ .tu(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(...names))));
    const tbs = _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(V3, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .unsigned */ .ad(hex(randomSerial())), ECDSA_WITH_SHA256, issuer, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .time */ .kB(notBefore), _der_js__WEBPACK_IMPORTED_MODULE_4__/* .time */ .kB(opts.notAfter)), opts.subject, opts.key.spki, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .tlv */ .t(0xa3, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(...extensions)));
    // an ECDSA signature is DER (ECDSA-Sig-Value), as X.509 carries it
    const signature = (0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.sign)('sha256', tbs, caKey);
    return toPem(_der_js__WEBPACK_IMPORTED_MODULE_4__/* .seq */ .O6(tbs, ECDSA_WITH_SHA256, _der_js__WEBPACK_IMPORTED_MODULE_4__/* .bits */ .Lz(signature)), 'CERTIFICATE');
}
/**
 * A server certificate (serverAuth) signed by `ca`, valid for the given DNS names and IP
 * addresses (1 year unless `notAfter` is given). Go checks only the SANs, never the CN,
 * so give every name and address clients will dial.
 */
async function issueServerCert(ca, opts) {
    for (const n of opts.dnsNames ?? []) {
        if (!/^[\x21-\x7e]+$/.test(n))
            throw new Error(`"${n}" is not a DNS name`);
    }
    for (const ip of opts.ipAddresses ?? [])
        _der_js__WEBPACK_IMPORTED_MODULE_4__/* .ipBytes */ .tF(ip); // a bad one takes no key made ahead
    importCa(ca);
    const key = await takeKey();
    const certPem = issue(ca, {
        subject: subjectName(opts.commonName),
        notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
        usage: 'serverAuth',
        dnsNames: opts.dnsNames,
        ipAddresses: opts.ipAddresses,
        key,
    });
    return { certPem, keyPem: key.keyPem };
}
/** A client certificate (clientAuth) signed by `ca`; give it the lifetime of what it authorizes. */
async function issueClientCert(ca, opts) {
    // the CA first: one that cannot be read takes no key made ahead
    importCa(ca);
    const key = await takeKey();
    const certPem = issue(ca, {
        subject: subjectName(opts.commonName, opts.organization),
        notBefore: opts.notBefore,
        notAfter: opts.notAfter,
        usage: 'clientAuth',
        key,
    });
    return { certPem, keyPem: key.keyPem };
}
/**
 * A new certificate for the key of `certPem` (same subject, new serial and validity), signed by
 * `ca`. Renewing this way leaves the holder's key file untouched: a client that reads its cert
 * and key files on every connection never sees a cert next to a key it does not match.
 */
async function renewClientCert(ca, opts) {
    const old = _der_js__WEBPACK_IMPORTED_MODULE_4__/* .tbsFields */ .xy(new node_crypto__WEBPACK_IMPORTED_MODULE_1__.X509Certificate(opts.certPem).raw);
    return issue(ca, {
        subject: old.subject,
        notBefore: opts.notBefore,
        notAfter: opts.notAfter,
        usage: 'clientAuth',
        key: { spki: old.spki, ski: skiExtension(old.publicKey) },
    });
}
/** Subject, issuer, serial, validity and SHA-256 fingerprint of a PEM certificate. */
function certInfo(certPem) {
    const cert = new NodeX509Certificate(certPem);
    return {
        subject: cert.subject,
        issuer: cert.issuer,
        serialNumber: cert.serialNumber,
        notBefore: new Date(cert.validFrom),
        notAfter: new Date(cert.validTo),
        fingerprint256: cert.fingerprint256,
    };
}


/***/ }),

/***/ 92737:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   x: () => (/* binding */ renderBuildkitdConfig)
/* harmony export */ });
// buildkitd.toml as Hoist writes it for every builder, whichever provider runs it: the OCI worker
// only, a GC policy bounded by the builder's cap, plain-HTTP registries (tests), nameservers, and
// on the local provider the builder's cgroup and CNI network.
function tomlString(s) {
    return JSON.stringify(s);
}
/** buildkitd.toml: OCI worker only, a GC policy bounded by `maxUsed`, plain-HTTP registries for tests. */
function renderBuildkitdConfig(opts) {
    const max = String(opts.maxUsedSpaceBytes);
    // Like buildkitd's default policy: first drop old local context, cache mounts and git
    // checkouts, then anything unused, always bounded by maxUsedSpace.
    const lines = [
        '# Written by hoist; rewritten on every start.',
        '[worker.oci]',
        '  enabled = true',
        '  gc = true',
        ...(opts.cgroupParent ? [`  defaultCgroupParent = ${tomlString(opts.cgroupParent)}`] : []),
        `  maxUsedSpace = ${tomlString(max)}`,
        // Keys of [worker.oci] itself: they must come before its [[worker.oci.gcpolicy]] tables.
        ...(opts.cni
            ? [
                '  networkMode = "cni"',
                `  cniConfigPath = ${tomlString(opts.cni.configPath)}`,
                `  cniBinaryPath = ${tomlString(opts.cni.binaryDir)}`,
            ]
            : []),
        '  [[worker.oci.gcpolicy]]',
        `    maxUsedSpace = ${tomlString(max)}`,
        '    keepDuration = "48h"',
        '    filters = ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"]',
        '  [[worker.oci.gcpolicy]]',
        `    maxUsedSpace = ${tomlString(max)}`,
        '    keepDuration = "1440h"',
        '  [[worker.oci.gcpolicy]]',
        `    maxUsedSpace = ${tomlString(max)}`,
        '    all = true',
        '[worker.containerd]',
        '  enabled = false',
    ];
    for (const reg of opts.insecureRegistries) {
        lines.push(`[registry.${tomlString(reg)}]`, '  http = true', '  insecure = true');
    }
    if (opts.dns && opts.dns.length > 0) {
        lines.push('[dns]', `  nameservers = [${opts.dns.map(tomlString).join(', ')}]`);
    }
    return lines.join('\n') + '\n';
}


/***/ }),

/***/ 71321:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   O$: () => (/* binding */ probeUnixSocket),
/* harmony export */   SL: () => (/* binding */ probeTls)
/* harmony export */ });
/* unused harmony exports H2_PREFACE, isSettingsFrame */
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(41692);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_tls__WEBPACK_IMPORTED_MODULE_1__);
// Is a buildkitd serving? It speaks gRPC, so HTTP/2: a probe sends the client preface and waits
// for the server's SETTINGS frame. An accepted connection alone proves less (a socket file left
// behind, a port another process holds); a SETTINGS frame is buildkitd's own first word.
// The local provider probes a unix socket in clear text, the kubernetes provider a pod over
// mutual TLS: only how the connection is made and the wording of the failures differ.


/** The HTTP/2 client preface followed by an empty SETTINGS frame. */
const H2_PREFACE = Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]),
]);
/** Frame type 0x4 (SETTINGS) in the first frame header the server sends. */
function isSettingsFrame(firstBytes) {
    return firstBytes.length >= 9 && firstBytes[3] === 0x4;
}
/**
 * Writes the preface once `socket` emits `readyEvent`, resolves with what came back first: a
 * SETTINGS frame (healthy), another frame, the end of the connection, an error or silence.
 * Never rejects; the socket is destroyed in every case.
 */
function probeSocket(socket, readyEvent, timeoutMs, wording) {
    return new Promise((resolve) => {
        let settled = false;
        let buf = Buffer.alloc(0);
        const done = (h) => {
            if (settled)
                return;
            settled = true;
            socket.destroy();
            resolve(h);
        };
        socket.setTimeout(timeoutMs, () => done({ healthy: false, reason: wording.silent }));
        socket.once(readyEvent, () => socket.write(H2_PREFACE));
        socket.on('data', (chunk) => {
            buf = Buffer.concat([buf, chunk]);
            if (buf.length < 9)
                return;
            done(isSettingsFrame(buf)
                ? { healthy: true }
                : { healthy: false, reason: 'no HTTP/2 SETTINGS from buildkitd' });
        });
        socket.once('end', () => done({ healthy: false, reason: 'connection closed by buildkitd' }));
        socket.once('error', (err) => done({ healthy: false, reason: `${wording.unreachable}: ${err.message}` }));
    });
}
/** buildkitd on its unix socket (the local provider: clear text, the socket is private). */
function probeUnixSocket(socketPath, timeoutMs = 2000) {
    return probeSocket(node_net__WEBPACK_IMPORTED_MODULE_0__.connect({ path: socketPath }), 'connect', timeoutMs, {
        silent: 'buildkitd did not answer on its socket',
        unreachable: 'cannot connect to buildkitd',
    });
}
/** buildkitd on TCP with mutual TLS under the builder's CA (a builder pod). */
function probeTls(host, port, secret, client, serverName, timeoutMs = 3000) {
    const socket = node_tls__WEBPACK_IMPORTED_MODULE_1__.connect({
        host,
        port,
        ca: secret.caPem,
        cert: client.certPem,
        key: client.keyPem,
        servername: serverName,
        ALPNProtocols: ['h2'],
    });
    return probeSocket(socket, 'secureConnect', timeoutMs, {
        silent: 'buildkitd did not answer over TLS',
        unreachable: 'cannot reach buildkitd',
    });
}


/***/ }),

/***/ 98628:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   _: () => (/* binding */ BuilderGateway)
/* harmony export */ });
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(41692);
/* harmony import */ var node_tls__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_tls__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(97268);
// The one entry point to every builder: a TLS server on one TCP port that routes on the SNI
// server name (each builder has its own name and CA), verifies the client certificate against
// that builder's CA, asks the control plane whether the certificate's serial may open that
// builder now, and only then pipes bytes to the builder's buildkitd, which listens on a socket
// nobody else can reach. BuildKit cannot revoke a certificate; this can: ending a build closes
// its open connections at once, and its serial opens nothing from then on. A Kubernetes
// deployment needs the same thing (one address that routes on the server name).



/** Any certificate of the builder's CA (what buildkitd's own mTLS allowed). */
const anyCertOfTheCa = async (p) => ({ ok: true, owner: p.serial });
class BuilderGateway {
    routes;
    server;
    endpoint;
    log;
    open = new Set();
    authorize = anyCertOfTheCa;
    resolver = null;
    /** Server names the resolver did not know, and until when that answer holds. */
    unknown = new Map();
    closed = false;
    constructor(routes, server, endpoint, log) {
        this.routes = routes;
        this.server = server;
        this.endpoint = endpoint;
        this.log = log;
    }
    /** Listens on host:port (0 = any free port); clients are told to dial advertiseHost. */
    static async listen(opts) {
        const routes = new Map();
        // Assigned once the server listens; SNICallback runs only after that.
        let self = undefined;
        const server = node_tls__WEBPACK_IMPORTED_MODULE_1__.createServer({
            requestCert: true,
            rejectUnauthorized: true,
            // A handshake that stalls holds a socket and nothing else: drop it soon.
            handshakeTimeout: 10_000,
            // gRPC's small frames must not wait for Nagle and delayed ACKs (≈40 ms a round trip)
            noDelay: true,
            // Only the SNI context (a builder's cert and CA) can complete a handshake.
            SNICallback: (name, cb) => {
                const key = name.toLowerCase();
                const hit = routes.get(key);
                if (hit || !self)
                    return cb(null, hit?.context);
                self.resolve(key).then((r) => cb(null, r?.context), () => cb(null, undefined));
            },
        });
        await new Promise((resolve, reject) => {
            server.once('error', reject);
            server.listen(opts.port, opts.host, () => {
                server.off('error', reject);
                resolve();
            });
        });
        const port = server.address().port;
        const host = opts.advertiseHost.includes(':') ? `[${opts.advertiseHost}]` : opts.advertiseHost;
        self = new BuilderGateway(routes, server, `tcp://${host}:${opts.advertisePort ?? port}`, opts.logger);
        const gw = self;
        server.on('secureConnection', (socket) => void gw.accept(socket));
        // Refused handshakes (another CA, expired, no certificate, unknown name) end here.
        server.on('tlsClientError', () => undefined);
        return gw;
    }
    get port() {
        return this.server.address().port;
    }
    /** Installs the check every new connection must pass after its certificate chain verified. */
    setAuthorizer(fn) {
        this.authorize = fn;
    }
    /**
     * Installs the lookup of routes this gateway was not given (a builder another control-plane
     * replica launched). Unknown names are remembered for a few seconds, so a stream of made-up
     * server names costs one lookup each, not one per handshake.
     */
    setResolver(fn) {
        this.resolver = fn;
    }
    async resolve(name) {
        if (!this.resolver || this.closed)
            return null;
        const until = this.unknown.get(name);
        if (until !== undefined && until > Date.now())
            return null;
        let route = null;
        try {
            route = await this.resolver(name);
        }
        catch (err) {
            this.log.warn({ server_name: name, err: (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err) }, 'builder route lookup failed');
        }
        if (!route || route.serverName.toLowerCase() !== name) {
            if (this.unknown.size > 10_000)
                this.unknown.clear();
            this.unknown.set(name, Date.now() + 5000);
            return null;
        }
        this.setRoute(route);
        return this.routes.get(name) ?? null;
    }
    setRoute(route) {
        this.unknown.delete(route.serverName.toLowerCase());
        const context = node_tls__WEBPACK_IMPORTED_MODULE_1__.createSecureContext({ cert: route.certPem, key: route.keyPem, ca: route.caPem });
        this.routes.set(route.serverName.toLowerCase(), { route, context });
    }
    /** Forgets a builder and closes its connections (it stopped). */
    removeRoute(builderId) {
        for (const [name, r] of this.routes)
            if (r.route.builderId === builderId)
                this.routes.delete(name);
        for (const c of this.open)
            if (c.builderId === builderId)
                this.drop(c);
    }
    /** Closes every open connection of these owners now; returns how many were closed. */
    closeOwners(owners) {
        return this.closeMatching('owner', owners);
    }
    /** Closes every open connection that presented one of these serials; returns how many. */
    closeSerials(serials) {
        return this.closeMatching('serial', serials);
    }
    closeMatching(key, values) {
        const set = new Set(values);
        let n = 0;
        for (const c of this.open) {
            if (set.has(c[key])) {
                this.drop(c);
                n++;
            }
        }
        return n;
    }
    connections() {
        return [...this.open].map(({ owner, serial, builderId }) => ({ owner, serial, builderId }));
    }
    async close() {
        this.closed = true;
        for (const c of this.open)
            this.drop(c);
        await new Promise((resolve) => this.server.close(() => resolve()));
    }
    drop(c) {
        this.open.delete(c);
        c.client.destroy();
        c.upstream?.destroy();
    }
    async accept(client) {
        // Nothing the client sent is read until it is let in.
        client.pause();
        client.setNoDelay(true);
        client.on('error', () => undefined);
        const name = client.servername;
        const entry = typeof name === 'string' ? this.routes.get(name.toLowerCase()) : undefined;
        const cert = client.getPeerX509Certificate();
        if (!entry || !client.authorized || !cert) {
            client.destroy();
            return;
        }
        const peer = {
            builderId: entry.route.builderId,
            serial: cert.serialNumber.toUpperCase(),
            notAfter: new Date(cert.validTo),
        };
        let verdict;
        try {
            verdict = await this.authorize(peer);
        }
        catch (err) {
            verdict = { ok: false, reason: `authorization failed: ${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err)}` };
        }
        if (!verdict.ok || this.closed || client.destroyed) {
            if (!verdict.ok) {
                this.log.info({ builder_id: peer.builderId, cert_serial: peer.serial, reason: verdict.reason }, 'builder connection refused');
            }
            client.destroy();
            return;
        }
        const tracked = {
            owner: verdict.owner,
            serial: peer.serial,
            builderId: peer.builderId,
            client,
            upstream: null,
        };
        this.open.add(tracked);
        const target = entry.route.upstream;
        const up = 'host' in target && target.tls
            ? node_tls__WEBPACK_IMPORTED_MODULE_1__.connect({
                host: target.host,
                port: target.port,
                ca: target.tls.caPem,
                cert: target.tls.certPem,
                key: target.tls.keyPem,
                servername: target.tls.serverName,
                // buildkitd speaks gRPC: HTTP/2 negotiated by ALPN
                ALPNProtocols: ['h2'],
            })
            : node_net__WEBPACK_IMPORTED_MODULE_0__.connect(target);
        up.setNoDelay(true);
        tracked.upstream = up;
        const end = () => {
            this.open.delete(tracked);
            client.destroy();
            up.destroy();
        };
        up.once(up instanceof node_tls__WEBPACK_IMPORTED_MODULE_1__.TLSSocket ? 'secureConnect' : 'connect', () => {
            client.pipe(up);
            up.pipe(client);
            client.resume();
        });
        up.on('error', (err) => {
            this.log.warn({ builder_id: peer.builderId, err: (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err) }, 'builder unreachable');
            // A looked-up route may be stale (the pod moved): the next connection looks it up again.
            if (this.resolver) {
                const name = entry.route.serverName.toLowerCase();
                if (this.routes.get(name) === entry)
                    this.routes.delete(name);
            }
            end();
        });
        up.once('close', end);
        client.once('close', end);
    }
}


/***/ }),

/***/ 5911:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BC: () => (/* binding */ ANNOTATIONS),
/* harmony export */   Dy: () => (/* binding */ names),
/* harmony export */   Lw: () => (/* binding */ builderPvc),
/* harmony export */   Pf: () => (/* binding */ parseNodeSelector),
/* harmony export */   Qf: () => (/* binding */ ownerReferenceTo),
/* harmony export */   RH: () => (/* binding */ builderPod),
/* harmony export */   Rl: () => (/* binding */ secretContents),
/* harmony export */   T4: () => (/* binding */ BUILDKITD_PORT),
/* harmony export */   ZM: () => (/* binding */ objectNameFromServerName),
/* harmony export */   _6: () => (/* binding */ snapshotPvc),
/* harmony export */   bg: () => (/* binding */ volumeSnapshot),
/* harmony export */   cu: () => (/* binding */ identityOf),
/* harmony export */   fS: () => (/* binding */ podSpecHash),
/* harmony export */   go: () => (/* binding */ isOwned),
/* harmony export */   h6: () => (/* binding */ nodeArch),
/* harmony export */   is: () => (/* binding */ builderSecret),
/* harmony export */   jC: () => (/* binding */ ownedSelector),
/* harmony export */   kg: () => (/* binding */ LABELS),
/* harmony export */   pA: () => (/* binding */ runNetworkOf),
/* harmony export */   pn: () => (/* binding */ cloneDataSource),
/* harmony export */   rU: () => (/* binding */ copyPod),
/* harmony export */   t8: () => (/* binding */ CLONE_MODES),
/* harmony export */   tK: () => (/* binding */ parseResources),
/* harmony export */   w: () => (/* binding */ labelValue),
/* harmony export */   xM: () => (/* binding */ snapshotObjectName)
/* harmony export */ });
/* unused harmony exports MANAGED_BY, BUILDKIT_ROOT, dnsLabel, builderObjectName, builderSelector, SECRET_KEYS, buildkitdArgs, snapshotMeta */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(70824);
/* harmony import */ var _kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(27323);
// Pure builders of the Kubernetes objects the kubernetes provider owns: names, labels, the
// builder's Secret, PersistentVolumeClaim and Pod, the copy pod that makes a clone's cache, and
// the snapshot objects. No I/O: kubernetes.ts sends what these return, and the tests read them.



/** Label and annotation keys. Every object Hoist creates carries MANAGED_BY and INSTANCE. */
const LABELS = {
    managedBy: 'app.kubernetes.io/managed-by',
    instance: 'hoist/instance',
    builderId: 'hoist/builder-id',
    project: 'hoist/project',
    platform: 'hoist/platform',
    role: 'hoist/role',
    /** "builder" (pod, PVC, Secret of a builder), "copy" (a copy pod), "snapshot" (a snapshot's volume). */
    component: 'hoist/component',
    snapshotId: 'hoist/snapshot-id',
};
const ANNOTATIONS = {
    /** Label values cannot hold every id or "linux/amd64": the exact values live here. */
    builderId: 'hoist/builder-id',
    projectId: 'hoist/project-id',
    platform: 'hoist/platform',
    snapshotId: 'hoist/snapshot-id',
    /** What the pod was made from (image, config, resources): a pod whose hash differs is replaced. */
    specHash: 'hoist/spec-hash',
    createdAt: 'hoist/created-at',
    downtimeMs: 'hoist/downtime-ms',
    sourceBuilder: 'hoist/source-builder',
};
const MANAGED_BY = 'hoist';
/** Where buildkitd listens inside the pod (TLS, client certificates of the builder's CA only). */
const BUILDKITD_PORT = 1234;
const BUILDKIT_ROOT = '/var/lib/buildkit';
const CERTS_DIR = '/etc/hoist/tls';
const CLONE_MODES = ['copy-pod', 'pvc-clone', 'csi-snapshot', 'none'];
function runNetworkOf(s) {
    const net = s.runNetwork ?? (0,_kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__/* .defaultRunNetwork */ .Hc)(s.security);
    // Rootless BuildKit cannot set up the pod's bridge and firewall (the config refuses the pair).
    return s.security === 'rootless' ? { ...net, mode: 'pod' } : net;
}
const DNS_LABEL_MAX = 63;
function shortHash(s, n = 8) {
    return (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(s).digest('hex').slice(0, n);
}
/**
 * A DNS-1123 label made from an arbitrary id: lower-case, [a-z0-9-], at most `max` characters.
 * When that changed the id (case, other characters, length), a hash of the exact id is added
 * so "A" and "a" never share a name.
 */
function dnsLabel(prefix, id, max = DNS_LABEL_MAX) {
    const clean = id
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .replace(/^-+|-+$/g, '');
    if (clean !== '' && clean === id && prefix.length + clean.length <= max)
        return `${prefix}${clean}`;
    // Lossy (case, characters, length): a hash of the exact id keeps two ids apart.
    const room = max - prefix.length - 9;
    const body = (clean || 'x').slice(0, room).replace(/-+$/, '') || 'x';
    return `${prefix}${body}-${shortHash(id)}`;
}
/** The builder's pod, volume and Secret share this name (the volume and Secret add a suffix). */
function builderObjectName(id) {
    return dnsLabel('hoist-', id, 52);
}
function names(id) {
    const base = builderObjectName(id);
    return {
        pod: base,
        pvc: `${base}-root`,
        secret: `${base}-tls`,
        copyPod: `${base}-copy`,
        /** SNI name clients send; one per builder, a SAN of its server certificate. */
        serverName: `${base}.builders.hoist.internal`,
    };
}
function snapshotObjectName(snapshotId) {
    return dnsLabel('hoist-snap-', snapshotId, 63);
}
/** The builder's object name from an SNI server name, or null when it is not one of ours. */
function objectNameFromServerName(serverName) {
    const m = /^(hoist-[a-z0-9-]+)\.builders\.hoist\.internal$/.exec(serverName.toLowerCase());
    return m ? m[1] : null;
}
/** A label value (≤ 63, [A-Za-z0-9_.-], alphanumeric at both ends); lossy ids get a hash. */
function labelValue(raw) {
    if (/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(raw))
        return raw;
    const clean = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
    return `${clean.slice(0, 54).replace(/[^A-Za-z0-9]+$/, '') || 'x'}-${shortHash(raw)}`;
}
/** "linux/arm64/v8" → "arm64": the value of the node label kubernetes.io/arch. */
function nodeArch(platform) {
    const arch = platform.split('/')[1];
    if (!arch)
        throw new Error(`platform "${platform}" has no architecture`);
    return arch;
}
/** The labels every object of this Hoist installation carries. */
function ownedSelector(instance) {
    return `${LABELS.managedBy}=${MANAGED_BY},${LABELS.instance}=${labelValue(instance)}`;
}
/** Selects one builder's objects (and only this installation's). */
function builderSelector(instance, id) {
    return `${ownedSelector(instance)},${LABELS.builderId}=${labelValue(id)}`;
}
/** Is this object one Hoist made, in this installation? Never touch anything else. */
function isOwned(meta, instance) {
    const l = meta?.labels ?? {};
    return l[LABELS.managedBy] === MANAGED_BY && l[LABELS.instance] === labelValue(instance);
}
function builderLabels(s, b) {
    return {
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.instance]: labelValue(s.instance),
        [LABELS.component]: 'builder',
        [LABELS.builderId]: labelValue(b.id),
        [LABELS.project]: labelValue(b.projectId),
        [LABELS.platform]: labelValue(b.platform.replace(/\//g, '-')),
        [LABELS.role]: b.role,
    };
}
function builderAnnotations(b) {
    return {
        [ANNOTATIONS.builderId]: b.id,
        [ANNOTATIONS.projectId]: b.projectId,
        [ANNOTATIONS.platform]: b.platform,
        ...(b.snapshotId ? { [ANNOTATIONS.snapshotId]: b.snapshotId } : {}),
    };
}
function meta(name, s, b) {
    return {
        name,
        namespace: s.namespace,
        labels: builderLabels(s, b),
        annotations: builderAnnotations(b),
    };
}
/** The builder's identity read back from an object's labels and annotations (adoption). */
function identityOf(m) {
    const a = m?.annotations ?? {};
    const l = m?.labels ?? {};
    const id = a[ANNOTATIONS.builderId];
    const projectId = a[ANNOTATIONS.projectId];
    const platform = a[ANNOTATIONS.platform];
    if (!id || !projectId || !platform)
        return null;
    const role = l[LABELS.role] === 'clone' ? 'clone' : 'primary';
    return { id, projectId, platform, role, snapshotId: a[ANNOTATIONS.snapshotId] };
}
/** Keys in the Secret; the CA key is never mounted into the pod. */
const SECRET_KEYS = {
    ca: 'ca.pem',
    caKey: 'ca-key.pem',
    cert: 'cert.pem',
    key: 'key.pem',
    config: 'buildkitd.toml',
};
function builderSecret(s, b, c) {
    return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(names(b.id).secret, s, b),
        type: 'Opaque',
        stringData: {
            [SECRET_KEYS.ca]: c.caPem,
            [SECRET_KEYS.caKey]: c.caKeyPem,
            [SECRET_KEYS.cert]: c.certPem,
            [SECRET_KEYS.key]: c.keyPem,
            [SECRET_KEYS.config]: c.config,
        },
    };
}
/** Reads the Secret's data (base64, as the API returns it) back into PEMs; null when incomplete. */
function secretContents(secret) {
    const d = secret.data ?? {};
    const get = (k) => d[k] === undefined ? secret.stringData?.[k] : Buffer.from(d[k], 'base64').toString('utf8');
    const caPem = get(SECRET_KEYS.ca);
    const caKeyPem = get(SECRET_KEYS.caKey);
    const certPem = get(SECRET_KEYS.cert);
    const keyPem = get(SECRET_KEYS.key);
    const config = get(SECRET_KEYS.config) ?? '';
    if (!caPem || !caKeyPem || !certPem || !keyPem)
        return null;
    return { caPem, caKeyPem, certPem, keyPem, config };
}
/**
 * The builder's cache volume. A clone's volume starts from the snapshot by `dataSourceRef`
 * (pvc-clone, csi-snapshot) or empty, to be filled by a copy pod (copy-pod).
 */
function builderPvc(s, b, opts = {}) {
    return {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: meta(names(b.id).pvc, s, b),
        spec: {
            accessModes: ['ReadWriteOnce'],
            ...(s.storageClass ? { storageClassName: s.storageClass } : {}),
            resources: { requests: { storage: opts.size ?? s.volumeSize } },
            ...(opts.dataSourceRef ? { dataSourceRef: opts.dataSourceRef } : {}),
        },
    };
}
/** Where a clone's volume starts from, for the clone modes that let the storage driver copy. */
function cloneDataSource(mode, snapshotId) {
    if (mode === 'pvc-clone')
        return { kind: 'PersistentVolumeClaim', name: snapshotObjectName(snapshotId) };
    if (mode === 'csi-snapshot') {
        return {
            apiGroup: 'snapshot.storage.k8s.io',
            kind: 'VolumeSnapshot',
            name: snapshotObjectName(snapshotId),
        };
    }
    return undefined;
}
function securityContext(s) {
    if (s.security === 'privileged')
        return { privileged: true };
    // BuildKit's rootless mode: user namespaces need unconfined seccomp and AppArmor.
    return {
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: 'Unconfined' },
        appArmorProfile: { type: 'Unconfined' },
    };
}
/** The buildkitd command line inside the pod. */
function buildkitdArgs(platform, security, runNetwork = 'pod') {
    return [
        '--root',
        BUILDKIT_ROOT,
        '--addr',
        `tcp://0.0.0.0:${BUILDKITD_PORT}`,
        '--tlscacert',
        `${CERTS_DIR}/${SECRET_KEYS.ca}`,
        '--tlscert',
        `${CERTS_DIR}/${SECRET_KEYS.cert}`,
        '--tlskey',
        `${CERTS_DIR}/${SECRET_KEYS.key}`,
        '--config',
        `${CERTS_DIR}/${SECRET_KEYS.config}`,
        // isolated: each RUN step in its own namespace on the pod's bridge, behind the firewall
        // the entrypoint sets up; pod: RUN steps share the pod's namespace.
        '--oci-worker-net',
        runNetwork === 'isolated' ? 'cni' : 'host',
        '--oci-worker-platform',
        platform,
        ...(security === 'rootless' ? ['--oci-worker-no-process-sandbox'] : []),
    ];
}
/** A hash of everything that shapes the pod, so a changed image or setting replaces the pod. */
function podSpecHash(s, b, config) {
    return shortHash(JSON.stringify([
        s.image,
        s.resources,
        s.security,
        s.nodeSelector,
        buildkitdArgs(b.platform, s.security, runNetworkOf(s).mode),
        config,
        runNetworkOf(s).mode === 'isolated' ? [(0,_kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__/* .runNetworkCommand */ .LD)(), (0,_kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__/* .runNetworkEnv */ .v4)(runNetworkOf(s))] : null,
    ]), 16);
}
/** buildkitd's command; `isolated` first sets up the RUN steps' bridge network and firewall. */
function buildkitdCommand(s) {
    // Rootless BuildKit runs under rootlesskit, which the image must ship.
    if (s.security === 'rootless')
        return ['rootlesskit', 'buildkitd'];
    return runNetworkOf(s).mode === 'isolated' ? (0,_kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__/* .runNetworkCommand */ .LD)() : ['buildkitd'];
}
function builderPod(s, b, config) {
    const n = names(b.id);
    const m = meta(n.pod, s, b);
    m.annotations[ANNOTATIONS.specHash] = podSpecHash(s, b, config);
    const resources = { requests: s.resources.requests, limits: s.resources.limits };
    const net = runNetworkOf(s);
    return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: m,
        spec: {
            // Hoist is the controller: a lost pod is replaced by the next launch, on the same volume.
            restartPolicy: 'Always',
            // A builder runs other people's code: no API token, no service environment variables.
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // buildkitd flushes its bolt databases on SIGTERM; a clean stop keeps the cache intact.
            terminationGracePeriodSeconds: 30,
            nodeSelector: {
                ...s.nodeSelector,
                'kubernetes.io/os': 'linux',
                'kubernetes.io/arch': nodeArch(b.platform),
            },
            containers: [
                {
                    name: 'buildkitd',
                    image: s.image,
                    imagePullPolicy: s.imagePullPolicy,
                    command: buildkitdCommand(s),
                    args: buildkitdArgs(b.platform, s.security, net.mode),
                    ...(net.mode === 'isolated' ? { env: (0,_kubernetes_network_js__WEBPACK_IMPORTED_MODULE_1__/* .runNetworkEnv */ .v4)(net) } : {}),
                    ports: [{ name: 'buildkitd', containerPort: BUILDKITD_PORT, protocol: 'TCP' }],
                    securityContext: securityContext(s),
                    resources,
                    volumeMounts: [
                        { name: 'root', mountPath: BUILDKIT_ROOT },
                        { name: 'tls', mountPath: CERTS_DIR, readOnly: true },
                    ],
                },
            ],
            volumes: [
                { name: 'root', persistentVolumeClaim: { claimName: n.pvc } },
                {
                    name: 'tls',
                    secret: {
                        secretName: n.secret,
                        defaultMode: 0o400,
                        // The CA key stays in the API: a builder could otherwise sign certificates for itself.
                        items: [SECRET_KEYS.ca, SECRET_KEYS.cert, SECRET_KEYS.key, SECRET_KEYS.config].map((k) => ({
                            key: k,
                            path: k,
                        })),
                    },
                },
            ],
        },
    };
}
/** Makes a clone's objects go with its pod: the garbage collector deletes them when it is deleted. */
function ownerReferenceTo(pod) {
    if (!pod.metadata?.uid || !pod.metadata.name)
        throw new Error('the pod has no uid yet');
    return {
        apiVersion: 'v1',
        kind: 'Pod',
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        blockOwnerDeletion: false,
    };
}
/**
 * A run-once pod that copies one volume into another with `cp -a` semantics (devices, xattrs,
 * owners, hard links: overlay whiteouts and trusted.* xattrs must survive). The source is
 * mounted read-only, and it is never a live builder's: callers stop the primary first, or
 * copy from a snapshot volume no daemon uses.
 */
function copyPod(s, opts) {
    return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
            name: opts.name,
            namespace: s.namespace,
            labels: {
                ...opts.labels,
                [LABELS.managedBy]: MANAGED_BY,
                [LABELS.instance]: labelValue(s.instance),
                [LABELS.component]: 'copy',
            },
        },
        spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            nodeSelector: { ...s.nodeSelector, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': opts.arch },
            containers: [
                {
                    name: 'copy',
                    image: s.image,
                    imagePullPolicy: s.imagePullPolicy,
                    // GNU cp: --preserve=all fails loudly where a cp cannot keep xattrs (busybox) instead
                    // of silently dropping the overlay whiteouts' trusted.* attributes.
                    command: ['sh', '-c', COPY_SCRIPT],
                    securityContext: { privileged: true },
                    volumeMounts: [
                        { name: 'src', mountPath: '/src', readOnly: true },
                        { name: 'dst', mountPath: '/dst' },
                    ],
                },
            ],
            volumes: [
                { name: 'src', persistentVolumeClaim: { claimName: opts.sourceClaim, readOnly: true } },
                { name: 'dst', persistentVolumeClaim: { claimName: opts.targetClaim } },
            ],
        },
    };
}
const COPY_SCRIPT = 'set -e; cp -a --preserve=all /src/. /dst/; sync; echo $(( $(du -sk /dst | cut -f1) * 1024 )) > /dev/termination-log';
/** Labels and annotations of a snapshot object (a PVC for copy-pod/pvc-clone, a VolumeSnapshot for csi-snapshot). */
function snapshotMeta(s, b, snapshotId, createdAt) {
    return {
        name: snapshotObjectName(snapshotId),
        namespace: s.namespace,
        labels: {
            [LABELS.managedBy]: MANAGED_BY,
            [LABELS.instance]: labelValue(s.instance),
            [LABELS.component]: 'snapshot',
            [LABELS.snapshotId]: labelValue(snapshotId),
            [LABELS.builderId]: labelValue(b.id),
            [LABELS.project]: labelValue(b.projectId),
            [LABELS.platform]: labelValue(b.platform.replace(/\//g, '-')),
        },
        annotations: {
            [ANNOTATIONS.snapshotId]: snapshotId,
            [ANNOTATIONS.sourceBuilder]: b.id,
            [ANNOTATIONS.projectId]: b.projectId,
            [ANNOTATIONS.platform]: b.platform,
            [ANNOTATIONS.createdAt]: createdAt.toISOString(),
        },
    };
}
/** The snapshot's volume (copy-pod: filled by a copy pod; pvc-clone: a CSI clone of the stopped primary). */
function snapshotPvc(s, b, snapshotId, createdAt, size, storageClass) {
    const viaClone = s.cloneMode === 'pvc-clone';
    return {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: snapshotMeta(s, b, snapshotId, createdAt),
        spec: {
            accessModes: ['ReadWriteOnce'],
            ...(storageClass ? { storageClassName: storageClass } : {}),
            resources: { requests: { storage: size } },
            ...(viaClone ? { dataSourceRef: { kind: 'PersistentVolumeClaim', name: names(b.id).pvc } } : {}),
        },
    };
}
function volumeSnapshot(s, b, snapshotId, createdAt) {
    return {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: snapshotMeta(s, b, snapshotId, createdAt),
        spec: {
            ...(s.snapshotClass ? { volumeSnapshotClassName: s.snapshotClass } : {}),
            source: { persistentVolumeClaimName: names(b.id).pvc },
        },
    };
}
/**
 * "requests.cpu=1,requests.memory=2Gi,limits.memory=4Gi" → requests and limits, or an error
 * message naming the bad entry and the accepted form.
 */
function parseResources(raw) {
    const out = { requests: {}, limits: {} };
    for (const entry of raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const m = /^(requests|limits)\.([a-z0-9.-]+(?:\/[a-z0-9.-]+)?)=(.+)$/.exec(entry);
        if (!m) {
            return `takes entries like requests.cpu=1,limits.memory=4Gi separated by commas; "${entry}" is not one`;
        }
        const value = m[3].trim();
        if (!(0,_kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__/* .isQuantity */ .Ep)(value)) {
            return `"${entry}": ${value} is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi`;
        }
        out[m[1]][m[2]] = value;
    }
    for (const [k, v] of Object.entries(out.requests)) {
        const limit = out.limits[k];
        if (limit === undefined)
            continue;
        const a = k === 'cpu' ? (0,_kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__/* .cpuMillis */ .Nt)(v) : (0,_kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__/* .quantityBytes */ .zy)(v);
        const b = k === 'cpu' ? (0,_kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__/* .cpuMillis */ .Nt)(limit) : (0,_kubernetes_quantity_js__WEBPACK_IMPORTED_MODULE_2__/* .quantityBytes */ .zy)(limit);
        if (a !== null && b !== null && a > b)
            return `requests.${k}=${v} is more than limits.${k}=${limit}`;
    }
    return out;
}
/** "disktype=ssd,pool=builders" → a node selector, or an error message. */
function parseNodeSelector(raw) {
    const out = {};
    for (const entry of raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const m = /^([A-Za-z0-9][A-Za-z0-9_./-]*)=([A-Za-z0-9_.-]*)$/.exec(entry);
        if (!m)
            return `takes key=value node labels separated by commas, such as pool=builders; got "${entry}"`;
        out[m[1]] = m[2];
    }
    return out;
}


/***/ }),

/***/ 27323:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Hc: () => (/* binding */ defaultRunNetwork),
/* harmony export */   LD: () => (/* binding */ runNetworkCommand),
/* harmony export */   LQ: () => (/* binding */ DEFAULT_RUN_DENY),
/* harmony export */   MK: () => (/* binding */ parseCidrList),
/* harmony export */   Qx: () => (/* binding */ podCniPaths),
/* harmony export */   TV: () => (/* binding */ POD_MODE_WARNING),
/* harmony export */   UL: () => (/* binding */ DEFAULT_RUN_SUBNET),
/* harmony export */   _: () => (/* binding */ parseRunSubnet),
/* harmony export */   v4: () => (/* binding */ runNetworkEnv)
/* harmony export */ });
/* unused harmony exports RUN_BRIDGE, parseIpv4Cidr, contains, podFirewallRules, podCniConfig, RUN_NETWORK_DIR */
/* harmony import */ var _local_network_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(19002);
// Network isolation of RUN steps inside a kubernetes builder pod. The cluster's CNI may not
// enforce NetworkPolicy (and a policy cannot tell a RUN step from buildkitd, which must pull and
// push), so the pod does it itself, whatever the cluster: with `isolated` (the default) buildkitd
// puts each RUN step in its own network namespace on a bridge inside the pod (CNI bridge +
// host-local + loopback), and the buildkitd container's entrypoint first applies, in the pod's
// own network namespace and in one iptables-restore transaction, the rules local-network.ts
// builds for the local provider's bridges:
//   INPUT   from the bridge: dropped (buildkitd's port and every address of the pod);
//   FORWARD from the bridge: forged sources dropped; DNS to the pod's nameservers and the
//           operator's allow list accepted; the deny list (private, shared, link-local ranges:
//           the control plane, the kube API, the kubelet, other builders) dropped; the rest
//           accepted; into the bridge only replies;
//   nat POSTROUTING: the bridge's subnet masqueraded behind the pod's address.
// buildkitd itself stays in the pod's namespace: it still pulls and pushes. `pod` keeps the old
// behaviour (RUN steps share the pod's namespace), the only choice with rootless BuildKit.

/** Private (RFC 1918), shared (RFC 6598) and link-local ranges: where clusters put their pods,
 *  Services, nodes and control plane, and where cloud metadata answers. */
const DEFAULT_RUN_DENY = [
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '100.64.0.0/10',
    '169.254.0.0/16',
];
const DEFAULT_RUN_SUBNET = '10.213.0.0/24';
const RUN_BRIDGE = 'hoist0';
// In the container's own filesystem: written by the entrypoint before buildkitd starts.
const NET_DIR = '/run/hoist-net';
const CHAINS = { inChain: 'HOIST-RUN-IN', fwdChain: 'HOIST-RUN-FW', natChain: 'HOIST-RUN-NAT' };
/** Stands for each nameserver of the pod's resolv.conf in the rules the init container expands. */
const NS_MARK = '@NS@';
const POD_MODE_WARNING = "RUN steps share the builder pod's network namespace (--kubernetes-run-network pod): a build can reach everything the pod can (the Hoist server, the kube API, the kubelet, other builders) unless a NetworkPolicy your CNI enforces stops it";
function defaultRunNetwork(security) {
    return {
        mode: security === 'rootless' ? 'pod' : 'isolated',
        subnet: DEFAULT_RUN_SUBNET,
        allow: [],
        deny: [...DEFAULT_RUN_DENY],
        dns: [],
    };
}
/** "10.1.2.3" → "10.1.2.3/32", "10.0.0.0/8" → itself; a message saying what is wrong otherwise. */
function parseIpv4Cidr(raw) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(raw.trim());
    const octets = m?.[1].split('.').map(Number) ?? [];
    if (!m || octets.some((o) => o > 255) || (m[2] !== undefined && Number(m[2]) > 32)) {
        return { error: `"${raw.trim()}" is not an IPv4 address or CIDR such as 10.0.5.0/24 or 10.0.5.7` };
    }
    const prefix = m[2] === undefined ? 32 : Number(m[2]);
    const base = (0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .ipToInt */ .qF)(m[1]);
    const size = 2 ** (32 - prefix);
    if (base % size !== 0) {
        return {
            error: `"${raw.trim()}" is not a network address; did you mean ${(0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .intToIp */ ._3)(base - (base % size))}/${prefix}?`,
        };
    }
    return `${m[1]}/${prefix}`;
}
/** "10.0.5.0/24, 192.168.1.7" → CIDRs, or the first bad entry's message. */
function parseCidrList(raw) {
    const out = [];
    for (const entry of raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)) {
        const c = parseIpv4Cidr(entry);
        if (typeof c !== 'string')
            return c;
        if (!out.includes(c))
            out.push(c);
    }
    return out;
}
/** The in-pod bridge's subnet: a /16 to /28 private range; its first address is the gateway. */
function parseRunSubnet(raw) {
    const c = parseIpv4Cidr(raw);
    if (typeof c !== 'string')
        return c;
    const prefix = Number(c.split('/')[1]);
    if (prefix < 16 || prefix > 28) {
        return {
            error: `must have a prefix between /16 and /28 (one address per concurrent RUN step), got "${raw.trim()}"`,
        };
    }
    if (!['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].some((r) => contains(r, c))) {
        return {
            error: `must be a private range such as ${DEFAULT_RUN_SUBNET} that nothing in the cluster uses, got "${raw.trim()}"`,
        };
    }
    return { cidr: c, gateway: (0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .intToIp */ ._3)((0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .ipToInt */ .qF)(c.split('/')[0]) + 1) };
}
/** Does CIDR `outer` hold all of `inner`? */
function contains(outer, inner) {
    const [ob, op] = outer.split('/');
    const [ib, ip] = inner.split('/');
    const o = Number(op);
    if (Number(ip) < o)
        return false;
    const size = 2 ** (32 - o);
    return Math.floor((0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .ipToInt */ .qF)(ib) / size) === Math.floor((0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .ipToInt */ .qF)(ob) / size);
}
/** The firewall of the pod's network namespace (iptables-restore --noflush input), for these resolvers. */
function podFirewallRules(net, nameservers) {
    const resolvers = [...new Set([...nameservers, ...net.dns])];
    const allow = [
        ...resolvers.flatMap((ns) => ['udp', 'tcp'].map((proto) => ({
            cidr: ns === NS_MARK ? NS_MARK : `${ns}/32`,
            proto,
            port: 53,
        }))),
        ...net.allow.map((cidr) => ({ cidr })),
    ];
    return (0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .isolationRules */ .UI)({
        names: { bridge: RUN_BRIDGE, ...CHAINS },
        subnetCidr: subnetOf(net).cidr,
        deny: net.deny,
        allow,
    });
}
function subnetOf(net) {
    const s = parseRunSubnet(net.subnet);
    if ('error' in s)
        throw new Error(`run network subnet ${s.error}`);
    return s;
}
/** The conflist buildkitd's CNI provider loads inside the pod. */
function podCniConfig(net) {
    return (0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .renderCniConfig */ .Th)({
        names: { network: 'hoist-run', bridge: RUN_BRIDGE },
        subnet: subnetOf(net),
        // In the container's own filesystem: a restarted container starts with no stale lease.
        ipamDir: '/run/hoist-cni-ipam',
    });
}
/** What buildkitd.toml gets under [worker.oci]; null in `pod` mode. */
function podCniPaths(net) {
    return net.mode === 'isolated'
        ? { configPath: `${NET_DIR}/cni.conflist`, binaryDir: `${NET_DIR}/bin` }
        : null;
}
const RUN_NETWORK_DIR = (/* unused pure expression or super */ null && (NET_DIR));
// The buildkitd container's entrypoint (`sh -c SCRIPT hoist-net buildkitd ARGS...`): rather than
// an init container, which costs the pod a second container's start (about 1 s here). It finds the CNI plugins in the image (symlinked into the shared
// directory, so buildkitd.toml names one path whatever the image), writes the conflist, turns on
// forwarding in the pod's namespace (and IPv6 off on interfaces made later: the bridge gets no
// link-local address), and loads the rules with one iptables-restore, the pod's nameservers
// filled in (not loopback ones: a RUN step cannot reach the pod's loopback). A failure says why in
// the termination message, which the provider reports. Then it becomes buildkitd.
const ENTRYPOINT_SCRIPT = `set -eu
fail() { printf 'hoist-net: %s\\n' "$*" >/dev/termination-log; printf 'hoist-net: %s\\n' "$*" >&2; exit 1; }
bin=
for d in \${HOIST_CNI_DIRS:-/opt/cni/bin /usr/lib/cni /usr/libexec/cni}; do
  if [ -x "$d/bridge" ] && [ -x "$d/host-local" ] && [ -x "$d/loopback" ]; then bin=$d; break; fi
done
mkdir -p "$HOIST_NET_DIR/bin"
if [ -n "$bin" ]; then
  for p in bridge host-local loopback; do ln -sf "$bin/$p" "$HOIST_NET_DIR/bin/$p"; done
elif command -v buildkit-cni-bridge >/dev/null 2>&1 && command -v buildkit-cni-host-local >/dev/null 2>&1 && command -v buildkit-cni-loopback >/dev/null 2>&1; then
  for p in bridge host-local loopback; do ln -sf "$(command -v "buildkit-cni-$p")" "$HOIST_NET_DIR/bin/$p"; done
else
  fail "the image has no CNI plugins (bridge, host-local, loopback in /opt/cni/bin or /usr/lib/cni, or buildkit-cni-* on PATH as in moby/buildkit); use an image with them and iptables, or --kubernetes-run-network pod"
fi
command -v iptables-restore >/dev/null 2>&1 || fail "the image has no iptables-restore; use an image with iptables and the CNI plugins, or --kubernetes-run-network pod"
printf '%s' "$HOIST_CNI_CONFLIST" >"$HOIST_NET_DIR/cni.conflist"
echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || fail "cannot turn on IPv4 forwarding in the pod (the container must be privileged)"
if [ -e /proc/sys/net/ipv6/conf/default/disable_ipv6 ]; then echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 || true; fi
ns=$(sed -n -e '/^[[:space:]]*nameserver[[:space:]]\\{1,\\}127\\./d' -e 's/^[[:space:]]*nameserver[[:space:]]\\{1,\\}\\([0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\)[[:space:]]*$/\\1/p' /etc/resolv.conf 2>/dev/null || true)
rules=$(printf '%s\\n' "$HOIST_RULES" | while IFS= read -r line; do
  case $line in
  *${NS_MARK}*) for n in $ns; do printf '%s\\n' "$line" | sed "s|${NS_MARK}|$n/32|"; done ;;
  *) printf '%s\\n' "$line" ;;
  esac
done)
# Run again in the same namespace (buildkitd's container restarted): refill the chains, keep the jumps.
if iptables -w 5 -C INPUT -i "$HOIST_BRIDGE" -j HOIST-RUN-IN >/dev/null 2>&1; then
  rules=$(printf '%s\\n' "$rules" | grep -v '^-I ')
fi
err=$(printf '%s\\n' "$rules" | iptables-restore -w 5 --noflush 2>&1) || fail "iptables-restore refused the RUN-step firewall: $err"
echo "hoist-net: RUN steps on $HOIST_BRIDGE, isolated; DNS to: \${ns:-none}"
exec "$@"
`;
/** The entrypoint's environment: the script reads everything from it. */
function runNetworkEnv(net) {
    return [
        { name: 'HOIST_NET_DIR', value: NET_DIR },
        { name: 'HOIST_BRIDGE', value: RUN_BRIDGE },
        { name: 'HOIST_CNI_CONFLIST', value: podCniConfig(net) },
        { name: 'HOIST_RULES', value: (0,_local_network_js__WEBPACK_IMPORTED_MODULE_0__/* .restoreInput */ .$W)(podFirewallRules(net, [NS_MARK])) },
    ];
}
/** The buildkitd container's command in `isolated` mode; buildkitd's own argv follows as args. */
function runNetworkCommand() {
    return ['sh', '-c', ENTRYPOINT_SCRIPT, 'hoist-net', 'buildkitd'];
}


/***/ }),

/***/ 70824:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Ep: () => (/* binding */ isQuantity),
/* harmony export */   Nt: () => (/* binding */ cpuMillis),
/* harmony export */   W$: () => (/* binding */ isByteQuantity),
/* harmony export */   zy: () => (/* binding */ quantityBytes)
/* harmony export */ });
// Kubernetes resource quantities ("500m", "2", "1.5Gi", "4e3") as Hoist's flags take them: the
// form the API server accepts, and the two readings Hoist compares (bytes, CPU millicores).
// Used by the manifests (requests and limits) and by the server's flag checks (volume size).
const QUANTITY_RE = /^(\d+(\.\d+)?|\.\d+)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei|e\d+)?$/;
/** Is this a Kubernetes quantity such as 500m, 2, 1.5Gi? */
function isQuantity(raw) {
    return QUANTITY_RE.test(raw);
}
/** A quantity in bytes (binary and decimal suffixes); null when it is not a byte quantity. */
function quantityBytes(raw) {
    const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(raw);
    if (!m)
        return null;
    const mult = {
        '': 1,
        k: 1e3,
        M: 1e6,
        G: 1e9,
        T: 1e12,
        P: 1e15,
        Ki: 1024,
        Mi: 1024 ** 2,
        Gi: 1024 ** 3,
        Ti: 1024 ** 4,
        Pi: 1024 ** 5,
    };
    return Math.round(Number(m[1]) * mult[m[2] ?? '']);
}
/** A size (volume, memory): a quantity, and not in millis ("500m" bytes is never what is meant). */
function isByteQuantity(raw) {
    return isQuantity(raw) && !/m$/.test(raw);
}
/** CPU in millicores ("500m", "2", "0.5"); null when it is not a plain CPU quantity. */
function cpuMillis(raw) {
    const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(raw);
    if (!m)
        return null;
    return m[2] ? Number(m[1]) : Number(m[1]) * 1000;
}


/***/ }),

/***/ 19002:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   $W: () => (/* binding */ restoreInput),
/* harmony export */   HE: () => (/* binding */ parseSubnetPool),
/* harmony export */   Th: () => (/* binding */ renderCniConfig),
/* harmony export */   UI: () => (/* binding */ isolationRules),
/* harmony export */   V9: () => (/* binding */ BuilderNetworks),
/* harmony export */   Zk: () => (/* binding */ DEFAULT_SUBNET_POOL),
/* harmony export */   _3: () => (/* binding */ intToIp),
/* harmony export */   qF: () => (/* binding */ ipToInt)
/* harmony export */ });
/* unused harmony exports DEFAULT_NETWORK_STATE_DIR, HOST_MODE_WARNING, poolCidr, subnetAt, serverNetId, networkNames, parseNetworkName, firewallRules, teardownRules, listedHoistChains, parseNameservers, isLoopbackAddress, dnsAdvice, hostAddresses */
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(31421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(77030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_5___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_5__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_6___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_6__);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(97268);
// Network isolation of local builders. With `cni` (the default) every builder gets its own
// Linux bridge and /24 subnet, and buildkitd puts each RUN step in its own network
// namespace on that bridge (CNI bridge + host-local IPAM + loopback from Debian's
// containernetworking-plugins). Hoist-owned iptables chains then:
//   INPUT   from the bridge: drop everything, so no address of this host (the gateway,
//           every interface address, anything delivered locally) answers a RUN step;
//   FORWARD from the bridge: drop spoofed sources, link-local 169.254.0.0/16 and every
//           builder subnet of the pool; accept the rest (the outside world, through NAT);
//           to the bridge: only replies, so nothing (another builder included) opens a
//           connection into a builder's network;
//   nat POSTROUTING: masquerade the subnet behind the outgoing interface.
// buildkitd itself stays in the host's namespace: it pulls and pushes (a loopback registry
// included) as before. Subnets are allocated host-wide in a state directory under /run,
// so concurrently running servers never share one; chain and bridge names carry a short
// id of the server's data directory, so a restarted server finds and removes what a
// crashed one left, and never touches another server's.








const DEFAULT_SUBNET_POOL = '10.213.0.0/16';
const DEFAULT_NETWORK_STATE_DIR = '/run/hoist/networks';
const CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'];
const LINK_LOCAL = '169.254.0.0/16';
const CMD_TIMEOUT_MS = 15_000;
const HOST_MODE_WARNING = 'builder network is "host": every RUN step shares this host\'s network namespace as root (it can reach loopback services such as the API, the database and the registry, and read loopback traffic); use --builder-network host only on a trusted single-tenant machine';
function ipToInt(ip) {
    return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function intToIp(n) {
    return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
/** An IPv4 CIDR of prefix 8–24, aligned, as a pool of /24s; a message saying what is wrong otherwise. */
function parseSubnetPool(raw) {
    const m = /^\s*(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\s*$/.exec(raw);
    if (!m || node_net__WEBPACK_IMPORTED_MODULE_4__.isIPv4(m[1]) === false) {
        return `must be an IPv4 range in CIDR notation such as ${DEFAULT_SUBNET_POOL}, got "${raw}"`;
    }
    const prefix = Number(m[2]);
    if (prefix < 8 || prefix > 24) {
        return `must have a prefix between /8 and /24 (it is split into one /24 per builder), got "${raw}"`;
    }
    const base = ipToInt(m[1]);
    if (base % 2 ** (32 - prefix) !== 0) {
        const aligned = base - (base % 2 ** (32 - prefix));
        return `"${raw}" is not a network address; did you mean ${intToIp(aligned)}/${prefix}?`;
    }
    if (base >= ipToInt('224.0.0.0') || m[1].startsWith('127.') || m[1].startsWith('169.254.')) {
        return `must be a private unicast range such as ${DEFAULT_SUBNET_POOL} (not loopback, link-local or multicast), got "${raw}"`;
    }
    return { base, prefix, size: 2 ** (24 - prefix) };
}
function poolCidr(pool) {
    return `${intToIp(pool.base)}/${pool.prefix}`;
}
function subnetAt(pool, index) {
    if (!Number.isInteger(index) || index < 0 || index >= pool.size) {
        throw new RangeError(`subnet index ${index} is outside the pool ${poolCidr(pool)}`);
    }
    const base = pool.base + index * 256;
    return { index, cidr: `${intToIp(base)}/24`, gateway: intToIp(base + 1) };
}
/** A short id of a server's data directory: names of its bridges and chains carry it. */
function serverNetId(dataDir) {
    return (0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.createHash)('sha256').update(node_path__WEBPACK_IMPORTED_MODULE_6__.resolve(dataDir)).digest('hex').slice(0, 6);
}
/** Bridge (≤ 15 characters, the kernel's limit) and chain (≤ 28) names of one builder network. */
function networkNames(sid, index) {
    const tag = `${sid}-${index.toString(16)}`;
    return {
        bridge: `hst${tag}`,
        network: `hoist-${tag}`,
        inChain: `HOIST-IN-${tag}`,
        fwdChain: `HOIST-FW-${tag}`,
        natChain: `HOIST-NAT-${tag}`,
    };
}
const NAME_RE = /^HOIST-(?:IN|FW|NAT)-([0-9a-f]{6})-([0-9a-f]{1,4})$/;
const BRIDGE_RE = /^hst([0-9a-f]{6})-([0-9a-f]{1,4})$/;
/** The server id and subnet index a Hoist chain or bridge name carries, or null for a foreign name. */
function parseNetworkName(name) {
    const m = NAME_RE.exec(name) ?? BRIDGE_RE.exec(name);
    return m ? { sid: m[1], index: parseInt(m[2], 16) } : null;
}
/** The conflist buildkitd's CNI provider loads: a bridge with host-local IPAM; no plugin-made iptables. */
function renderCniConfig(opts) {
    return (JSON.stringify({
        cniVersion: '1.0.0',
        name: opts.names.network,
        plugins: [
            {
                type: 'bridge',
                bridge: opts.names.bridge,
                isGateway: true,
                // Hoist's own chains masquerade and filter; the plugin's would outlive a crash.
                ipMasq: false,
                hairpinMode: false,
                ipam: {
                    type: 'host-local',
                    ranges: [[{ subnet: opts.subnet.cidr, gateway: opts.subnet.gateway }]],
                    routes: [{ dst: '0.0.0.0/0' }],
                    dataDir: opts.ipamDir,
                },
            },
        ],
    }, null, 2) + '\n');
}
/**
 * The chains and jumps that isolate RUN steps on `bridge`, in the order to apply them: chains
 * are filled before the jumps that lead to them are inserted at the top of the built-in
 * chains. Interfaces, not only source addresses, select the traffic: a RUN step holds
 * CAP_NET_RAW and can forge any source address. Shared by the local provider (a bridge per
 * builder on the host) and the kubernetes provider (a bridge inside each builder pod).
 */
function isolationRules(opts) {
    const { bridge, inChain, fwdChain, natChain } = opts.names;
    const from = ['-t', 'filter', '-A', fwdChain, '-i', bridge];
    return [
        ['-t', 'filter', '-N', inChain],
        // Every address of this host (or pod): the gateway, each interface, anything routed locally.
        ['-t', 'filter', '-A', inChain, '-j', 'DROP'],
        ['-t', 'filter', '-N', fwdChain],
        // Into the RUN steps' network: replies only; nobody (another builder included) opens connections.
        [
            '-t',
            'filter',
            '-A',
            fwdChain,
            '-o',
            bridge,
            '-m',
            'conntrack',
            '--ctstate',
            'RELATED,ESTABLISHED',
            '-j',
            'ACCEPT',
        ],
        ['-t', 'filter', '-A', fwdChain, '-o', bridge, '-j', 'DROP'],
        // Out of it: only its own addresses; then what is allowed; never what is denied.
        ['-t', 'filter', '-A', fwdChain, '-i', bridge, '!', '-s', opts.subnetCidr, '-j', 'DROP'],
        ...(opts.allow ?? []).map((a) => [
            ...from,
            '-d',
            a.cidr,
            ...(a.proto ? ['-p', a.proto, '-m', a.proto] : []),
            ...(a.proto && a.port !== undefined ? ['--dport', String(a.port)] : []),
            '-j',
            'ACCEPT',
        ]),
        ...opts.deny.map((cidr) => [...from, '-d', cidr, '-j', 'DROP']),
        // Accepted here, so a FORWARD policy of DROP (Docker sets one) does not cut builds off.
        [...from, '-j', 'ACCEPT'],
        ['-t', 'nat', '-N', natChain],
        ['-t', 'nat', '-A', natChain, '!', '-o', bridge, '-j', 'MASQUERADE'],
        ['-t', 'filter', '-I', 'INPUT', '1', '-i', bridge, '-j', inChain],
        ['-t', 'filter', '-I', 'FORWARD', '1', '-o', bridge, '-j', fwdChain],
        ['-t', 'filter', '-I', 'FORWARD', '1', '-i', bridge, '-j', fwdChain],
        ['-t', 'nat', '-I', 'POSTROUTING', '1', '-s', opts.subnetCidr, '-j', natChain],
    ];
}
/**
 * A local builder network's rules: RUN steps never reach link-local addresses (cloud
 * metadata) or any builder subnet of the pool; the rest of the world through NAT.
 */
function firewallRules(opts) {
    return isolationRules({
        names: opts.names,
        subnetCidr: opts.subnet.cidr,
        deny: [LINK_LOCAL, opts.poolCidr],
    });
}
/**
 * The commands that delete every rule of `iptables -t TABLE -S` output jumping to one of
 * `chains`, then flush and delete those chains: removal works from what is really there,
 * so it also cleans up after a crash in the middle of a setup.
 */
function teardownRules(table, listing, chains) {
    const ours = new Set(chains);
    const out = [];
    const present = [];
    for (const line of listing.split('\n')) {
        const words = line.trim().split(/\s+/);
        if (words[0] === '-N' && ours.has(words[1]))
            present.push(words[1]);
        if (words[0] !== '-A' || ours.has(words[1]))
            continue;
        const j = words.indexOf('-j');
        if (j > 0 && ours.has(words[j + 1]))
            out.push(['-t', table, '-D', ...words.slice(1)]);
    }
    for (const c of present)
        out.push(['-t', table, '-F', c], ['-t', table, '-X', c]);
    return out;
}
/**
 * `iptables-restore --noflush` input for commands of firewallRules/teardownRules: one
 * transaction per table, so a builder's chains and the jumps into them appear (and go) at once.
 */
function restoreInput(rules) {
    const byTable = new Map();
    for (const r of rules) {
        const t = r[0] === '-t' ? r[1] : 'filter';
        const rest = r[0] === '-t' ? r.slice(2) : r;
        const line = rest[0] === '-N' ? `:${rest[1]} - [0:0]` : rest.join(' ');
        byTable.set(t, [...(byTable.get(t) ?? []), line]);
    }
    return [...byTable].map(([t, lines]) => `*${t}\n${lines.join('\n')}\nCOMMIT\n`).join('');
}
/** Hoist chain names declared in `iptables -S` output. */
function listedHoistChains(listing) {
    return listing
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((w) => w[0] === '-N' && NAME_RE.test(w[1] ?? ''))
        .map((w) => w[1]);
}
/** Nameservers of a resolv.conf text. */
function parseNameservers(text) {
    const out = [];
    for (const line of text.split('\n')) {
        const m = /^\s*nameserver\s+(\S+)/.exec(line);
        if (m)
            out.push(m[1].replace(/%.*$/, ''));
    }
    return out;
}
function isLoopbackAddress(ip) {
    return ip.startsWith('127.') || ip === '::1';
}
/**
 * What a RUN step's resolv.conf will hold under CNI and whether it works: buildkitd copies the
 * host's (systemd-resolved's upstream list when the stub is in use) and drops loopback
 * resolvers, which are unreachable from another namespace; with none left it writes public
 * resolvers. A resolver on an address of this host is refused by the firewall.
 */
function dnsAdvice(opts) {
    const servers = opts.configured.length > 0 ? opts.configured : parseNameservers(opts.hostResolvConf);
    const usable = servers.filter((s) => !isLoopbackAddress(s) && !opts.hostAddresses.includes(s));
    if (usable.length > 0)
        return null;
    if (opts.configured.length > 0) {
        return `--builder-dns names only addresses of this host (${servers.join(', ')}), which RUN steps cannot reach; name a resolver outside this host`;
    }
    return servers.length > 0
        ? `the host's resolvers (${servers.join(', ')}) are on loopback or on this host's own addresses, which RUN steps cannot reach; buildkitd then gives RUN steps public resolvers (8.8.8.8, 8.8.4.4); set --builder-dns to a resolver on your network`
        : 'the host has no resolver in /etc/resolv.conf; buildkitd gives RUN steps public resolvers (8.8.8.8, 8.8.4.4); set --builder-dns to a resolver on your network';
}
function run(file, args, input) {
    return new Promise((resolve, reject) => {
        const child = (0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.execFile)(file, args, { timeout: CMD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                const text = String(stderr || '').trim() || (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .errorMessage */ .gJ)(err);
                reject(new Error(`${node_path__WEBPACK_IMPORTED_MODULE_6__.basename(file)} ${args.join(' ')}: ${text}`));
            }
            else
                resolve({ stdout: String(stdout), stderr: String(stderr) });
        });
        // A command that exits without reading its input must not crash the server with EPIPE.
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(input);
    });
}
async function isExecutable(p) {
    try {
        const st = await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.stat(p);
        if (!st.isFile())
            return false;
        await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.access(p, node_fs__WEBPACK_IMPORTED_MODULE_2__.constants.X_OK);
        return true;
    }
    catch {
        return false;
    }
}
async function findTool(name) {
    const dirs = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', ...(process.env.PATH ?? '').split(':')];
    for (const d of dirs) {
        if (d && (await isExecutable(node_path__WEBPACK_IMPORTED_MODULE_6__.join(d, name))))
            return node_path__WEBPACK_IMPORTED_MODULE_6__.join(d, name);
    }
    return null;
}
/** Every IPv4 and IPv6 address assigned to an interface of this host. */
function hostAddresses() {
    return Object.values(node_os__WEBPACK_IMPORTED_MODULE_5__.networkInterfaces())
        .flatMap((list) => list ?? [])
        .map((a) => a.address.replace(/%.*$/, ''));
}
/**
 * Sets up, adopts and removes builder networks. In host mode it only says so; in cni mode a
 * failed check keeps every builder from starting, with the reason and the fix.
 */
class BuilderNetworks {
    dataDir;
    log;
    mode;
    pool;
    sid;
    stateDir;
    unavailable = null;
    iptables = 'iptables';
    iptablesRestore = 'iptables-restore';
    ip = 'ip';
    cniBinDir = '';
    /** Serializes allocation and iptables changes of this process. */
    queue = Promise.resolve();
    constructor(dataDir, opts, log) {
        this.dataDir = dataDir;
        this.log = log;
        this.mode = opts.mode ?? 'cni';
        const pool = parseSubnetPool(opts.subnetPool ?? DEFAULT_SUBNET_POOL);
        if (typeof pool === 'string')
            throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .ConfigurationError */ .j1(`--builder-subnet-pool ${pool}`);
        this.pool = pool;
        this.sid = serverNetId(dataDir);
        this.stateDir = opts.stateDir ?? DEFAULT_NETWORK_STATE_DIR;
    }
    /**
     * Checks what CNI isolation needs; a failed check is logged with its fix and makes every
     * prepare() throw it. In host mode, logs the warning.
     */
    static async create(opts) {
        const n = new BuilderNetworks(opts.dataDir, opts.network ?? {}, opts.logger);
        if (n.mode === 'host') {
            opts.logger.warn({ builder_network: 'host' }, HOST_MODE_WARNING);
            return n;
        }
        n.unavailable = await n.preflight(opts.network?.cniBinDir);
        if (n.unavailable) {
            opts.logger.error({ builder_network: 'cni', reason: n.unavailable }, 'builders cannot start');
            return n;
        }
        const advice = dnsAdvice({
            hostResolvConf: await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile(resolvConfPath(), 'utf8').catch(() => ''),
            configured: opts.dns ?? [],
            hostAddresses: hostAddresses(),
        });
        if (advice)
            opts.logger.warn({ builder_network: 'cni' }, `builder DNS: ${advice}`);
        return n;
    }
    get serverId() {
        return this.sid;
    }
    get subnetPool() {
        return poolCidr(this.pool);
    }
    async preflight(cniBinDir) {
        const how = 'or run with --builder-network host on a trusted single-tenant machine';
        if (process.getuid && process.getuid() !== 0) {
            return `isolating RUN steps (--builder-network cni) needs root to create bridges and iptables rules; run the server as root ${how}`;
        }
        const dirs = cniBinDir ? [cniBinDir] : CNI_DIRS;
        let found = null;
        for (const d of dirs) {
            const ok = await Promise.all(CNI_PLUGINS.map((p) => isExecutable(node_path__WEBPACK_IMPORTED_MODULE_6__.join(d, p))));
            if (ok.every(Boolean)) {
                found = d;
                break;
            }
        }
        if (!found) {
            return `the CNI plugins ${CNI_PLUGINS.join(', ')} were not found in ${dirs.join(' or ')}; install Debian's containernetworking-plugins (apt-get install containernetworking-plugins) or point --builder-cni-bin-dir at them, ${how}`;
        }
        this.cniBinDir = found;
        const iptables = await findTool('iptables');
        const restore = await findTool('iptables-restore');
        const ip = await findTool('ip');
        if (!iptables || !restore || !ip) {
            return `${!ip ? 'ip' : 'iptables'} was not found; install Debian's ${!ip ? 'iproute2' : 'iptables'} package, ${how}`;
        }
        this.iptables = iptables;
        this.iptablesRestore = restore;
        this.ip = ip;
        try {
            await run(iptables, ['-w', '5', '-t', 'filter', '-S', 'INPUT']);
            await run(iptables, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
        }
        catch (err) {
            return `iptables cannot read the filter and nat tables (${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .errorMessage */ .gJ)(err)}); the server needs CAP_NET_ADMIN and a kernel with nf_tables (Debian's iptables uses the nft backend), ${how}`;
        }
        try {
            const fwd = (await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
            if (fwd !== '1') {
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
                this.log.info({}, 'enabled net.ipv4.ip_forward so RUN steps reach outside networks through NAT');
            }
        }
        catch (err) {
            return `IPv4 forwarding (net.ipv4.ip_forward) is off and could not be turned on (${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .errorMessage */ .gJ)(err)}); run: sysctl -w net.ipv4.ip_forward=1, ${how}`;
        }
        try {
            await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
        }
        catch (err) {
            return `cannot create the network state directory ${this.stateDir}: ${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .errorMessage */ .gJ)(err)}`;
        }
        return null;
    }
    serial(fn) {
        const p = this.queue.then(fn, fn);
        this.queue = p.catch(() => undefined);
        return p;
    }
    exec(args) {
        return run(this.iptables, ['-w', '5', ...args]);
    }
    async apply(rules) {
        if (rules.length === 0)
            return;
        await run(this.iptablesRestore, ['-w', '5', '--noflush'], restoreInput(rules));
    }
    /** The builder's network, ready for a new buildkitd: a fresh bridge, rules, CNI config. */
    prepare(builderId, builderDir) {
        if (this.mode === 'host') {
            this.log.warn({ builder_id: builderId, builder_network: 'host' }, HOST_MODE_WARNING);
            return Promise.resolve({ args: ['--oci-worker-net', 'host'], cni: null, subnet: null, bridge: null });
        }
        return this.serial(async () => {
            if (this.unavailable)
                throw new Error(`builder network unavailable: ${this.unavailable}`);
            await unmountNetns(builderDir);
            const rec = await this.allocate(builderId, builderDir);
            // Marks the network as prepared now (see reconcile's `starting`).
            const t = new Date();
            await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.utimes(this.recordPath(rec.index), t, t).catch(() => undefined);
            const names = networkNames(this.sid, rec.index);
            const subnet = subnetAt(this.pool, rec.index);
            try {
                await this.removeFirewall(names);
                await this.removeBridge(names.bridge);
                await this.createBridge(names.bridge, subnet);
                await this.apply(firewallRules({ names, subnet, poolCidr: poolCidr(this.pool) }));
                const ipamDir = node_path__WEBPACK_IMPORTED_MODULE_6__.join(builderDir, 'cni-ipam');
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.rm(ipamDir, { recursive: true, force: true });
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.mkdir(ipamDir, { recursive: true, mode: 0o700 });
                const conf = node_path__WEBPACK_IMPORTED_MODULE_6__.join(builderDir, 'cni.conflist');
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.writeFile(conf, renderCniConfig({ names, subnet, ipamDir }), { mode: 0o600 });
                return {
                    args: ['--oci-worker-net', 'cni'],
                    cni: { configPath: conf, binaryDir: this.cniBinDir },
                    subnet,
                    bridge: names.bridge,
                };
            }
            catch (err) {
                await this.teardown(rec).catch(() => undefined);
                throw new Error(`could not set up the isolated network of builder ${builderId} (bridge ${names.bridge}, ${subnet.cidr}): ${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_7__/* .errorMessage */ .gJ)(err)}; check that iptables and iproute2 work as root, or free the pool with --builder-subnet-pool`);
            }
        });
    }
    /**
     * May a running buildkitd with this argv be adopted? Only when its network mode is the
     * configured one and, under CNI, its bridge and firewall are in place (re-created when
     * someone flushed them); otherwise it is replaced.
     */
    adopt(builderId, builderDir, argv) {
        const i = argv.indexOf('--oci-worker-net');
        const mode = i >= 0 ? argv[i + 1] : 'auto';
        if (mode !== this.mode)
            return Promise.resolve(false);
        if (this.mode === 'host') {
            this.log.warn({ builder_id: builderId, builder_network: 'host' }, HOST_MODE_WARNING);
            return Promise.resolve(true);
        }
        return this.serial(async () => {
            if (this.unavailable)
                return false;
            const rec = (await this.records()).find((r) => r.sid === this.sid && r.builderId === builderId);
            if (!rec)
                return false;
            const names = networkNames(this.sid, rec.index);
            let conf;
            try {
                conf = await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile(node_path__WEBPACK_IMPORTED_MODULE_6__.join(builderDir, 'cni.conflist'), 'utf8');
            }
            catch {
                return false;
            }
            if (!conf.includes(`"${names.bridge}"`))
                return false;
            const listing = (await this.exec(['-t', 'filter', '-S'])).stdout;
            const natListing = (await this.exec(['-t', 'nat', '-S'])).stdout;
            const intact = listing.includes(`-A INPUT -i ${names.bridge} -j ${names.inChain}`) &&
                listing.includes(`-A FORWARD -i ${names.bridge} -j ${names.fwdChain}`) &&
                natListing.includes(`-j ${names.natChain}`);
            if (intact)
                return true;
            const subnet = subnetAt(this.pool, rec.index);
            this.log.warn({ builder_id: builderId, bridge: names.bridge }, 'builder firewall was missing; restoring it');
            await this.removeFirewall(names);
            await this.apply(firewallRules({ names, subnet, poolCidr: poolCidr(this.pool) }));
            return true;
        });
    }
    /** Removes the builder's bridge, rules and allocation (its buildkitd must be stopped). */
    release(builderId, builderDir) {
        if (this.mode === 'host')
            return Promise.resolve();
        return this.serial(async () => {
            await unmountNetns(builderDir);
            for (const rec of await this.records()) {
                if (rec.sid === this.sid && rec.builderId === builderId)
                    await this.teardown(rec);
            }
        });
    }
    /**
     * Removes what no running builder uses: this server's records, chains and bridges of
     * builders not in `live`, and records of any server whose data directory is gone.
     */
    reconcile(live, opts = {}) {
        if (this.mode === 'host' || this.unavailable)
            return Promise.resolve();
        return this.serial(async () => {
            const keep = new Set();
            for (const rec of await this.records()) {
                const ours = rec.sid === this.sid;
                if (ours && live.has(rec.builderId)) {
                    keep.add(rec.index);
                    continue;
                }
                // Another server on this data directory (a replica) may be starting this builder: its
                // network is prepared and its buildkitd not running yet.
                const preparedAt = ours && opts.starting ? await this.preparedAt(rec) : null;
                if (preparedAt !== null && (await opts.starting(rec.builderId, preparedAt))) {
                    keep.add(rec.index);
                    continue;
                }
                const gone = !ours && !(await exists(rec.dataDir));
                if (ours || gone) {
                    this.log.info({ builder_id: rec.builderId, bridge: rec.bridge }, 'removing a stale builder network');
                    await this.teardown(rec);
                }
            }
            // Chains and bridges of this server without a record: a crash between the two.
            const chains = [
                ...listedHoistChains((await this.exec(['-t', 'filter', '-S'])).stdout),
                ...listedHoistChains((await this.exec(['-t', 'nat', '-S'])).stdout),
            ];
            const indexes = new Set();
            for (const c of chains) {
                const p = parseNetworkName(c);
                if (p && p.sid === this.sid && !keep.has(p.index))
                    indexes.add(p.index);
            }
            for (const b of await this.bridges()) {
                const p = parseNetworkName(b);
                if (p && p.sid === this.sid && !keep.has(p.index))
                    indexes.add(p.index);
            }
            for (const index of indexes) {
                const names = networkNames(this.sid, index);
                await this.removeFirewall(names);
                await this.removeBridge(names.bridge);
            }
        });
    }
    /** Waits for network changes under way. */
    async close() {
        await this.queue;
    }
    async records() {
        let names;
        try {
            names = await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readdir(this.stateDir);
        }
        catch {
            return [];
        }
        const out = [];
        for (const n of names) {
            if (!/^subnet-\d+\.json$/.test(n))
                continue;
            try {
                out.push(JSON.parse(await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile(node_path__WEBPACK_IMPORTED_MODULE_6__.join(this.stateDir, n), 'utf8')));
            }
            catch {
                /* being written, or removed meanwhile */
            }
        }
        return out;
    }
    /** When prepare() last set this network up (the record's mtime); null when unknown. */
    async preparedAt(rec) {
        try {
            return (await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.stat(this.recordPath(rec.index))).mtimeMs;
        }
        catch {
            return null;
        }
    }
    recordPath(index) {
        return node_path__WEBPACK_IMPORTED_MODULE_6__.join(this.stateDir, `subnet-${index}.json`);
    }
    /**
     * This builder's subnet: the one it already holds, else the one it held last time when
     * still free (kept in its directory), else the first free one. Creating the record with
     * O_EXCL makes the choice atomic across every server on this host.
     */
    async allocate(builderId, builderDir) {
        const mine = (await this.records()).find((r) => r.sid === this.sid && r.builderId === builderId);
        if (mine)
            return mine;
        const hintFile = node_path__WEBPACK_IMPORTED_MODULE_6__.join(builderDir, 'network.json');
        let hint = -1;
        try {
            hint = JSON.parse(await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile(hintFile, 'utf8')).index;
        }
        catch {
            /* first start */
        }
        const order = [
            ...(hint >= 0 && hint < this.pool.size ? [hint] : []),
            ...Array.from({ length: this.pool.size }, (_, i) => i),
        ];
        for (const index of order) {
            const subnet = subnetAt(this.pool, index);
            const rec = {
                sid: this.sid,
                dataDir: node_path__WEBPACK_IMPORTED_MODULE_6__.resolve(this.dataDir),
                builderId,
                builderDir: node_path__WEBPACK_IMPORTED_MODULE_6__.resolve(builderDir),
                index,
                subnet: subnet.cidr,
                bridge: networkNames(this.sid, index).bridge,
                createdAt: new Date().toISOString(),
            };
            try {
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.writeFile(this.recordPath(index), JSON.stringify(rec), { mode: 0o600, flag: 'wx' });
            }
            catch (err) {
                if (err.code === 'EEXIST')
                    continue;
                throw err;
            }
            if (await this.subnetInUse(subnet)) {
                // Someone else's interface (not Hoist's) already has addresses there: skip it for good.
                this.log.warn({ subnet: subnet.cidr }, 'subnet of the builder pool is in use on this host; skipping it');
                await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.rm(this.recordPath(index), { force: true });
                continue;
            }
            await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.writeFile(hintFile, JSON.stringify({ index }), { mode: 0o600 });
            return rec;
        }
        throw new Error(`no free /24 left in the builder subnet pool ${poolCidr(this.pool)} (${this.pool.size} subnets); give a larger --builder-subnet-pool`);
    }
    async subnetInUse(subnet) {
        const { stdout } = await run(this.ip, ['-o', '-4', 'addr', 'show']);
        const prefix = subnet.cidr.split('.').slice(0, 3).join('.') + '.';
        return stdout
            .split('\n')
            .some((l) => l.includes(` inet ${prefix}`) && !BRIDGE_RE.test(l.split(/\s+/)[1] ?? ''));
    }
    async teardown(rec) {
        // A killed buildkitd leaves its namespaces mounted, each holding a veth (and its peer) alive.
        if (rec.builderDir)
            await unmountNetns(rec.builderDir);
        const names = networkNames(rec.sid, rec.index);
        await this.removeFirewall(names);
        await this.removeBridge(names.bridge);
        await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.rm(this.recordPath(rec.index), { force: true });
    }
    async removeFirewall(names) {
        const chains = [names.inChain, names.fwdChain, names.natChain];
        const rules = [];
        for (const table of ['filter', 'nat']) {
            rules.push(...teardownRules(table, (await this.exec(['-t', table, '-S'])).stdout, chains));
        }
        await this.apply(rules);
    }
    async bridges() {
        const { stdout } = await run(this.ip, ['-o', 'link', 'show', 'type', 'bridge']);
        return stdout
            .split('\n')
            .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
            .filter((n) => !!n);
    }
    async removeBridge(bridge) {
        if (!(await this.bridges()).includes(bridge))
            return;
        await run(this.ip, ['link', 'del', bridge]);
    }
    async createBridge(bridge, subnet) {
        await run(this.ip, ['link', 'add', 'name', bridge, 'type', 'bridge']);
        // No IPv6 on the bridge: a link-local address there would be one more host address to reach.
        await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1\n').catch(() => undefined);
        await run(this.ip, ['addr', 'add', `${subnet.gateway}/24`, 'dev', bridge]);
        await run(this.ip, ['link', 'set', bridge, 'up']);
    }
}
async function exists(p) {
    try {
        await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.access(p);
        return true;
    }
    catch {
        return false;
    }
}
/** The resolv.conf buildkitd reads: systemd-resolved's upstream list when its stub is in use. */
function resolvConfPath() {
    try {
        const text = (0,node_fs__WEBPACK_IMPORTED_MODULE_2__.readFileSync)('/etc/resolv.conf', 'utf8');
        const servers = parseNameservers(text);
        if (servers.length > 0 && servers.every((s) => s === '127.0.0.53')) {
            return '/run/systemd/resolve/resolv.conf';
        }
    }
    catch {
        /* fall through */
    }
    return '/etc/resolv.conf';
}
/**
 * Network namespaces buildkitd bind-mounts under its root stay mounted when it is killed;
 * unmount them so the namespaces (and their veths) go away and the directory can be removed.
 */
async function unmountNetns(builderDir) {
    let text;
    try {
        text = await node_fs_promises__WEBPACK_IMPORTED_MODULE_3__.readFile('/proc/self/mountinfo', 'utf8');
    }
    catch {
        return;
    }
    const prefix = node_path__WEBPACK_IMPORTED_MODULE_6__.resolve(builderDir) + node_path__WEBPACK_IMPORTED_MODULE_6__.sep;
    for (const line of text.split('\n')) {
        const mountPoint = line.split(' ')[4];
        if (!mountPoint)
            continue;
        const decoded = mountPoint.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
        if (decoded.startsWith(prefix) && line.includes(' - nsfs ')) {
            await run('umount', ['-l', decoded]).catch(() => undefined);
        }
    }
}


/***/ }),

/***/ 93474:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Gi: () => (/* binding */ nullLogger),
/* harmony export */   KY: () => (/* binding */ gatewayHosts),
/* harmony export */   gN: () => (/* binding */ DEFAULT_MAX_USED_SPACE_BYTES)
/* harmony export */ });
/** For a provider created without a logger. */
const nullLogger = { info() { }, warn() { }, error() { } };
/** buildkitd's GC cap per builder when neither the spec nor the server sets one. */
const DEFAULT_MAX_USED_SPACE_BYTES = 10 * 1024 ** 3;
/** Where the gateway listens and which host clients are told to dial. */
function gatewayHosts(opts) {
    const listenHost = opts.listenHost ?? '127.0.0.1';
    const wildcard = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '';
    return { listenHost, advertiseHost: opts.advertiseHost ?? (wildcard ? '127.0.0.1' : listenHost) };
}


/***/ }),

/***/ 49545:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   FL: () => (/* binding */ parsePlatform),
/* harmony export */   FN: () => (/* binding */ processAlive),
/* harmony export */   Nc: () => (/* binding */ nativePlatform),
/* harmony export */   uv: () => (/* binding */ ProvisionError)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
// The seam between the control plane and wherever builders run. The control plane
// decides which builder a build gets; a Provider only starts, stops, lists and checks
// BuildKit daemons and signs the client certificates that open them.

class ProvisionError extends Error {
    kind;
    /** For "rate-limited": how long the provider asked to wait, when it said. */
    retryAfterMs;
    constructor(kind, message, opts = {}) {
        super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
        this.name = 'ProvisionError';
        this.kind = kind;
        this.retryAfterMs = opts.retryAfterMs;
    }
}
const PLATFORM_RE = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/;
/** The OS/arch of this machine in OCI terms. */
function nativePlatform(arch = process.arch) {
    const map = {
        x64: 'amd64',
        arm64: 'arm64',
        arm: 'arm',
        ia32: '386',
        ppc64: 'ppc64le',
        s390x: 's390x',
        riscv64: 'riscv64',
    };
    return `linux/${map[arch] ?? arch}`;
}
/**
 * Checks a platform string and returns its canonical form, or an error message that
 * says what is wrong and what is accepted.
 */
function parsePlatform(raw, supported) {
    const accepted = `supported platforms on this server: ${supported.join(', ')}`;
    if (typeof raw !== 'string' || raw.trim() === '') {
        return { ok: false, message: `platform must be a non-empty string like "${supported[0]}"; ${accepted}` };
    }
    const value = raw.trim().toLowerCase();
    const m = PLATFORM_RE.exec(value);
    if (!m) {
        return {
            ok: false,
            message: `platform "${raw}" is malformed; expected os/arch[/variant] such as "${supported[0]}"; ${accepted}`,
        };
    }
    const os = m[1];
    let arch = m[2];
    let variant = m[3];
    if (arch === 'x86_64')
        arch = 'amd64';
    if (arch === 'aarch64')
        arch = 'arm64';
    // The default variants name the same platform as the bare architecture.
    if ((arch === 'amd64' && variant === 'v1') || (arch === 'arm64' && variant === 'v8'))
        variant = undefined;
    const canonical = variant ? `${os}/${arch}/${variant}` : `${os}/${arch}`;
    if (!supported.includes(canonical)) {
        return { ok: false, message: `platform "${raw}" is not supported; ${accepted}` };
    }
    return { ok: true, platform: canonical };
}
/** Is this process on this host alive and not a zombie? (Linux: signal 0, then /proc/<pid>/stat.) */
function processAlive(pid) {
    try {
        process.kill(pid, 0);
    }
    catch (err) {
        if (err.code !== 'EPERM')
            return false;
    }
    try {
        const stat = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(`/proc/${pid}/stat`, 'utf8');
        const state = stat[stat.lastIndexOf(')') + 2];
        return state !== 'Z' && state !== 'X';
    }
    catch {
        return false;
    }
}


/***/ }),

/***/ 99136:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  runServerCommand: () => (/* binding */ runServerCommand)
});

// UNUSED EXPORTS: createLogger

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(57975);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(97268);
// EXTERNAL MODULE: ./node_modules/fastify/fastify.js
var fastify = __webpack_require__(16703);
var fastify_default = /*#__PURE__*/__webpack_require__.n(fastify);
// EXTERNAL MODULE: ./node_modules/prom-client/index.js
var prom_client = __webpack_require__(95222);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
;// CONCATENATED MODULE: ./src/server/util.ts

const systemClock = { now: () => new Date() };
/** A random id with a readable prefix; time-ordered so ids sort by creation. */
// Small random values come from a pool refilled 4 KiB at a time: one RAND call per ~500 ids
// instead of one per id, on the OIDC exchange's hot path.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function randomHex(bytes) {
    if (poolOffset + bytes > pool.length) {
        (0,external_node_crypto_.randomFillSync)(pool);
        poolOffset = 0;
    }
    const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    return hex;
}
let lastMs = 0;
let seq = 0;
function newId(prefix) {
    const ms = Date.now();
    if (ms === lastMs) {
        seq++;
    }
    else {
        lastMs = ms;
        seq = 0;
    }
    const t = ms.toString(36).padStart(9, '0') + seq.toString(36).padStart(4, '0');
    return `${prefix}_${t}${randomHex(6)}`;
}
function sha256Hex(s) {
    return (0,external_node_crypto_.createHash)('sha256').update(s).digest('hex');
}
function iso(d) {
    return d.toISOString();
}

;// CONCATENATED MODULE: ./src/server/audit/log.ts

/** Rows a multi-row UPSERT carries at once (11 parameters each, far below PostgreSQL's 65535). */
const AGG_CHUNK = 500;
/**
 * An audit row as the API shows it: an aggregated row's count and first and last times live in
 * columns (so replicas add to them atomically) and are shown in its details.
 */
function eventOfRow(r) {
    const details = JSON.parse(r.details);
    if (r.agg_key) {
        details.count = Number(r.agg_count);
        details.first_at = r.at;
        details.last_at = r.agg_last_at;
    }
    return {
        id: r.id,
        at: r.at,
        action: r.action,
        outcome: r.outcome,
        project_id: r.project_id,
        subject: r.subject,
        reason: r.reason,
        details,
    };
}
/**
 * Append-only audit events (except the counts of aggregated refusals, see RefusalAudit). Write
 * them inside the transaction of the change they describe.
 */
class AuditLog {
    db;
    clock;
    constructor(db, clock) {
        this.db = db;
        this.clock = clock;
    }
    async record(e, db = this.db) {
        const ev = { id: newId('aud'), at: iso(this.clock.now()), ...e };
        await db.run('INSERT INTO audit_events (id, at, action, outcome, project_id, subject, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [ev.id, ev.at, ev.action, ev.outcome, ev.project_id, ev.subject, ev.reason, JSON.stringify(ev.details)]);
        return ev;
    }
    /**
     * Adds counts to aggregated rows, creating those that do not exist yet, atomically whatever
     * other replicas write at the same time: the unique `agg_key` makes a second insert of a row an
     * increment of its count (and widens its first and last times). Nothing else about an event
     * ever changes. One statement per 500 rows, several in one transaction.
     */
    async addToAggregates(deltas) {
        if (!deltas.length)
            return;
        // One order for every replica: two batches that share rows lock them in the same order, so
        // concurrent flushes on PostgreSQL wait for each other instead of deadlocking.
        deltas = [...deltas].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const [least, greatest] = this.db.dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['min', 'max'];
        const write = async (tx) => {
            for (let i = 0; i < deltas.length; i += AGG_CHUNK) {
                const chunk = deltas.slice(i, i + AGG_CHUNK);
                const params = chunk.flatMap((d) => [
                    newId('aud'),
                    d.firstAt,
                    d.event.action,
                    d.event.outcome,
                    d.event.project_id,
                    d.event.subject,
                    d.event.reason,
                    JSON.stringify(d.event.details),
                    d.key,
                    d.count,
                    d.lastAt,
                ]);
                await tx.run(`INSERT INTO audit_events (id, at, action, outcome, project_id, subject, reason, details, agg_key, agg_count, agg_last_at)
           VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
           ON CONFLICT (agg_key) DO UPDATE SET
             agg_count = audit_events.agg_count + excluded.agg_count,
             at = ${least}(audit_events.at, excluded.at),
             agg_last_at = ${greatest}(audit_events.agg_last_at, excluded.agg_last_at)`, params);
            }
        };
        // One statement is atomic on its own: no BEGIN and COMMIT round trips for it.
        if (deltas.length <= AGG_CHUNK)
            await write(this.db);
        else
            await this.db.transaction(write);
    }
    /** Newest first. */
    async list(q = {}, db = this.db) {
        const where = [];
        const params = [];
        if (q.project_id) {
            where.push('project_id = ?');
            params.push(q.project_id);
        }
        if (q.action) {
            where.push('action = ?');
            params.push(q.action);
        }
        if (q.before) {
            where.push('id < ?');
            params.push(q.before);
        }
        params.push(Math.min(Math.max(q.limit ?? 100, 1), 1000));
        const rows = await db.all(`SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, params);
        return rows.map(eventOfRow);
    }
}

// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(77030);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(48161);
// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(31421);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
;// CONCATENATED MODULE: ./src/providers/local-volume.ts
// Where local builders keep their roots, and what stops a RUN step from filling the disk.
//
//   xfs-image:SIZE  the server makes <dataDir>/builders.xfs (preallocated, XFS with reflink=1 so
//                   caches can later be cloned), loop-mounts it on <dataDir>/builders and unmounts
//                   it at shutdown. Builders can fill at most that volume, never the data dir's
//                   filesystem (the database). With XFS quota support in the kernel it is mounted
//                   with prjquota and each builder directory is an XFS project with a hard limit.
//                   Without it (a kernel built without CONFIG_XFS_QUOTA), each builder's root is
//                   its own sparse XFS image of the disk limit in builders/.images/, loop-mounted
//                   while the builder runs: the same hard cap per builder, and an image file can
//                   still be cloned with reflink on the volume.
//   auto            builders stay on the data dir's filesystem; when that is XFS mounted with
//                   prjquota, each builder directory gets a project quota, else a warning says
//                   nothing caps builder disk use.
//   none            no cap, with the same warning.





const run = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
/** mkfs.xfs refuses smaller filesystems. */
const MIN_IMAGE_BYTES = 300 * 1024 ** 2;
/** Parses /proc/self/mounts. */
function parseMounts(text) {
    const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    return text
        .split('\n')
        .map((l) => l.split(' '))
        .filter((f) => f.length >= 4)
        .map((f) => ({ source: unescape(f[0]), dir: unescape(f[1]), type: f[2], options: f[3].split(',') }));
}
/** The mount a path lives on: the longest mount point that is the path or one of its parents (last one wins). */
function mountOf(mounts, p) {
    let best;
    for (const m of mounts) {
        const inside = p === m.dir || m.dir === '/' || p.startsWith(m.dir.endsWith('/') ? m.dir : `${m.dir}/`);
        if (inside && (!best || m.dir.length >= best.dir.length))
            best = m;
    }
    return best;
}
/** Does this mount enforce XFS project quotas? */
function hasProjectQuota(m) {
    return !!m && m.type === 'xfs' && m.options.some((o) => o === 'prjquota' || o === 'pquota');
}
/** "auto", "none" or "xfs-image:SIZE"; `parseSize` turns "20GiB" into bytes or null. */
function parseVolumeSpec(raw, parseSize, label = '--builder-volume (HOIST_BUILDER_VOLUME)') {
    const v = (raw ?? '').trim();
    if (v === '' || v === 'auto')
        return { kind: 'auto' };
    if (v === 'none')
        return { kind: 'none' };
    const m = /^xfs-image:(.*)$/.exec(v);
    if (m) {
        const size = parseSize(m[1]);
        if (size === null || size < MIN_IMAGE_BYTES) {
            throw new errors/* ConfigurationError */.j1(`${label}: the image size must be at least 300MiB, such as xfs-image:50GiB; got "${m[1]}"`);
        }
        return { kind: 'xfs-image', sizeBytes: size };
    }
    throw new errors/* ConfigurationError */.j1(`${label} must be auto, none or xfs-image:SIZE (e.g. xfs-image:50GiB), got "${v}"`);
}
const NO_CAP_FIX = 'pass --builder-volume xfs-image:SIZE (HOIST_BUILDER_VOLUME) to keep builders on a loop-mounted XFS volume of that size';
async function readMounts() {
    return parseMounts(await promises_.readFile('/proc/self/mounts', 'utf8'));
}
const DEBIAN_PACKAGE = {
    'mkfs.xfs': 'xfsprogs',
    xfs_quota: 'xfsprogs',
    xfs_growfs: 'xfsprogs',
    mount: 'mount',
    umount: 'mount',
};
function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}
/** Loop devices backed by this file. */
async function loopsOf(file) {
    const out = await tool('losetup', ['-j', file], 'losetup -j').catch(() => '');
    return out
        .split('\n')
        .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
        .filter((d) => !!d);
}
/**
 * After an unmount, waits for autoclear to detach the image's loop device (the kernel does it
 * asynchronously), then detaches whatever still names the image.
 */
async function releaseLoop(file) {
    for (let i = 0; i < 50 && (await loopsOf(file)).length; i++)
        await sleep(100);
    for (const dev of await loopsOf(file))
        await tool('losetup', ['-d', dev], `losetup -d ${dev}`).catch(() => undefined);
}
async function tool(cmd, args, what) {
    try {
        const { stdout } = await run(cmd, args, {
            timeout: 120_000,
            env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
        });
        return stdout;
    }
    catch (err) {
        const e = err;
        if (e.code === 'ENOENT') {
            throw new Error(`${cmd} is not installed (${what}); install Debian's ${DEBIAN_PACKAGE[cmd] ?? 'util-linux'} package`);
        }
        // The first line says what went wrong (mkfs follows it with its whole usage text).
        const lines = (e.stderr || e.message).trim().split('\n');
        throw new Error(`${what} failed: ${lines[0]}${lines.length > 1 ? ` … ${lines[lines.length - 1]}` : ''}`);
    }
}
/** The builders directory's volume: set-up at start, a quota per builder, tear-down at shutdown. */
class BuilderVolume {
    spec;
    buildersDir;
    imagePath;
    diskLimitBytes;
    log;
    cap;
    mountedHere = false;
    projects = {};
    constructor(spec, buildersDir, imagePath, diskLimitBytes, log, cap = { kind: 'none', reason: 'not set up' }) {
        this.spec = spec;
        this.buildersDir = buildersDir;
        this.imagePath = imagePath;
        this.diskLimitBytes = diskLimitBytes;
        this.log = log;
        this.cap = cap;
    }
    get projectsFile() {
        return external_node_path_.join(this.buildersDir, '.hoist-projects.json');
    }
    /** Per-builder images; a dot name, so it is never taken for a builder directory. */
    get imagesDir() {
        return external_node_path_.join(this.buildersDir, '.images');
    }
    builderImage(id) {
        return external_node_path_.join(this.imagesDir, `${id}.xfs`);
    }
    /**
     * The disk image a builder's root lives in, when each builder has one (no XFS quotas): then
     * a snapshot or a clone copies that one file, not the tree inside it. Null otherwise.
     */
    imageOf(id) {
        return this.cap.kind === 'builder-image' ? this.builderImage(id) : null;
    }
    /**
     * Prepares the builders directory (mounting the image when asked) and says at start what
     * bounds builder disk use; a missing bound is a warning that names the flag that fixes it.
     */
    static async open(opts) {
        const image = external_node_path_.join(external_node_path_.dirname(opts.buildersDir), 'builders.xfs');
        const v = new BuilderVolume(opts.spec, opts.buildersDir, image, opts.diskLimitBytes, opts.logger);
        await promises_.mkdir(opts.buildersDir, { recursive: true, mode: 0o700 });
        if (opts.spec.kind === 'xfs-image')
            await v.mountImage(opts.spec.sizeBytes);
        const mount = mountOf(await readMounts(), opts.buildersDir);
        if (hasProjectQuota(mount)) {
            v.cap = { kind: 'project-quota', mount: mount.dir, limitBytes: opts.diskLimitBytes };
            await v.loadProjects();
        }
        else if (opts.spec.kind === 'xfs-image') {
            v.cap = {
                kind: 'builder-image',
                mount: opts.buildersDir,
                volumeBytes: opts.spec.sizeBytes,
                limitBytes: opts.diskLimitBytes,
                reason: 'this kernel refused the XFS prjquota mount option (built without XFS quota support)',
            };
            await promises_.mkdir(v.imagesDir, { recursive: true, mode: 0o700 });
        }
        else {
            v.cap = {
                kind: 'none',
                reason: opts.spec.kind === 'none'
                    ? '--builder-volume none'
                    : `${opts.buildersDir} is on ${mount?.type ?? 'an unknown filesystem'} (${mount?.dir ?? '?'}) without XFS project quotas`,
            };
        }
        v.report();
        return v;
    }
    report() {
        const c = this.cap;
        if (c.kind === 'project-quota') {
            this.log.info({ mount: c.mount, builder_disk_limit_bytes: c.limitBytes }, 'builder disk use capped by XFS project quotas');
        }
        else if (c.kind === 'builder-image') {
            this.log.info({
                mount: c.mount,
                volume_bytes: c.volumeBytes,
                builder_disk_limit_bytes: c.limitBytes,
                why: c.reason,
            }, 'builder disk use capped by the XFS volume and an XFS image per builder root');
            if (c.limitBytes >= c.volumeBytes) {
                this.log.warn({ volume_bytes: c.volumeBytes, builder_disk_limit_bytes: c.limitBytes }, 'the builder disk limit is not smaller than the builder volume, so one builder can fill the volume for the others; lower --builder-disk-limit (HOIST_BUILDER_DISK_LIMIT) or grow the volume');
            }
        }
        else {
            this.log.warn({ builders_dir: this.buildersDir }, `builder disk use is not capped (${c.reason}): a RUN step can fill the filesystem that also holds the data directory; ${NO_CAP_FIX}`);
        }
    }
    /** Creates the image on first use, then mounts it on the builders directory (unless already). */
    async mountImage(sizeBytes) {
        const mounts = await readMounts();
        const here = mounts.find((m) => m.dir === this.buildersDir);
        if (here) {
            if (here.type !== 'xfs') {
                throw new errors/* ConfigurationError */.j1(`${this.buildersDir} is already a ${here.type} mount, not the XFS volume --builder-volume asks for; unmount it or use --builder-volume auto`);
            }
            // A previous server left it mounted (builders kept running): use it, and own it from now on.
            this.mountedHere = true;
            this.log.info({ mount: this.buildersDir }, 'builder volume already mounted; reusing it');
            return;
        }
        const present = await promises_.readdir(this.buildersDir);
        if (present.length > 0) {
            throw new errors/* ConfigurationError */.j1(`${this.buildersDir} already holds ${present.length} entr${present.length === 1 ? 'y' : 'ies'} on the data directory's filesystem; mounting the builder volume over it would hide them. Stop the server's builders and move or delete that directory's contents (the builder caches), then start again`);
        }
        let existing = null;
        try {
            existing = (await promises_.stat(this.imagePath)).size;
        }
        catch {
            /* first use */
        }
        if (existing === null) {
            const tmp = `${this.imagePath}.tmp`;
            await promises_.rm(tmp, { force: true });
            try {
                // Preallocated, not sparse: the space is the volume's from the start, so filling the
                // volume can never run the data directory's filesystem out of space.
                await tool('fallocate', ['-l', String(sizeBytes), tmp], `reserving ${sizeBytes} bytes for ${this.imagePath}`);
                await promises_.chmod(tmp, 0o600);
                await tool('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', 'hoist', tmp], `mkfs.xfs on ${tmp}`);
                await promises_.rename(tmp, this.imagePath);
            }
            catch (err) {
                await promises_.rm(tmp, { force: true });
                throw new errors/* ConfigurationError */.j1(`cannot create the builder volume ${this.imagePath}: ${(0,errors/* errorMessage */.gJ)(err)}`);
            }
            this.log.info({ image: this.imagePath, bytes: sizeBytes }, 'builder volume created');
        }
        else if (existing !== sizeBytes) {
            this.log.warn({ image: this.imagePath, bytes: existing, requested_bytes: sizeBytes }, 'the builder volume keeps its size; to change it, stop the server, delete the image (the builder caches go with it) and start again');
        }
        // `-o loop` sets autoclear: the loop device goes away with the unmount.
        try {
            await tool('mount', ['-t', 'xfs', '-o', 'loop,prjquota', this.imagePath, this.buildersDir], 'mount');
        }
        catch {
            try {
                await tool('mount', ['-t', 'xfs', '-o', 'loop', this.imagePath, this.buildersDir], 'mount');
            }
            catch (err) {
                throw new errors/* ConfigurationError */.j1(`cannot mount the builder volume ${this.imagePath} on ${this.buildersDir}: ${(0,errors/* errorMessage */.gJ)(err)}`);
            }
        }
        this.mountedHere = true;
        await promises_.chmod(this.buildersDir, 0o700);
    }
    async loadProjects() {
        try {
            this.projects = JSON.parse(await promises_.readFile(this.projectsFile, 'utf8'));
        }
        catch {
            this.projects = {};
        }
    }
    async saveProjects() {
        const tmp = `${this.projectsFile}.tmp`;
        await promises_.writeFile(tmp, JSON.stringify(this.projects), { mode: 0o600 });
        await promises_.rename(tmp, this.projectsFile);
    }
    /**
     * Caps a builder before it starts: its directory becomes an XFS project with a hard block and
     * inode limit, or its root is mounted from its own image; no-op without a cap.
     */
    async assign(id, dir) {
        const c = this.cap;
        if (c.kind === 'builder-image')
            return this.mountBuilderImage(id, external_node_path_.join(dir, 'root'), c.limitBytes);
        if (c.kind !== 'project-quota')
            return;
        let projid = this.projects[id];
        if (projid === undefined) {
            projid = Math.max(999, ...Object.values(this.projects)) + 1;
            // Marks the directory (and what it holds) with the project id, inherited by new files.
            await tool('xfs_quota', ['-x', '-c', `project -s -p ${dir} ${projid}`, c.mount], `xfs_quota project for ${dir}`);
            this.projects[id] = projid;
            await this.saveProjects();
        }
        const kib = Math.ceil(this.diskLimitBytes / 1024);
        const inodes = Math.max(10_000, Math.ceil(this.diskLimitBytes / 4096));
        await tool('xfs_quota', ['-x', '-c', `limit -p bhard=${kib}k ihard=${inodes} ${projid}`, c.mount], `xfs_quota limit for ${dir}`);
    }
    async mountBuilderImage(id, root, bytes) {
        if ((await readMounts()).some((m) => m.dir === root))
            return;
        const image = this.builderImage(id);
        const size = await promises_.stat(image).then((st) => st.size, () => null);
        if (size === null) {
            // A root from before the volume had images is only cache: it would be hidden under the mount.
            await promises_.rm(root, { recursive: true, force: true });
            const tmp = `${image}.tmp`;
            try {
                // Sparse: it takes volume space only as the builder writes, up to its size.
                const fh = await promises_.open(tmp, 'w', 0o600);
                await fh.truncate(bytes);
                await fh.close();
                await tool('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', 'hoist-b', tmp], `mkfs.xfs on ${tmp}`);
                await promises_.rename(tmp, image);
            }
            catch (err) {
                await promises_.rm(tmp, { force: true });
                throw new Error(`cannot create the disk image of builder ${id}: ${(0,errors/* errorMessage */.gJ)(err)}`);
            }
        }
        // A raised --builder-disk-limit grows the image (XFS grows online); a lowered one cannot shrink it.
        const grow = size !== null && size < bytes;
        if (grow)
            await promises_.truncate(image, bytes);
        if (size !== null && size > bytes) {
            this.log.warn({ builder_id: id, image_bytes: size, builder_disk_limit_bytes: bytes }, 'a builder disk image keeps its larger size (XFS cannot shrink); destroy the builder to apply the lower limit');
        }
        await promises_.mkdir(root, { recursive: true, mode: 0o700 });
        // nouuid: a clone's image is a reflink copy of its primary's, with the same XFS UUID, and XFS
        // refuses a second mount of a UUID. A new UUID (xfs_admin -U) would rewrite the whole log,
        // tens of MiB per clone; skipping the check costs nothing, each image is its own filesystem.
        await tool('mount', ['-t', 'xfs', '-o', 'loop,nouuid', image, root], `mount of builder ${id}'s disk image`);
        if (grow)
            await tool('xfs_growfs', ['-d', root], `xfs_growfs of builder ${id}'s disk image`);
    }
    /** Unmounts a stopped builder's root image (its loop device goes with it); no-op otherwise. */
    async detach(id) {
        if (this.cap.kind !== 'builder-image')
            return;
        const root = external_node_path_.join(this.buildersDir, id, 'root');
        if (!(await readMounts()).some((m) => m.dir === root))
            return;
        try {
            await tool('umount', ['-R', root], `umount ${root}`);
            await releaseLoop(this.builderImage(id));
        }
        catch (err) {
            this.log.warn({ builder_id: id, err: (0,errors/* errorMessage */.gJ)(err) }, 'could not unmount a builder disk image');
        }
    }
    /** Drops a destroyed builder's project limit or disk image. */
    async release(id) {
        const c = this.cap;
        if (c.kind === 'builder-image') {
            await promises_.rm(this.builderImage(id), { force: true });
            return;
        }
        const projid = this.projects[id];
        if (c.kind !== 'project-quota' || projid === undefined)
            return;
        await tool('xfs_quota', ['-x', '-c', `limit -p bhard=0 ihard=0 ${projid}`, c.mount], 'xfs_quota limit').catch((err) => this.log.warn({ builder_id: id, err: (0,errors/* errorMessage */.gJ)(err) }, 'could not drop a project quota'));
        delete this.projects[id];
        await this.saveProjects();
    }
    /** Unmounts the image (its loop device goes with it); only once no builder runs from it. */
    async close() {
        if (!this.mountedHere)
            return;
        // Builder images unmounted just before may still hold their loop devices (the kernel
        // detaches them asynchronously), and those keep files of the volume open: retry a while.
        for (let attempt = 1;; attempt++) {
            try {
                // -R: a killed buildkitd can leave snapshot mounts below the volume.
                await tool('umount', ['-R', this.buildersDir], `umount ${this.buildersDir}`);
                break;
            }
            catch (err) {
                if (attempt < 25 && /busy/i.test((0,errors/* errorMessage */.gJ)(err))) {
                    await sleep(200);
                    continue;
                }
                this.log.warn({ mount: this.buildersDir, err: (0,errors/* errorMessage */.gJ)(err) }, 'could not unmount the builder volume');
                return;
            }
        }
        this.mountedHere = false;
        await releaseLoop(this.imagePath);
        this.log.info({ mount: this.buildersDir }, 'builder volume unmounted');
    }
}

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(73024);
// EXTERNAL MODULE: ./src/lib/pki.ts
var pki = __webpack_require__(58027);
;// CONCATENATED MODULE: ./src/providers/local-cgroup.ts
// Resource limits of local builders: one cgroup per builder, on cgroup v1 or v2.
//
// Layout under every hierarchy (v1: each controller's mount; v2: the unified mount):
//   /hoist/<server>/<builder>            the whole builder: steps' limits plus the daemon's allowance
//   /hoist/<server>/<builder>/daemon     buildkitd itself (v2 forbids processes in a parent)
//   /hoist/<server>/<builder>/buildkit   RUN steps: runc puts each container in buildkit/<id> below
//                                        it, because buildkitd.toml sets defaultCgroupParent
// <server> is a hash of the builders directory, so two servers on one host never touch each
// other's groups. Without defaultCgroupParent runc would put containers in /buildkit/<id> at
// the root of each hierarchy: outside every limit of the builder.






/** What buildkitd itself may use on top of its steps' limits (threads, runc, layer export). */
const DAEMON_ALLOWANCE = { pids: 512, memoryBytes: 1024 ** 3 };
/**
 * What all builders of one server may use together: half the host's process ids (pid_max is
 * only 32768 on many hosts, eight builders' worth of default limits) and 80% of its memory, so
 * that fork loops or memory hogs in several projects at once still leave the host and the
 * control plane room to run.
 */
function serverTotals(pidMax, threadsMax, totalMemBytes) {
    return { pids: Math.floor(Math.min(pidMax, threadsMax) / 2), memoryBytes: Math.floor(totalMemBytes * 0.8) };
}
const CONTROLLERS = ['pids', 'memory', 'cpu'];
const CPU_PERIOD_US = 100_000;
/**
 * The cgroup layout from /proc/self/mounts, as runc sees it: v2 when the unified hierarchy is
 * mounted at /sys/fs/cgroup itself, else v1 (a hybrid host's extra cgroup2 mount holds no
 * controllers runc uses). Throws a message naming what is missing.
 */
function parseCgroupLayout(mounts, root = '/sys/fs/cgroup') {
    const entries = mounts
        .split('\n')
        .map((l) => l.split(' '))
        .filter((f) => f.length >= 4)
        .map((f) => ({ dir: unescapeMount(f[1]), type: f[2], opts: f[3].split(',') }));
    const v2 = entries.find((e) => e.type === 'cgroup2' && e.dir === root);
    if (v2)
        return { version: 2, root: v2.dir, all: [v2.dir] };
    const v1 = entries.filter((e) => e.type === 'cgroup');
    const controllers = {};
    const missing = [];
    for (const c of CONTROLLERS) {
        const m = v1.find((e) => e.opts.includes(c));
        if (m)
            controllers[c] = m.dir;
        else
            missing.push(c);
    }
    if (v1.length === 0) {
        throw new errors/* ConfigurationError */.j1(`no cgroup filesystem is mounted at ${root} (neither cgroup2 nor v1 controllers); builders cannot get pids, memory and CPU limits. Mount cgroups (a normal systemd or container host has them), or pass --builder-cgroups off to run builders without limits`);
    }
    if (missing.length) {
        throw new errors/* ConfigurationError */.j1(`the cgroup v1 controller(s) ${missing.join(', ')} are not mounted; builders need pids, memory and cpu for their limits. Mount them (e.g. mount -t cgroup -o ${missing[0]} cgroup ${root}/${missing[0]}), or pass --builder-cgroups off to run builders without limits`);
    }
    const all = [
        ...new Set([...v1.map((e) => e.dir), ...entries.filter((e) => e.type === 'cgroup2').map((e) => e.dir)]),
    ];
    return { version: 1, controllers, all };
}
/** /proc/mounts escapes spaces and such as \040. */
function unescapeMount(s) {
    return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}
/** The files and values that set a builder's limits, per group (relative to the builder group). */
function limitFiles(version, limits) {
    const steps = limits;
    const whole = {
        pids: limits.pids + DAEMON_ALLOWANCE.pids,
        memoryBytes: limits.memoryBytes + DAEMON_ALLOWANCE.memoryBytes,
    };
    const quota = String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)));
    if (version === 1) {
        return [
            { group: '', controller: 'pids', file: 'pids.max', value: String(whole.pids) },
            { group: '', controller: 'memory', file: 'memory.limit_in_bytes', value: String(whole.memoryBytes) },
            { group: '', controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
            { group: '', controller: 'cpu', file: 'cpu.cfs_quota_us', value: quota },
            { group: 'buildkit', controller: 'pids', file: 'pids.max', value: String(steps.pids) },
            {
                group: 'buildkit',
                controller: 'memory',
                file: 'memory.limit_in_bytes',
                value: String(steps.memoryBytes),
            },
        ];
    }
    return [
        { group: '', controller: 'pids', file: 'pids.max', value: String(whole.pids) },
        { group: '', controller: 'memory', file: 'memory.max', value: String(whole.memoryBytes) },
        { group: '', controller: 'memory', file: 'memory.swap.max', value: '0' },
        { group: '', controller: 'cpu', file: 'cpu.max', value: `${quota} ${CPU_PERIOD_US}` },
        { group: 'buildkit', controller: 'pids', file: 'pids.max', value: String(steps.pids) },
        { group: 'buildkit', controller: 'memory', file: 'memory.max', value: String(steps.memoryBytes) },
        { group: 'buildkit', controller: 'memory', file: 'memory.swap.max', value: '0' },
    ];
}
function local_cgroup_sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}
/** Creates, fills with limits, kills and removes the cgroups of one server's builders. */
class BuilderCgroups {
    layout;
    limits;
    /** The server's group, e.g. "hoist/3f2a…", relative to each hierarchy's root. */
    base;
    constructor(layout, limits, buildersDir) {
        this.layout = layout;
        this.limits = limits;
        this.base = external_node_path_.posix.join('hoist', (0,external_node_crypto_.createHash)('sha256').update(buildersDir).digest('hex').slice(0, 12));
    }
    /** Detects the host's layout and checks that this process may create groups in it. */
    static async create(limits, buildersDir) {
        const layout = parseCgroupLayout((0,external_node_fs_.readFileSync)('/proc/self/mounts', 'utf8'));
        const cg = new BuilderCgroups(layout, limits, buildersDir);
        try {
            for (const dir of cg.limitedRoots())
                await promises_.mkdir(external_node_path_.join(dir, cg.base), { recursive: true });
            if (layout.version === 2)
                await cg.enableControllers(cg.base);
            await cg.writeTotals();
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`cannot create builder cgroups under ${cg.limitedRoots().join(', ')}: ${(0,errors/* errorMessage */.gJ)(err)}. Run the server as root on a host whose cgroup filesystem is writable, or pass --builder-cgroups off to run builders without limits`);
        }
        return cg;
    }
    /** Relative path of a builder's group, e.g. "hoist/3f2a…/bkr_x". */
    group(id) {
        return external_node_path_.posix.join(this.base, id);
    }
    /** The value of buildkitd.toml's defaultCgroupParent: runc then uses <it>/buildkit/<container>. */
    cgroupParent(id) {
        return `/${this.group(id)}`;
    }
    /** The roots of the hierarchies that carry limits (v1: pids, memory, cpu mounts; v2: the unified root). */
    limitedRoots() {
        return this.layout.version === 2
            ? [this.layout.root]
            : [...new Set(Object.values(this.layout.controllers))];
    }
    controllerRoot(c) {
        return this.layout.version === 2 ? this.layout.root : this.layout.controllers[c];
    }
    /** v2: a parent passes controllers down only when its cgroup.subtree_control names them. */
    async enableControllers(rel) {
        if (this.layout.version !== 2)
            return;
        const root = this.layout.root;
        const available = (await promises_.readFile(external_node_path_.join(root, 'cgroup.controllers'), 'utf8')).split(/\s+/);
        const missing = CONTROLLERS.filter((c) => !available.includes(c));
        if (missing.length) {
            throw new Error(`the unified hierarchy does not offer the ${missing.join(', ')} controller(s)`);
        }
        const parts = rel.split('/');
        for (let i = 0; i <= parts.length; i++) {
            const dir = external_node_path_.join(root, ...parts.slice(0, i));
            await promises_.writeFile(external_node_path_.join(dir, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
        }
    }
    /** The limits of all builders together, on the server's group. */
    async writeTotals() {
        const sysctl = (name) => Number((0,external_node_fs_.readFileSync)(`/proc/sys/kernel/${name}`, 'utf8').trim());
        const totals = serverTotals(sysctl('pid_max'), sysctl('threads-max'), external_node_os_.totalmem());
        await writeLimit(external_node_path_.join(this.controllerRoot('pids'), this.base), 'pids.max', String(totals.pids));
        const memFile = this.layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
        await writeLimit(external_node_path_.join(this.controllerRoot('memory'), this.base), memFile, String(totals.memoryBytes));
    }
    /** Creates (or updates) a builder's groups and limits; idempotent, so an adopted builder gets current flags. */
    async prepare(id) {
        const g = this.group(id);
        try {
            for (const root of this.limitedRoots()) {
                await promises_.mkdir(external_node_path_.join(root, g, 'daemon'), { recursive: true });
                await promises_.mkdir(external_node_path_.join(root, g, 'buildkit'), { recursive: true });
            }
            if (this.layout.version === 2)
                await this.enableControllers(g);
            // Again here: another server's sweep may have removed this server's empty group meanwhile.
            await this.writeTotals();
            for (const l of limitFiles(this.layout.version, this.limits)) {
                const dir = external_node_path_.join(this.controllerRoot(l.controller), g, l.group);
                await writeLimit(dir, l.file, l.value);
            }
        }
        catch (err) {
            throw new Error(`cannot set up the cgroup of builder ${id}: ${(0,errors/* errorMessage */.gJ)(err)}`);
        }
    }
    /** The cgroup.procs files buildkitd must join before it runs (one per limited hierarchy). */
    procsFiles(id) {
        return this.limitedRoots().map((r) => external_node_path_.join(r, this.group(id), 'daemon', 'cgroup.procs'));
    }
    /**
     * The command that starts buildkitd inside the builder's daemon group: a shell joins each
     * group and then execs buildkitd, so buildkitd (same pid, same argv) never runs outside it.
     */
    wrap(command, args, id) {
        const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "hoist: cannot join cgroup $1" >&2; exit 111; }; shift; done; shift; exec "$@"';
        return {
            command: '/bin/sh',
            args: ['-c', script, 'hoist-cgroup', ...this.procsFiles(id), '--', command, ...args],
        };
    }
    /** Is this process in the builder's daemon group (in every limited hierarchy)? */
    async contains(id, pid) {
        let text;
        try {
            text = await promises_.readFile(`/proc/${pid}/cgroup`, 'utf8');
        }
        catch {
            return false;
        }
        const want = `/${this.group(id)}/daemon`;
        const lines = text
            .trim()
            .split('\n')
            .map((l) => l.split(':'));
        if (this.layout.version === 2)
            return lines.some((f) => f[0] === '0' && f[2] === want);
        return CONTROLLERS.every((c) => lines.some((f) => f[1].split(',').includes(c) && f[2] === want));
    }
    /** Every process left in the builder's groups, in any hierarchy. */
    async pids(id) {
        const out = new Set();
        for (const root of this.layout.all) {
            for (const dir of await subtree(external_node_path_.join(root, this.group(id)))) {
                try {
                    for (const p of (await promises_.readFile(external_node_path_.join(dir, 'cgroup.procs'), 'utf8')).split('\n')) {
                        if (/^\d+$/.test(p))
                            out.add(Number(p));
                    }
                }
                catch {
                    /* removed meanwhile */
                }
            }
        }
        return [...out];
    }
    /**
     * Kills whatever still runs in the builder's groups (steps a killed buildkitd left behind, a
     * fork loop), then removes the groups in every hierarchy. Returns what it could not remove.
     */
    async release(id) {
        const g = this.group(id);
        const killFile = this.layout.version === 2 ? external_node_path_.join(this.layout.root, g, 'cgroup.kill') : null;
        for (let round = 0; round < 100; round++) {
            const left = await this.pids(id);
            if (left.length === 0)
                break;
            if (killFile)
                await promises_.writeFile(killFile, '1').catch(() => undefined);
            for (const pid of left) {
                try {
                    process.kill(pid, 'SIGKILL');
                }
                catch {
                    /* gone */
                }
            }
            await local_cgroup_sleep(20);
        }
        const failed = [];
        for (const root of this.layout.all) {
            const dirs = await subtree(external_node_path_.join(root, g));
            // Deepest first: a group with children cannot be removed.
            dirs.sort((a, b) => b.length - a.length);
            for (const dir of dirs) {
                if (!(await rmdirRetry(dir)))
                    failed.push(dir);
            }
        }
        return failed;
    }
    /** Builder ids that have a group under this server's base in any hierarchy. */
    async listGroups() {
        const ids = new Set();
        for (const root of this.layout.all) {
            try {
                for (const e of await promises_.readdir(external_node_path_.join(root, this.base), { withFileTypes: true })) {
                    if (e.isDirectory())
                        ids.add(e.name);
                }
            }
            catch {
                /* no group here */
            }
        }
        return [...ids];
    }
    /** Removes the groups of builders that no longer run (a crashed server, a killed buildkitd). */
    async removeStale(running) {
        const removed = [];
        for (const id of await this.listGroups()) {
            if (running.has(id))
                continue;
            await this.release(id);
            removed.push(id);
        }
        return removed;
    }
    /**
     * Removes what servers that are gone left behind (killed, their data dir deleted): another
     * server's groups with no process in any hierarchy and none made or changed for `minAgeMs`.
     * The age keeps a group that another server just made for a starting builder.
     */
    async sweepAbandoned(minAgeMs, now = Date.now()) {
        const ownHash = external_node_path_.posix.basename(this.base);
        const bases = new Set();
        for (const root of this.layout.all) {
            try {
                for (const e of await promises_.readdir(external_node_path_.join(root, 'hoist'), { withFileTypes: true })) {
                    if (e.isDirectory() && e.name !== ownHash)
                        bases.add(e.name);
                }
            }
            catch {
                /* no hoist group in this hierarchy */
            }
        }
        const removed = [];
        for (const hash of bases) {
            const dirs = (await Promise.all(this.layout.all.map((r) => subtree(external_node_path_.join(r, 'hoist', hash))))).flat();
            let busy = false;
            for (const dir of dirs) {
                const st = await promises_.stat(dir).catch(() => null);
                const procs = await promises_.readFile(external_node_path_.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
                if (!st || now - st.mtimeMs < minAgeMs || procs.trim() !== '') {
                    busy = true;
                    break;
                }
            }
            if (busy)
                continue;
            dirs.sort((a, b) => b.length - a.length);
            for (const dir of dirs)
                await rmdirRetry(dir);
            removed.push(hash);
        }
        return removed;
    }
    /** Removes the server's (empty) base groups and the shared "hoist" parent when nobody else uses it. */
    async close() {
        for (const root of this.layout.all) {
            await promises_.rmdir(external_node_path_.join(root, this.base)).catch(() => undefined);
            await promises_.rmdir(external_node_path_.join(root, 'hoist')).catch(() => undefined);
        }
    }
}
/** v1 memory: with swap accounting, memsw must stay ≥ limit, so the write order depends on the direction. */
async function writeLimit(dir, file, value) {
    if (file === 'memory.limit_in_bytes') {
        const memsw = external_node_path_.join(dir, 'memory.memsw.limit_in_bytes');
        const hasMemsw = await promises_.access(memsw).then(() => true, () => false);
        if (hasMemsw) {
            try {
                await promises_.writeFile(memsw, value);
                await promises_.writeFile(external_node_path_.join(dir, file), value);
            }
            catch {
                await promises_.writeFile(external_node_path_.join(dir, file), value);
                await promises_.writeFile(memsw, value);
            }
            return;
        }
    }
    if (file === 'memory.swap.max') {
        // Absent without swap accounting: nothing to cap.
        await promises_.writeFile(external_node_path_.join(dir, file), value).catch((err) => {
            if (err.code !== 'ENOENT')
                throw err;
        });
        return;
    }
    await promises_.writeFile(external_node_path_.join(dir, file), value);
}
/** A directory and every directory below it (cgroup directories only hold groups and control files). */
async function subtree(dir) {
    let entries;
    try {
        entries = await promises_.readdir(dir, { withFileTypes: true });
    }
    catch {
        return [];
    }
    const out = [dir];
    for (const e of entries)
        if (e.isDirectory())
            out.push(...(await subtree(external_node_path_.join(dir, e.name))));
    return out;
}
/** rmdir of a cgroup; EBUSY while the kernel still tears down the last task, so retry briefly. */
async function rmdirRetry(dir) {
    for (let i = 0; i < 50; i++) {
        try {
            await promises_.rmdir(dir);
            return true;
        }
        catch (err) {
            const code = err.code;
            if (code === 'ENOENT')
                return true;
            if (code !== 'EBUSY')
                return false;
            await local_cgroup_sleep(20);
        }
    }
    return false;
}

// EXTERNAL MODULE: ./src/providers/local-network.ts
var local_network = __webpack_require__(19002);
// EXTERNAL MODULE: ./src/providers/buildkitd-config.ts
var buildkitd_config = __webpack_require__(92737);
// EXTERNAL MODULE: ./src/providers/buildkitd-probe.ts
var buildkitd_probe = __webpack_require__(71321);
// EXTERNAL MODULE: ./src/providers/provider-options.ts
var provider_options = __webpack_require__(93474);
// EXTERNAL MODULE: ./src/providers/provider.ts
var provider = __webpack_require__(49545);
;// CONCATENATED MODULE: ./src/providers/local-clone.ts
// How the local provider copies a builder's cache: into a snapshot of a stopped primary, and
// from a snapshot into a clone's root. A buildkitd root holds overlay snapshots with whiteout
// device nodes, trusted.overlay.* xattrs, files of other owners and hard links, and bolt files
// that BuildKit rewrites in place. So the copy keeps all of that (cp -a semantics, as root), and
// never shares data blocks by hard link: a write through one link would change the other copy.
//   reflink    FICLONE on XFS (reflink=1) or btrfs: every file shares its blocks copy-on-write,
//              so a clone costs metadata only and the snapshot is never written through it.
//   full-copy  any other filesystem (ext4): every byte copied; slower and as big as the cache.
// A btrfs subvolume snapshot would be O(1), but builder roots are plain directories, not
// subvolumes; on btrfs, reflinks do the job per file.






const local_clone_run = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
/** statfs(2) f_type magic numbers of the filesystems the probe names. */
const FS_MAGIC = {
    0x58465342: 'xfs',
    0x9123683e: 'btrfs',
    0xef53: 'ext4',
    0x01021994: 'tmpfs',
    0x794c7630: 'overlayfs',
    0x6969: 'nfs',
    0x65735546: 'fuse',
    0x2fc12fc1: 'zfs',
};
function fsTypeName(magic) {
    return FS_MAGIC[magic] ?? `0x${magic.toString(16)}`;
}
/**
 * Which copy the directory's filesystem allows: tries a real FICLONE of a scratch file there
 * (the filesystem type alone does not tell: XFS made with reflink=0 refuses it).
 */
async function probeCloneMethod(dir) {
    const fsType = fsTypeName(Number((await promises_.statfs(dir)).type));
    const a = external_node_path_.join(dir, `.clone-probe-${process.pid}`);
    const b = `${a}.copy`;
    try {
        await promises_.writeFile(a, 'probe', { mode: 0o600 });
        await promises_.copyFile(a, b, external_node_fs_.constants.COPYFILE_FICLONE_FORCE);
        return { method: 'reflink', fsType, reason: `${fsType} supports FICLONE reflinks` };
    }
    catch (err) {
        const code = err.code ?? 'error';
        return {
            method: 'full-copy',
            fsType,
            reason: `${fsType} refused FICLONE (${code}); put the data directory on XFS with reflink=1 or btrfs, or use --builder-volume xfs-image:SIZE, for copy-on-write clones`,
        };
    }
    finally {
        await promises_.rm(a, { force: true });
        await promises_.rm(b, { force: true });
    }
}
const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
/** Turns a failed copy into a typed provisioning error: a full disk is capacity, the rest transient. */
function copyError(what, err) {
    const e = err;
    const text = (e.stderr || e.message).trim().split('\n').slice(-2).join(' … ');
    const full = /No space left on device|ENOSPC/i.test(text) || e.code === 'ENOSPC';
    return new provider/* ProvisionError */.uv(full ? 'capacity' : 'transient', `${what} failed: ${text}${full ? '; the builders volume is full: free space or grow it' : ''}`, { cause: err });
}
/**
 * Copies the directory tree `src` to `dst` (which must not exist), keeping devices, xattrs
 * (trusted.* included, as root), owners, modes, times and hard links within the tree. Written
 * to `dst.partial` first and renamed, so a copy cut short never looks like a finished one.
 */
async function copyTree(src, dst, method) {
    const partial = `${dst}.partial`;
    await promises_.rm(partial, { recursive: true, force: true });
    try {
        const mode = method === 'reflink' ? ['--reflink=always'] : ['--reflink=never', '--sparse=always'];
        await local_clone_run('cp', ['-a', '-T', ...mode, src, partial], {
            env: { ...process.env, PATH: SBIN_PATH },
            maxBuffer: 4 * 1024 * 1024,
        });
        await syncFs(partial);
        await promises_.rename(partial, dst);
    }
    catch (err) {
        await promises_.rm(partial, { recursive: true, force: true });
        throw copyError(`copying ${src} to ${dst} (${method})`, err);
    }
}
/** Copies one (disk image) file, sparse, by reflink or in full; same partial-then-rename rule. */
async function copyImage(src, dst, method) {
    const partial = `${dst}.partial`;
    await promises_.rm(partial, { force: true });
    try {
        const args = method === 'reflink'
            ? ['--reflink=always', src, partial]
            : ['--reflink=never', '--sparse=always', src, partial];
        await local_clone_run('cp', args, { env: { ...process.env, PATH: SBIN_PATH } });
        await promises_.chmod(partial, 0o600);
        await syncFs(partial);
        await promises_.rename(partial, dst);
    }
    catch (err) {
        await promises_.rm(partial, { force: true });
        throw copyError(`copying ${src} to ${dst} (${method})`, err);
    }
}
/**
 * Flushes the filesystem the copy is on (syncfs) before the copy counts as done: a snapshot whose
 * data is still only in the page cache is lost by a host crash, and on ext4 the next fsync of
 * any file there (buildkitd opening its bolt files at start) would otherwise pay for it.
 */
async function syncFs(p) {
    await local_clone_run('sync', ['-f', p]);
}
/** Bytes a tree takes on disk (`du`), or null when it cannot be read. Shared reflink blocks count in full. */
async function diskUsage(p) {
    try {
        const { stdout } = await local_clone_run('du', ['-sx', '--block-size=1', p], { maxBuffer: 1024 * 1024 });
        const n = Number(stdout.split(/\s/)[0]);
        return Number.isFinite(n) ? n : null;
    }
    catch {
        return null;
    }
}

// EXTERNAL MODULE: ./src/providers/gateway.ts
var gateway = __webpack_require__(98628);
;// CONCATENATED MODULE: ./src/providers/local.ts
// The embedded default provider: every builder is a `buildkitd` process on this host
// with its own persistent root directory, listening only on a unix socket in its private
// 0700 directory. Clients reach it through the provider's gateway (./gateway.ts): one TCP
// port, mutual TLS under the builder's own CA, routed by SNI, each connection checked with
// the control plane. Builders run detached (own session, pidfile), so a control plane that is
// killed or restarted finds them still running and adopts them; a graceful stop of
// the server stops them unless told to leave them running (see close()).


















const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
const QEMU_PLATFORMS = {
    'qemu-aarch64': 'linux/arm64',
    'qemu-x86_64': 'linux/amd64',
    'qemu-arm': 'linux/arm/v7',
    'qemu-riscv64': 'linux/riscv64',
    'qemu-ppc64le': 'linux/ppc64le',
    'qemu-s390x': 'linux/s390x',
};
/** Platforms a runc build can emulate: those whose qemu handler is registered and enabled in binfmt_misc. */
function emulatedPlatforms(binfmtDir) {
    const out = [];
    for (const [handler, platform] of Object.entries(QEMU_PLATFORMS)) {
        try {
            const text = (0,external_node_fs_.readFileSync)(external_node_path_.join(binfmtDir, handler), 'utf8');
            if (/^enabled/m.test(text) && /flags:.*F/.test(text))
                out.push(platform);
        }
        catch {
            /* not registered */
        }
    }
    return out;
}
const BUILDER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const LOG_LIMIT_BYTES = 10 * 1024 * 1024;
const SNAPSHOT_STOP_GRACE_MS = 60_000;
/** Finds buildkitd: explicit path, HOIST_BUILDKITD, PATH, then the engine cache. */
async function findBuildkitd(explicit, env = process.env) {
    const wanted = explicit || env.HOIST_BUILDKITD;
    if (wanted) {
        if (!(await isExecutable(wanted))) {
            throw new errors/* ConfigurationError */.j1(`buildkitd not found or not executable at "${wanted}" (--buildkitd / HOIST_BUILDKITD); point it at a buildkitd binary`);
        }
        return external_node_path_.resolve(wanted);
    }
    const dirs = (env.PATH ?? '').split(external_node_path_.delimiter).filter(Boolean);
    dirs.push(external_node_path_.join(external_node_os_.homedir(), '.cache', 'hoist-engine', 'bin'));
    for (const dir of dirs) {
        const candidate = external_node_path_.join(dir, 'buildkitd');
        if (await isExecutable(candidate))
            return candidate;
    }
    throw new errors/* ConfigurationError */.j1('buildkitd was not found on PATH or in ~/.cache/hoist-engine/bin; install BuildKit v0.18+ or set --buildkitd / HOIST_BUILDKITD');
}
async function isExecutable(p) {
    try {
        const st = await promises_.stat(p);
        if (!st.isFile())
            return false;
        await promises_.access(p, external_node_fs_.constants.X_OK);
        return true;
    }
    catch {
        return false;
    }
}
/** Parses "10GB", "512MiB", "2g" or a byte count (1024-based like buildkitd); null when malformed. */
function parseByteSize(raw) {
    if (typeof raw === 'number')
        return Number.isInteger(raw) && raw > 0 ? raw : null;
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(raw);
    if (!m)
        return null;
    const exp = ['', 'k', 'm', 'g', 't', 'p'].indexOf(m[2].toLowerCase());
    const bytes = Math.floor(Number(m[1]) * 1024 ** exp);
    return bytes > 0 ? bytes : null;
}
function local_sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}
async function readCmdline(pid) {
    try {
        const raw = await promises_.readFile(`/proc/${pid}/cmdline`, 'utf8');
        return raw.split('\0').filter((s) => s !== '');
    }
    catch {
        return null;
    }
}
class LocalProvider {
    buildkitd;
    network;
    name = 'local';
    buildersDir;
    listenHost;
    advertiseHost;
    maxUsedDefault;
    readyTimeoutMs;
    insecureRegistries;
    log;
    launching = new Map();
    caCache = new Map();
    /**
     * The socket and process of each builder last found healthy: the next check (on every build's
     * acquire) probes that socket while that process lives, without reading its files again.
     */
    lastHealthy = new Map();
    advertisePort;
    supported;
    /** Set by create() when limits are asked for. */
    cgroups = null;
    volume = null;
    gateway;
    dns;
    /** Set by create(): how caches are copied on this data directory's filesystem. */
    clone = { method: 'full-copy', fsType: 'unknown', reason: 'not probed' };
    /** Snapshots in progress by builder id; a launch of that builder waits for it. */
    snapshotting = new Map();
    constructor(buildkitd, opts, network) {
        this.buildkitd = buildkitd;
        this.network = network;
        this.buildersDir = external_node_path_.join(opts.dataDir, 'builders');
        ({ listenHost: this.listenHost, advertiseHost: this.advertiseHost } = (0,provider_options/* gatewayHosts */.KY)(opts));
        this.advertisePort = opts.advertisePort;
        this.maxUsedDefault = opts.maxUsedSpaceBytes ?? provider_options/* DEFAULT_MAX_USED_SPACE_BYTES */.gN;
        this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
        this.insecureRegistries = opts.insecureRegistries ?? [];
        this.log = opts.logger ?? provider_options/* nullLogger */.Gi;
        this.dns = opts.dns ?? [];
        const native = (0,provider/* nativePlatform */.Nc)();
        this.supported = [native, ...emulatedPlatforms(opts.binfmtDir ?? BINFMT_DIR).filter((p) => p !== native)];
    }
    static async create(opts) {
        const bin = await findBuildkitd(opts.buildkitdPath);
        const network = await local_network/* BuilderNetworks */.V9.create({
            dataDir: opts.dataDir,
            network: opts.network,
            logger: opts.logger ?? provider_options/* nullLogger */.Gi,
            dns: opts.dns,
        });
        const p = new LocalProvider(bin, opts, network);
        await promises_.mkdir(p.buildersDir, { recursive: true, mode: 0o700 });
        if (opts.volume) {
            p.volume = await BuilderVolume.open({
                spec: opts.volume,
                buildersDir: p.buildersDir,
                diskLimitBytes: opts.diskLimitBytes ?? Math.max(2 * p.maxUsedDefault, 300 * 1024 ** 2),
                logger: p.log,
            });
        }
        if (opts.limits) {
            try {
                p.cgroups = await BuilderCgroups.create(opts.limits, p.buildersDir);
                const stale = await p.cgroups.removeStale(new Set((await p.scanProcesses()).keys()));
                if (stale.length)
                    p.log.info({ builder_ids: stale }, 'removed cgroups of builders that no longer run');
                const abandoned = await p.cgroups.sweepAbandoned(10 * 60_000);
                if (abandoned.length)
                    p.log.info({ cgroups: abandoned }, 'removed empty cgroups of servers that are gone');
            }
            catch (err) {
                await p.volume?.close();
                throw err;
            }
            p.log.info({ cgroup: p.cgroups.base, cgroup_version: p.cgroups.layout.version, ...opts.limits }, 'builders run in their own cgroups');
        }
        try {
            p.gateway = await p.listenGateway(opts.gatewayPort ?? 0);
        }
        catch (err) {
            await p.volume?.close();
            throw err;
        }
        // Bridges and rules a crashed server left; those of builders still running stay for adoption.
        // One whose network was prepared within the ready timeout and after its last start (its state
        // file is older) is being started by another server on this data directory: a replica.
        await network.reconcile(new Set((await p.scanProcesses()).keys()), {
            starting: async (id, preparedAtMs) => {
                if (Date.now() - preparedAtMs > p.readyTimeoutMs + 10_000 || !BUILDER_ID_RE.test(id))
                    return false;
                const started = await promises_.stat(p.files(id).state).then((st) => st.mtimeMs, () => null);
                return started === null || started < preparedAtMs;
            },
        });
        try {
            p.clone = await probeCloneMethod(p.buildersDir);
            await p.removePartialCopies();
        }
        catch (err) {
            await p.close({ stopBuilders: false });
            throw err;
        }
        const log = p.clone.method === 'reflink' ? p.log.info.bind(p.log) : p.log.warn.bind(p.log);
        log({
            clone_method: p.clone.method,
            filesystem: p.clone.fsType,
            builders_dir: p.buildersDir,
            per_builder_images: p.volume?.imageOf('probe') != null,
        }, `builder caches are cloned by ${p.clone.method === 'reflink' ? 'copy-on-write reflinks' : 'full copies'}: ${p.clone.reason}`);
        return p;
    }
    /** Copies a crash cut short: never used, always started again. */
    async removePartialCopies() {
        const snaps = this.snapshotsDir;
        for (const name of await promises_.readdir(snaps).catch(() => [])) {
            if (name.endsWith('.partial'))
                await promises_.rm(external_node_path_.join(snaps, name), { recursive: true, force: true });
        }
        for (const name of await promises_.readdir(this.buildersDir).catch(() => [])) {
            // Only builder directories hold one; a stray file of such a name is not ours to judge.
            if (BUILDER_ID_RE.test(name))
                await promises_.rm(external_node_path_.join(this.buildersDir, name, 'root.partial'), { recursive: true, force: true })
                    .catch((err) => {
                    if (err.code !== 'ENOTDIR')
                        throw err;
                });
        }
        const images = this.volume?.imageOf('x');
        if (images) {
            for (const name of await promises_.readdir(external_node_path_.dirname(images)).catch(() => [])) {
                if (/\.(partial|seed)$/.test(name))
                    await promises_.rm(external_node_path_.join(external_node_path_.dirname(images), name), { force: true });
            }
        }
    }
    /** Snapshots live on the builders' filesystem (reflinks do not cross filesystems); a dot name is never a builder. */
    get snapshotsDir() {
        return external_node_path_.join(this.buildersDir, '.snapshots');
    }
    /** How this provider clones caches, as probed at start. */
    get cloneProbe() {
        return this.clone;
    }
    /** `cni` (RUN steps isolated) or `host`. */
    get networkMode() {
        return this.network.mode;
    }
    /** How builder disk use is bounded, when a volume was asked for. */
    get diskCap() {
        return this.volume?.cap ?? null;
    }
    /** The cgroups of this provider's builders, when limits were asked for. */
    get builderCgroups() {
        return this.cgroups;
    }
    /**
     * With port 0 the gateway takes the port it had before when it is free, so builders keep their
     * endpoint across server restarts, like they did when each listened on its own port.
     */
    async listenGateway(port) {
        const file = external_node_path_.join(external_node_path_.dirname(this.buildersDir), 'builder-gateway.json');
        let wanted = port;
        if (wanted === 0) {
            try {
                const prev = JSON.parse(await promises_.readFile(file, 'utf8'));
                if (prev.host === this.listenHost && Number.isInteger(prev.port))
                    wanted = prev.port;
            }
            catch {
                /* first start */
            }
        }
        const listen = (p) => gateway/* BuilderGateway */._.listen({
            host: this.listenHost,
            port: p,
            advertiseHost: this.advertiseHost,
            advertisePort: this.advertisePort,
            logger: this.log,
        });
        let gw;
        try {
            gw = await listen(wanted);
        }
        catch (err) {
            if (port !== 0 || wanted === 0) {
                throw new errors/* ConfigurationError */.j1(`the builders' gateway cannot listen on ${this.listenHost}:${port} (${(0,errors/* errorMessage */.gJ)(err)}); pick another --builder-gateway-port or --builder-listen-host`);
            }
            gw = await listen(0);
        }
        if (port === 0) {
            await promises_.writeFile(file, JSON.stringify({ host: this.listenHost, port: gw.port }), { mode: 0o600 });
        }
        gw.setResolver((name) => this.routeByName(name));
        return gw;
    }
    /** tcp://HOST:PORT of the gateway every builder is reached through. */
    get gatewayEndpoint() {
        return this.gateway.endpoint;
    }
    authorizeConnections(fn) {
        this.gateway.setAuthorizer(fn);
    }
    closeConnections(owners) {
        return this.gateway.closeOwners(owners);
    }
    closeSerials(serials) {
        return this.gateway.closeSerials(serials);
    }
    openConnections() {
        return this.gateway.connections();
    }
    get buildkitdPath() {
        return this.buildkitd;
    }
    platforms() {
        return this.supported;
    }
    capabilities() {
        return { cloneMethod: this.clone.method, maxBatchSize: 16 };
    }
    async launchBatch(specs) {
        return Promise.all(specs.map(async (spec) => {
            try {
                return { ok: true, builder: await this.launch(spec) };
            }
            catch (err) {
                if (err instanceof provider/* ProvisionError */.uv)
                    return { ok: false, error: err };
                const kind = err instanceof errors/* ConfigurationError */.j1 ? 'permanent' : 'transient';
                return { ok: false, error: new provider/* ProvisionError */.uv(kind, (0,errors/* errorMessage */.gJ)(err), { cause: err }) };
            }
        }));
    }
    /**
     * Stops the primary cleanly (SIGTERM: buildkitd closes its bolt databases), checks that no
     * buildkitd serves its root any more, copies the root (or its disk image), and starts and
     * adopts it again when it was running. The caller guarantees no build runs on it.
     */
    snapshot(builderId, snapshotId) {
        if (!BUILDER_ID_RE.test(snapshotId))
            return Promise.reject(new provider/* ProvisionError */.uv('permanent', `invalid snapshot id "${snapshotId}": use letters, digits, ".", "_" or "-"`));
        const prior = this.snapshotting.get(builderId) ?? Promise.resolve();
        const p = prior
            .catch(() => undefined)
            .then(() => this.launching.get(builderId)?.catch(() => undefined))
            .then(() => this.takeSnapshot(builderId, snapshotId));
        const tracked = p
            .finally(() => {
            if (this.snapshotting.get(builderId) === tracked)
                this.snapshotting.delete(builderId);
        })
            .catch(() => undefined);
        this.snapshotting.set(builderId, tracked);
        return p;
    }
    async takeSnapshot(builderId, snapshotId) {
        const state = await this.readState(builderId);
        if (!state)
            throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} has never been started; nothing to snapshot`);
        if (state.role === 'clone')
            throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} is a clone; only a primary is snapshotted (clones are never written back)`);
        const dest = external_node_path_.join(this.snapshotsDir, snapshotId);
        if (await exists(dest))
            throw new provider/* ProvisionError */.uv('permanent', `snapshot ${snapshotId} already exists; pick a new id`);
        await promises_.mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
        const f = this.files(builderId);
        const wasRunning = (await this.findPid(builderId)) !== null;
        const stoppedAt = Date.now();
        // A generous grace: buildkitd closes its databases on SIGTERM, and a killed one may leave them torn.
        const clean = wasRunning ? await this.stopBuilder(builderId, SNAPSHOT_STOP_GRACE_MS) : true;
        const stopMs = Date.now() - stoppedAt;
        const left = await this.findPid(builderId);
        if (left !== null || !clean) {
            if (left === null)
                await this.restartAfterSnapshot(state).catch(() => undefined);
            throw new provider/* ProvisionError */.uv('transient', left !== null
                ? `buildkitd of builder ${builderId} (pid ${left}) did not stop; no snapshot was taken of a live daemon`
                : `buildkitd of builder ${builderId} did not exit within ${SNAPSHOT_STOP_GRACE_MS / 1000} s of SIGTERM and was killed; no snapshot was taken of a cache that may be torn`);
        }
        const image = this.volume?.imageOf(builderId) ?? null;
        const partial = `${dest}.partial`;
        await promises_.rm(partial, { recursive: true, force: true });
        await promises_.mkdir(partial, { mode: 0o700 });
        let copyMs = 0;
        let restart = null;
        let restarted;
        let sizeBytes = null;
        try {
            const copyStart = Date.now();
            this.log.info({ builder_id: builderId, snapshot_id: snapshotId, method: this.clone.method, daemon_running: false }, 'snapshot: copying the stopped builder');
            if (image) {
                if (await exists(image))
                    await copyImage(image, external_node_path_.join(partial, 'image.xfs'), this.clone.method);
                else
                    throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} has no disk image yet; nothing to snapshot`);
            }
            else if (await exists(f.root)) {
                await copyTree(f.root, external_node_path_.join(partial, 'root'), this.clone.method);
            }
            else {
                throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} has no cache yet; nothing to snapshot`);
            }
            copyMs = Date.now() - copyStart;
        }
        catch (err) {
            await promises_.rm(partial, { recursive: true, force: true });
            if (wasRunning)
                await this.restartAfterSnapshot(state).catch(() => undefined);
            throw err;
        }
        if (wasRunning)
            restart = await this.restartAfterSnapshot(state).then((r) => {
                restarted = r;
                return null;
            }, (err) => err);
        const downtimeMs = wasRunning ? Date.now() - stoppedAt : 0;
        sizeBytes = await diskUsage(partial);
        const meta = {
            id: snapshotId,
            builderId,
            projectId: state.projectId,
            platform: state.platform,
            createdAt: new Date(stoppedAt).toISOString(),
            sizeBytes,
            downtimeMs,
            method: this.clone.method,
            layout: image ? 'image' : 'tree',
        };
        await promises_.writeFile(external_node_path_.join(partial, 'snapshot.json'), JSON.stringify(meta, null, 2), { mode: 0o600 });
        await promises_.rename(partial, dest);
        this.log.info({
            builder_id: builderId,
            snapshot_id: snapshotId,
            method: this.clone.method,
            stop_ms: stopMs,
            copy_ms: copyMs,
            downtime_ms: downtimeMs,
            size_bytes: sizeBytes,
        }, 'snapshot taken');
        if (restart)
            throw new provider/* ProvisionError */.uv('transient', `snapshot ${snapshotId} was taken, but builder ${builderId} did not start again: ${restart.message}`, { cause: restart });
        return { ...toSnapshotInfo(meta), ...(restarted ? { restarted } : {}) };
    }
    restartAfterSnapshot(state) {
        return this.doLaunch({
            id: state.id,
            projectId: state.projectId,
            platform: state.platform,
            ...(state.maxUsedSpaceBytes ? { maxUsedSpaceBytes: state.maxUsedSpaceBytes } : {}),
            role: 'primary',
        });
    }
    async deleteSnapshot(snapshotId) {
        if (!BUILDER_ID_RE.test(snapshotId))
            return;
        // Clones own copy-on-write copies, never the snapshot's files: deleting it cannot hurt them.
        await promises_.rm(external_node_path_.join(this.snapshotsDir, snapshotId), { recursive: true, force: true, maxRetries: 3 });
        this.log.info({ snapshot_id: snapshotId }, 'snapshot deleted');
    }
    async listSnapshots() {
        const out = [];
        for (const name of await promises_.readdir(this.snapshotsDir).catch(() => [])) {
            if (!BUILDER_ID_RE.test(name))
                continue;
            const meta = await this.readSnapshot(name);
            if (meta)
                out.push(toSnapshotInfo(meta));
        }
        return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    }
    async readSnapshot(id) {
        try {
            return JSON.parse(await promises_.readFile(external_node_path_.join(this.snapshotsDir, id, 'snapshot.json'), 'utf8'));
        }
        catch {
            return null;
        }
    }
    /**
     * A clone's first start: its root becomes a copy-on-write copy of the snapshot (a copy of its
     * disk image when each builder has one). `workerid` travels inside the root,
     * so the solver cache resolves; keys are never copied (the clone gets its own CA). A clone
     * that was seeded before (restarted after a stop) keeps its root.
     */
    async seedClone(spec, f) {
        if (!spec.snapshotId)
            throw new provider/* ProvisionError */.uv('permanent', `clone ${spec.id} needs the snapshot it starts from (snapshotId)`);
        const image = this.volume?.imageOf(spec.id) ?? null;
        if (await exists(image ?? f.root))
            return;
        const meta = await this.readSnapshot(spec.snapshotId);
        if (!meta)
            throw new provider/* ProvisionError */.uv('permanent', `snapshot ${spec.snapshotId} does not exist (deleted, or never taken); take a new one of the primary`);
        if ((meta.layout === 'image') !== (image !== null))
            throw new provider/* ProvisionError */.uv('permanent', `snapshot ${spec.snapshotId} holds a ${meta.layout === 'image' ? 'disk image' : 'directory tree'}, but builders here use ${image ? 'disk images' : 'directories'} (--builder-volume changed); take a new snapshot`);
        const started = Date.now();
        const src = external_node_path_.join(this.snapshotsDir, spec.snapshotId);
        if (image) {
            // Mounted with nouuid (see local-volume.ts): it keeps the primary's XFS UUID.
            await copyImage(external_node_path_.join(src, 'image.xfs'), image, this.clone.method);
        }
        else {
            await copyTree(external_node_path_.join(src, 'root'), f.root, this.clone.method);
        }
        this.log.info({
            builder_id: spec.id,
            snapshot_id: spec.snapshotId,
            primary_id: meta.builderId,
            method: this.clone.method,
            ms: Date.now() - started,
        }, 'clone seeded from snapshot');
    }
    dir(id) {
        if (!BUILDER_ID_RE.test(id))
            throw new Error(`invalid builder id "${id}"`);
        return external_node_path_.join(this.buildersDir, id);
    }
    files(id) {
        const d = this.dir(id);
        return {
            dir: d,
            root: external_node_path_.join(d, 'root'),
            caCert: external_node_path_.join(d, 'ca.pem'),
            caKey: external_node_path_.join(d, 'ca-key.pem'),
            serverCert: external_node_path_.join(d, 'server.pem'),
            serverKey: external_node_path_.join(d, 'server-key.pem'),
            config: external_node_path_.join(d, 'buildkitd.toml'),
            pidfile: external_node_path_.join(d, 'buildkitd.pid'),
            state: external_node_path_.join(d, 'state.json'),
            log: external_node_path_.join(d, 'buildkitd.log'),
            socket: socketPath(d),
        };
    }
    launch(spec) {
        const pending = this.launching.get(spec.id);
        if (pending)
            return pending;
        // A snapshot stops and restarts the builder: launch once it is done (it adopts the restarted one).
        const snap = this.snapshotting.get(spec.id);
        if (snap)
            return snap.catch(() => undefined).then(() => this.launch(spec));
        const p = this.doLaunch(spec).finally(() => this.launching.delete(spec.id));
        this.launching.set(spec.id, p);
        return p;
    }
    async doLaunch(spec) {
        const f = this.files(spec.id);
        await promises_.mkdir(f.dir, { recursive: true, mode: 0o700 });
        if (spec.role === 'clone') {
            // Recorded before the copy, so a server that restarts mid-copy knows this is a clone.
            const prevState = await this.readState(spec.id);
            if (!prevState)
                await this.writeState(spec.id, {
                    id: spec.id,
                    projectId: spec.projectId,
                    platform: spec.platform,
                    advertiseHost: this.advertiseHost,
                    pid: null,
                    startedAt: null,
                    role: 'clone',
                    snapshotId: spec.snapshotId,
                });
            await this.seedClone(spec, f);
        }
        await this.volume?.assign(spec.id, f.dir);
        await this.cgroups?.prepare(spec.id);
        const ca = await this.ensureCa(spec.id);
        const prev = await this.readState(spec.id);
        // Adopt a buildkitd that still runs from this root (a restarted control plane).
        const runningPid = await this.findPid(spec.id);
        if (runningPid !== null && prev) {
            const state = { ...prev, pid: runningPid };
            const argv = (await readCmdline(runningPid)) ?? [];
            const health = this.cgroups && !(await this.cgroups.contains(spec.id, runningPid))
                ? { healthy: false, reason: 'it runs outside its cgroup (started without limits)' }
                : !prev.socket
                    ? { healthy: false, reason: 'it listens on TCP, not on its private socket' }
                    : !(await this.network.adopt(spec.id, f.dir, argv))
                        ? { healthy: false, reason: `its network is not the configured ${this.network.mode} network` }
                        : await (0,buildkitd_probe/* probeUnixSocket */.O$)(prev.socket);
            if (health.healthy) {
                await this.ensureServerCert(spec.id, ca, this.advertiseHost);
                // Found by a /proc scan, or restarted since state.json was written: record the live pid.
                if (prev.pid !== runningPid) {
                    await promises_.writeFile(f.pidfile, `${runningPid}\n`, { mode: 0o600 });
                    await this.writeState(spec.id, state);
                }
                await this.route(spec.id, state, ca);
                this.log.info({ builder_id: spec.id, pid: runningPid }, 'adopted running builder');
                return this.toRunning(state, ca, true);
            }
            this.log.warn({ builder_id: spec.id, pid: runningPid, reason: health.reason }, 'replacing unhealthy builder');
        }
        if (runningPid !== null)
            await this.killPid(runningPid);
        // Steps of a previous buildkitd (killed, crashed) must not count against the new one.
        if (this.cgroups && (await this.cgroups.pids(spec.id)).length) {
            await this.cgroups.release(spec.id);
            await this.cgroups.prepare(spec.id);
        }
        const advertiseHost = this.advertiseHost;
        // The network is set up while a first start issues the server certificate.
        const networkP = this.network.prepare(spec.id, f.dir);
        let network;
        try {
            [network] = await Promise.all([networkP, this.ensureServerCert(spec.id, ca, advertiseHost)]);
            await prepareSocket(f.socket);
        }
        catch (err) {
            await networkP.then(() => this.network.release(spec.id, f.dir), () => undefined);
            throw err;
        }
        await promises_.writeFile(f.config, (0,buildkitd_config/* renderBuildkitdConfig */.x)({
            maxUsedSpaceBytes: spec.maxUsedSpaceBytes ?? this.maxUsedDefault,
            insecureRegistries: this.insecureRegistries,
            cgroupParent: this.cgroups?.cgroupParent(spec.id),
            dns: this.dns,
            cni: network.cni,
        }), { mode: 0o600 });
        await this.trimLog(f.log);
        const logFd = await promises_.open(f.log, 'a', 0o600);
        const args = [
            '--config',
            f.config,
            '--root',
            f.root,
            // Only a socket in the private builder dir: the gateway is the way in, no TCP port.
            '--addr',
            `unix://${f.socket}`,
            // Each daemon its own OTEL socket: the default /run/buildkit/otel-grpc.sock is shared.
            '--otel-socket-path',
            otelSocketPath(f.dir),
            // Never `auto`: it silently falls back to host networking when CNI is missing.
            ...network.args,
            '--oci-worker-platform',
            spec.platform,
        ];
        const startedAt = new Date();
        // With limits, a shell joins the builder's cgroup and execs buildkitd (same pid and argv).
        const cmd = this.cgroups
            ? this.cgroups.wrap(this.buildkitd, args, spec.id)
            : { command: this.buildkitd, args };
        let child;
        try {
            child = (0,external_node_child_process_.spawn)(cmd.command, cmd.args, {
                detached: true,
                stdio: ['ignore', logFd.fd, logFd.fd],
                env: builderEnv(process.env),
            });
        }
        catch (err) {
            await logFd.close();
            await this.network.release(spec.id, f.dir);
            throw err;
        }
        // Listen before any await: a child that exits at once emits 'exit' while we wait, and an
        // event with no listener is lost (the launch then waited out the whole ready timeout).
        const pid = child.pid;
        let exited = null;
        child.once('exit', (code, signal) => {
            exited = signal ? `signal ${signal}` : `exit code ${code}`;
        });
        child.once('error', (err) => {
            exited = (0,errors/* errorMessage */.gJ)(err);
        });
        child.unref();
        await logFd.close();
        if (pid === undefined) {
            await local_sleep(0);
            await this.network.release(spec.id, f.dir);
            throw new Error(`could not start ${this.buildkitd}: ${exited ?? 'unknown error'}`);
        }
        const state = {
            id: spec.id,
            projectId: spec.projectId,
            platform: spec.platform,
            socket: f.socket,
            advertiseHost,
            pid,
            startedAt: startedAt.toISOString(),
            role: spec.role ?? prev?.role ?? 'primary',
            ...((spec.snapshotId ?? prev?.snapshotId) ? { snapshotId: spec.snapshotId ?? prev?.snapshotId } : {}),
            ...(spec.maxUsedSpaceBytes ? { maxUsedSpaceBytes: spec.maxUsedSpaceBytes } : {}),
        };
        try {
            await promises_.writeFile(f.pidfile, `${pid}\n`, { mode: 0o600 });
            await this.writeState(spec.id, state);
            await this.waitReady(f.socket, () => exited);
        }
        catch (err) {
            await this.killPid(pid);
            await promises_.rm(f.pidfile, { force: true });
            // The network first: namespaces are mounted inside the builder's root, on its volume.
            await this.network.release(spec.id, f.dir);
            await this.cgroups?.release(spec.id);
            await this.volume?.detach(spec.id);
            const tail = await this.logTail(f.log);
            throw new Error(`builder ${spec.id} did not start: ${(0,errors/* errorMessage */.gJ)(err)}${tail ? `; buildkitd log: ${tail}` : ''}`);
        }
        this.log.info({
            builder_id: spec.id,
            pid,
            endpoint: this.gateway.endpoint,
            network: network.subnet ? `${network.bridge} ${network.subnet.cidr}` : 'host',
            ms: Date.now() - startedAt.getTime(),
        }, 'builder started');
        await this.route(spec.id, state, ca);
        return this.toRunning(state, ca, false);
    }
    /**
     * Routes a running builder this gateway has no route for: one that another server on this data
     * directory (a replica) started or adopted. Nothing about the builder changes; the connection
     * is still checked with the control plane like every other.
     */
    async routeByName(name) {
        const ids = await promises_.readdir(this.buildersDir).catch(() => []);
        const id = ids.find((i) => BUILDER_ID_RE.test(i) && serverName(i) === name);
        if (!id)
            return null;
        const [state, pid, ca] = await Promise.all([this.readState(id), this.findPid(id), this.loadCa(id)]);
        if (!state?.socket || pid === null || !ca)
            return null;
        this.log.info({ builder_id: id, pid }, 'routing a builder another server started');
        return this.routeOf(id, state, ca);
    }
    /** Lets the gateway reach this builder under its server name. */
    async route(id, state, ca) {
        this.gateway.setRoute(await this.routeOf(id, state, ca));
    }
    async routeOf(id, state, ca) {
        const f = this.files(id);
        return {
            builderId: id,
            serverName: serverName(id),
            caPem: ca.certPem,
            certPem: await promises_.readFile(f.serverCert, 'utf8'),
            keyPem: await promises_.readFile(f.serverKey, 'utf8'),
            upstream: { path: state.socket },
        };
    }
    toRunning(state, ca, adopted) {
        return {
            id: state.id,
            endpoint: this.gateway.endpoint,
            serverName: serverName(state.id),
            caPem: ca.certPem,
            pid: state.pid,
            startedAt: state.startedAt ? new Date(state.startedAt) : new Date(),
            adopted,
        };
    }
    async waitReady(socket, exited) {
        const deadline = Date.now() + this.readyTimeoutMs;
        let delay = 5;
        for (;;) {
            const why = exited();
            if (why)
                throw new Error(`buildkitd exited (${why})`);
            const h = await (0,buildkitd_probe/* probeUnixSocket */.O$)(socket);
            if (h.healthy)
                return;
            if (Date.now() > deadline)
                throw new Error(`not accepting connections after ${this.readyTimeoutMs} ms`);
            await local_sleep(delay);
            delay = Math.min(delay * 2, 50);
        }
    }
    async health(id) {
        // The probe is the proof either way: a pid taken over by another process, or a builder
        // restarted by another replica, fails it (or the pid check) and is looked at afresh.
        const known = this.lastHealthy.get(id);
        if (known && (0,provider/* processAlive */.FN)(known.pid)) {
            const h = await (0,buildkitd_probe/* probeUnixSocket */.O$)(known.socket);
            if (h.healthy)
                return h;
        }
        this.lastHealthy.delete(id);
        const state = await this.readState(id);
        if (!state)
            return { healthy: false, reason: 'builder has never been started' };
        const pid = await this.findPid(id);
        if (pid === null)
            return { healthy: false, reason: 'buildkitd is not running' };
        if (!state.socket)
            return { healthy: false, reason: 'it listens on TCP, not on its private socket' };
        const h = await (0,buildkitd_probe/* probeUnixSocket */.O$)(state.socket);
        if (h.healthy)
            this.lastHealthy.set(id, { socket: state.socket, pid });
        return h;
    }
    /** `buildctl du` and `debug workers` on the builder's private socket; the root's filesystem by statfs. */
    async cacheUsage(id) {
        const state = await this.readState(id);
        if (!state?.socket || (await this.findPid(id)) === null) {
            throw new Error(`builder ${id} is not running`);
        }
        const buildctl = external_node_path_.join(external_node_path_.dirname(this.buildkitd), 'buildctl');
        const bin = (await isExecutable(buildctl)) ? buildctl : 'buildctl';
        const addr = ['--addr', `unix://${state.socket}`];
        const [du, workers] = await Promise.all([
            runJson(bin, [...addr, 'du', '--format', '{{json .}}']),
            runJson(bin, [...addr, 'debug', 'workers', '--format', '{{json .}}']),
        ]);
        return parseCacheUsage(du, workers, await promises_.statfs(this.files(id).root).catch(() => null));
    }
    async issueClientCert(id, opts) {
        const ca = await this.loadCa(id);
        if (!ca)
            throw new Error(`builder ${id} has no CA yet; launch it first`);
        return (0,pki/* issueClientCert */.lw)(ca, opts);
    }
    async renewClientCert(id, opts) {
        const ca = await this.loadCa(id);
        if (!ca)
            throw new Error(`builder ${id} has no CA; it cannot renew a certificate`);
        return (0,pki/* renewClientCert */.z8)(ca, opts);
    }
    async list() {
        let names;
        try {
            names = await promises_.readdir(this.buildersDir);
        }
        catch {
            return [];
        }
        const running = await this.scanProcesses();
        const out = [];
        for (const id of names) {
            if (!BUILDER_ID_RE.test(id))
                continue;
            const state = await this.readState(id);
            const pid = running.get(id) ?? null;
            out.push({
                id,
                ...(state ? { role: state.role ?? 'primary' } : {}),
                state: pid !== null ? 'running' : 'stopped',
                pid,
                endpoint: state && pid !== null ? this.gateway.endpoint : null,
            });
        }
        // A buildkitd running from a builder root whose directory entry is unreadable is still ours.
        for (const [id, pid] of running) {
            if (!out.some((b) => b.id === id))
                out.push({ id, state: 'running', pid, endpoint: null });
        }
        return out;
    }
    async stop(id) {
        await this.stopBuilder(id);
    }
    /** stop(); says whether buildkitd exited on SIGTERM within `graceMs` (false: it was killed). */
    async stopBuilder(id, graceMs) {
        const f = this.files(id);
        this.gateway.removeRoute(id);
        this.lastHealthy.delete(id);
        const pid = await this.findPid(id);
        let clean = true;
        if (pid !== null) {
            const started = Date.now();
            clean = await this.killPid(pid, graceMs);
            this.log.info({ builder_id: id, pid, clean, ms: Date.now() - started }, 'builder stopped');
        }
        await promises_.rm(f.pidfile, { force: true });
        if (this.cgroups) {
            const left = await this.cgroups.release(id);
            if (left.length)
                this.log.warn({ builder_id: id, cgroups: left }, 'could not remove builder cgroups');
        }
        // Its bridge and rules go with it (before its volume: namespaces are mounted in the root);
        // the subnet is preferred again at its next start.
        await this.network.release(id, f.dir);
        await this.volume?.detach(id);
        return clean;
    }
    async destroy(id) {
        await this.stop(id);
        this.caCache.delete(id);
        // a socket that did not fit in the builder dir has a private dir of its own in the temp dir
        const socketDir = external_node_path_.dirname(this.files(id).socket);
        if (socketDir !== this.dir(id))
            await promises_.rm(socketDir, { recursive: true, force: true });
        await promises_.rm(this.dir(id), { recursive: true, force: true, maxRetries: 3 });
        await this.volume?.release(id);
        this.log.info({ builder_id: id }, 'builder destroyed');
    }
    async close(opts) {
        await Promise.allSettled([...this.launching.values()]);
        await this.gateway.close();
        if (!opts.stopBuilders) {
            if (this.volume)
                this.log.info({ builders_dir: this.buildersDir }, 'builder volume stays mounted for the builders left running');
            // Builders left running for the next server keep their network: it is their firewall.
            return;
        }
        const running = await this.scanProcesses();
        await Promise.all([...running.keys()].map((id) => this.stop(id)));
        // Networks before the volume: namespaces of killed builders may be mounted inside it.
        await this.network.reconcile(new Set());
        await this.network.close();
        // Groups of builders that died on their own (crashed, killed) have had no stop() yet.
        const stale = await this.cgroups?.removeStale(new Set());
        if (stale?.length)
            this.log.info({ builder_ids: stale }, 'removed cgroups of builders that no longer run');
        await this.cgroups?.close();
        await this.volume?.close();
    }
    /** SIGTERM, then SIGKILL of the process group after a grace period; false when it had to be killed. */
    async killPid(pid, graceMs = 10_000) {
        try {
            process.kill(pid, 'SIGTERM');
        }
        catch {
            return true;
        }
        const deadline = Date.now() + graceMs;
        while (Date.now() < deadline) {
            if (!(0,provider/* processAlive */.FN)(pid))
                return true;
            await local_sleep(20);
        }
        try {
            process.kill(-pid, 'SIGKILL');
        }
        catch {
            try {
                process.kill(pid, 'SIGKILL');
            }
            catch {
                /* already gone */
            }
        }
        for (let i = 0; i < 100 && (0,provider/* processAlive */.FN)(pid); i++)
            await local_sleep(20);
        return false;
    }
    /** The pid of the buildkitd serving this builder's root, from the pidfile or a /proc scan. */
    async findPid(id) {
        const f = this.files(id);
        try {
            const pid = Number((await promises_.readFile(f.pidfile, 'utf8')).trim());
            if (Number.isInteger(pid) && pid > 0 && (await this.isOurBuildkitd(pid, f.root)))
                return pid;
        }
        catch {
            /* no pidfile */
        }
        return (await this.scanProcesses()).get(id) ?? null;
    }
    async isOurBuildkitd(pid, root) {
        if (!(0,provider/* processAlive */.FN)(pid))
            return false;
        const argv = await readCmdline(pid);
        if (!argv)
            return false;
        const i = argv.indexOf('--root');
        return i >= 0 && argv[i + 1] === root && external_node_path_.basename(argv[0] ?? '') === 'buildkitd';
    }
    /** Every live buildkitd whose --root is a builder root of this provider, by builder id. */
    async scanProcesses() {
        const found = new Map();
        let entries;
        try {
            entries = await promises_.readdir('/proc');
        }
        catch {
            return found;
        }
        const prefix = this.buildersDir + external_node_path_.sep;
        await Promise.all(entries
            .filter((e) => /^\d+$/.test(e))
            .map(async (e) => {
            const pid = Number(e);
            const argv = await readCmdline(pid);
            if (!argv || external_node_path_.basename(argv[0] ?? '') !== 'buildkitd')
                return;
            const i = argv.indexOf('--root');
            const root = i >= 0 ? argv[i + 1] : undefined;
            if (!root || !root.startsWith(prefix) || external_node_path_.basename(root) !== 'root')
                return;
            const id = external_node_path_.basename(external_node_path_.dirname(root));
            if (external_node_path_.dirname(external_node_path_.dirname(root)) !== this.buildersDir)
                return;
            if ((0,provider/* processAlive */.FN)(pid))
                found.set(id, pid);
        }));
        return found;
    }
    async loadCa(id) {
        const cached = this.caCache.get(id);
        if (cached)
            return cached;
        const f = this.files(id);
        try {
            const ca = { certPem: await promises_.readFile(f.caCert, 'utf8'), keyPem: await promises_.readFile(f.caKey, 'utf8') };
            this.caCache.set(id, ca);
            return ca;
        }
        catch {
            return null;
        }
    }
    async ensureCa(id) {
        const existing = await this.loadCa(id);
        if (existing)
            return existing;
        const f = this.files(id);
        const ca = await (0,pki/* createCa */.xs)({ commonName: `hoist builder ${id} CA` });
        await writeSecret(f.caKey, ca.keyPem);
        await promises_.writeFile(f.caCert, ca.certPem, { mode: 0o644 });
        this.caCache.set(id, ca);
        return ca;
    }
    /** (Re)issues the server certificate when missing, expiring within 30 days, or for another host. */
    async ensureServerCert(id, ca, host) {
        const f = this.files(id);
        try {
            const pem = await promises_.readFile(f.serverCert, 'utf8');
            const cert = new external_node_crypto_.X509Certificate(pem);
            const fresh = new Date(cert.validTo).getTime() > Date.now() + 30 * 24 * 3600_000;
            if (fresh && certCoversHost(cert, host) && cert.checkIssued(new external_node_crypto_.X509Certificate(ca.certPem)))
                return;
        }
        catch {
            /* missing or unreadable: issue */
        }
        const ip = external_node_net_.isIP(host) ? [host] : [];
        const dns = [serverName(id), ...(external_node_net_.isIP(host) ? [] : [host])];
        const cert = await (0,pki/* issueServerCert */.fD)(ca, { commonName: serverName(id), dnsNames: dns, ipAddresses: ip });
        await writeSecret(f.serverKey, cert.keyPem);
        await promises_.writeFile(f.serverCert, cert.certPem, { mode: 0o644 });
    }
    async readState(id) {
        try {
            return JSON.parse(await promises_.readFile(this.files(id).state, 'utf8'));
        }
        catch {
            return null;
        }
    }
    async writeState(id, state) {
        const file = this.files(id).state;
        const tmp = `${file}.${process.pid}.tmp`;
        await promises_.writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
        await promises_.rename(tmp, file);
    }
    async trimLog(file) {
        try {
            const st = await promises_.stat(file);
            if (st.size > LOG_LIMIT_BYTES)
                await promises_.rename(file, `${file}.1`);
        }
        catch {
            /* no log yet */
        }
    }
    async logTail(file) {
        try {
            const text = await promises_.readFile(file, 'utf8');
            return text.trim().split('\n').slice(-3).join(' | ').slice(-600);
        }
        catch {
            return '';
        }
    }
}
function toSnapshotInfo(m) {
    return {
        id: m.id,
        builderId: m.builderId,
        createdAt: new Date(m.createdAt),
        sizeBytes: m.sizeBytes,
        downtimeMs: m.downtimeMs,
    };
}
async function exists(p) {
    return promises_.lstat(p).then(() => true, () => false);
}
/** A unix socket path in the builder dir, or in the temp dir when that would exceed sun_path. */
function otelSocketPath(dir) {
    const inDir = external_node_path_.join(dir, 'otel.sock');
    if (Buffer.byteLength(inDir) < 100)
        return inDir;
    return external_node_path_.join(external_node_os_.tmpdir(), `hoist-otel-${(0,external_node_crypto_.createHash)('sha256').update(dir).digest('hex').slice(0, 16)}.sock`);
}
/**
 * Does the certificate name this host in its subject alternative names? Whole entries, IPv6
 * in any spelling: a substring test of the SAN text took 127.0.0.10 for 127.0.0.1 and never
 * matched ::1 (Node prints it expanded).
 */
function certCoversHost(cert, host) {
    return (external_node_net_.isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined;
}
/**
 * The environment of a buildkitd: the server's, without what holds the control plane's
 * credentials (HOIST_* such as HOIST_DATABASE_URL, libpq's PG*, tokens of a CI job), which
 * a daemon running other people's builds has no use for; PATH gains the sbin dirs for runc.
 */
function builderEnv(env) {
    const out = {};
    for (const [k, v] of Object.entries(env)) {
        if (/^(HOIST_|PG|ACTIONS_|GITHUB_TOKEN$|DATABASE_URL$)/.test(k))
            continue;
        out[k] = v;
    }
    out.PATH = `${env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
    return out;
}
function serverName(id) {
    return `${id.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.builders.hoist.internal`;
}
/**
 * Writes a key atomically, 0600 from its first byte: a leftover temp file of a crashed
 * writer (whatever its mode) is removed first, and a failed write leaves no temp file.
 */
async function writeSecret(file, content) {
    const tmp = `${file}.${process.pid}.tmp`;
    await promises_.rm(tmp, { force: true });
    try {
        await promises_.writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
        await promises_.rename(tmp, file);
    }
    catch (err) {
        await promises_.rm(tmp, { force: true });
        throw err;
    }
}
/**
 * buildkitd's socket: in the builder's 0700 dir, or, when that path would exceed sun_path, in a
 * private 0700 dir of its own under the temp dir.
 */
function socketPath(dir) {
    const inDir = external_node_path_.join(dir, 'buildkitd.sock');
    if (Buffer.byteLength(inDir) < 100)
        return inDir;
    const hash = (0,external_node_crypto_.createHash)('sha256').update(dir).digest('hex').slice(0, 16);
    return external_node_path_.join(external_node_os_.tmpdir(), `hoist-bk-${hash}`, 'buildkitd.sock');
}
/** A stale socket file makes buildkitd fail with "address already in use"; its dir must be private. */
async function prepareSocket(socket) {
    await promises_.mkdir(external_node_path_.dirname(socket), { recursive: true, mode: 0o700 });
    await promises_.chmod(external_node_path_.dirname(socket), 0o700);
    await promises_.rm(socket, { force: true });
}
/** Runs a command that prints JSON (buildctl --format '{{json .}}'), with a timeout. */
function runJson(bin, args, timeoutMs = 20_000) {
    return new Promise((resolve, reject) => {
        const child = (0,external_node_child_process_.spawn)(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
        child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
        child.on('error', reject);
        child.on('close', (code) => {
            if (code !== 0)
                return reject(new Error(`${external_node_path_.basename(bin)} ${args.slice(2, 4).join(' ')}: ${err.trim().slice(0, 300)}`));
            try {
                resolve(JSON.parse(out.trim() || 'null'));
            }
            catch {
                reject(new Error(`${external_node_path_.basename(bin)} ${args.slice(2, 4).join(' ')} printed no JSON`));
            }
        });
    });
}
/** buildctl's du records and worker GC policies, and a statfs of the builder root, as CacheUsage. */
function parseCacheUsage(du, workers, st) {
    const records = (Array.isArray(du) ? du : []).map((r) => ({
        type: typeof r.recordType === 'string' ? r.recordType : 'regular',
        size: Number(r.size) || 0,
        inUse: r.inUse === true,
        shared: r.shared === true,
    }));
    const limits = (Array.isArray(workers) ? workers : [])
        .flatMap((w) => w.gcPolicy ?? [])
        .map((g) => Number(g.maxUsedSpace ?? g.keepBytes ?? 0))
        .filter((n) => n > 0);
    const n = (v) => Number(v);
    return {
        records,
        gcLimitBytes: limits.length ? Math.max(...limits) : null,
        fsUsedBytes: st ? (n(st.blocks) - n(st.bfree)) * n(st.bsize) : null,
        fsTotalBytes: st ? n(st.blocks) * n(st.bsize) : null,
    };
}

// EXTERNAL MODULE: ./src/providers/kubernetes-manifests.ts
var kubernetes_manifests = __webpack_require__(5911);
// EXTERNAL MODULE: ./src/providers/kubernetes-quantity.ts
var kubernetes_quantity = __webpack_require__(70824);
// EXTERNAL MODULE: ./src/providers/kubernetes-network.ts
var kubernetes_network = __webpack_require__(27323);
;// CONCATENATED MODULE: ./src/server/builds/kubernetes-config.ts
// `hoist server` flags of the kubernetes provider (--provider kubernetes). Each is also read from
// its HOIST_* variable. Validated here, at start, so a typo stops the server with a reason
// instead of failing every builder launch later.





/** BuildKit's own image at the version Hoist is tested with. */
const DEFAULT_KUBERNETES_IMAGE = 'moby/buildkit:v0.18.2';
const DEFAULT_KUBERNETES_RESOURCES = 'requests.cpu=500m,requests.memory=1Gi,limits.memory=8Gi';
const KUBERNETES_OPTIONS = [
    {
        name: 'provider',
        env: 'HOIST_PROVIDER',
        description: '"local" (default): buildkitd processes on this host; "kubernetes": builder pods in a cluster',
    },
    {
        name: 'kubeconfig',
        env: 'HOIST_KUBECONFIG',
        description: 'kubeconfig file of the cluster (default: the in-cluster service account, else KUBECONFIG)',
    },
    {
        name: 'kubernetes-namespace',
        env: 'HOIST_KUBERNETES_NAMESPACE',
        description: "namespace of the builder pods (default: the service account's, else the kubeconfig's)",
    },
    {
        name: 'kubernetes-instance',
        env: 'HOIST_KUBERNETES_INSTANCE',
        description: 'label value that separates two Hoist installations sharing a namespace (default hoist)',
    },
    {
        name: 'kubernetes-image',
        env: 'HOIST_KUBERNETES_IMAGE',
        description: `builder image with buildkitd and runc (default ${DEFAULT_KUBERNETES_IMAGE})`,
    },
    {
        name: 'kubernetes-image-pull-policy',
        env: 'HOIST_KUBERNETES_IMAGE_PULL_POLICY',
        description: 'IfNotPresent (default), Always or Never',
    },
    {
        name: 'kubernetes-storage-class',
        env: 'HOIST_KUBERNETES_STORAGE_CLASS',
        description: "StorageClass of the builders' cache volumes (default: the cluster's default class)",
    },
    {
        name: 'kubernetes-volume-size',
        env: 'HOIST_KUBERNETES_VOLUME_SIZE',
        description: 'size of each cache volume (default twice --builder-max-used-space, e.g. 20Gi)',
    },
    {
        name: 'kubernetes-resources',
        env: 'HOIST_KUBERNETES_RESOURCES',
        description: `requests and limits of a builder pod (default ${DEFAULT_KUBERNETES_RESOURCES})`,
    },
    {
        name: 'kubernetes-security',
        env: 'HOIST_KUBERNETES_SECURITY',
        description: '"privileged" (default, works everywhere) or "rootless" (an image with rootlesskit; nodes with user namespaces)',
    },
    {
        name: 'kubernetes-node-selector',
        env: 'HOIST_KUBERNETES_NODE_SELECTOR',
        description: 'extra node labels for builder pods, e.g. pool=builders (kubernetes.io/arch is always set)',
    },
    {
        name: 'kubernetes-clone-mode',
        env: 'HOIST_KUBERNETES_CLONE_MODE',
        description: 'how clone volumes are made: copy-pod (default, any StorageClass), pvc-clone (CSI drivers with volume cloning), csi-snapshot (VolumeSnapshot CRDs and controller installed), none',
    },
    {
        name: 'kubernetes-snapshot-class',
        env: 'HOIST_KUBERNETES_SNAPSHOT_CLASS',
        description: "VolumeSnapshotClass for csi-snapshot (default: the driver's default class)",
    },
    {
        name: 'kubernetes-platforms',
        env: 'HOIST_KUBERNETES_PLATFORMS',
        description: `comma-separated platforms the cluster has nodes for (default ${(0,provider/* nativePlatform */.Nc)()})`,
    },
    {
        name: 'kubernetes-run-network',
        env: 'HOIST_KUBERNETES_RUN_NETWORK',
        description: '"isolated" (default): each RUN step on a bridge inside the builder pod, behind a firewall that keeps it off private and link-local ranges and the pod itself; "pod": RUN steps share the pod\'s network (the only choice with rootless)',
    },
    {
        name: 'kubernetes-run-allow',
        env: 'HOIST_KUBERNETES_RUN_ALLOW',
        description: 'comma-separated IPv4 CIDRs RUN steps may reach although the deny list holds them, e.g. a package mirror at 10.0.5.0/24',
    },
    {
        name: 'kubernetes-run-deny',
        env: 'HOIST_KUBERNETES_RUN_DENY',
        description: `comma-separated IPv4 CIDRs RUN steps may never reach, besides ${kubernetes_network/* DEFAULT_RUN_DENY */.LQ.join(', ')}: the cluster's pod, Service and node ranges when they are public addresses`,
    },
    {
        name: 'kubernetes-run-subnet',
        env: 'HOIST_KUBERNETES_RUN_SUBNET',
        description: `private subnet of the bridge inside each builder pod (default ${kubernetes_network/* DEFAULT_RUN_SUBNET */.UL}); pick one nothing in the cluster uses`,
    },
    {
        name: 'kubernetes-ready-timeout',
        env: 'HOIST_KUBERNETES_READY_TIMEOUT',
        description: 'longest time from a pod created to buildkitd answering, image pull included (default 180s)',
    },
];
function label(name) {
    return `--${name} (${KUBERNETES_OPTIONS.find((o) => o.name === name)?.env})`;
}
const DNS_1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
function loadProviderName(opts) {
    const raw = (opts.provider ?? '').trim() || 'local';
    if (raw !== 'local' && raw !== 'kubernetes') {
        throw new errors/* ConfigurationError */.j1(`${label('provider')} must be "local" or "kubernetes", got "${raw}"`);
    }
    return raw;
}
/**
 * The kubernetes provider's settings, or null with the local provider (then any kubernetes-*
 * flag is a mistake worth saying).
 */
function loadKubernetesConfig(opts, parse) {
    const get = (name) => opts[name]?.trim() || undefined;
    if (loadProviderName(opts) !== 'kubernetes') {
        const stray = KUBERNETES_OPTIONS.filter((o) => o.name !== 'provider' && get(o.name) !== undefined);
        if (stray.length) {
            throw new errors/* ConfigurationError */.j1(`${stray.map((o) => label(o.name)).join(', ')} only apply with --provider kubernetes; add --provider kubernetes or remove them`);
        }
        return null;
    }
    const namespace = get('kubernetes-namespace');
    if (namespace !== undefined && !DNS_1123_LABEL.test(namespace)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-namespace')} must be a namespace name (lower-case letters, digits and "-", at most 63), got "${namespace}"`);
    }
    const instance = get('kubernetes-instance') ?? 'hoist';
    if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(instance)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-instance')} must be a label value (letters, digits, "-", "_", ".", at most 63), got "${instance}"`);
    }
    const image = get('kubernetes-image') ?? DEFAULT_KUBERNETES_IMAGE;
    if (/\s/.test(image) || !/^[A-Za-z0-9]/.test(image)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-image')} must be an image reference such as ${DEFAULT_KUBERNETES_IMAGE}, got "${image}"`);
    }
    const pull = get('kubernetes-image-pull-policy') ?? 'IfNotPresent';
    if (pull !== 'IfNotPresent' && pull !== 'Always' && pull !== 'Never') {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-image-pull-policy')} must be IfNotPresent, Always or Never, got "${pull}"`);
    }
    const storageClass = get('kubernetes-storage-class');
    if (storageClass !== undefined && !DNS_1123_SUBDOMAIN.test(storageClass)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-storage-class')} must be a StorageClass name, got "${storageClass}"`);
    }
    const defaultSize = `${Math.max(1, Math.ceil((2 * parse.maxUsedSpaceBytes) / 1024 ** 3))}Gi`;
    const volumeSize = get('kubernetes-volume-size') ?? defaultSize;
    if (!(0,kubernetes_quantity/* isByteQuantity */.W$)(volumeSize)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-volume-size')} must be a size such as 20Gi or 500Mi, got "${volumeSize}"`);
    }
    const resources = (0,kubernetes_manifests/* parseResources */.tK)(get('kubernetes-resources') ?? DEFAULT_KUBERNETES_RESOURCES);
    if (typeof resources === 'string')
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-resources')} ${resources}`);
    const security = get('kubernetes-security') ?? 'privileged';
    if (security !== 'privileged' && security !== 'rootless') {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-security')} must be "privileged" or "rootless", got "${security}"`);
    }
    const nodeSelector = (0,kubernetes_manifests/* parseNodeSelector */.Pf)(get('kubernetes-node-selector') ?? '');
    if (typeof nodeSelector === 'string')
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-node-selector')} ${nodeSelector}`);
    const cloneMode = (get('kubernetes-clone-mode') ?? 'copy-pod');
    if (!kubernetes_manifests/* CLONE_MODES */.t8.includes(cloneMode)) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-clone-mode')} must be one of ${kubernetes_manifests/* CLONE_MODES */.t8.join(', ')}, got "${cloneMode}"`);
    }
    const snapshotClass = get('kubernetes-snapshot-class');
    if (snapshotClass !== undefined && cloneMode !== 'csi-snapshot') {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-snapshot-class')} only applies with --kubernetes-clone-mode csi-snapshot`);
    }
    const all = [
        'linux/amd64',
        'linux/arm64',
        'linux/arm/v7',
        'linux/riscv64',
        'linux/ppc64le',
        'linux/s390x',
        'linux/386',
    ];
    const platforms = [];
    for (const raw of (get('kubernetes-platforms') ?? (0,provider/* nativePlatform */.Nc)())
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const p = (0,provider/* parsePlatform */.FL)(raw, all);
        if (!p.ok)
            throw new errors/* ConfigurationError */.j1(`${label('kubernetes-platforms')}: ${p.message}`);
        if (!platforms.includes(p.platform))
            platforms.push(p.platform);
    }
    const rawTimeout = get('kubernetes-ready-timeout');
    const readyTimeoutMs = rawTimeout === undefined ? 180_000 : parse.durationMs(rawTimeout);
    if (readyTimeoutMs === null || readyTimeoutMs < 5000) {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-ready-timeout')} must be a duration of at least 5s such as 180s or 5m, got "${rawTimeout}"`);
    }
    const runNetwork = loadRunNetwork(get, security);
    return {
        kubeconfig: get('kubeconfig'),
        namespace,
        instance,
        image,
        imagePullPolicy: pull,
        storageClass,
        volumeSize,
        resources,
        security,
        nodeSelector,
        cloneMode,
        snapshotClass,
        platforms,
        readyTimeoutMs,
        runNetwork,
    };
}
function loadRunNetwork(get, security) {
    const raw = get('kubernetes-run-network');
    if (raw !== undefined && raw !== 'isolated' && raw !== 'pod') {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-run-network')} must be "isolated" or "pod", got "${raw}"`);
    }
    if (raw === 'isolated' && security === 'rootless') {
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-run-network')} isolated needs privileged builder pods (it sets up a bridge and a firewall in the pod); rootless BuildKit runs RUN steps in the pod's network: use --kubernetes-run-network pod, or --kubernetes-security privileged`);
    }
    const mode = raw ?? (security === 'rootless' ? 'pod' : 'isolated');
    const lists = {};
    for (const name of ['kubernetes-run-allow', 'kubernetes-run-deny', 'kubernetes-run-subnet']) {
        if (mode === 'pod' && get(name) !== undefined) {
            throw new errors/* ConfigurationError */.j1(`${label(name)} only applies with --kubernetes-run-network isolated (RUN steps share the pod's network in "pod" mode); remove it, or use isolated`);
        }
        if (name === 'kubernetes-run-subnet')
            continue;
        const parsed = (0,kubernetes_network/* parseCidrList */.MK)(get(name) ?? '');
        if (!Array.isArray(parsed)) {
            throw new errors/* ConfigurationError */.j1(`${label(name)} takes IPv4 CIDRs separated by commas: ${parsed.error}`);
        }
        lists[name] = parsed;
    }
    const subnet = (0,kubernetes_network/* parseRunSubnet */._)(get('kubernetes-run-subnet') ?? kubernetes_network/* DEFAULT_RUN_SUBNET */.UL);
    if ('error' in subnet)
        throw new errors/* ConfigurationError */.j1(`${label('kubernetes-run-subnet')} ${subnet.error}`);
    return {
        mode,
        subnet: subnet.cidr,
        allow: lists['kubernetes-run-allow'],
        deny: [
            ...kubernetes_network/* DEFAULT_RUN_DENY */.LQ,
            ...lists['kubernetes-run-deny'].filter((c) => !kubernetes_network/* DEFAULT_RUN_DENY */.LQ.includes(c)),
        ],
    };
}

;// CONCATENATED MODULE: ./src/server/builds/config.ts
// `hoist server` flags of the builds plugin. Each is also read from its HOIST_* variable
// through the server's plugin-option mechanism (config.pluginOptions[name]).







/** Defaults of the builder limits on this host: half its memory, all its CPUs. */
function defaultBuilderLimits(totalMemBytes = external_node_os_.totalmem(), cpus = external_node_os_.availableParallelism()) {
    return { pids: 4096, memoryBytes: Math.max(256 * 1024 ** 2, Math.floor(totalMemBytes / 2)), cpus };
}
const BUILDS_OPTIONS = [
    {
        name: 'buildkitd',
        env: 'HOIST_BUILDKITD',
        description: 'path of buildkitd (default: PATH, then ~/.cache/hoist-engine/bin)',
    },
    {
        name: 'builder-listen-host',
        env: 'HOIST_BUILDER_LISTEN_HOST',
        description: "address the builders' gateway listens on (default 127.0.0.1)",
    },
    {
        name: 'builder-gateway-port',
        env: 'HOIST_BUILDER_GATEWAY_PORT',
        description: "TCP port of the builders' gateway, one for every builder (default 0: any free port)",
    },
    {
        name: 'builder-advertise-host',
        env: 'HOIST_BUILDER_ADVERTISE_HOST',
        description: 'host clients dial to reach builders (default: the listen host)',
    },
    {
        name: 'builder-advertise-port',
        env: 'HOIST_BUILDER_ADVERTISE_PORT',
        description: "port clients dial to reach builders, when a load balancer in front of several replicas' gateways listens on another (default: the gateway's port)",
    },
    {
        name: 'builder-idle-timeout',
        env: 'HOIST_BUILDER_IDLE_TIMEOUT',
        description: 'stop a builder after this idle time, cache kept (default 15m; 90, 90s, 15m, 1h)',
    },
    {
        name: 'builder-max-used-space',
        env: 'HOIST_BUILDER_MAX_USED_SPACE',
        description: 'GC cap of each builder cache (default 10GB; e.g. 512MB, 20GiB)',
    },
    {
        name: 'build-max-duration',
        env: 'HOIST_BUILD_MAX_DURATION',
        description: 'longest life of a build, also capped by the expiry of the token that created it (default 6h)',
    },
    {
        name: 'build-cert-lifetime',
        env: 'HOIST_BUILD_CERT_LIFETIME',
        description: "life of a build's client certificate, renewed by its heartbeats (default 10m)",
    },
    {
        name: 'build-heartbeat-grace',
        env: 'HOIST_BUILD_HEARTBEAT_GRACE',
        description: 'expire a build after this long without a heartbeat (default 60s)',
    },
    {
        name: 'build-wait',
        env: 'HOIST_BUILD_WAIT',
        description: 'fail a build that gets no builder within this time (default 30m)',
    },
    {
        name: 'builders-on-exit',
        env: 'HOIST_BUILDERS_ON_EXIT',
        description: 'on a graceful stop: "stop" builders or "keep" them running for the next server to adopt (default: stop with the local provider, keep with kubernetes)',
    },
    {
        name: 'builder-insecure-registries',
        env: 'HOIST_BUILDER_INSECURE_REGISTRIES',
        description: 'comma-separated host:port registries builders reach over plain HTTP',
    },
    {
        name: 'builder-cgroups',
        env: 'HOIST_BUILDER_CGROUPS',
        description: '"on" (default): each builder in its own cgroup with the limits below; "off": no limits',
    },
    {
        name: 'builder-pids-limit',
        env: 'HOIST_BUILDER_PIDS_LIMIT',
        description: "most processes and threads of one builder's RUN steps together (default 4096)",
    },
    {
        name: 'builder-memory',
        env: 'HOIST_BUILDER_MEMORY',
        description: "most memory of one builder's RUN steps together (default half the host's memory; e.g. 4GiB)",
    },
    {
        name: 'builder-cpus',
        env: 'HOIST_BUILDER_CPUS',
        description: "CPU time of one builder in CPUs, e.g. 1.5 (default: all of the host's CPUs)",
    },
    {
        name: 'builder-volume',
        env: 'HOIST_BUILDER_VOLUME',
        description: '"auto" (default), "none", or "xfs-image:SIZE": builders on a loop-mounted XFS image of SIZE in the data dir',
    },
    {
        name: 'builder-disk-limit',
        env: 'HOIST_BUILDER_DISK_LIMIT',
        description: 'hard disk cap of one builder on an XFS volume (default twice --builder-max-used-space, at least 300MiB)',
    },
    {
        name: 'project-max-active-builds',
        env: 'HOIST_PROJECT_MAX_ACTIVE_BUILDS',
        description: 'most queued or running builds per project; more get a 429 (default 200)',
    },
    {
        name: 'build-create-rate',
        env: 'HOIST_BUILD_CREATE_RATE',
        description: 'builds a project may create a minute, 0 = no limit (default 120)',
    },
    {
        name: 'build-create-burst',
        env: 'HOIST_BUILD_CREATE_BURST',
        description: 'builds a project may create at once before the rate applies (default: the rate, at least 1)',
    },
    {
        name: 'build-retention',
        env: 'HOIST_BUILD_RETENTION',
        description: 'delete finished builds and their rows this long after they finished (default 30d)',
    },
    {
        name: 'builder-network',
        env: 'HOIST_BUILDER_NETWORK',
        description: '"cni" (default): each RUN step in its own network namespace, cut off from this host; "host": RUN steps share the host network (trusted single-tenant machines only)',
    },
    {
        name: 'builder-subnet-pool',
        env: 'HOIST_BUILDER_SUBNET_POOL',
        description: `IPv4 range split into one /24 per builder (default ${local_network/* DEFAULT_SUBNET_POOL */.Zk})`,
    },
    {
        name: 'builder-cni-bin-dir',
        env: 'HOIST_BUILDER_CNI_BIN_DIR',
        description: 'directory of the CNI plugins bridge, host-local, loopback (default /usr/lib/cni or /opt/cni/bin)',
    },
    {
        name: 'builder-dns',
        env: 'HOIST_BUILDER_DNS',
        description: "comma-separated nameservers for RUN steps (default: the host's non-loopback resolvers)",
    },
    {
        name: 'pools',
        env: 'HOIST_POOLS',
        description: 'provider pools in order of preference, comma-separated: the first names the --provider pool (default: the provider name), later ones are NAME=simulated (a fake cloud for scheduling trials)',
    },
    {
        name: 'launch-limit-share',
        env: 'HOIST_LAUNCH_LIMIT_SHARE',
        description: "share of a provider's declared launch limits this server uses, so other users of the account keep room (default 0.6)",
    },
    {
        name: 'launch-rate',
        env: 'HOIST_LAUNCH_RATE',
        description: 'builders this server launches a second at most, over every pool (default 20)',
    },
    {
        name: 'project-launch-rate',
        env: 'HOIST_PROJECT_LAUNCH_RATE',
        description: 'builders one project launches a second at most, after a burst of 200 (default 5)',
    },
    {
        name: 'clone-permits',
        env: 'HOIST_CLONE_PERMITS',
        description: 'cache clones in flight at once on this server; halved automatically while clones get slow or fail (default 24)',
    },
    {
        name: 'clone-permits-per-snapshot',
        env: 'HOIST_CLONE_PERMITS_PER_SNAPSHOT',
        description: 'cache clones in flight at once from one snapshot (default 16)',
    },
    {
        name: 'build-share-after',
        env: 'HOIST_BUILD_SHARE_AFTER',
        description: 'an autoscaled build that got no clone within this shares a builder of its project, primary first (default 60s)',
    },
    {
        name: 'clone-idle-timeout',
        env: 'HOIST_CLONE_IDLE_TIMEOUT',
        description: 'destroy a clone after this idle time; clones go before primaries (default 2m)',
    },
    {
        name: 'pool-dwell',
        env: 'HOIST_POOL_DWELL',
        description: 'a project moved to a later pool returns to its preferred one only after this (default 10m)',
    },
    ...KUBERNETES_OPTIONS,
];
const POOL_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
/** `--pools`: "main" or "main,eu-backup=simulated"; the first is the provider's pool. */
function parsePools(raw, providerName) {
    const entries = (raw ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    if (entries.length === 0)
        return [{ name: providerName, kind: 'provider' }];
    const out = [];
    entries.forEach((e, i) => {
        const [name, kind] = e.split('=').map((x) => x.trim());
        if (!name || !POOL_NAME_RE.test(name)) {
            throw new errors/* ConfigurationError */.j1(`--pools (HOIST_POOLS): "${e}" is not a pool name; use lower-case letters, digits and "-", such as "us-east-1"`);
        }
        if (out.some((p) => p.name === name)) {
            throw new errors/* ConfigurationError */.j1(`--pools (HOIST_POOLS): pool "${name}" is named twice`);
        }
        if (i === 0) {
            if (kind !== undefined && kind !== providerName) {
                throw new errors/* ConfigurationError */.j1(`--pools (HOIST_POOLS): the first pool runs the --provider (${providerName}); write "${name}" without "=${kind}"`);
            }
            out.push({ name, kind: 'provider' });
        }
        else if (kind === 'simulated') {
            out.push({ name, kind: 'simulated' });
        }
        else {
            throw new errors/* ConfigurationError */.j1(`--pools (HOIST_POOLS): "${e}": a later pool must be NAME=simulated; one server runs one real provider (${providerName}) today`);
        }
    });
    return out;
}
/** "90" (seconds), "90s", "1500ms", "15m", "6h", "30d" → ms; null when malformed. */
function parseDuration(raw) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(raw);
    if (!m)
        return null;
    const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase()];
    const ms = Math.round(Number(m[1]) * mult);
    return ms > 0 ? ms : null;
}
function duration(opts, name, def, min) {
    const raw = opts[name];
    if (raw === undefined || raw.trim() === '')
        return def;
    const ms = parseDuration(raw);
    const env = BUILDS_OPTIONS.find((o) => o.name === name)?.env;
    if (ms === null) {
        throw new errors/* ConfigurationError */.j1(`--${name} (${env}) must be a duration such as 90, 90s, 15m or 1h, got "${raw}"`);
    }
    if (ms < min) {
        const least = min % 3_600_000 === 0 ? `${min / 3_600_000}h` : `${min} ms`;
        throw new errors/* ConfigurationError */.j1(`--${name} (${env}) must be at least ${least}, got "${raw}"`);
    }
    return ms;
}
/**
 * A host name or IP address without a port or scheme: each builder picks its own port, so
 * "127.0.0.1:9000" or "tcp://…" would otherwise only fail later, at every builder's start.
 */
function host(opts, name) {
    const raw = opts[name]?.trim();
    if (!raw)
        return undefined;
    const bare = raw.replace(/^\[(.*)\]$/, '$1');
    if ((0,external_node_net_.isIP)(bare) ||
        /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(raw)) {
        return bare;
    }
    const env = BUILDS_OPTIONS.find((o) => o.name === name)?.env;
    throw new errors/* ConfigurationError */.j1(`--${name} (${env}) must be a host name or IP address without a port or scheme, such as 127.0.0.1 or builders.example.com (each builder picks its own port); got "${raw}"`);
}
function loadBuildsConfig(opts) {
    const provider = loadProviderName(opts);
    // Pods outlive a server replica (a rolling update must not stop every builder); local
    // processes are this host's and stop with the server unless told otherwise.
    const defaultOnExit = provider === 'kubernetes' ? 'keep' : 'stop';
    const onExit = (opts['builders-on-exit'] ?? defaultOnExit).trim() || defaultOnExit;
    if (onExit !== 'stop' && onExit !== 'keep') {
        throw new errors/* ConfigurationError */.j1(`--builders-on-exit (HOIST_BUILDERS_ON_EXIT) must be "stop" or "keep", got "${onExit}"`);
    }
    let maxUsed = 10 * 1024 ** 3;
    const rawMax = opts['builder-max-used-space'];
    if (rawMax && rawMax.trim()) {
        const parsed = parseByteSize(rawMax);
        if (parsed === null || parsed < 1024 * 1024) {
            throw new errors/* ConfigurationError */.j1(`--builder-max-used-space (HOIST_BUILDER_MAX_USED_SPACE) must be a size of at least 1MB such as 512MB or 20GB, got "${rawMax}"`);
        }
        maxUsed = parsed;
    }
    const registries = (opts['builder-insecure-registries'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    for (const r of registries) {
        if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(r)) {
            throw new errors/* ConfigurationError */.j1(`--builder-insecure-registries (HOIST_BUILDER_INSECURE_REGISTRIES) takes host:port entries separated by commas, got "${r}"`);
        }
    }
    const listenHost = host(opts, 'builder-listen-host') ?? '127.0.0.1';
    const cgroups = (opts['builder-cgroups'] ?? 'on').trim() || 'on';
    if (cgroups !== 'on' && cgroups !== 'off') {
        throw new errors/* ConfigurationError */.j1(`--builder-cgroups (HOIST_BUILDER_CGROUPS) must be "on" or "off", got "${cgroups}"`);
    }
    const defaults = defaultBuilderLimits();
    const limits = {
        pids: wholeNumber(opts, 'builder-pids-limit', defaults.pids, 16, 4_194_304),
        memoryBytes: size(opts, 'builder-memory', defaults.memoryBytes, 64 * 1024 ** 2, 'at least 64MiB such as 512MiB or 8GiB'),
        cpus: cpuCount(opts, defaults.cpus),
    };
    const volumeEnv = BUILDS_OPTIONS.find((o) => o.name === 'builder-volume').env;
    const volume = parseVolumeSpec(opts['builder-volume'], parseByteSize, `--builder-volume (${volumeEnv})`);
    // 300MiB: the smallest XFS filesystem, for when each builder root is an image of this size.
    const diskLimit = size(opts, 'builder-disk-limit', Math.max(2 * maxUsed, 300 * 1024 ** 2), 300 * 1024 ** 2, 'at least 300MiB such as 20GiB');
    const createRatePerMin = wholeNumber(opts, 'build-create-rate', 120, 0, 1_000_000);
    const retentionMs = duration(opts, 'build-retention', 30 * 86_400_000, 3_600_000);
    const rawPort = opts['builder-gateway-port']?.trim();
    let gatewayPort = 0;
    if (rawPort) {
        gatewayPort = Number(rawPort);
        if (!/^\d{1,5}$/.test(rawPort) || gatewayPort > 65535) {
            throw new errors/* ConfigurationError */.j1(`--builder-gateway-port (HOIST_BUILDER_GATEWAY_PORT) must be a TCP port from 0 to 65535, got "${rawPort}"`);
        }
    }
    const rawAdvertisePort = opts['builder-advertise-port']?.trim();
    let advertisePort;
    if (rawAdvertisePort) {
        advertisePort = Number(rawAdvertisePort);
        if (!/^\d{1,5}$/.test(rawAdvertisePort) || advertisePort < 1 || advertisePort > 65535) {
            throw new errors/* ConfigurationError */.j1(`--builder-advertise-port (HOIST_BUILDER_ADVERTISE_PORT) must be a TCP port from 1 to 65535, got "${rawAdvertisePort}"`);
        }
    }
    const network = (opts['builder-network'] ?? '').trim() || 'cni';
    if (network !== 'cni' && network !== 'host') {
        throw new errors/* ConfigurationError */.j1(`--builder-network (HOIST_BUILDER_NETWORK) must be "cni" (isolated, the default) or "host" (trusted single-tenant machines only), got "${network}"`);
    }
    const pool = (opts['builder-subnet-pool'] ?? '').trim() || local_network/* DEFAULT_SUBNET_POOL */.Zk;
    const parsedPool = (0,local_network/* parseSubnetPool */.HE)(pool);
    if (typeof parsedPool === 'string') {
        throw new errors/* ConfigurationError */.j1(`--builder-subnet-pool (HOIST_BUILDER_SUBNET_POOL) ${parsedPool}`);
    }
    const dns = (opts['builder-dns'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    for (const d of dns) {
        if (!(0,external_node_net_.isIP)(d)) {
            throw new errors/* ConfigurationError */.j1(`--builder-dns (HOIST_BUILDER_DNS) takes IP addresses separated by commas, such as 192.0.2.53, got "${d}"`);
        }
    }
    return {
        pools: parsePools(opts.pools, provider),
        provisioning: provisioningLimits(opts),
        provider,
        kubernetes: loadKubernetesConfig(opts, { durationMs: parseDuration, maxUsedSpaceBytes: maxUsed }),
        buildkitdPath: opts.buildkitd?.trim() || undefined,
        builderListenHost: listenHost,
        builderGatewayPort: gatewayPort,
        builderAdvertiseHost: host(opts, 'builder-advertise-host'),
        builderAdvertisePort: advertisePort,
        idleTimeoutMs: duration(opts, 'builder-idle-timeout', 15 * 60_000, 1000),
        maxUsedSpaceBytes: maxUsed,
        maxBuildDurationMs: duration(opts, 'build-max-duration', 6 * 3_600_000, 1000),
        certLifetimeMs: duration(opts, 'build-cert-lifetime', 10 * 60_000, 1000),
        heartbeatGraceMs: duration(opts, 'build-heartbeat-grace', 60_000, 1000),
        builderWaitMs: duration(opts, 'build-wait', 30 * 60_000, 1000),
        acquireWaitMs: 5000,
        sweepIntervalMs: 1000,
        buildersOnExit: onExit,
        insecureRegistries: registries,
        builderLimits: cgroups === 'on' ? limits : null,
        builderVolume: volume,
        builderDiskLimitBytes: diskLimit,
        maxActiveBuildsPerProject: wholeNumber(opts, 'project-max-active-builds', 200, 1, 1_000_000),
        createRatePerMin,
        createBurst: wholeNumber(opts, 'build-create-burst', Math.max(1, createRatePerMin), 1, 1_000_000),
        retentionMs,
        purgeIntervalMs: Math.min(10 * 60_000, retentionMs),
        builderNetwork: network,
        builderSubnetPool: pool,
        builderCniBinDir: opts['builder-cni-bin-dir']?.trim() || undefined,
        builderDns: dns,
    };
}
function envOf(name) {
    return BUILDS_OPTIONS.find((o) => o.name === name)?.env;
}
function wholeNumber(opts, name, def, min, max) {
    const raw = opts[name]?.trim();
    if (!raw)
        return def;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) {
        throw new errors/* ConfigurationError */.j1(`--${name} (${envOf(name)}) must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
}
function size(opts, name, def, min, hint) {
    const raw = opts[name]?.trim();
    if (!raw)
        return def;
    const n = parseByteSize(raw);
    if (n === null || n < min)
        throw new errors/* ConfigurationError */.j1(`--${name} (${envOf(name)}) must be a size of ${hint}, got "${raw}"`);
    return n;
}
function cpuCount(opts, def) {
    const raw = opts['builder-cpus']?.trim();
    if (!raw)
        return def;
    const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 0.01 && n <= 4096)) {
        throw new errors/* ConfigurationError */.j1(`--builder-cpus (${envOf('builder-cpus')}) must be a number of CPUs from 0.01 to 4096 such as 1 or 1.5, got "${raw}"`);
    }
    return n;
}
function fraction(opts, name, def) {
    const raw = opts[name]?.trim();
    if (!raw)
        return def;
    const n = /^\d*\.?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 0.05 && n <= 1)) {
        throw new errors/* ConfigurationError */.j1(`--${name} (${envOf(name)}) must be a fraction from 0.05 to 1 such as 0.6, got "${raw}"`);
    }
    return n;
}
/** The provisioning flags; limits not set here keep the provisioner's defaults. */
function provisioningLimits(opts) {
    const perSnapshot = wholeNumber(opts, 'clone-permits-per-snapshot', 16, 1, 10_000);
    const launchRate = wholeNumber(opts, 'launch-rate', 20, 1, 100_000);
    return {
        limitShare: fraction(opts, 'launch-limit-share', 0.6),
        globalResources: { burst: Math.max(100, launchRate * 100), perSecond: launchRate },
        projectResources: { burst: 200, perSecond: wholeNumber(opts, 'project-launch-rate', 5, 1, 100_000) },
        permits: {
            globalMax: wholeNumber(opts, 'clone-permits', 24, 1, 10_000),
            perSnapshotMax: perSnapshot,
            min: 1,
            slowMs: 45_000,
            decreaseEveryMs: 5000,
        },
        shareAfterMs: duration(opts, 'build-share-after', 60_000, 1000),
        cloneIdleMs: duration(opts, 'clone-idle-timeout', 2 * 60_000, 1000),
        dwellMs: duration(opts, 'pool-dwell', 10 * 60_000, 1000),
    };
}

;// CONCATENATED MODULE: ./src/server/builds/provider-factory.ts
// Makes the provider the flags ask for. The kubernetes provider (and its API client library) is
// loaded only when asked for, so a local server and the CLI never pay for it at start.

async function createProvider(config, dataDir, logger) {
    if (config.provider === 'kubernetes') {
        const { kubeconfig, platforms, readyTimeoutMs, namespace, ...settings } = config.kubernetes;
        const { KubernetesProvider } = await Promise.all(/* import() */[__webpack_require__.e(476), __webpack_require__.e(405)]).then(__webpack_require__.bind(__webpack_require__, 80405));
        const provider = await KubernetesProvider.create({
            kubeconfig,
            platforms,
            // An empty namespace is resolved by the provider (service account, then kubeconfig).
            settings: {
                ...settings,
                namespace: namespace ?? '',
                runNetwork: { ...settings.runNetwork, dns: config.builderDns ?? [] },
            },
            listenHost: config.builderListenHost,
            gatewayPort: config.builderGatewayPort,
            advertiseHost: config.builderAdvertiseHost,
            advertisePort: config.builderAdvertisePort,
            maxUsedSpaceBytes: config.maxUsedSpaceBytes,
            insecureRegistries: config.insecureRegistries,
            dns: config.builderDns,
            readyTimeoutMs,
            logger,
        });
        return {
            provider,
            details: {
                provider: 'kubernetes',
                namespace: provider.namespace,
                image: settings.image,
                clone_mode: settings.cloneMode,
                run_network: settings.runNetwork.mode,
                builder_gateway: provider.gatewayEndpoint,
            },
        };
    }
    const provider = await LocalProvider.create({
        dataDir,
        buildkitdPath: config.buildkitdPath,
        listenHost: config.builderListenHost,
        gatewayPort: config.builderGatewayPort,
        advertiseHost: config.builderAdvertiseHost,
        advertisePort: config.builderAdvertisePort,
        maxUsedSpaceBytes: config.maxUsedSpaceBytes,
        insecureRegistries: config.insecureRegistries,
        limits: config.builderLimits ?? undefined,
        volume: config.builderVolume,
        diskLimitBytes: config.builderDiskLimitBytes,
        network: {
            mode: config.builderNetwork,
            subnetPool: config.builderSubnetPool,
            cniBinDir: config.builderCniBinDir,
        },
        dns: config.builderDns,
        logger,
    });
    if (!config.builderLimits) {
        logger.warn({}, 'builders run without pids, memory or CPU limits (--builder-cgroups off): one build can exhaust the host for every other build and the server');
    }
    return {
        provider,
        details: {
            provider: 'local',
            buildkitd: provider.buildkitdPath,
            builder_gateway: provider.gatewayEndpoint,
            builder_network: provider.networkMode,
        },
    };
}

;// CONCATENATED MODULE: ./src/server/insights/analysis.ts
// Pure analysis of steps and builds for the dashboard: the critical path of a waterfall, the
// key that finds a cached step's last uncached run, and chart series (percentiles per bucket).

const t = (s) => (s ? Date.parse(s) : null);
/**
 * The same Dockerfile step across builds of a project: its stage and instruction (the "[2/5]"
 * position in its name changes when lines are added above it). Null for BuildKit's own vertexes.
 */
function stepKey(s) {
    if (!s.instruction)
        return null;
    return (0,external_node_crypto_.createHash)('sha256')
        .update(`${s.stage ?? ''}\u0000${s.instruction}`)
        .digest('hex')
        .slice(0, 32);
}
/**
 * The steps on the critical path of one platform's solve: start from the step that completed
 * last and walk back, each time to the input that completed last (the one it waited for).
 * Steps without recorded inputs (older clients) fall back to time: the latest step that
 * completed before this one started.
 */
function criticalPath(steps) {
    const done = steps.filter((s) => t(s.completed_at) !== null);
    const path = new Set();
    if (!done.length)
        return path;
    const byDigest = new Map(done.map((s) => [s.digest, s]));
    let cur = done.reduce((a, b) => (t(b.completed_at) > t(a.completed_at) ? b : a));
    while (cur && !path.has(cur.digest)) {
        path.add(cur.digest);
        const start = t(cur.started_at) ?? t(cur.completed_at);
        let pool;
        if (cur.inputs && cur.inputs.length) {
            pool = cur.inputs.map((d) => byDigest.get(d)).filter((s) => s !== undefined);
        }
        else {
            pool = done.filter((s) => s !== cur && t(s.completed_at) <= start);
        }
        cur = pool.length ? pool.reduce((a, b) => (t(b.completed_at) > t(a.completed_at) ? b : a)) : undefined;
    }
    return path;
}
/** The p-th percentile (0..100) of values by nearest rank; null for none. */
function percentile(values, p) {
    if (!values.length)
        return null;
    const sorted = [...values].sort((a, b) => a - b);
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
/** Buckets of [from, to): an hour up to two days, a day up to 90 days, else a week. */
function bucketMs(fromMs, toMs) {
    const span = toMs - fromMs;
    if (span <= 2 * 86400_000)
        return 3600_000;
    if (span <= 90 * 86400_000)
        return 86400_000;
    return 7 * 86400_000;
}
/** One point per bucket of the range, empty buckets included (the x axis is time). */
function chartSeries(builds, fromMs, toMs) {
    const size = bucketMs(fromMs, toMs);
    const n = Math.max(1, Math.ceil((toMs - fromMs) / size));
    const buckets = Array.from({ length: n }, () => []);
    for (const b of builds) {
        const i = Number(b.bucket);
        if (i >= 0 && i < n)
            buckets[i].push(b);
    }
    return buckets.map((bs, i) => {
        const durations = bs.map((b) => Number(b.duration_ms));
        const waits = bs.filter((b) => b.wait_ms !== null).map((b) => Number(b.wait_ms));
        const stepped = bs.filter((b) => Number(b.steps_total ?? 0) > 0);
        const total = stepped.reduce((t, b) => t + Number(b.steps_total ?? 0), 0);
        const cached = stepped.reduce((t, b) => t + Number(b.steps_cached ?? 0), 0);
        return {
            at: new Date(fromMs + i * size).toISOString(),
            builds: bs.length,
            p50_ms: percentile(durations, 50),
            p95_ms: percentile(durations, 95),
            hit_ratio: total ? cached / total : null,
            queue_p50_ms: percentile(waits, 50),
            queue_p95_ms: percentile(waits, 95),
            saved_ms: bs.reduce((t, b) => t + Number(b.saved_ms ?? 0), 0),
        };
    });
}
/** Named chart ranges of the charts page. */
const RANGES = {
    '24h': 86400_000,
    '7d': 7 * 86400_000,
    '30d': 30 * 86400_000,
    '90d': 90 * 86400_000,
};

;// CONCATENATED MODULE: ./src/server/insights/cache.ts

/** The kind a record's bytes count under on the builders page. */
function cacheKind(type) {
    if (type === 'regular')
        return 'layers';
    if (type === 'exec.cachemount')
        return 'cache_mounts';
    if (type.startsWith('source.'))
        return 'source';
    return 'other';
}
/** Totals of a builder's cache by kind; reclaimable is what no build holds now (as buildctl du counts it). */
function cacheTotals(u) {
    const t = {
        records: u.records.length,
        layers_bytes: 0,
        cache_mounts_bytes: 0,
        source_bytes: 0,
        other_bytes: 0,
        reclaimable_bytes: 0,
        fs_used_bytes: u.fsUsedBytes,
        fs_total_bytes: u.fsTotalBytes,
        gc_limit_bytes: u.gcLimitBytes,
    };
    for (const r of u.records) {
        t[`${cacheKind(r.type)}_bytes`] += r.size;
        if (!r.inUse)
            t.reclaimable_bytes += r.size;
    }
    return t;
}
const COLS = [
    'builder_id',
    'project_id',
    'platform',
    'at',
    'reason',
    'records',
    'layers_bytes',
    'cache_mounts_bytes',
    'source_bytes',
    'other_bytes',
    'reclaimable_bytes',
    'fs_used_bytes',
    'fs_total_bytes',
    'gc_limit_bytes',
];
const NUMERIC = COLS.slice(5);
class CacheSnapshots {
    db;
    provider;
    clock;
    onError;
    keepMs;
    buildGapMs;
    timer = null;
    inFlight = new Map();
    /** When each builder's cache was last read by this process (ms). */
    lastTaken = new Map();
    lastPurge = 0;
    constructor(db, provider, clock, onError, 
    /** Snapshots older than this go (at most once an hour). */
    keepMs = 7 * 86400_000, 
    /**
     * After a build, a builder whose cache was read less than this long ago is not read again:
     * on a busy builder `buildctl du` would otherwise run after every build, beside the next ones.
     */
    buildGapMs = 15_000) {
        this.db = db;
        this.provider = provider;
        this.clock = clock;
        this.onError = onError;
        this.keepMs = keepMs;
        this.buildGapMs = buildGapMs;
    }
    /** Records one builder's cache now; concurrent calls for the same builder share one read. */
    snapshot(builderId, reason) {
        const cur = this.inFlight.get(builderId);
        if (cur)
            return cur;
        const now = this.clock.now().getTime();
        const last = this.lastTaken.get(builderId);
        if (reason === 'build' && last !== undefined && now - last < this.buildGapMs)
            return Promise.resolve();
        this.lastTaken.set(builderId, now);
        if (this.lastTaken.size > 4096) {
            // builders come and go: forget the ones not read for a while
            for (const [id, at] of this.lastTaken)
                if (now - at > this.buildGapMs)
                    this.lastTaken.delete(id);
        }
        const p = this.take(builderId, reason)
            .catch((err) => this.onError(builderId, err))
            .finally(() => this.inFlight.delete(builderId));
        this.inFlight.set(builderId, p);
        return p;
    }
    async take(builderId, reason) {
        if (!this.provider.cacheUsage)
            return;
        const b = await this.db.get('SELECT project_id, platform FROM builders WHERE id = ?', [builderId]);
        if (!b)
            return;
        const totals = cacheTotals(await this.provider.cacheUsage(builderId));
        const row = { builder_id: builderId, ...b, at: iso(this.clock.now()), reason, ...totals };
        await this.db.run(`INSERT INTO builder_cache_snapshots (${COLS.join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})
       ON CONFLICT (builder_id, at) DO NOTHING`, COLS.map((c) => row[c]));
    }
    /** Snapshots every running builder. */
    async snapshotAll() {
        const running = await this.db.all("SELECT id FROM builders WHERE state = 'running'");
        for (const { id } of running)
            await this.snapshot(id, 'interval');
        const now = this.clock.now().getTime();
        if (now - this.lastPurge > 3600_000) {
            this.lastPurge = now;
            await this.db.run('DELETE FROM builder_cache_snapshots WHERE at < ?', [
                iso(new Date(now - this.keepMs)),
            ]);
        }
    }
    /** The newest snapshot of each builder. */
    async latest() {
        const rows = await this.db.all(`SELECT s.* FROM builder_cache_snapshots s JOIN (
         SELECT builder_id, MAX(at) AS at FROM builder_cache_snapshots GROUP BY builder_id
       ) m ON m.builder_id = s.builder_id AND m.at = s.at`);
        return new Map(rows.map((r) => [r.builder_id, numeric(r)]));
    }
    start(intervalMs) {
        if (!intervalMs || this.timer)
            return;
        this.timer = setInterval(() => void this.snapshotAll().catch((err) => this.onError('*', err)), intervalMs);
        this.timer.unref();
    }
    async stop() {
        if (this.timer)
            clearInterval(this.timer);
        this.timer = null;
        await Promise.all(this.inFlight.values());
    }
}
/** PostgreSQL returns BIGINT as text. */
function numeric(r) {
    const out = { ...r };
    for (const c of NUMERIC)
        out[c] = r[c] === null || r[c] === undefined ? null : Number(r[c]);
    return out;
}

;// CONCATENATED MODULE: ./src/server/projects/settings.ts
const SETTING_LIMITS = {
    max_concurrent_builds: { min: 1, max: 10_000 },
    max_builders_per_platform: { min: 1, max: 1000 },
};
const DEFAULT_MAX_BUILDERS_PER_PLATFORM = 10;
function wholeNumberIn(field, value) {
    const { min, max } = SETTING_LIMITS[field];
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)
        return null;
    return `${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`;
}
/**
 * Applies `patch` to `current` and checks the result: each value in its range, and
 * autoscaling only with a builds-per-builder limit (without one, no builder is ever full, so
 * none would be added). Returns the settings, or a message naming the field and what it accepts.
 */
function applySettings(current, patch) {
    if (patch.max_concurrent_builds !== undefined && patch.max_concurrent_builds !== null) {
        const bad = wholeNumberIn('max_concurrent_builds', patch.max_concurrent_builds);
        if (bad)
            return { ok: false, message: `${bad} (or null for unlimited)` };
    }
    if (patch.max_builders_per_platform !== undefined) {
        const bad = wholeNumberIn('max_builders_per_platform', patch.max_builders_per_platform);
        if (bad)
            return { ok: false, message: `${bad} (the primary included)` };
    }
    if (patch.autoscaling !== undefined && typeof patch.autoscaling !== 'boolean') {
        return {
            ok: false,
            message: `autoscaling must be true or false, got ${JSON.stringify(patch.autoscaling)}`,
        };
    }
    const next = {
        max_concurrent_builds: patch.max_concurrent_builds === undefined ? current.max_concurrent_builds : patch.max_concurrent_builds,
        autoscaling: patch.autoscaling ?? current.autoscaling,
        max_builders_per_platform: patch.max_builders_per_platform ?? current.max_builders_per_platform,
    };
    if (next.autoscaling && next.max_concurrent_builds === null) {
        return {
            ok: false,
            message: patch.autoscaling === true
                ? 'autoscaling needs a builds-per-builder limit: set max_concurrent_builds (1 to 10000) in the same request'
                : 'max_concurrent_builds cannot be unlimited (null) while autoscaling is on: it is the number of builds that fills a builder; turn autoscaling off first or give a number from 1 to 10000',
        };
    }
    return { ok: true, settings: next };
}

;// CONCATENATED MODULE: ./src/server/projects/store.ts



const PROJECT_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';
/**
 * A name shaped like an id (prj_…, or any PREFIX_ + 25 id characters) is refused: commands take
 * "id or name", and a project named after another's id would make them act on the other one.
 */
function nameLooksLikeId(name) {
    return name.startsWith('prj_') || /^[a-z]{2,4}_[0-9a-z]{25}$/.test(name);
}
function settled(current, patch) {
    const r = applySettings(current, patch);
    if (!r.ok)
        throw badRequest('invalid_settings', r.message);
    return r.settings;
}
function checkName(name) {
    if (nameLooksLikeId(name)) {
        throw badRequest('invalid_name', `the project name "${name}" looks like an id (ids are PREFIX_ and 25 letters or digits, and project ids start with "prj_"); commands that take "id or name" could then act on another project. Pick another name, such as my-app`);
    }
}
const toProject = (r) => ({
    id: r.id,
    name: r.name,
    max_concurrent_builds: r.max_concurrent_builds === null ? null : Number(r.max_concurrent_builds),
    autoscaling: Boolean(Number(r.autoscaling)),
    max_builders_per_platform: Number(r.max_builders_per_platform),
    created_at: r.created_at,
    updated_at: r.updated_at,
});
/** Projects: create, find by id or name, update, delete (cascades to tokens and trust policies). */
class ProjectStore {
    db;
    clock;
    constructor(db, clock) {
        this.db = db;
        this.clock = clock;
    }
    async create(p, db = this.db) {
        checkName(p.name);
        const settings = settled({
            max_concurrent_builds: null,
            autoscaling: false,
            max_builders_per_platform: DEFAULT_MAX_BUILDERS_PER_PLATFORM,
        }, p);
        const now = iso(this.clock.now());
        const row = {
            id: newId('prj'),
            name: p.name,
            ...settings,
            created_at: now,
            updated_at: now,
        };
        const r = await db.run('INSERT INTO projects (id, name, max_concurrent_builds, autoscaling, max_builders_per_platform, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING', [
            row.id,
            row.name,
            settings.max_concurrent_builds,
            settings.autoscaling ? 1 : 0,
            settings.max_builders_per_platform,
            row.created_at,
            row.updated_at,
        ]);
        if (r.changes === 0)
            throw conflict('project_exists', `a project named "${p.name}" already exists; pick another name`);
        return toProject(row);
    }
    async list(db = this.db) {
        return (await db.all('SELECT * FROM projects ORDER BY name')).map(toProject);
    }
    /** By id, else by name. */
    async find(idOrName, db = this.db) {
        const r = await db.get('SELECT * FROM projects WHERE id = ? OR name = ? ORDER BY (id = ?) DESC', [idOrName, idOrName, idOrName]);
        return r && toProject(r);
    }
    async require(idOrName, db = this.db) {
        const p = await this.find(idOrName, db);
        if (!p)
            throw notFound('project_not_found', `no project with id or name "${idOrName}"; list them with GET /v1/projects`);
        return p;
    }
    async update(idOrName, patch, db = this.db) {
        if (patch.name !== undefined)
            checkName(patch.name);
        const cur = await this.require(idOrName, db);
        const next = {
            ...cur,
            ...settled(cur, patch),
            name: patch.name ?? cur.name,
            updated_at: iso(this.clock.now()),
        };
        if (next.name !== cur.name) {
            const clash = await db.get('SELECT id FROM projects WHERE name = ? AND id <> ?', [next.name, cur.id]);
            if (clash)
                throw conflict('project_exists', `a project named "${next.name}" already exists; pick another name`);
        }
        await db.run('UPDATE projects SET name = ?, max_concurrent_builds = ?, autoscaling = ?, max_builders_per_platform = ?, updated_at = ? WHERE id = ?', [
            next.name,
            next.max_concurrent_builds,
            next.autoscaling ? 1 : 0,
            next.max_builders_per_platform,
            next.updated_at,
            cur.id,
        ]);
        return next;
    }
    async delete(idOrName, db = this.db) {
        const cur = await this.require(idOrName, db);
        await db.run('DELETE FROM projects WHERE id = ?', [cur.id]);
        return cur;
    }
}

;// CONCATENATED MODULE: ./src/server/http/errors.ts

/** An answer the client caused or can act on; becomes `{error: {code, message}}` with `status`. */
class ApiError extends Error {
    status;
    code;
    headers;
    name = 'ApiError';
    constructor(status, code, message, 
    /** Extra response headers, e.g. Retry-After on a 429. */
    headers = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.headers = headers;
    }
}
const badRequest = (code, message) => new ApiError(400, code, message);
const unauthorized = (code, message) => new ApiError(401, code, message);
const forbidden = (code, message) => new ApiError(403, code, message);
const notFound = (code, message) => new ApiError(404, code, message);
const conflict = (code, message) => new ApiError(409, code, message);
const tooLarge = (code, message) => new ApiError(413, code, message);
const tooMany = (code, message, retryAfterSec) => new ApiError(429, code, message, { 'retry-after': String(retryAfterSec) });
function errorBody(code, message) {
    return { error: { code, message } };
}
/**
 * What the schemas' patterns mean, for people who do not read regular expressions. A function:
 * projects.ts imports this module, so its constant is read at call time, not at load time.
 */
const patternHints = () => ({
    [PROJECT_NAME_PATTERN]: 'up to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, e.g. my-app',
    '^refs/': 'a full ref or glob, e.g. refs/heads/main, refs/heads/release/* or refs/tags/v*',
    '^[0-9]+$': "GitHub's numeric id, e.g. from https://api.github.com/repos/OWNER/NAME",
    '^[0-9]{1,4}$': 'a whole number',
});
/** "body.refs[0] must be string": names the field, from the first schema error. */
function validationMessage(context, errors) {
    const e = errors[0];
    if (!e)
        return `${context} is invalid`;
    const path = context +
        e.instancePath
            .split('/')
            .slice(1)
            .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`))
            .join('');
    switch (e.keyword) {
        case 'required':
            return `${path}.${String(e.params.missingProperty)} is required`;
        case 'additionalProperties':
            return `${path}.${String(e.params.additionalProperty)} is not a known field; remove it`;
        case 'type':
            return `${path} must be ${String(e.params.type).split(',').join(' or ')}`;
        case 'pattern': {
            const pattern = String(e.params.pattern);
            const hint = patternHints()[pattern];
            return `${path} must match pattern "${pattern}"${hint ? `: ${hint}` : ''}`;
        }
        case 'enum':
            return `${path} must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
        default:
            return `${path} ${e.message ?? 'is invalid'}`;
    }
}
/** Fastify error handler: never a stack or a 5xx for bad input. */
function handleError(err, request, reply) {
    if (err instanceof ApiError) {
        return reply.code(err.status).headers(err.headers).send(errorBody(err.code, err.message));
    }
    const fe = err;
    if (fe.validation) {
        return reply
            .code(400)
            .send(errorBody('invalid_request', validationMessage(fe.validationContext ?? 'body', fe.validation)));
    }
    switch (fe.code) {
        case 'FST_ERR_CTP_BODY_TOO_LARGE':
            return reply
                .code(413)
                .send(errorBody('body_too_large', `the request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 0} bytes`));
        // Bodies are parsed by app.ts's own parser, whose errors are ApiErrors; these come from Fastify.
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
            return reply
                .code(400)
                .send(errorBody('invalid_body', 'the request body is not valid JSON; send a JSON object with Content-Type: application/json'));
        default:
            break;
    }
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
    if (status >= 400 && status < 500) {
        return reply.code(status).send(errorBody(String(fe.code ?? `http_${status}`).toLowerCase(), fe.message));
    }
    request.log.error({ err }, 'request failed');
    return reply.code(500).send(errorBody('internal', 'internal server error; the server log has the details'));
}

;// CONCATENATED MODULE: ./src/server/auth/trust-store.ts


const toPolicy = (r) => ({
    id: r.id,
    project_id: r.project_id,
    provider: r.provider,
    repository: r.repository,
    repository_id: r.repository_id,
    repository_owner_id: r.repository_owner_id,
    refs: JSON.parse(r.refs),
    environment: r.environment,
    workflow: r.workflow,
    allow_pull_request_target: Number(r.allow_pull_request_target) === 1,
    created_at: r.created_at,
});
const COLUMNS = 'id, project_id, provider, repository, repository_id, repository_owner_id, refs, environment, workflow, allow_pull_request_target, created_at';
class TrustPolicyStore {
    db;
    clock;
    constructor(db, clock) {
        this.db = db;
        this.clock = clock;
    }
    async add(projectId, input, db = this.db) {
        const p = {
            id: newId('tp'),
            project_id: projectId,
            provider: 'github',
            repository: input.repository,
            repository_id: input.repository_id ?? null,
            repository_owner_id: input.repository_owner_id ?? null,
            refs: input.refs ?? [],
            environment: input.environment ?? null,
            workflow: input.workflow ?? null,
            allow_pull_request_target: input.allow_pull_request_target ?? false,
            created_at: iso(this.clock.now()),
        };
        await db.run(`INSERT INTO trust_policies (${COLUMNS}, repository_lc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
            p.id,
            p.project_id,
            p.provider,
            p.repository,
            p.repository_id,
            p.repository_owner_id,
            JSON.stringify(p.refs),
            p.environment,
            p.workflow,
            p.allow_pull_request_target ? 1 : 0,
            p.created_at,
            p.repository.toLowerCase(),
        ]);
        return p;
    }
    async list(projectId, db = this.db) {
        const rows = await db.all(`SELECT ${COLUMNS} FROM trust_policies WHERE project_id = ? ORDER BY id`, [projectId]);
        return rows.map(toPolicy);
    }
    async remove(projectId, policyId, db = this.db) {
        const r = await db.run('DELETE FROM trust_policies WHERE id = ? AND project_id = ?', [
            policyId,
            projectId,
        ]);
        if (r.changes === 0) {
            throw notFound('trust_policy_not_found', `project ${projectId} has no trust policy ${policyId}`);
        }
    }
    /** Every policy naming this repository (case-insensitive), with its project. */
    async forRepository(repository, db = this.db) {
        const rows = await db.all(`SELECT ${COLUMNS.split(', ')
            .map((c) => `t.${c}`)
            .join(', ')}, p.name AS project_name FROM trust_policies t JOIN projects p ON p.id = t.project_id WHERE t.repository_lc = ? ORDER BY t.id${
        // Inside an exchange's transaction: hold the rows so a concurrent first use cannot pin them differently.
        db.dialect === 'postgres' ? ' FOR UPDATE OF t' : ''}`, [repository.toLowerCase()]);
        return rows.map((r) => ({ policy: toPolicy(r), project: { id: r.project_id, name: r.project_name } }));
    }
    /** Records ids on first use; only fills empty columns, so a concurrent pin cannot be overwritten. */
    async pin(pins, db = this.db) {
        for (const p of pins) {
            if (p.repository_id) {
                await db.run('UPDATE trust_policies SET repository_id = ? WHERE id = ? AND repository_id IS NULL', [
                    p.repository_id,
                    p.policy_id,
                ]);
            }
            if (p.repository_owner_id) {
                await db.run('UPDATE trust_policies SET repository_owner_id = ? WHERE id = ? AND repository_owner_id IS NULL', [p.repository_owner_id, p.policy_id]);
            }
        }
    }
}

// EXTERNAL MODULE: ./node_modules/picomatch/index.js
var picomatch = __webpack_require__(14006);
var picomatch_default = /*#__PURE__*/__webpack_require__.n(picomatch);
;// CONCATENATED MODULE: ./src/server/auth/trust.ts
// Trust-policy matching: a pure function from verified GitHub OIDC claims and the stored
// policies to a decision with a reason the caller can act on. No I/O here.

const lc = (s) => s.toLowerCase();
/** `owner/repo/.github/workflows/x.yml@ref` → { repo: "owner/repo", path: ".github/workflows/x.yml" }. */
function parseJobWorkflowRef(ref) {
    const at = ref.indexOf('@');
    const full = at >= 0 ? ref.slice(0, at) : ref;
    const parts = full.split('/');
    if (parts.length < 3)
        return null;
    return { repo: `${parts[0]}/${parts[1]}`, path: parts.slice(2).join('/') };
}
/**
 * A policy's `workflow` is a file name ("release.yml"), a path in the repository
 * (".github/workflows/release.yml"), or a reusable workflow in another repository
 * ("org/shared/.github/workflows/build.yml").
 */
function workflowMatches(policyWorkflow, claims) {
    const jw = parseJobWorkflowRef(claims.job_workflow_ref);
    if (!jw)
        return false;
    const want = policyWorkflow.replace(/^\/+/, '');
    const segs = want.split('/');
    if (segs.length >= 3 && !want.startsWith('.github/')) {
        const repo = `${segs[0]}/${segs[1]}`;
        return lc(repo) === lc(jw.repo) && segs.slice(2).join('/') === jw.path;
    }
    if (lc(jw.repo) !== lc(claims.repository))
        return false;
    if (want.includes('/'))
        return want === jw.path;
    return jw.path.split('/').pop() === want;
}
const matchers = new Map();
function globMatcher(glob) {
    let m = matchers.get(glob);
    if (!m) {
        if (matchers.size > 1000)
            matchers.clear();
        m = picomatch_default()(glob, { dot: true });
        matchers.set(glob, m);
    }
    return m;
}
function refMatches(globs, ref) {
    if (!globs.length)
        return true;
    return globs.some((g) => globMatcher(g)(ref));
}
/** Why one policy refuses these claims, or null when it allows them. */
function policyRefusal(p, c) {
    if (p.repository_owner_id && p.repository_owner_id !== String(c.repository_owner_id)) {
        return `it is pinned to repository_owner_id ${p.repository_owner_id} but the token's owner ${c.repository_owner} has repository_owner_id ${c.repository_owner_id} (the owner was renamed or re-created; an admin must add a new trust policy to trust it)`;
    }
    if (p.repository_id && p.repository_id !== String(c.repository_id)) {
        return `it is pinned to repository_id ${p.repository_id} but the token's repository ${c.repository} has repository_id ${c.repository_id} (the repository was renamed or re-created; an admin must add a new trust policy to trust it)`;
    }
    if (c.event_name === 'pull_request_target' && !p.allow_pull_request_target) {
        return 'it does not allow the pull_request_target event (it runs with secrets on code from forks); set allow_pull_request_target on the policy only if that is intended';
    }
    if (!refMatches(p.refs, c.ref)) {
        return `ref ${c.ref} is not allowed (the policy allows ${p.refs.join(', ')})`;
    }
    if (p.environment && lc(p.environment) !== lc(String(c.environment ?? ''))) {
        return c.environment
            ? `environment ${c.environment} is not allowed (the policy requires environment ${p.environment})`
            : `the job has no environment (the policy requires environment ${p.environment}; add "environment: ${p.environment}" to the job)`;
    }
    if (p.workflow && !workflowMatches(p.workflow, c)) {
        return `workflow ${c.job_workflow_ref} is not allowed (the policy requires workflow ${p.workflow})`;
    }
    return null;
}
/**
 * Decides an exchange. `requested` is the project the caller named (already resolved; null when
 * it names none; `{missing: name}` when no such project exists). Policies of other repositories
 * are never mentioned: a caller only learns about policies that name its own repository.
 */
function decideTrust(claims, candidates, requested) {
    const repo = claims.repository;
    const mine = candidates.filter((c) => lc(c.policy.repository) === lc(repo) &&
        lc(c.policy.repository.split('/')[0] ?? '') === lc(claims.repository_owner));
    const scoped = requested && 'id' in requested
        ? mine.filter((c) => c.project.id === requested.id)
        : requested
            ? []
            : mine;
    const allowed = [];
    const refusals = [];
    for (const c of scoped) {
        const why = policyRefusal(c.policy, claims);
        if (why === null)
            allowed.push(c);
        else
            refusals.push(`policy ${c.policy.id} of project ${c.project.name}: ${why}`);
    }
    const where = `repository ${repo} on ref ${claims.ref} (event ${claims.event_name}, workflow ${claims.job_workflow_ref})`;
    if (requested) {
        const name = 'id' in requested ? requested.name : requested.missing;
        if (!scoped.length) {
            return {
                granted: false,
                code: 'not_trusted',
                project_id: null,
                reason: `no project "${name}" trusts repository ${repo}; an admin can add a trust policy with POST /v1/projects/{id}/trust-policies {"provider":"github","repository":"${repo}"}`,
            };
        }
    }
    else if (!scoped.length) {
        return {
            granted: false,
            code: 'not_trusted',
            project_id: null,
            reason: `no project trusts repository ${repo}; an admin can add a trust policy with POST /v1/projects/{id}/trust-policies {"provider":"github","repository":"${repo}"}`,
        };
    }
    if (!allowed.length) {
        const projectIds = [...new Set(scoped.map((c) => c.project.id))];
        return {
            granted: false,
            code: 'not_trusted',
            project_id: projectIds.length === 1 ? projectIds[0] : null,
            reason: `no trust policy allows ${where}: ${refusals.join('; ')}`,
        };
    }
    const projects = new Map(allowed.map((c) => [c.project.id, c.project]));
    if (projects.size > 1) {
        const list = [...projects.values()].map((p) => `${p.name} (${p.id})`).join(', ');
        return {
            granted: false,
            code: 'ambiguous_project',
            project_id: null,
            reason: `several projects trust ${repo}: ${list}; name one in the request ("project": "<name or id>", or the action's project input)`,
        };
    }
    // Prefer a policy that is already pinned: it is the most specific statement of trust.
    const chosen = allowed.find((c) => c.policy.repository_id && c.policy.repository_owner_id) ?? allowed[0];
    const pins = [];
    for (const { policy } of allowed) {
        const pin = { policy_id: policy.id };
        if (!policy.repository_id)
            pin.repository_id = String(claims.repository_id);
        if (!policy.repository_owner_id)
            pin.repository_owner_id = String(claims.repository_owner_id);
        if (pin.repository_id || pin.repository_owner_id)
            pins.push(pin);
    }
    return {
        granted: true,
        project_id: chosen.project.id,
        policy_id: chosen.policy.id,
        pins,
        reason: `trust policy ${chosen.policy.id} of project ${chosen.project.name} allows ${where}`,
    };
}

;// CONCATENATED MODULE: ./src/server/ui/forms.ts


const forms_text = (f, k) => (typeof f[k] === 'string' ? f[k].trim() : '');
/** A whole number in [min, max] from a form field; blank is `blank`. */
function intField(f, k, label, min, max, blank) {
    const v = forms_text(f, k);
    if (!v)
        return { ok: true, value: blank };
    if (!/^[0-9]{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
        return {
            ok: false,
            error: `${label} must be a whole number from ${min} to ${max} (got "${v.slice(0, 40)}")`,
        };
    }
    return { ok: true, value: Number(v) };
}
/**
 * The settings form: builds per builder (blank means unlimited), autoscaling (a checkbox: absent
 * means off) and most builders per platform, checked by the same rules as the API.
 */
function settingsPatch(f, current) {
    const { max_concurrent_builds: c, max_builders_per_platform: b } = SETTING_LIMITS;
    const max = intField(f, 'max_concurrent_builds', 'Builds per builder', c.min, c.max, null);
    if (!max.ok)
        return max;
    const builders = intField(f, 'max_builders_per_platform', 'Most builders per platform', b.min, b.max, current.max_builders_per_platform);
    if (!builders.ok)
        return builders;
    const patch = {
        max_concurrent_builds: max.value,
        autoscaling: f.autoscaling === 'on',
        max_builders_per_platform: builders.value,
    };
    const r = applySettings(current, patch);
    return r.ok ? { ok: true, value: patch } : { ok: false, error: r.message };
}
/** The new-token form: a name and an optional lifetime in days. */
function tokenRequest(f) {
    const name = forms_text(f, 'name');
    if (!name)
        return { ok: false, error: 'a token needs a name (say who or what uses it, e.g. "ci")' };
    if (name.length > 200)
        return { ok: false, error: 'the token name is over 200 characters; shorten it' };
    const days = intField(f, 'expires_days', 'Expires in (days)', 1, 3650, null);
    if (!days.ok)
        return days;
    return { ok: true, value: { name, expires_in: days.value === null ? null : days.value * 86400 } };
}
/** The new-trust-policy form: the same rules as POST /v1/projects/{id}/trust-policies. */
function policyInput(f) {
    const repository = forms_text(f, 'repository');
    if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repository) || repository.length > 200) {
        return {
            ok: false,
            error: `Repository must be "owner/name" as in GitHub (got "${repository.slice(0, 80)}")`,
        };
    }
    const refs = forms_text(f, 'refs')
        .split(/[\s,]+/)
        .filter(Boolean);
    if (refs.length > 50)
        return { ok: false, error: 'at most 50 ref patterns per policy' };
    const bad = refs.find((r) => !r.startsWith('refs/') || r.length > 256);
    if (bad) {
        return {
            ok: false,
            error: `ref pattern "${bad.slice(0, 80)}" must start with refs/ (e.g. refs/heads/main or refs/tags/v*)`,
        };
    }
    const input = { provider: 'github', repository };
    if (refs.length)
        input.refs = refs;
    const environment = forms_text(f, 'environment');
    if (environment.length > 255)
        return { ok: false, error: 'Environment is over 255 characters' };
    if (environment)
        input.environment = environment;
    const workflow = forms_text(f, 'workflow');
    if (workflow.length > 512)
        return { ok: false, error: 'Workflow is over 512 characters' };
    if (workflow)
        input.workflow = workflow;
    if (f.allow_pull_request_target === 'on')
        input.allow_pull_request_target = true;
    return { ok: true, value: input };
}
/** Claims the matcher reads; a preview names the ones that were missing. */
const MATCHED_CLAIMS = [
    'repository',
    'repository_id',
    'repository_owner',
    'repository_owner_id',
    'ref',
    'event_name',
    'job_workflow_ref',
    'environment',
];
/**
 * Claims from pasted JSON (a decoded ID token's payload, or an audit event's details).
 * repository_owner is taken from repository when absent (audit events do not record it).
 */
function parseClaims(raw) {
    let v;
    try {
        v = JSON.parse(raw);
    }
    catch {
        return { ok: false, error: 'the claims are not valid JSON; paste the JSON payload of a GitHub ID token' };
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
        return {
            ok: false,
            error: 'the claims must be a JSON object such as {"repository":"acme/app","ref":"refs/heads/main"}',
        };
    }
    const c = {};
    for (const [k, val] of Object.entries(v)) {
        if (val === null || val === undefined)
            continue;
        c[k] = typeof val === 'string' ? val : typeof val === 'number' ? String(val) : val;
    }
    if (typeof c.repository !== 'string' || !c.repository.includes('/')) {
        return { ok: false, error: 'the claims need "repository" as "owner/name"' };
    }
    if (typeof c.repository_owner !== 'string')
        c.repository_owner = c.repository.split('/')[0];
    const missing = MATCHED_CLAIMS.filter((k) => k !== 'environment' && typeof c[k] !== 'string');
    for (const k of missing)
        c[k] = '';
    return { ok: true, value: { claims: c, missing } };
}
/** What the exchange would decide for these claims against one project's policies, and why per policy. */
function previewClaims(claims, missing, project, policies) {
    const lc = (s) => s.toLowerCase();
    const verdicts = policies.map((policy) => {
        if (lc(policy.repository) !== lc(claims.repository)) {
            return {
                policy,
                allows: false,
                why: `it names repository ${policy.repository}, not ${claims.repository}`,
            };
        }
        const why = policyRefusal(policy, claims);
        return why === null
            ? { policy, allows: true, why: 'every condition holds' }
            : { policy, allows: false, why };
    });
    const d = decideTrust(claims, policies.map((policy) => ({ policy, project })), project);
    return {
        granted: d.granted,
        reason: d.reason,
        policy_id: d.granted ? d.policy_id : null,
        policies: verdicts,
        missing,
    };
}

// EXTERNAL MODULE: external "node:events"
var external_node_events_ = __webpack_require__(78474);
;// CONCATENATED MODULE: ./src/server/insights/events.ts
// In-process notices that a build changed (created, got a builder, sent steps, finished), for
// the dashboard's server-sent events. One replica sees its own requests' changes; the page
// also refreshes on a slow timer, so changes made through another replica show up too.

class BuildEvents {
    emitter = new external_node_events_.EventEmitter();
    constructor() {
        // every open dashboard tab listens
        this.emitter.setMaxListeners(0);
    }
    changed(buildId) {
        this.emitter.emit('build', buildId);
    }
    subscribe(fn) {
        this.emitter.on('build', fn);
        return () => this.emitter.off('build', fn);
    }
}

// EXTERNAL MODULE: ./src/lib/api-types.ts
var api_types = __webpack_require__(96575);
;// CONCATENATED MODULE: ./src/server/insights/store.ts
// Data access for build insights: context at create, steps and Dockerfile while running,
// phases at finish; portable SQL for SQLite and PostgreSQL.



const MAX_TEXT = 512;
const DOCKERFILE_MAX_BYTES = 256 * 1024;
const clip = (v) => (typeof v === 'string' && v ? v.slice(0, MAX_TEXT) : null);
/**
 * Where the cache broke: the earliest-started Dockerfile step that was not cached. A FROM step
 * is never reported cached (BuildKit resolves the image each time); it counts only when the
 * previous build did not have the same one (its name carries the image digest).
 */
function firstUncached(steps, previousNames) {
    return steps
        .filter((s) => s.instruction !== null &&
        !s.cached &&
        s.started_at !== null &&
        (!/^FROM\s/i.test(s.instruction) || (previousNames !== undefined && !previousNames.has(s.name))))
        .sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0))[0];
}
/** "main" → "refs/heads/main"; a full ref stays. */
function branchRef(branch) {
    return branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
}
class InsightsStore {
    db;
    constructor(db) {
        this.db = db;
    }
    /** Records where a build came from and who created it (for OIDC: the policy and claims). */
    async recordCreate(buildId, projectId, who, context) {
        const token = await this.db.get('SELECT id, kind, name FROM tokens WHERE id = ?', [who.token_id]);
        let policyId = null;
        let claims = null;
        if (who.kind === 'oidc') {
            // The exchange audited the grant with the token it minted, the policy and the claims.
            const ev = await this.db.get(`SELECT details FROM audit_events WHERE project_id = ? AND action = 'auth.github_oidc'
           AND outcome = 'granted' AND details LIKE ? ORDER BY id DESC LIMIT 1`, [projectId, `%"token_id":"${who.token_id}"%`]);
            if (ev) {
                const d = JSON.parse(ev.details);
                policyId = typeof d.policy_id === 'string' ? d.policy_id : null;
                const { policy_id: _p, token_id: _t, pinned: _pin, ...rest } = d;
                claims = JSON.stringify(rest);
            }
        }
        const g = context?.github ?? {};
        await this.db.run(`INSERT INTO build_insights (build_id, project_id, source, repository, repository_id, ref, sha, workflow,
         run_id, run_attempt, job, actor, run_url, token_id, token_kind, token_name, policy_id, claims)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
            buildId,
            projectId,
            context?.source === 'action' ? 'action' : context?.source === 'cli' ? 'cli' : 'api',
            clip(g.repository),
            clip(g.repository_id),
            clip(g.ref),
            clip(g.sha),
            clip(g.workflow),
            clip(g.run_id),
            clip(g.run_attempt),
            clip(g.job),
            clip(g.actor),
            // only links a browser can follow safely
            typeof g.run_url === 'string' && /^https:\/\/[^\s"'<>]+$/.test(g.run_url) ? clip(g.run_url) : null,
            token?.id ?? who.token_id,
            token?.kind ?? who.kind,
            token?.name ?? null,
            policyId,
            claims,
        ]);
    }
    /**
     * Stores steps, warnings and the Dockerfile. The full set (at the build's end) replaces the
     * steps of the platforms it names; a partial batch (while the build runs) adds or updates steps
     * by platform and vertex digest, and is dropped once the full set is there, whatever order they
     * arrive in. Either way one vertex digest is one row per platform. Returns the steps taken.
     */
    async saveSteps(buildId, projectId, req) {
        if (req.steps.length > api_types/* BUILD_STEPS_MAX */.m9) {
            throw badRequest('too_many_steps', `at most ${api_types/* BUILD_STEPS_MAX */.m9} steps per build are accepted`);
        }
        const df = req.dockerfile;
        if (df?.contents && Buffer.byteLength(df.contents) > DOCKERFILE_MAX_BYTES) {
            throw badRequest('dockerfile_too_large', `dockerfile.contents is over ${DOCKERFILE_MAX_BYTES} bytes; send path and sha256 only`);
        }
        const partial = req.partial === true;
        return this.db.transaction(async (tx) => {
            await this.ensureRow(buildId, projectId, tx);
            // Writing the row first takes its lock (PostgreSQL), so a batch and the full set never
            // interleave; a batch after the full set finds it 'final' and changes nothing.
            const took = await tx.run(partial
                ? `UPDATE build_insights SET steps_state = 'live' WHERE build_id = ? AND (steps_state IS NULL OR steps_state = 'live')`
                : `UPDATE build_insights SET steps_state = 'final' WHERE build_id = ?`, [buildId]);
            if (took.changes === 0)
                return 0;
            const key = (platform, digest) => `${platform.slice(0, 64)}\u0000${digest.slice(0, 128)}`;
            const rows = new Map();
            const next = new Map();
            // rows of the build, every platform, against BUILD_STEPS_MAX
            let count = 0;
            if (partial) {
                for (const r of await tx.all('SELECT platform, digest, seq FROM build_steps WHERE build_id = ?', [buildId])) {
                    rows.set(key(r.platform, r.digest), Number(r.seq));
                    next.set(r.platform, Math.max(next.get(r.platform) ?? 0, Number(r.seq) + 1));
                }
                count = rows.size;
            }
            else {
                for (const p of new Set(req.steps.map((s) => s.platform.slice(0, 64)))) {
                    await tx.run('DELETE FROM build_steps WHERE build_id = ? AND platform = ?', [buildId, p]);
                }
                const left = await tx.get('SELECT COUNT(*) AS n FROM build_steps WHERE build_id = ?', [buildId]);
                count = Number(left?.n ?? 0);
            }
            let taken = 0;
            for (const s of req.steps) {
                const platform = s.platform.slice(0, 64);
                const k = key(platform, s.digest);
                const values = [
                    s.name.slice(0, 2048),
                    s.stage?.slice(0, 256) ?? null,
                    s.instruction?.slice(0, 2048) ?? null,
                    s.started_at,
                    s.completed_at,
                    s.cached ? 1 : 0,
                    s.error?.slice(0, 4096) ?? null,
                    Buffer.from(s.log_tail, 'utf8').subarray(-api_types/* STEP_LOG_TAIL_BYTES */.zT).toString('utf8'),
                    s.inputs?.length ? JSON.stringify(s.inputs.slice(0, 64)) : null,
                ];
                const seq = rows.get(k);
                if (seq !== undefined) {
                    await tx.run(`UPDATE build_steps SET name = ?, stage = ?, instruction = ?, started_at = ?, completed_at = ?,
               cached = ?, error = ?, log_tail = ?, inputs = ? WHERE build_id = ? AND platform = ? AND seq = ?`, [...values, buildId, platform, seq]);
                }
                else {
                    if (count >= api_types/* BUILD_STEPS_MAX */.m9)
                        continue;
                    count++;
                    const n = next.get(platform) ?? 0;
                    next.set(platform, n + 1);
                    rows.set(k, n);
                    await tx.run(`INSERT INTO build_steps (build_id, platform, seq, digest, name, stage, instruction, started_at,
               completed_at, cached, error, log_tail, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [buildId, platform, n, s.digest.slice(0, 128), ...values]);
                }
                taken++;
            }
            const saved = await this.timeSaved(buildId, projectId, req.steps, tx);
            const counts = await tx.get(`SELECT COUNT(*) AS total, SUM(cached) AS cached FROM build_steps WHERE build_id = ? AND instruction IS NOT NULL`, [buildId]);
            // a batch carries the warnings seen so far, or none when they did not change
            const warnings = partial && !req.warnings ? null : JSON.stringify((req.warnings ?? []).slice(0, 500));
            await tx.run(`UPDATE build_insights SET steps_total = ?, steps_cached = ?, saved_ms = ?, warnings = COALESCE(?, warnings),
           dockerfile_path = COALESCE(?, dockerfile_path), dockerfile_sha256 = COALESCE(?, dockerfile_sha256),
           dockerfile = COALESCE(?, dockerfile) WHERE build_id = ?`, [
                Number(counts?.total ?? 0),
                Number(counts?.cached ?? 0),
                saved,
                warnings,
                df?.path?.slice(0, 1024) ?? null,
                df?.sha256?.slice(0, 64) ?? null,
                df?.contents ?? null,
                buildId,
            ]);
            return taken;
        });
    }
    /**
     * Time the cache saved this build: for each cached step, the duration of the last run of the
     * same step (stage and instruction) in this project that was not cached. Finished uncached
     * steps become the new "last run" of their step. Returns the build's total over all its
     * platforms sent so far.
     */
    async timeSaved(buildId, projectId, steps, tx) {
        for (const s of steps) {
            const key = stepKey(s);
            if (!key || s.cached || s.error || !s.started_at || !s.completed_at)
                continue;
            const d = Date.parse(s.completed_at) - Date.parse(s.started_at);
            if (!(d >= 0))
                continue;
            await tx.run(`INSERT INTO step_durations (project_id, platform, step_key, duration_ms, build_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (project_id, platform, step_key) DO UPDATE SET duration_ms = excluded.duration_ms, build_id = excluded.build_id`, [projectId, s.platform.slice(0, 64), key, Math.round(d), buildId]);
        }
        const rows = await tx.all('SELECT platform, stage, instruction FROM build_steps WHERE build_id = ? AND cached = 1 AND instruction IS NOT NULL', [buildId]);
        let saved = 0;
        for (const r of rows) {
            const last = await tx.get('SELECT duration_ms FROM step_durations WHERE project_id = ? AND platform = ? AND step_key = ? AND build_id <> ?', [projectId, r.platform, stepKey(r), buildId]);
            saved += Number(last?.duration_ms ?? 0);
        }
        return saved;
    }
    async savePhases(buildId, projectId, phases) {
        await this.ensureRow(buildId, projectId);
        await this.db.run('UPDATE build_insights SET phases = ? WHERE build_id = ?', [
            JSON.stringify(phases),
            buildId,
        ]);
    }
    /** Builds created before insights existed (or by an old client) get a bare row. */
    async ensureRow(buildId, projectId, db = this.db) {
        await db.run(`INSERT INTO build_insights (build_id, project_id, source) VALUES (?, ?, 'api') ON CONFLICT (build_id) DO NOTHING`, [buildId, projectId]);
    }
    async steps(buildId) {
        const rows = await this.db.all('SELECT * FROM build_steps WHERE build_id = ? ORDER BY platform, seq', [buildId]);
        return rows.map((r) => ({
            platform: r.platform,
            digest: r.digest,
            name: r.name,
            stage: r.stage,
            instruction: r.instruction,
            started_at: r.started_at,
            completed_at: r.completed_at,
            cached: Number(r.cached) === 1,
            error: r.error,
            log_tail: r.log_tail,
            ...(r.inputs ? { inputs: JSON.parse(r.inputs) } : {}),
        }));
    }
    /** Everything the JSON API and the build page show about one build. */
    async get(buildId) {
        const row = await this.db.get('SELECT * FROM build_insights WHERE build_id = ?', [buildId]);
        const steps = await this.steps(buildId);
        let previous = null;
        if (row && steps.length) {
            const prev = await this.db.get(row.repository
                ? `SELECT build_id FROM build_insights WHERE project_id = ? AND repository = ? AND ref IS NOT DISTINCT FROM ? AND build_id < ? AND steps_total > 0 ORDER BY build_id DESC LIMIT 1`
                : `SELECT build_id FROM build_insights WHERE project_id = ? AND repository IS NULL AND dockerfile_path IS NOT DISTINCT FROM ? AND build_id < ? AND steps_total > 0 ORDER BY build_id DESC LIMIT 1`, row.repository
                ? [row.project_id, row.repository, row.ref, buildId]
                : [row.project_id, row.dockerfile_path, buildId]);
            previous = prev?.build_id ?? null;
        }
        const previousNames = previous
            ? new Set((await this.db.all('SELECT name FROM build_steps WHERE build_id = ?', [previous])).map((r) => r.name))
            : undefined;
        const brk = firstUncached(steps, previousNames);
        const g = row
            ? Object.fromEntries([
                'repository',
                'repository_id',
                'ref',
                'sha',
                'workflow',
                'run_id',
                'run_attempt',
                'job',
                'actor',
                'run_url',
            ]
                .filter((k) => row[k] !== null)
                .map((k) => [k, row[k]]))
            : {};
        return {
            context: row
                ? {
                    source: row.source,
                    ...(Object.keys(g).length ? { github: g } : {}),
                }
                : null,
            created_by: row?.token_id && row.token_kind
                ? { id: row.token_id, kind: row.token_kind, name: row.token_name ?? '' }
                : null,
            trust: row?.claims || row?.policy_id
                ? {
                    policy_id: row.policy_id,
                    claims: row.claims ? JSON.parse(row.claims) : {},
                }
                : null,
            phases: row?.phases ? JSON.parse(row.phases) : null,
            dockerfile: row?.dockerfile_path && row.dockerfile_sha256
                ? { path: row.dockerfile_path, sha256: row.dockerfile_sha256, contents: row.dockerfile }
                : null,
            steps,
            warnings: row ? JSON.parse(row.warnings) : [],
            steps_total: Number(row?.steps_total ?? 0),
            steps_cached: Number(row?.steps_cached ?? 0),
            cache_break: brk ? { previous_build_id: previous, platform: brk.platform, step: brk.name } : null,
            time_saved_ms: Number(row?.saved_ms ?? 0),
            critical_path: Object.fromEntries([...new Set(steps.map((s) => s.platform))].map((p) => [
                p,
                [...criticalPath(steps.filter((s) => s.platform === p))],
            ])),
            steps_pruned_at: row?.steps_pruned_at ?? null,
            steps_live: row?.steps_state === 'live',
        };
    }
    /** A page of the builds list, newest first, joined with projects and insights. */
    list(f, projectScope) {
        const where = [];
        const params = [];
        if (projectScope) {
            where.push('b.project_id = ?');
            params.push(projectScope);
        }
        if (f.project) {
            where.push('(p.name = ? OR p.id = ?)');
            params.push(f.project, f.project);
        }
        if (f.status) {
            where.push('b.status = ?');
            params.push(f.status);
        }
        if (f.repository) {
            where.push('i.repository = ?');
            params.push(f.repository);
        }
        if (f.branch) {
            where.push('i.ref = ?');
            params.push(branchRef(f.branch));
        }
        if (f.before) {
            where.push('b.id < ?');
            params.push(f.before);
        }
        params.push(f.limit);
        return this.db.all(`SELECT b.id, b.project_id, p.name AS project_name, b.status, b.platforms, b.queued_at, b.acquired_at,
         b.finished_at, b.error, i.source, i.repository, i.ref, i.sha, i.run_url, i.phases, i.steps_total,
         i.steps_cached, i.saved_ms
       FROM builds b JOIN projects p ON p.id = b.project_id LEFT JOIN build_insights i ON i.build_id = b.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY b.id DESC LIMIT ?`, params);
    }
    /**
     * Finished builds queued in [from, to), for the charts: their bucket (of `bucketMs` from
     * `from`), duration and queue wait computed by the database from the ISO timestamps. Summary
     * columns only: they outlive the steps.
     */
    chartBuilds(projectId, fromMs, toMs, bucketMs, limit = 100_000) {
        const ms = (col) => this.db.dialect === 'postgres'
            ? `(EXTRACT(EPOCH FROM ${col}::timestamptz) * 1000)`
            : `((julianday(${col}) - 2440587.5) * 86400000.0)`;
        const from = new Date(fromMs).toISOString();
        const to = new Date(toMs).toISOString();
        const int = this.db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
        return this.db.all(`SELECT ${this.db.dialect === 'postgres' ? `FLOOR((${ms('b.queued_at')} - ?) / ?)::bigint` : `CAST((${ms('b.queued_at')} - ?) / ? AS INTEGER)`} AS bucket,
         CAST(ROUND(${ms('b.finished_at')} - ${ms('b.queued_at')}) AS ${int}) AS duration_ms,
         CASE WHEN b.acquired_at IS NULL THEN NULL ELSE CAST(ROUND(${ms('b.acquired_at')} - ${ms('b.queued_at')}) AS ${int}) END AS wait_ms,
         i.steps_total, i.steps_cached, i.saved_ms
       FROM builds b LEFT JOIN build_insights i ON i.build_id = b.id
       WHERE b.finished_at IS NOT NULL AND b.queued_at >= ? AND b.queued_at < ?${projectId ? ' AND b.project_id = ?' : ''}
       LIMIT ?`, projectId ? [fromMs, bucketMs, from, to, projectId, limit] : [fromMs, bucketMs, from, to, limit]);
    }
    /**
     * Retention of steps and logs, separate from the summary rows the list and charts read: a
     * finished build's steps go once it is older than `days`, or is not among its project's
     * newest `keep` builds with steps. Its build_insights row stays, marked steps_pruned_at.
     */
    async pruneSteps(opts) {
        const victims = new Set();
        if (opts.days !== null) {
            const before = new Date(opts.now.getTime() - opts.days * 86400_000).toISOString();
            const old = await this.db.all(`SELECT i.build_id FROM build_insights i JOIN builds b ON b.id = i.build_id
         WHERE i.steps_pruned_at IS NULL AND b.finished_at IS NOT NULL AND b.finished_at < ?
           AND EXISTS (SELECT 1 FROM build_steps s WHERE s.build_id = i.build_id) LIMIT 5000`, [before]);
            for (const r of old)
                victims.add(r.build_id);
        }
        if (opts.keep !== null) {
            const projects = await this.db.all('SELECT DISTINCT project_id FROM build_insights WHERE steps_pruned_at IS NULL AND steps_total > 0');
            for (const { project_id } of projects) {
                const extra = await this.db.all(`SELECT i.build_id FROM build_insights i JOIN builds b ON b.id = i.build_id
           WHERE i.project_id = ? AND i.steps_pruned_at IS NULL AND b.finished_at IS NOT NULL
             AND EXISTS (SELECT 1 FROM build_steps s WHERE s.build_id = i.build_id)
           ORDER BY i.build_id DESC LIMIT 5000 OFFSET ?`, [project_id, opts.keep]);
                for (const r of extra)
                    victims.add(r.build_id);
            }
        }
        const at = opts.now.toISOString();
        for (const id of victims) {
            await this.db.transaction(async (tx) => {
                await tx.run('DELETE FROM build_steps WHERE build_id = ?', [id]);
                await tx.run(`UPDATE build_insights SET steps_pruned_at = ?, dockerfile = NULL, warnings = '[]' WHERE build_id = ?`, [at, id]);
            });
        }
        return victims.size;
    }
}

;// CONCATENATED MODULE: ./src/server/insights/migrations.ts
// One build_insights row per build (its origin, creator, trust, phases, Dockerfile and step
// counts, kept with the build), and its steps per platform in build_steps. Both go with their
// build (ON DELETE CASCADE), so the builds' retention purge covers them.
const insightsMigrations = [
    {
        id: 'insights-001-init',
        sql: `
CREATE TABLE build_insights (
  build_id TEXT PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL,
  source TEXT NOT NULL,
  repository TEXT,
  repository_id TEXT,
  ref TEXT,
  sha TEXT,
  workflow TEXT,
  run_id TEXT,
  run_attempt TEXT,
  job TEXT,
  actor TEXT,
  run_url TEXT,
  token_id TEXT,
  token_kind TEXT,
  token_name TEXT,
  policy_id TEXT,
  claims TEXT,
  phases TEXT,
  dockerfile_path TEXT,
  dockerfile_sha256 TEXT,
  dockerfile TEXT,
  warnings TEXT NOT NULL DEFAULT '[]',
  steps_total INTEGER NOT NULL DEFAULT 0,
  steps_cached INTEGER NOT NULL DEFAULT 0,
  cache_break TEXT
);
CREATE INDEX build_insights_ref ON build_insights(project_id, repository, ref, build_id);
CREATE TABLE build_steps (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  name TEXT NOT NULL,
  stage TEXT,
  instruction TEXT,
  started_at TEXT,
  completed_at TEXT,
  cached INTEGER NOT NULL,
  error TEXT,
  log_tail TEXT NOT NULL,
  PRIMARY KEY (build_id, platform, seq)
);
CREATE TABLE ui_sessions (
  id_hash TEXT PRIMARY KEY,
  token_id TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
`,
    },
    {
        // Step inputs (the critical path), time saved per build from each cached step's last
        // uncached duration (step_durations), when a build's steps were pruned by retention, and
        // the builders' cache snapshots (buildctl du totals by record type, filesystem, GC limit).
        id: 'insights-002-saved-cache',
        sql: `
ALTER TABLE build_steps ADD COLUMN inputs TEXT;
ALTER TABLE build_insights ADD COLUMN saved_ms INTEGER;
ALTER TABLE build_insights ADD COLUMN steps_pruned_at TEXT;
CREATE TABLE step_durations (
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  step_key TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  build_id TEXT NOT NULL,
  PRIMARY KEY (project_id, platform, step_key)
);
CREATE TABLE builder_cache_snapshots (
  builder_id TEXT NOT NULL,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  at TEXT NOT NULL,
  reason TEXT NOT NULL,
  records INTEGER NOT NULL,
  layers_bytes BIGINT NOT NULL,
  cache_mounts_bytes BIGINT NOT NULL,
  source_bytes BIGINT NOT NULL,
  other_bytes BIGINT NOT NULL,
  reclaimable_bytes BIGINT NOT NULL,
  fs_used_bytes BIGINT,
  fs_total_bytes BIGINT,
  gc_limit_bytes BIGINT,
  PRIMARY KEY (builder_id, at)
);
CREATE INDEX builder_cache_snapshots_project ON builder_cache_snapshots(project_id, at);
`,
    },
    {
        // Steps arrive in batches while a build runs and in full at its end: 'live' while only
        // batches came, 'final' once the full set did (a batch that arrives later is dropped).
        id: 'insights-003-steps-state',
        sql: `ALTER TABLE build_insights ADD COLUMN steps_state TEXT;`,
    },
];

;// CONCATENATED MODULE: ./src/server/insights/config.ts
// `hoist server` flags of build insights: retention of steps and logs (separate from the build
// rows, which --build-retention governs) and the builders' cache snapshot interval.


const INSIGHTS_OPTIONS = [
    {
        name: 'steps-retention-days',
        env: 'HOIST_STEPS_RETENTION_DAYS',
        description: 'delete the steps, logs and Dockerfile of finished builds after this many days; the build rows and charts stay (default 14, 0 = keep)',
    },
    {
        name: 'steps-retention-builds',
        env: 'HOIST_STEPS_RETENTION_BUILDS',
        description: "keep steps and logs for each project's newest N builds only (default 1000, 0 = no cap)",
    },
    {
        name: 'cache-snapshot-interval',
        env: 'HOIST_CACHE_SNAPSHOT_INTERVAL',
        description: "record each running builder's cache use (buildctl du) this often, and after builds, at most every 15 s per builder (default 1m, 0 = off)",
    },
];
function whole(opts, name, def, max) {
    const raw = opts[name]?.trim();
    const env = INSIGHTS_OPTIONS.find((o) => o.name === name).env;
    if (!raw)
        return def || null;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) {
        throw new errors/* ConfigurationError */.j1(`--${name} (${env}) must be a whole number from 0 to ${max}, got "${raw}"`);
    }
    return Number(raw) || null;
}
function loadInsightsConfig(opts) {
    const raw = opts['cache-snapshot-interval']?.trim();
    let interval = 60_000;
    if (raw) {
        const ms = raw === '0' ? 0 : parseDuration(raw);
        if (ms === null || (ms !== 0 && ms < 5000)) {
            throw new errors/* ConfigurationError */.j1(`--cache-snapshot-interval (HOIST_CACHE_SNAPSHOT_INTERVAL) must be 0 (off) or a duration of at least 5s such as 1m, got "${raw}"`);
        }
        interval = ms;
    }
    return {
        stepsRetentionDays: whole(opts, 'steps-retention-days', 14, 36500),
        stepsRetentionBuilds: whole(opts, 'steps-retention-builds', 1000, 100_000_000),
        cacheSnapshotIntervalMs: interval,
    };
}

;// CONCATENATED MODULE: ./src/server/insights/index.ts









const str = (max) => ({ type: 'string', maxLength: max });
const nullable = (max) => ({ type: ['string', 'null'], maxLength: max });
const stepsSchema = {
    params: { type: 'object', properties: { id: str(128) }, required: ['id'] },
    body: {
        type: 'object',
        additionalProperties: false,
        required: ['steps'],
        properties: {
            partial: { type: 'boolean' },
            steps: {
                type: 'array',
                maxItems: 2000,
                items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['platform', 'digest', 'name', 'cached', 'log_tail'],
                    properties: {
                        platform: str(64),
                        digest: str(128),
                        name: str(4096),
                        stage: nullable(256),
                        instruction: nullable(4096),
                        started_at: nullable(64),
                        completed_at: nullable(64),
                        cached: { type: 'boolean' },
                        error: nullable(8192),
                        log_tail: str(64 * 1024),
                        inputs: { type: 'array', maxItems: 64, items: str(128) },
                    },
                },
            },
            warnings: {
                type: 'array',
                maxItems: 500,
                items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['platform', 'message'],
                    properties: {
                        platform: str(64),
                        rule: nullable(128),
                        message: str(8192),
                        line: { type: ['integer', 'null'] },
                        end_line: { type: ['integer', 'null'] },
                    },
                },
            },
            dockerfile: {
                type: 'object',
                additionalProperties: false,
                required: ['path', 'sha256'],
                properties: { path: str(1024), sha256: str(64), contents: nullable(1024 * 1024) },
            },
        },
    },
};

class Insights {
    deps;
    config;
    store;
    events = new BuildEvents();
    cache;
    pruneTimer = null;
    constructor(deps, provider, config) {
        this.deps = deps;
        this.config = config;
        this.store = new InsightsStore(deps.db);
        const log = deps.logger.child({ component: 'insights' });
        this.cache = new CacheSnapshots(deps.db, provider, deps.clock, (builder, err) => log.warn({ builder, err: (0,errors/* errorMessage */.gJ)(err) }, 'builder cache snapshot failed'));
    }
    /** The cache snapshot interval and the steps retention, until stop(). */
    start() {
        this.cache.start(this.config.cacheSnapshotIntervalMs);
        const prune = () => void this.prune().catch((err) => this.deps.logger.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'pruning build steps failed'));
        prune();
        this.pruneTimer = setInterval(prune, 10 * 60_000);
        this.pruneTimer.unref();
    }
    prune() {
        const c = this.config;
        if (c.stepsRetentionDays === null && c.stepsRetentionBuilds === null)
            return Promise.resolve(0);
        return this.store.pruneSteps({
            days: c.stepsRetentionDays,
            keep: c.stepsRetentionBuilds,
            now: this.deps.clock.now(),
        });
    }
    async stop() {
        if (this.pruneTimer)
            clearInterval(this.pruneTimer);
        this.pruneTimer = null;
        await this.cache.stop();
    }
    /** Every builder with its slots in use and newest cache snapshot, and the queue. */
    async fleet() {
        const db = this.deps.db;
        const [rows, inUse, queued, latest] = await Promise.all([
            db.all(`SELECT b.id, b.project_id, p.name AS project_name, p.max_concurrent_builds, b.platform, b.role, b.state,
           b.started_at, b.restarts, b.launch_failures, b.last_error
         FROM builders b JOIN projects p ON p.id = b.project_id ORDER BY p.name, b.platform, b.role, b.id`),
            db.all(`SELECT bb.builder_id, COUNT(*) AS n FROM build_builders bb JOIN builds x ON x.id = bb.build_id
         WHERE bb.builder_id IS NOT NULL AND x.status IN ('queued', 'running') GROUP BY bb.builder_id`),
            db.all(`SELECT p.name AS project_name, bb.platform, COUNT(*) AS waiting, MIN(bb.waiting_since) AS oldest
         FROM build_builders bb JOIN builds x ON x.id = bb.build_id JOIN projects p ON p.id = x.project_id
         WHERE bb.builder_id IS NULL AND x.status IN ('queued', 'running') GROUP BY p.name, bb.platform
         ORDER BY p.name, bb.platform`),
            this.cache.latest(),
        ]);
        const use = new Map(inUse.map((r) => [r.builder_id, Number(r.n)]));
        return {
            builders: rows.map(({ max_concurrent_builds, ...b }) => ({
                ...b,
                restarts: Number(b.restarts),
                launch_failures: Number(b.launch_failures),
                in_use: use.get(b.id) ?? 0,
                limit: max_concurrent_builds === null ? null : Number(max_concurrent_builds),
                cache: latest.get(b.id),
            })),
            queue: queued.map((q) => ({ ...q, waiting: Number(q.waiting) })),
        };
    }
    /** Chart points of a project (or all) over a named range ("24h", "7d", "30d", "90d"; default 7d). */
    async charts(projectIdOrName, range = '7d') {
        if (!(range in RANGES)) {
            throw new ApiError(400, 'invalid_range', `range must be one of ${Object.keys(RANGES).join(', ')}, got "${range.slice(0, 20)}"`);
        }
        const project = projectIdOrName ? ((await this.deps.projects.find(projectIdOrName)) ?? null) : null;
        if (projectIdOrName && !project) {
            throw new ApiError(404, 'project_not_found', `no project "${projectIdOrName.slice(0, 100)}"; pick one from the list`);
        }
        // buckets on whole hours/days, the last one holding now
        const now = this.deps.clock.now().getTime();
        const size = bucketMs(now - RANGES[range], now);
        const to = (Math.floor(now / size) + 1) * size;
        const from = Math.floor((now - RANGES[range]) / size) * size;
        const builds = await this.store.chartBuilds(project?.id ?? null, from, to, size);
        return { project, range, points: chartSeries(builds, from, to) };
    }
    async created(buildId, who, context) {
        const row = await this.store.db.get('SELECT project_id FROM builds WHERE id = ?', [buildId]);
        if (row)
            await this.store.recordCreate(buildId, row.project_id, who, context);
        this.events.changed(buildId);
    }
    async finished(row, phases) {
        if (phases)
            await this.store.savePhases(row.id, row.project_id, phases);
        this.events.changed(row.id);
        // after each build, its builders' caches (in the background: the client is not kept waiting)
        if (this.config.cacheSnapshotIntervalMs) {
            const used = await this.store.db.all('SELECT builder_id FROM build_builders WHERE build_id = ? AND builder_id IS NOT NULL', [row.id]);
            for (const u of used)
                void this.cache.snapshot(u.builder_id, 'build');
        }
    }
    /** POST /v1/builds/{id}/steps: a running build's steps, warnings and Dockerfile; the builders and charts for admins. */
    registerRoutes(app, deps, service) {
        const admin = { preHandler: deps.auth.require('admin') };
        app.get('/v1/builders', admin, async () => this.fleet());
        // What the OIDC exchange would decide for these claims against one project's policies, and why
        // per policy; nothing is granted or recorded (the project page's claims preview).
        const trust = new TrustPolicyStore(deps.db, deps.clock);
        app.post('/v1/projects/:id/trust-policies/preview', {
            ...admin,
            bodyLimit: 32 * 1024,
            schema: {
                params: { type: 'object', properties: { id: str(128) }, required: ['id'] },
                body: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['claims'],
                    properties: { claims: { type: 'object' } },
                },
            },
        }, async (req) => {
            const project = await deps.projects.require(req.params.id);
            const parsed = parseClaims(JSON.stringify(req.body.claims));
            if (!parsed.ok)
                throw badRequest('invalid_claims', parsed.error);
            const pv = previewClaims(parsed.value.claims, parsed.value.missing, project, await trust.list(project.id));
            return {
                granted: pv.granted,
                reason: pv.reason,
                policy_id: pv.policy_id,
                missing_claims: pv.missing,
                policies: pv.policies.map((v) => ({ policy_id: v.policy.id, allows: v.allows, why: v.why })),
            };
        });
        app.get('/v1/insights/charts', {
            ...admin,
            schema: {
                querystring: {
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                        project: { type: 'string', maxLength: 128 },
                        range: { type: 'string', maxLength: 8 },
                    },
                },
            },
        }, async (req) => {
            const c = await this.charts(req.query.project ?? null, req.query.range);
            return { project_id: c.project?.id ?? null, range: c.range, points: c.points };
        });
        app.post('/v1/builds/:id/steps', { schema: stepsSchema, bodyLimit: 32 * 1024 * 1024 }, async (request) => {
            const who = await deps.auth.authenticate(request, 'build', 'project', 'oidc', 'admin');
            const build = await service.visibleBuild(who, request.params.id);
            if (build.status !== 'queued' && build.status !== 'running') {
                throw conflict('build_finished', `build ${build.id} already finished (${build.status}); send steps before finishing it`);
            }
            const n = await this.store.saveSteps(build.id, build.project_id, request.body);
            this.events.changed(build.id);
            return { steps: n };
        });
    }
}

;// CONCATENATED MODULE: ./src/server/ui/assets.ts
// The dashboard's only script and stylesheet, served from the server bundle (no CDN, no
// build step): the CSP allows scripts and styles from 'self' and nothing inline.
/**
 * Live updates: the builds list re-fetches its rows on each server-sent event; a running build's
 * page re-fetches itself and swaps its main part (the steps so far arrive in batches while the
 * build runs), at most every 300 ms, until the build has ended.
 */
const APP_JS = `'use strict';
(function () {
  var rows = document.getElementById('builds-rows');
  var live = document.body.getAttribute('data-live');
  if (!rows && !live) return;
  var timer = null;
  function refreshRows() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      fetch('/ui/builds/rows' + location.search, { credentials: 'same-origin' }).then(function (r) {
        if (r.ok) return r.text().then(function (t) { rows.innerHTML = t; });
      }).catch(function () {});
    }, 200);
  }
  function refreshBuild() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      fetch(location.pathname, { credentials: 'same-origin' }).then(function (r) {
        if (r.ok) return r.text().then(function (t) {
          var doc = new DOMParser().parseFromString(t, 'text/html');
          var main = doc.querySelector('main');
          if (!main) return;
          document.querySelector('main').replaceWith(document.adoptNode(main));
          live = doc.body.getAttribute('data-live');
          if (live) document.body.setAttribute('data-live', live);
          else document.body.removeAttribute('data-live');
        });
      }).catch(function () {});
    }, 300);
  }
  var es = new EventSource('/ui/events');
  es.addEventListener('build', function (e) {
    if (rows) refreshRows();
    else if (live && e.data === live) refreshBuild();
  });
  // changes made through another replica, or by the server's own sweep (an expired build)
  setInterval(function () {
    if (rows) refreshRows();
    else if (live) refreshBuild();
  }, 15000);
})();
`;
const APP_CSS = `:root{--fg:#1b1f24;--muted:#667085;--bg:#fff;--line:#e4e7ec;--ok:#12b76a;--bad:#d92d20;--run:#2e90fa;--warn:#f79009;--cached:#98a2b3}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}
.top{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line)}
.brand{font-weight:700;text-decoration:none;color:inherit}.top nav a{margin-right:1rem}.logout{margin-left:auto}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.35rem}h2{font-size:1.05rem}
a{color:#175cd3}.muted{color:var(--muted)}.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.error{color:var(--bad)}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.85rem}.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;background:#f2f4f7}
.st-success{background:#d1fadf;color:#05603a}.st-failed,.st-expired{background:#fee4e2;color:#912018}.st-running{background:#d1e9ff;color:#194185}
.st-queued{background:#fef0c7;color:#93370d}.st-canceled{background:#f2f4f7}.badge.cached{background:#f2f4f7;color:var(--muted)}.badge.break{background:#fef0c7;color:#93370d}
.filters{display:flex;gap:.8rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
input,select,button{font:inherit;padding:.3rem .5rem}.login{display:flex;flex-direction:column;gap:.5rem;max-width:28rem}
.phasebar rect.ph-queued,.sw.ph-queued{fill:var(--warn);background:var(--warn)}.phasebar rect.ph-setup,.sw.ph-setup{fill:#7a5af8;background:#7a5af8}
.phasebar rect.ph-build,.sw.ph-build{fill:var(--run);background:var(--run)}.phasebar rect.ph-cleanup,.sw.ph-cleanup{fill:var(--cached);background:var(--cached)}
.legend{list-style:none;padding:0;display:flex;gap:1rem;font-size:.85rem}.sw{display:inline-block;width:.7rem;height:.7rem;margin-right:.3rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}.card{border:1px solid var(--line);border-radius:8px;padding:.6rem .9rem}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:0}.kv dt{color:var(--muted)}.kv dd{margin:0;word-break:break-all}
.waterfall rect.cached{fill:var(--cached)}.waterfall rect.running{fill:var(--run);opacity:.55}.waterfall rect.open{fill:#fee4e2;stroke:var(--bad);stroke-dasharray:3 2}
.badge.notdone{background:#fee4e2;color:#912018}.waterfall rect.run{fill:var(--run)}.waterfall rect.err{fill:var(--bad)}
.waterfall tr.break td{background:#fffaeb}.waterfall tr.failed td{background:#fef3f2}.stepname{word-break:break-all;max-width:36rem}
.log{max-height:24rem;overflow:auto;background:#101828;color:#f2f4f7;padding:.6rem;white-space:pre-wrap;word-break:break-all}
.dockerfile{font-size:.9rem;background:#f9fafb;border:1px solid var(--line);padding:.5rem .5rem .5rem 3rem}.dockerfile li{white-space:pre-wrap}
.dockerfile li.warned{background:#fffaeb}.warning{color:#93370d;font-family:system-ui,sans-serif;font-size:.85rem;padding:.1rem 0}
.cachebreak{background:#fffaeb;border-left:3px solid var(--warn);padding:.4rem .7rem}
section.card{margin-bottom:1rem}form.inline,form.settings,form.preview-form{display:flex;gap:.8rem;flex-wrap:wrap;align-items:end;margin:.5rem 0}
form.inline label,form.settings label,form.preview-form label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
form.inline label.check,form.settings label.check{flex-direction:row;gap:.3rem;align-items:center}button.danger{color:var(--bad)}
.notice,.ok{color:#05603a}.newtoken{background:#ecfdf3;border:1px solid #abefc6;padding:.5rem .8rem;margin-bottom:.6rem}
.preview{border-left:3px solid var(--line);padding:.3rem .8rem}.preview.granted{border-color:var(--ok)}.preview.refused{border-color:var(--bad)}
tr.allows td{background:#ecfdf3}
.waterfall rect.crit{stroke:#101828;stroke-width:1.5}.badge.crit{background:#101828;color:#fff}.waterfall tr.critical td.stepname{font-weight:600}
svg.cachebar rect.limit{fill:#f2f4f7;stroke:var(--line)}.k-layers{fill:#2e90fa;background:#2e90fa}.k-cache_mounts{fill:#7a5af8;background:#7a5af8}
.k-source{fill:#12b76a;background:#12b76a}.k-other{fill:#98a2b3;background:#98a2b3}.cachekinds{display:flex;gap:.6rem;flex-wrap:wrap;font-size:.8rem}
.lasterror{color:var(--bad);max-width:20rem;word-break:break-word}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:1rem}figure.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:.5rem}
figure.chart figcaption{font-weight:600}.chart line.grid{stroke:var(--line)}.chart text.tick{font-size:10px;fill:var(--muted)}
.chart path.line{fill:none;stroke-width:2}.s-p50{stroke:#2e90fa;fill:#2e90fa;background:#2e90fa}.s-p95{stroke:#f79009;fill:#f79009;background:#f79009}
.s-hit{stroke:#12b76a;fill:#12b76a;background:#12b76a}.s-saved{stroke:#7a5af8;fill:#7a5af8;background:#7a5af8}.chart path.line.s-p50,.chart path.line.s-p95,.chart path.line.s-hit,.chart path.line.s-saved{fill:none}
`;

;// CONCATENATED MODULE: ./src/server/ui/html.ts
// The dashboard's one way to write HTML: a tagged template that escapes every interpolated
// value unless it is already Html (made by this template). Text a build or a user wrote
// (step names, logs, errors, Dockerfiles) can only ever reach the page as text.
class Html {
    value;
    constructor(value) {
        this.value = value;
    }
    toString() {
        return this.value;
    }
}
const ESCAPES = {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    "'": '&#39;',
    '`': '&#96;',
};
/** Escapes text for HTML element content and quoted attribute values. */
function escapeHtml(s) {
    return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}
function render(v) {
    if (v === null || v === undefined || v === false)
        return '';
    if (v instanceof Html)
        return v.value;
    if (Array.isArray(v))
        return v.map(render).join('');
    return escapeHtml(String(v));
}
function html(strings, ...values) {
    let out = strings[0];
    for (let i = 0; i < values.length; i++)
        out += render(values[i]) + strings[i + 1];
    return new Html(out);
}
/** A URL fit for an href: only https (and the dashboard's own relative paths) pass. */
function safeHref(url) {
    if (!url)
        return null;
    if (url.startsWith('/ui/') && !url.startsWith('//'))
        return url;
    return /^https:\/\/[^\s"'<>\\]+$/i.test(url) ? url : null;
}

;// CONCATENATED MODULE: ./src/server/ui/pages.ts

const STATUSES = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];
function layout(title, body, opts = {}) {
    return `<!doctype html>${html `<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Hoist</title>
<link rel="stylesheet" href="/ui/assets/app.css">
<script src="/ui/assets/app.js" defer></script>
</head>
<body${opts.live ? html ` data-live="${opts.live}"` : ''}>
<header class="top">
<a class="brand" href="/ui/builds">Hoist</a>
${opts.csrf
        ? html `<nav>
          <a href="/ui/builds">Builds</a><a href="/ui/projects">Projects</a><a href="/ui/builders">Builders</a
          ><a href="/ui/charts">Charts</a>
        </nav>
        <form method="post" action="/ui/logout" class="logout">
          <input type="hidden" name="csrf" value="${opts.csrf}" /><button type="submit">Sign out</button>
        </form>`
        : ''}
</header>
<main>${body}</main>
</body>
</html>`.value}`;
}
function loginPage(error) {
    return layout('Sign in', html `<h1>Sign in</h1>
      <p>
        Paste an admin token (<code>hoist_adm_…</code>). It is exchanged for a session cookie and not kept by
        the browser.
      </p>
      ${error ? html `<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="/ui/login" class="login">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="off" required />
        <button type="submit">Sign in</button>
      </form>`);
}
function errorPage(status, message, csrf) {
    return layout(`Error ${status}`, html `<h1>Error ${status}</h1>
      <p class="error" role="alert">${message}</p>`, {
        csrf,
    });
}
const ms = (a, b) => a && b ? Math.max(0, Date.parse(b) - Date.parse(a)) : null;
/** 950 → "950 ms", 61_000 → "1m 1s". */
function formatDuration(v) {
    if (v === null || !Number.isFinite(v))
        return '—';
    if (v < 1000)
        return `${Math.round(v)} ms`;
    const s = v / 1000;
    if (s < 60)
        return `${s.toFixed(1)} s`;
    return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}
const shortRef = (ref) => ref ? ref.replace(/^refs\/heads\//, '').replace(/^refs\/tags\//, 'tag ') : null;
const PHASES = [
    ['queued_ms', 'queued'],
    ['setup_ms', 'acquired'],
    ['build_ms', 'solve and push'],
    ['cleanup_ms', 'cleanup'],
];
/** A horizontal bar of the phases, each segment's width its share of the total. */
function phaseBar(phases, width = 140) {
    if (!phases)
        return html `<span class="muted">—</span>`;
    const total = PHASES.reduce((n, [k]) => n + (phases[k] ?? 0), 0);
    if (total <= 0)
        return html `<span class="muted">—</span>`;
    let x = 0;
    const rects = PHASES.map(([k, label]) => {
        const v = phases[k] ?? 0;
        const w = (v / total) * width;
        const r = html `<rect
      class="ph-${k.replace('_ms', '')}"
      x="${x.toFixed(1)}"
      y="0"
      width="${w.toFixed(1)}"
      height="10"
      ><title>${label}: ${formatDuration(v)}</title></rect
    >`;
        x += w;
        return r;
    });
    return html `<svg
    class="phasebar"
    width="${width}"
    height="10"
    viewBox="0 0 ${width} 10"
    role="img"
    aria-label="phases"
  >
    ${rects}
  </svg>`;
}
function statusBadge(status) {
    return html `<span class="badge st-${status}">${status}</span>`;
}
function buildRows(rows) {
    if (rows.length === 0)
        return html `<tr>
      <td colspan="11" class="muted">No builds match.</td>
    </tr>`;
    return html `${rows.map((r) => {
        const run = safeHref(r.run_url);
        const phases = r.phases ? JSON.parse(r.phases) : null;
        const end = r.finished_at ?? null;
        return html `<tr data-build="${r.id}" data-status="${r.status}">
      <td>${statusBadge(r.status)}</td>
      <td><a href="/ui/builds/${r.id}">${r.id}</a></td>
      <td>${r.project_name}</td>
      <td>${r.repository ?? html `<span class="muted">${r.source ?? ''}</span>`}</td>
      <td>${shortRef(r.ref) ?? ''}</td>
      <td class="mono">${r.sha ? r.sha.slice(0, 7) : ''}</td>
      <td>${run ? html `<a href="${run}" rel="noopener noreferrer">run</a>` : ''}</td>
      <td class="num">
        ${end ? formatDuration(ms(r.queued_at, end)) : html `<span class="muted">${r.status}</span>`}
      </td>
      <td>${phaseBar(phases)}</td>
      <td class="num cached">${r.steps_total ? `cached ${r.steps_cached ?? 0} of ${r.steps_total}` : ''}</td>
      <td class="num saved">${r.saved_ms ? formatDuration(r.saved_ms) : ''}</td>
    </tr>`;
    })}`;
}
function buildsPage(rows, filter, csrf, nextBefore) {
    const q = (k) => String(filter[k] ?? '');
    const more = nextBefore
        ? `/ui/builds?${new URLSearchParams({
            ...Object.fromEntries(['project', 'status', 'repository', 'branch']
                .filter((k) => filter[k])
                .map((k) => [k, q(k)])),
            before: nextBefore,
        }).toString()}`
        : null;
    return layout('Builds', html `<h1>Builds</h1>
      <form method="get" action="/ui/builds" class="filters">
        <label>Project <input name="project" value="${q('project')}" /></label>
        <label
          >Status
          <select name="status">
            <option value="">any</option>
            ${STATUSES.map((s) => html `<option value="${s}" ${filter.status === s ? html ` selected` : ''}>${s}</option>`)}
          </select></label
        >
        <label
          >Repository <input name="repository" value="${q('repository')}" placeholder="owner/name"
        /></label>
        <label>Branch <input name="branch" value="${q('branch')}" placeholder="main" /></label>
        <button type="submit">Filter</button>
      </form>
      <table class="builds">
        <thead>
          <tr>
            <th>Status</th>
            <th>Build</th>
            <th>Project</th>
            <th>Repository</th>
            <th>Ref</th>
            <th>Commit</th>
            <th>GitHub</th>
            <th>Duration</th>
            <th>Phases</th>
            <th>Steps</th>
            <th title="each cached step's last uncached duration">Time saved</th>
          </tr>
        </thead>
        <tbody id="builds-rows">
          ${buildRows(rows)}
        </tbody>
      </table>
      ${more ? html `<p><a href="${more}">Older builds</a></p>` : ''}`, { csrf });
}
/** Dockerfile lines with the build-check warnings under the lines they point at. */
function dockerfileView(contents, warnings) {
    const at = new Map();
    for (const w of warnings) {
        if (w.line === null)
            continue;
        const list = at.get(w.line) ?? [];
        list.push(w);
        at.set(w.line, list);
    }
    const lines = contents.replace(/\n$/, '').split('\n');
    return html `<ol class="dockerfile">
    ${lines.map((text, i) => {
        const ws = at.get(i + 1) ?? [];
        return html `<li id="L${i + 1}" ${ws.length ? html ` class="warned"` : ''}>
        <code>${text}</code>${ws.map((w) => html `<div class="warning" role="note">
              ⚠ ${w.rule ? html `<strong>${w.rule}</strong> ` : ''}${w.message}
            </div>`)}
      </li>`;
    })}
  </ol>`;
}
/** One platform's steps as a waterfall: a bar per step on a shared time axis. */
function waterfall(unsorted, breakDigest, critical = new Set(), width = 420, open = null) {
    const at = (s) => (s.started_at ? Date.parse(s.started_at) : Number.MAX_SAFE_INTEGER);
    const steps = [...unsorted].sort((a, b) => at(a) - at(b));
    const isOpen = (s) => open !== null && !!s.started_at && !s.completed_at && !s.error;
    const endOf = (s) => (isOpen(s) ? open.until : s.completed_at);
    const times = steps.flatMap((s) => [s.started_at, endOf(s)]).filter((t) => !!t);
    const t0 = Math.min(...times.map(Date.parse));
    const t1 = Math.max(...times.map(Date.parse));
    const span = Math.max(1, t1 - t0);
    return html `<table class="waterfall">
    <thead>
      <tr>
        <th>Step</th>
        <th>Timeline (${formatDuration(span)})</th>
        <th>Duration</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${steps.map((s) => {
        const start = s.started_at ? Date.parse(s.started_at) : null;
        const endAt = endOf(s);
        const end = endAt ? Math.max(Date.parse(endAt), start ?? 0) : start;
        const x = start === null ? 0 : ((start - t0) / span) * width;
        const w = start === null || end === null ? 0 : Math.max(2, ((end - start) / span) * width);
        const unfinished = isOpen(s);
        const cls = s.error
            ? 'err'
            : unfinished
                ? open.running
                    ? 'running'
                    : 'open'
                : s.cached
                    ? 'cached'
                    : 'run';
        const isBreak = s.digest === breakDigest;
        const crit = critical.has(s.digest);
        const state = unfinished
            ? open.running
                ? 'running'
                : 'not-completed'
            : s.completed_at
                ? 'done'
                : 'waiting';
        return html `<tr
            class="step${isBreak ? ' break' : ''}${s.error ? ' failed' : ''}${crit ? ' critical' : ''}${unfinished ? ` ${state}` : ''}"
            data-state="${state}"
          >
            <td class="stepname">
              ${s.name}${isBreak ? html ` <span class="badge break" title="the first step that was not cached">cache broke here</span>` : ''}
            </td>
            <td>
              <svg width="${width}" height="12" viewBox="0 0 ${width} 12">
                <rect
                  class="${cls}${crit ? ' crit' : ''}"
                  x="${x.toFixed(1)}"
                  y="1"
                  width="${w.toFixed(1)}"
                  height="10"
                ></rect>
              </svg>
            </td>
            <td class="num">${formatDuration(ms(s.started_at, unfinished ? null : s.completed_at))}</td>
            <td>
              ${unfinished ? (open.running ? html `<span class="badge st-running">running</span>` : html `<span class="badge notdone" title="the build ended before this step completed">not completed</span>`) : ''}${s.cached ? html `<span class="badge cached">cached</span>` : ''}${s.error ? html `<span class="badge st-failed">error</span>` : ''}${crit ? html `<span class="badge crit" title="on the critical path: the chain of steps that set the build's length">critical</span>` : ''}
            </td>
          </tr>
          ${s.error || (isBreak && s.log_tail)
            ? html `<tr class="steplog"><td colspan="4"><details${s.error ? html ` open` : ''}><summary>${s.error ? `Error: ${s.error}` : 'Output'}</summary><pre class="log">${s.log_tail}</pre></details></td></tr>`
            : ''}`;
    })}
    </tbody>
  </table>`;
}
const kv = (pairs) => html `<dl class="kv">
    ${pairs
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => html `<dt>${k}</dt>
            <dd>${v}</dd>`)}
  </dl>`;
function buildPage(b, projectName, csrf, now = new Date()) {
    const ins = b.insights;
    const g = ins.context?.github ?? {};
    const run = safeHref(g.run_url);
    const platforms = [...new Set(ins.steps.map((s) => s.platform))];
    const brk = ins.cache_break;
    const breakStep = brk
        ? ins.steps.find((s) => s.platform === brk.platform && s.name === brk.step)
        : undefined;
    const failed = ins.steps.filter((s) => s.error);
    const live = b.status === 'queued' || b.status === 'running' ? b.id : undefined;
    // a step that started and never completed: running now, or cut off by the build's end
    const open = live
        ? { until: now.toISOString(), running: true }
        : { until: b.finished_at ?? now.toISOString(), running: false };
    return layout(`Build ${b.id}`, html `<h1>Build <span class="mono">${b.id}</span> ${statusBadge(b.status)}</h1>
      ${b.error ? html `<p class="error" role="alert">${b.error}</p>` : ''}
      <section class="cards">
        <div class="card">
          <h2>Build</h2>
          ${kv([
        ['Project', projectName],
        ['Platforms', b.platforms.join(', ') || 'default'],
        ['Queued', b.queued_at],
        ['Builder acquired', b.acquired_at],
        ['Finished', b.finished_at],
        ['Duration', b.finished_at ? formatDuration(ms(b.queued_at, b.finished_at)) : null],
        ['Steps', ins.steps_total ? `cached ${ins.steps_cached} of ${ins.steps_total}` : null],
        ['Time saved', ins.time_saved_ms ? formatDuration(ins.time_saved_ms) : null],
        ['Steps and logs', ins.steps_pruned_at ? `removed by retention at ${ins.steps_pruned_at}` : null],
    ])}
          <div class="phases">
            ${phaseBar(ins.phases, 300)}${ins.phases
        ? html `<ul class="legend">
                    ${PHASES.filter(([k]) => ins.phases[k] !== undefined).map(([k, label]) => html `<li>
                          <span class="sw ph-${k.replace('_ms', '')}"></span>${label}
                          ${formatDuration(ins.phases[k] ?? null)}
                        </li>`)}
                  </ul>`
        : ''}
          </div>
        </div>
        <div class="card">
          <h2>Source</h2>
          ${kv([
        ['From', ins.context?.source ?? null],
        ['Repository', g.repository],
        ['Repository id', g.repository_id],
        ['Ref', g.ref],
        ['Commit', g.sha],
        ['Workflow', g.workflow],
        ['Job', g.job],
        ['Actor', g.actor],
        [
            'Run',
            run
                ? html `<a href="${run}" rel="noopener noreferrer"
                    >${g.run_id ?? 'run'}${g.run_attempt ? ` (attempt ${g.run_attempt})` : ''}</a
                  >`
                : g.run_id,
        ],
        [
            'Created by',
            ins.created_by
                ? `${ins.created_by.kind} token ${ins.created_by.name} (${ins.created_by.id})`
                : null,
        ],
    ])}
        </div>
        <div class="card trust">
          <h2>Trust</h2>
          ${ins.trust
        ? html `${kv([['Policy', ins.trust.policy_id]])}
                  <table class="claims">
                    <thead>
                      <tr>
                        <th>Claim</th>
                        <th>Value</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${Object.entries(ins.trust.claims)
            .filter(([, v]) => v !== null && v !== undefined)
            .map(([k, v]) => html `<tr>
                              <td>${k}</td>
                              <td class="mono">${typeof v === 'string' ? v : JSON.stringify(v)}</td>
                            </tr>`)}
                    </tbody>
                  </table>`
        : html `<p class="muted">
                  Created with a ${ins.created_by?.kind ?? 'Hoist'} token, not through a GitHub OIDC trust
                  policy.
                </p>`}
        </div>
      </section>
      <section>
        <h2>Steps</h2>
        ${brk
        ? html `<p class="cachebreak">
                The cache broke at <strong>${brk.step}</strong> (${brk.platform})${brk.previous_build_id
            ? html `, compared with the previous build of this ref,
                        <a href="/ui/builds/${brk.previous_build_id}">${brk.previous_build_id}</a>`
            : ', the first build of this ref'}.
              </p>`
        : ins.steps.length
            ? html `<p class="cachebreak">
                  ${ins.steps_live ? 'No step has missed the cache so far.' : 'Every step was cached.'}
                </p>`
            : ''}
        ${failed.length ? html `<p class="error">Failed at <strong>${failed[0].name}</strong>.</p>` : ''}
        ${ins.steps_live && ins.steps.length
        ? live
            ? html `<p class="muted livesteps">
                  Steps so far, sent while the build runs; this page follows them.
                </p>`
            : html `<p class="muted livesteps">
                  The build ended before it sent its full set of steps: these are the ones it sent while it
                  ran.
                </p>`
        : ''}
        ${platforms.length
        ? platforms.map((p) => html `<h3>${p}</h3>
                    ${waterfall(ins.steps.filter((s) => s.platform === p), breakStep && breakStep.platform === p ? breakStep.digest : null, new Set(ins.critical_path?.[p] ?? []), 420, open)}`)
        : html `<p class="muted">No steps recorded${live ? ' yet' : ''}.</p>`}
      </section>
      ${ins.warnings.length && !ins.dockerfile?.contents
        ? html `<section>
              <h2>Build checks</h2>
              <ul>
                ${ins.warnings.map((w) => html `<li>${w.line ? `line ${w.line}: ` : ''}${w.message}</li>`)}
              </ul>
            </section>`
        : ''}
      ${ins.dockerfile
        ? html `<section>
              <h2>Dockerfile</h2>
              <p class="mono muted">
                ${ins.dockerfile.path} · sha256
                ${ins.dockerfile.sha256.slice(0, 12)}${ins.warnings.length
            ? ` · ${ins.warnings.length} build-check warning${ins.warnings.length > 1 ? 's' : ''}`
            : ''}
              </p>
              ${ins.dockerfile.contents !== null ? dockerfileView(ins.dockerfile.contents, ins.warnings) : html `<p class="muted">Contents not sent.</p>`}
            </section>`
        : ''}`, { csrf, live });
}

;// CONCATENATED MODULE: ./src/server/projects/update.ts
async function updateProjectAudited(deps, id, patch, by) {
    return deps.db.transaction(async (tx) => {
        const p = await deps.projects.update(id, patch, tx);
        await deps.audit.record({
            action: 'project.update',
            outcome: 'ok',
            project_id: p.id,
            subject: by.subject,
            reason: by.reason,
            details: { ...patch },
        }, tx);
        return p;
    });
}

;// CONCATENATED MODULE: ./src/server/ui/project-pages.ts


const csrfField = (csrf) => html `<input type="hidden" name="csrf" value="${csrf}" />`;
function projectsPage(rows, csrf) {
    return layout('Projects', html `<h1>Projects</h1>
      <table class="projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Id</th>
            <th class="num">Builds</th>
            <th class="num">Active</th>
            <th>Last build</th>
            <th>Builds per builder</th>
            <th>Autoscaling</th>
          </tr>
        </thead>
        <tbody>
          ${rows.length
        ? rows.map((r) => html `<tr data-project="${r.project.id}">
                      <td><a href="/ui/projects/${r.project.id}">${r.project.name}</a></td>
                      <td class="mono">${r.project.id}</td>
                      <td class="num">${r.builds}</td>
                      <td class="num">${r.active}</td>
                      <td>${r.last_build_at ?? html `<span class="muted">never</span>`}</td>
                      <td>${r.project.max_concurrent_builds ?? 'unlimited'}</td>
                      <td>
                        ${r.project.autoscaling ? `on, up to ${r.project.max_builders_per_platform} per platform` : 'off'}
                      </td>
                    </tr>`)
        : html `<tr>
                  <td colspan="6" class="muted">
                    No projects yet: create one with hoist projects create NAME.
                  </td>
                </tr>`}
        </tbody>
      </table>`, { csrf });
}
const errorFor = (d, form) => d.error?.form === form ? html `<p class="error" role="alert">${d.error.message}</p>` : html ``;
function tokenState(t, now) {
    if (t.revoked_at)
        return html `<span class="badge st-failed">revoked ${t.revoked_at}</span>`;
    if (t.expires_at && t.expires_at <= now)
        return html `<span class="badge st-canceled">expired</span>`;
    return html `<span class="badge st-success">active</span>`;
}
function policyCells(p) {
    return html `<td class="mono">${p.repository}</td>
    <td>${p.refs.length ? p.refs.join(', ') : html `<span class="muted">any ref</span>`}</td>
    <td>${p.environment ?? html `<span class="muted">any</span>`}</td>
    <td>${p.workflow ?? html `<span class="muted">any</span>`}</td>
    <td class="mono">
      ${p.repository_id ? `repo ${p.repository_id}` : html `<span class="muted">pins on first use</span>`}
      ${p.repository_owner_id ? ` · owner ${p.repository_owner_id}` : ''}
    </td>
    <td>${p.allow_pull_request_target ? 'pull_request_target allowed' : ''}</td>`;
}
function previewView(pv) {
    return html `<div class="preview ${pv.granted ? 'granted' : 'refused'}" id="preview-result">
    <p class="${pv.granted ? 'ok' : 'error'}">
      <strong>${pv.granted ? 'Granted' : 'Refused'}</strong>: ${pv.reason}
    </p>
    ${pv.missing.length
        ? html `<p class="muted">
            Claims missing from the input (matched as empty): ${pv.missing.join(', ')}
          </p>`
        : ''}
    <table class="verdicts">
      <thead>
        <tr>
          <th>Policy</th>
          <th>Result</th>
          <th>Why</th>
        </tr>
      </thead>
      <tbody>
        ${pv.policies.map((v) => html `<tr data-policy="${v.policy.id}" class="${v.allows ? 'allows' : 'refuses'}">
              <td class="mono">
                ${v.policy.id}${v.policy.id === pv.policy_id ? html ` <span class="badge st-success">chosen</span>` : ''}
              </td>
              <td>${v.allows ? 'allows' : 'refuses'}</td>
              <td>${v.why}</td>
            </tr>`)}
      </tbody>
    </table>
  </div>`;
}
function projectPage(d, csrf, now) {
    const p = d.project;
    const v = (k, dflt = '') => d.values?.[k] ?? dflt;
    const active = d.tokens.filter((t) => !t.revoked_at);
    return layout(`Project ${p.name}`, html `<h1>Project ${p.name} <span class="mono muted">${p.id}</span></h1>
      <p>
        <a href="/ui/builds?project=${encodeURIComponent(p.name)}">Builds</a> ·
        <a href="/ui/charts?project=${encodeURIComponent(p.name)}">Charts</a>
      </p>
      ${d.notice ? html `<p class="notice" role="status">${d.notice}</p>` : ''}
      <section class="card" id="settings">
        <h2>Settings</h2>
        ${errorFor(d, 'settings')}
        <form method="post" action="/ui/projects/${p.id}/settings" class="settings">
          ${csrfField(csrf)}
          <label
            >Builds per builder
            <input
              name="max_concurrent_builds"
              inputmode="numeric"
              value="${v('max_concurrent_builds', p.max_concurrent_builds === null ? '' : String(p.max_concurrent_builds))}"
              placeholder="unlimited"
          /></label>
          <label class="check"
            ><input
              type="checkbox"
              name="autoscaling"
              ${(d.values ? d.values.autoscaling === 'on' : p.autoscaling) ? html ` checked` : ''}
            />
            Autoscaling</label
          >
          <label
            >Most builders per platform
            <input
              name="max_builders_per_platform"
              inputmode="numeric"
              value="${v('max_builders_per_platform', String(p.max_builders_per_platform))}"
          /></label>
          <button type="submit">Save settings</button>
        </form>
        <p class="muted">
          Builds per builder: blank means unlimited (BuildKit shares the steps concurrent builds have in
          common). With autoscaling on, a platform whose builders are full gets another builder, started from
          a clone of the primary's cache, up to the most builders per platform (the primary included);
          autoscaling needs a number of builds per builder.
        </p>
      </section>

      <section class="card" id="tokens">
        <h2>Tokens</h2>
        ${d.newToken
        ? html `<div class="newtoken" role="status">
                <p>
                  Token <strong>${d.newToken.name}</strong> (<span class="mono">${d.newToken.id}</span>) was
                  created. Copy it now: it is shown only this once.
                </p>
                <input class="mono" id="new-token" readonly value="${d.newToken.token}" size="60" />
              </div>`
        : ''}
        <table class="tokens">
          <thead>
            <tr>
              <th>Name</th>
              <th>Id</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>State</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${d.tokens.length
        ? d.tokens.map((t) => html `<tr data-token="${t.id}">
                        <td>${t.name}</td>
                        <td class="mono">${t.id}</td>
                        <td>${t.created_at}</td>
                        <td>${t.expires_at ?? html `<span class="muted">never</span>`}</td>
                        <td>${t.last_used_at ?? html `<span class="muted">never</span>`}</td>
                        <td>${tokenState(t, now)}</td>
                        <td>
                          ${t.revoked_at
            ? ''
            : html `<form method="post" action="/ui/projects/${p.id}/tokens/${t.id}/revoke">
                                  ${csrfField(csrf)}<button type="submit" class="danger">Revoke</button>
                                </form>`}
                        </td>
                      </tr>`)
        : html `<tr>
                    <td colspan="7" class="muted">No project tokens.</td>
                  </tr>`}
          </tbody>
        </table>
        <p class="muted">${active.length} not revoked. Revoking ends the builds a token started.</p>
        ${errorFor(d, 'token')}
        <form method="post" action="/ui/projects/${p.id}/tokens" class="inline">
          ${csrfField(csrf)}
          <label>Name <input name="name" value="${v('name')}" maxlength="200" required /></label>
          <label
            >Expires in (days)
            <input
              name="expires_days"
              value="${v('expires_days')}"
              inputmode="numeric"
              placeholder="server default"
          /></label>
          <button type="submit">Create token</button>
        </form>
      </section>

      <section class="card" id="trust">
        <h2>Trust policies</h2>
        <table class="policies">
          <thead>
            <tr>
              <th>Id</th>
              <th>Repository</th>
              <th>Refs</th>
              <th>Environment</th>
              <th>Workflow</th>
              <th>Pinned ids</th>
              <th></th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${d.policies.length
        ? d.policies.map((pol) => html `<tr data-policy="${pol.id}">
                        <td class="mono">${pol.id}</td>
                        ${policyCells(pol)}
                        <td>
                          <form method="post" action="/ui/projects/${p.id}/trust-policies/${pol.id}/delete">
                            ${csrfField(csrf)}<button type="submit" class="danger">Remove</button>
                          </form>
                        </td>
                      </tr>`)
        : html `<tr>
                    <td colspan="8" class="muted">
                      No trust policies: GitHub workflows cannot exchange their ID tokens for this project.
                    </td>
                  </tr>`}
          </tbody>
        </table>
        ${errorFor(d, 'policy')}
        <form method="post" action="/ui/projects/${p.id}/trust-policies" class="inline">
          ${csrfField(csrf)}
          <label
            >Repository <input name="repository" value="${v('repository')}" placeholder="owner/name" required
          /></label>
          <label
            >Refs <input name="refs" value="${v('refs')}" placeholder="refs/heads/main refs/tags/v*"
          /></label>
          <label>Environment <input name="environment" value="${v('environment')}" /></label>
          <label>Workflow <input name="workflow" value="${v('workflow')}" placeholder="release.yml" /></label>
          <label class="check"
            ><input
              type="checkbox"
              name="allow_pull_request_target"
              ${v('allow_pull_request_target') === 'on' ? html ` checked` : ''}
            />
            allow pull_request_target</label
          >
          <button type="submit">Add policy</button>
        </form>

        <h3>Claims preview</h3>
        <p class="muted">
          Paste the claims of a GitHub ID token, or pick claims a recent exchange presented, and see which
          policy matches and why. Nothing is granted or recorded.
        </p>
        ${errorFor(d, 'preview')}
        <form method="post" action="/ui/projects/${p.id}/preview" class="preview-form">
          ${csrfField(csrf)}
          <label
            >Recent claims
            <select name="event">
              <option value="">— paste below —</option>
              ${d.recentClaims.map((c) => html `<option value="${c.event_id}">${c.at} · ${c.outcome} · ${c.label}</option>`)}
            </select></label
          >
          <label
            >Claims (JSON)
            <textarea
              name="claims"
              rows="7"
              cols="80"
              class="mono"
              placeholder='{"repository":"acme/app","ref":"refs/heads/main","event_name":"push","job_workflow_ref":"acme/app/.github/workflows/ci.yml@refs/heads/main"}'
            >
${d.claimsText ?? ''}</textarea>
          </label>
          <button type="submit">Preview</button>
        </form>
        ${d.preview ? previewView(d.preview) : ''}
      </section>

      <section class="card" id="refusals">
        <h2>Refusals</h2>
        <table class="refusals">
          <thead>
            <tr>
              <th>At</th>
              <th>Action</th>
              <th>Subject</th>
              <th>Reason</th>
              <th class="num">Count</th>
            </tr>
          </thead>
          <tbody>
            ${d.refusals.length
        ? d.refusals.map((e) => html `<tr data-event="${e.id}">
                        <td>${e.at}</td>
                        <td class="mono">${e.action}</td>
                        <td class="mono">${e.subject ?? ''}</td>
                        <td>${e.reason}</td>
                        <td class="num">${typeof e.details.count === 'number' ? e.details.count : 1}</td>
                      </tr>`)
        : html `<tr>
                    <td colspan="5" class="muted">Nothing was refused for this project.</td>
                  </tr>`}
          </tbody>
        </table>
      </section>`, { csrf });
}

;// CONCATENATED MODULE: ./src/server/ui/projects.ts






const OIDC_ACTION = 'auth.github_oidc';
const MAX_RECENT = 20;
/** The recorded claims of an exchange (its audit details without Hoist's own fields). */
function claimsOfEvent(e) {
    const { policy_id: _p, token_id: _t, pinned: _pin, client_ip: _c, count: _n, first_at: _f, last_at: _l, ...rest } = e.details;
    return rest;
}
function registerProjectPages(ui, deps, afterRevoke) {
    const { db, projects, tokens, audit, clock } = deps;
    const trust = new TrustPolicyStore(db, clock);
    const page = (reply, body) => reply.type('text/html; charset=utf-8').send(body);
    const idOf = (r) => r.params.id;
    const form = (r) => r.body ?? {};
    /**
     * Exchanges that concern this project: its own, and unattributed refusals of a repository
     * one of its policies names (the "no project trusts this repository" ones). Never another
     * project's.
     */
    const oidcEvents = async (projectId, repos) => {
        const rows = await db.all(`SELECT * FROM audit_events WHERE action = ? AND (project_id = ? OR project_id IS NULL)
       ORDER BY id DESC LIMIT 200`, [OIDC_ACTION, projectId]);
        return rows
            .map((r) => ({ ...r, details: JSON.parse(r.details) }))
            .filter((e) => e.project_id === projectId ||
            (typeof e.details.repository === 'string' && repos.has(e.details.repository.toLowerCase())));
    };
    const load = async (idOrName, extra = {}) => {
        const project = await projects.require(idOrName);
        const [toks, policies] = await Promise.all([
            tokens.list({ project_id: project.id, kind: 'project' }),
            trust.list(project.id),
        ]);
        const repos = new Set(policies.map((p) => p.repository.toLowerCase()));
        const events = await oidcEvents(project.id, repos);
        const refused = await db.all(`SELECT * FROM audit_events WHERE project_id = ? AND outcome = 'refused' ORDER BY id DESC LIMIT 100`, [project.id]);
        const refusals = [
            ...refused.map((r) => ({ ...r, details: JSON.parse(r.details) })),
            ...events.filter((e) => e.project_id === null && e.outcome === 'refused'),
        ].sort((a, b) => (a.id < b.id ? 1 : -1));
        const recentClaims = events
            .filter((e) => typeof e.details.repository === 'string' && typeof e.details.ref === 'string')
            .slice(0, MAX_RECENT)
            .map((e) => ({
            event_id: e.id,
            at: e.at,
            outcome: e.outcome,
            label: `${String(e.details.repository)} ${String(e.details.ref)} (${String(e.details.event_name ?? '?')}${e.details.workflow ? `, ${String(e.details.workflow)}` : ''})`,
        }));
        return { project, tokens: toks, policies, refusals, recentClaims, ...extra };
    };
    const render = async (request, reply, extra = {}, status = 200) => page(reply.code(status), projectPage(await load(idOf(request), extra), request.uiSession.csrf, iso(clock.now())));
    /** Back to the project page after a change (a reload does not post the form again). */
    const done = (reply, projectId, notice) => reply.redirect(`/ui/projects/${projectId}?notice=${encodeURIComponent(notice)}`, 303);
    const NOTICES = new Set(['settings saved', 'token revoked', 'trust policy added', 'trust policy removed']);
    ui.get('/ui/projects', async (request, reply) => {
        const list = await projects.list();
        const stats = await db.all(`SELECT project_id, COUNT(*) AS builds, SUM(CASE WHEN status IN ('queued', 'running') THEN 1 ELSE 0 END) AS active,
         MAX(queued_at) AS last FROM builds GROUP BY project_id`);
        const by = new Map(stats.map((s) => [s.project_id, s]));
        const rows = list.map((project) => {
            const s = by.get(project.id);
            return {
                project,
                builds: Number(s?.builds ?? 0),
                active: Number(s?.active ?? 0),
                last_build_at: s?.last ?? null,
            };
        });
        return page(reply, projectsPage(rows, request.uiSession.csrf));
    });
    ui.get('/ui/projects/:id', async (request, reply) => {
        const n = request.query.notice;
        return render(request, reply, { notice: typeof n === 'string' && NOTICES.has(n) ? n : undefined });
    });
    ui.post('/ui/projects/:id/settings', async (request, reply) => {
        const f = form(request);
        const patch = settingsPatch(f, await projects.require(idOf(request)));
        if (!patch.ok) {
            return render(request, reply, { error: { form: 'settings', message: patch.error }, values: strings(f) }, 400);
        }
        const p = await updateProjectAudited(deps, idOf(request), patch.value, {
            subject: request.uiSession.token_id,
            reason: 'project updated from the dashboard',
        });
        return done(reply, p.id, 'settings saved');
    });
    ui.post('/ui/projects/:id/tokens', async (request, reply) => {
        const f = form(request);
        const req = tokenRequest(f);
        if (!req.ok) {
            return render(request, reply, { error: { form: 'token', message: req.error }, values: strings(f) }, 400);
        }
        const ttl = req.value.expires_in ?? deps.config.projectTokenTtlSec;
        const minted = await db.transaction(async (tx) => {
            const p = await projects.require(idOf(request), tx);
            const m = await tokens.mint({
                kind: 'project',
                name: req.value.name,
                project_id: p.id,
                expires_at: ttl ? new Date(clock.now().getTime() + ttl * 1000) : null,
            }, tx);
            await audit.record({
                action: 'token.create',
                outcome: 'ok',
                project_id: p.id,
                subject: request.uiSession.token_id,
                reason: `project token ${m.info.id} created from the dashboard`,
                details: { token_id: m.info.id, name: req.value.name },
            }, tx);
            return m;
        });
        // Rendered, not redirected: the secret is in this one response and nowhere else.
        return render(request, reply.code(201), { newToken: { id: minted.info.id, name: minted.info.name, token: minted.token } }, 201);
    });
    ui.post('/ui/projects/:id/tokens/:tokenId/revoke', async (request, reply) => {
        const tokenId = request.params.tokenId;
        const p = await db.transaction(async (tx) => {
            const p = await projects.require(idOf(request), tx);
            const t = await tokens.revoke(tokenId, { project_id: p.id }, tx);
            await audit.record({
                action: 'token.revoke',
                outcome: 'ok',
                project_id: p.id,
                subject: request.uiSession.token_id,
                reason: `token ${t.id} revoked from the dashboard`,
                details: { token_id: t.id },
            }, tx);
            return p;
        });
        // as after DELETE on the API: the token's builds end now, not at the next sweep
        await afterRevoke().catch((err) => request.log.error({ err }, 'ending the builds of a revoked token failed'));
        return done(reply, p.id, 'token revoked');
    });
    ui.post('/ui/projects/:id/trust-policies', async (request, reply) => {
        const f = form(request);
        const input = policyInput(f);
        if (!input.ok) {
            return render(request, reply, { error: { form: 'policy', message: input.error }, values: strings(f) }, 400);
        }
        const p = await db.transaction(async (tx) => {
            const p = await projects.require(idOf(request), tx);
            const policy = await trust.add(p.id, input.value, tx);
            await audit.record({
                action: 'trust_policy.create',
                outcome: 'ok',
                project_id: p.id,
                subject: request.uiSession.token_id,
                reason: `trust policy ${policy.id} for ${policy.repository} added from the dashboard`,
                details: { policy },
            }, tx);
            return p;
        });
        return done(reply, p.id, 'trust policy added');
    });
    ui.post('/ui/projects/:id/trust-policies/:policyId/delete', async (request, reply) => {
        const policyId = request.params.policyId;
        const p = await db.transaction(async (tx) => {
            const p = await projects.require(idOf(request), tx);
            await trust.remove(p.id, policyId, tx);
            await audit.record({
                action: 'trust_policy.delete',
                outcome: 'ok',
                project_id: p.id,
                subject: request.uiSession.token_id,
                reason: `trust policy ${policyId} removed from the dashboard`,
                details: {},
            }, tx);
            return p;
        });
        return done(reply, p.id, 'trust policy removed');
    });
    ui.post('/ui/projects/:id/preview', async (request, reply) => {
        const f = form(request);
        const project = await projects.require(idOf(request));
        let raw = typeof f.claims === 'string' ? f.claims : '';
        const eventId = typeof f.event === 'string' ? f.event : '';
        if (eventId) {
            const policies = await trust.list(project.id);
            const events = await oidcEvents(project.id, new Set(policies.map((x) => x.repository.toLowerCase())));
            const e = events.find((x) => x.id === eventId);
            if (!e) {
                throw new ApiError(404, 'event_not_found', `no recent exchange ${eventId} of project ${project.name}`);
            }
            raw = JSON.stringify(claimsOfEvent(e), null, 2);
        }
        if (raw.length > 16 * 1024) {
            return render(request, reply, { error: { form: 'preview', message: 'the claims are over 16 KiB; paste only the token payload' } }, 400);
        }
        const parsed = parseClaims(raw);
        if (!parsed.ok) {
            return render(request, reply, { error: { form: 'preview', message: parsed.error }, claimsText: raw }, 400);
        }
        const policies = await trust.list(project.id);
        const preview = previewClaims(parsed.value.claims, parsed.value.missing, project, policies);
        return render(request, reply, { preview, claimsText: raw });
    });
}
/** A posted form's string fields, to fill the form again after an error. */
function strings(f) {
    return Object.fromEntries(Object.entries(f).filter((e) => typeof e[1] === 'string' && e[0] !== 'csrf'));
}

;// CONCATENATED MODULE: ./src/server/ui/fleet-pages.ts


/** 1536 → "1.5 KiB". */
function formatBytes(n) {
    if (n === null || n === undefined || !Number.isFinite(n))
        return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
const KINDS = [
    ['layers_bytes', 'layers'],
    ['cache_mounts_bytes', 'cache mounts'],
    ['source_bytes', 'source contexts'],
    ['other_bytes', 'other'],
];
/** A stacked bar of the cache by kind against the GC limit (the bar's full width). */
function cacheBar(c, width = 220) {
    const total = KINDS.reduce((n, [k]) => n + c[k], 0);
    const scale = Math.max(c.gc_limit_bytes ?? 0, total, 1);
    let x = 0;
    return html `<svg
    class="cachebar"
    width="${width}"
    height="12"
    viewBox="0 0 ${width} 12"
    role="img"
    aria-label="cache by kind against the GC limit"
  >
    <rect class="limit" x="0" y="0" width="${width}" height="12"></rect>
    ${KINDS.map(([k, label]) => {
        const w = (c[k] / scale) * width;
        const r = html `<rect
        class="k-${k.replace('_bytes', '')}"
        x="${x.toFixed(1)}"
        y="1"
        width="${w.toFixed(1)}"
        height="10"
        ><title>${label}: ${formatBytes(c[k])}</title></rect
      >`;
        x += w;
        return r;
    })}
  </svg>`;
}
function buildersPage(builders, queues, csrf, now) {
    const running = builders.filter((b) => b.state === 'running');
    return layout('Builders', html `<h1>Builders</h1>
      <p class="muted">
        ${running.length} running of ${builders.length}; ${builders.filter((b) => b.role === 'clone').length}
        clones; ${builders.reduce((n, b) => n + b.in_use, 0)} build platforms on builders;
        ${queues.reduce((n, q) => n + q.waiting, 0)} waiting.
      </p>
      <table class="builders">
        <thead>
          <tr>
            <th>Builder</th>
            <th>Project</th>
            <th>Platform</th>
            <th>Role</th>
            <th>State</th>
            <th>Uptime</th>
            <th class="num">Restarts</th>
            <th>In use</th>
            <th>Cache against GC limit</th>
            <th>Filesystem</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>
          ${builders.length
        ? builders.map((b) => {
            const c = b.cache;
            return html `<tr data-builder="${b.id}" data-state="${b.state}">
                    <td class="mono">${b.id}</td>
                    <td><a href="/ui/projects/${b.project_id}">${b.project_name}</a></td>
                    <td>${b.platform}</td>
                    <td>${b.role}</td>
                    <td>
                      <span
                        class="badge st-${b.state === 'running' ? 'success' : b.state === 'failed' ? 'failed' : 'canceled'}"
                        >${b.state}</span
                      >
                    </td>
                    <td>
                      ${b.state === 'running' && b.started_at ? formatDuration(now.getTime() - Date.parse(b.started_at)) : '—'}
                    </td>
                    <td class="num">
                      ${b.restarts}${b.launch_failures ? html ` <span class="muted">(${b.launch_failures} failed launches)</span>` : ''}
                    </td>
                    <td class="inuse">${b.in_use} of ${b.limit ?? 'unlimited'}</td>
                    <td class="cache">
                      ${c
                ? html `${cacheBar(c)}
                              <div class="cachekinds">
                                ${KINDS.map(([k, label]) => html `<span class="kind"><span class="sw k-${k.replace('_bytes', '')}"></span>${label} ${formatBytes(c[k])}</span>`)}
                              </div>
                              <div class="muted">
                                ${formatBytes(c.layers_bytes + c.cache_mounts_bytes + c.source_bytes + c.other_bytes)}
                                of ${formatBytes(c.gc_limit_bytes)} GC limit · reclaimable
                                ${formatBytes(c.reclaimable_bytes)} · ${c.records} records · at ${c.at}
                                (${c.reason})
                              </div>`
                : html `<span class="muted">no snapshot yet</span>`}
                    </td>
                    <td>
                      ${c && c.fs_total_bytes ? `${formatBytes(c.fs_used_bytes)} of ${formatBytes(c.fs_total_bytes)}` : '—'}
                    </td>
                    <td class="lasterror">${b.last_error ?? ''}</td>
                  </tr>`;
        })
        : html `<tr>
                  <td colspan="11" class="muted">
                    No builders yet: one starts with a project's first build.
                  </td>
                </tr>`}
        </tbody>
      </table>
      <h2>Queue</h2>
      <table class="queue">
        <thead>
          <tr>
            <th>Project</th>
            <th>Platform</th>
            <th class="num">Waiting</th>
            <th>Oldest since</th>
          </tr>
        </thead>
        <tbody>
          ${queues.length
        ? queues.map((q) => html `<tr>
                      <td>${q.project_name}</td>
                      <td>${q.platform}</td>
                      <td class="num">${q.waiting}</td>
                      <td>${q.oldest ?? ''}</td>
                    </tr>`)
        : html `<tr>
                  <td colspan="4" class="muted">No build is waiting for a builder.</td>
                </tr>`}
        </tbody>
      </table>`, { csrf });
}
/** A line chart of one or more series over the buckets, with a y axis in `fmt` units. */
function lineChart(title, points, series, fmt, opts = {}) {
    const W = opts.width ?? 640;
    const H = opts.height ?? 180;
    const L = 64;
    const B = 22;
    const plotW = W - L - 8;
    const plotH = H - B - 8;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null);
    const max = opts.max ?? Math.max(1, ...all);
    const x = (i) => L + (points.length <= 1 ? plotW / 2 : (i / (points.length - 1)) * plotW);
    const y = (v) => 8 + plotH - (v / max) * plotH;
    const ticks = [0, 0.5, 1].map((f) => f * max);
    const labelEvery = Math.max(1, Math.ceil(points.length / 6));
    return html `<figure class="chart" data-chart="${title}">
    <figcaption>${title}</figcaption>
    <svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}">
      ${ticks.map((t) => html `<line
              class="grid"
              x1="${L}"
              x2="${W - 8}"
              y1="${y(t).toFixed(1)}"
              y2="${y(t).toFixed(1)}"
            ></line>
            <text class="tick" x="${L - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`)}
      ${points.map((p, i) => i % labelEvery === 0
        ? html `<text class="tick" x="${x(i).toFixed(1)}" y="${H - 6}" text-anchor="middle"
              >${p.at.slice(5, p.at.endsWith('T00:00:00.000Z') ? 10 : 13).replace('T', ' ')}</text
            >`
        : '')}
      ${series.map((s) => {
        // a gap where a bucket had no builds
        const segs = [];
        let cur = '';
        s.values.forEach((v, i) => {
            if (v === null) {
                if (cur)
                    segs.push(cur);
                cur = '';
                return;
            }
            cur += `${cur ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        });
        if (cur)
            segs.push(cur);
        return html `<path class="line ${s.cls}" d="${segs.join(' ')}"></path> ${s.values.map((v, i) => v === null
            ? ''
            : html `<circle class="dot ${s.cls}" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5"
                  ><title>${s.label} ${points[i].at}: ${fmt(v)} (${points[i].builds} builds)</title></circle
                >`)}`;
    })}
    </svg>
    <ul class="legend">
      ${series.map((s) => html `<li><span class="sw ${s.cls}"></span>${s.label}</li>`)}
    </ul>
  </figure>`;
}
function chartsPage(opts) {
    const { points } = opts;
    const builds = points.reduce((n, p) => n + p.builds, 0);
    const saved = points.reduce((n, p) => n + p.saved_ms, 0);
    const pct = (v) => `${Math.round(v * 100)} %`;
    return layout('Charts', html `<h1>Charts${opts.project ? html ` · ${opts.project}` : ''}</h1>
      <form method="get" action="/ui/charts" class="filters">
        <label
          >Project
          <select name="project">
            <option value="">all projects</option>
            ${opts.projects.map((p) => html `<option value="${p}" ${p === opts.project ? html ` selected` : ''}>${p}</option>`)}
          </select></label
        >
        <label
          >Range
          <select name="range">
            ${opts.ranges.map((r) => html `<option value="${r}" ${r === opts.range ? html ` selected` : ''}>last ${r}</option>`)}
          </select></label
        >
        <button type="submit">Show</button>
      </form>
      <p class="summary">
        <span id="chart-builds">${builds}</span> finished builds; time saved by the cache
        <strong id="chart-saved">${formatDuration(saved)}</strong>.
      </p>
      ${builds
        ? html `<div class="charts">
              ${lineChart('Build duration', points, [
            { label: 'p50', cls: 's-p50', values: points.map((p) => p.p50_ms) },
            { label: 'p95', cls: 's-p95', values: points.map((p) => p.p95_ms) },
        ], formatDuration)}
              ${lineChart('Cache hit ratio', points, [{ label: 'cached steps / steps', cls: 's-hit', values: points.map((p) => p.hit_ratio) }], pct, { max: 1 })}
              ${lineChart('Queue wait', points, [
            { label: 'p50', cls: 's-p50', values: points.map((p) => p.queue_p50_ms) },
            { label: 'p95', cls: 's-p95', values: points.map((p) => p.queue_p95_ms) },
        ], formatDuration)}
              ${lineChart('Time saved', points, [
            {
                label: 'saved by cached steps',
                cls: 's-saved',
                values: points.map((p) => (p.builds ? p.saved_ms : null)),
            },
        ], formatDuration)}
            </div>`
        : html `<p class="muted">No finished builds in this range.</p>`}`, { csrf: opts.csrf });
}

;// CONCATENATED MODULE: ./src/server/ui/session.ts
// Dashboard sessions: an admin token is exchanged once for a random session id in an
// HttpOnly, SameSite=Strict cookie. Only its SHA-256 is stored; the session dies with the
// admin token (revoked or expired), at sign-out, or after SESSION_TTL_MS.


const SESSION_COOKIE = 'hoist_session';
const SESSION_TTL_MS = 12 * 3600_000;
/** The value of one cookie in a Cookie header, or undefined. */
function cookieValue(header, name) {
    if (!header)
        return undefined;
    for (const part of header.split(';')) {
        const i = part.indexOf('=');
        if (i > 0 && part.slice(0, i).trim() === name)
            return part.slice(i + 1).trim();
    }
    return undefined;
}
/** Constant-time comparison of two strings (a CSRF token against the session's). */
function sameSecret(a, b) {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && (0,external_node_crypto_.timingSafeEqual)(x, y);
}
/**
 * A form post comes from the dashboard itself when its Origin is the server's public origin.
 * A missing Origin is refused: every browser that runs the dashboard sends one on POST.
 */
function originAllowed(origin, publicUrl) {
    if (!origin)
        return false;
    try {
        return new URL(origin).origin === new URL(publicUrl).origin;
    }
    catch {
        return false;
    }
}
function sessionCookie(id, secure, maxAgeSec) {
    return `${SESSION_COOKIE}=${id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${secure ? '; Secure' : ''}`;
}
class Sessions {
    db;
    clock;
    constructor(db, clock) {
        this.db = db;
        this.clock = clock;
    }
    async create(tokenId) {
        const id = (0,external_node_crypto_.randomBytes)(32).toString('base64url');
        const csrf = (0,external_node_crypto_.randomBytes)(24).toString('base64url');
        const now = this.clock.now();
        await this.db.run('INSERT INTO ui_sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [sha256Hex(id), tokenId, csrf, iso(now), iso(new Date(now.getTime() + SESSION_TTL_MS))]);
        // expired sessions go now and then, with the sign-ins that make new ones
        await this.db.run('DELETE FROM ui_sessions WHERE expires_at < ?', [iso(now)]);
        return { id, csrf };
    }
    /** The live session of a cookie value: unexpired, its admin token neither revoked nor expired. */
    async get(id) {
        if (!id || id.length > 128)
            return undefined;
        const now = iso(this.clock.now());
        return this.db.get(`SELECT s.token_id, s.csrf FROM ui_sessions s JOIN tokens t ON t.id = s.token_id
       WHERE s.id_hash = ? AND s.expires_at > ? AND t.kind = 'admin' AND t.revoked_at IS NULL
         AND (t.expires_at IS NULL OR t.expires_at > ?)`, [sha256Hex(id), now, now]);
    }
    async delete(id) {
        if (id)
            await this.db.run('DELETE FROM ui_sessions WHERE id_hash = ?', [sha256Hex(id)]);
    }
}

;// CONCATENATED MODULE: ./src/server/ui/index.ts







const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PAGE_SIZE = 50;
const ui_STATUSES = new Set(['queued', 'running', 'success', 'failed', 'canceled', 'expired']);
/** The list filter from a query string; unknown or oversized values are dropped. */
function listFilter(q) {
    const s = (k, max = 256) => {
        const v = q[k];
        return typeof v === 'string' && v.trim() && v.length <= max ? v.trim() : undefined;
    };
    const status = s('status');
    return {
        project: s('project'),
        status: status && ui_STATUSES.has(status) ? status : undefined,
        repository: s('repository'),
        branch: s('branch'),
        before: s('before', 128),
        limit: PAGE_SIZE,
    };
}
function registerUi(app, deps, insights, service) {
    const sessions = new Sessions(deps.db, deps.clock);
    const secure = Boolean(deps.config.tls);
    const streams = new Set();
    // Open event streams would hold the server's close: end them first.
    app.addHook('preClose', async () => {
        for (const s of streams)
            s.end();
        streams.clear();
    });
    void app.register(async (ui) => {
        // Forms post urlencoded bodies; only here (the API parses every body as JSON).
        ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
            done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString())));
        });
        ui.addHook('onRequest', async (request, reply) => {
            void reply
                .header('content-security-policy', CSP)
                .header('x-content-type-options', 'nosniff')
                .header('x-frame-options', 'DENY')
                .header('referrer-policy', 'same-origin')
                .header('cache-control', 'no-store');
            const path = request.url.split('?', 1)[0];
            if (request.method === 'POST' && !originAllowed(request.headers.origin, deps.publicUrl())) {
                throw new ApiError(403, 'bad_origin', `refused: this form was not posted from the dashboard (Origin ${request.headers.origin ?? 'missing'}); open ${deps.publicUrl()}/ui and try again`);
            }
            if (path === '/ui/login' || path.startsWith('/ui/assets/'))
                return;
            const session = await sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
            if (!session) {
                if (request.method === 'GET' &&
                    !path.startsWith('/ui/events') &&
                    !path.startsWith('/ui/builds/rows')) {
                    return reply.redirect('/ui/login', 303);
                }
                throw new ApiError(401, 'signed_out', 'your session has ended; sign in again at /ui/login');
            }
            request.uiSession = session;
        });
        // A form's CSRF token must be its session's (the Origin check above came first).
        ui.addHook('preHandler', async (request) => {
            if (request.method !== 'POST' || !request.uiSession)
                return;
            const sent = request.body?.csrf;
            if (typeof sent !== 'string' || !sameSecret(sent, request.uiSession.csrf)) {
                throw new ApiError(403, 'bad_csrf', 'refused: the form carried no valid CSRF token (it may come from an old page); reload the page and try again');
            }
        });
        ui.setErrorHandler((err, request, reply) => {
            const status = err instanceof ApiError ? err.status : (err.statusCode ?? 500);
            const message = status >= 500 ? 'the server failed to render this page; see its log' : err.message;
            if (status >= 500)
                request.log.error({ err }, 'dashboard error');
            return reply
                .code(status)
                .type('text/html; charset=utf-8')
                .send(errorPage(status, message, request.uiSession?.csrf));
        });
        const page = (reply, body) => reply.type('text/html; charset=utf-8').send(body);
        ui.get('/ui', async (_request, reply) => reply.redirect('/ui/builds', 303));
        ui.get('/ui/assets/app.js', async (_r, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(APP_JS));
        ui.get('/ui/assets/app.css', async (_r, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(APP_CSS));
        ui.get('/ui/login', async (_request, reply) => page(reply, loginPage()));
        ui.post('/ui/login', async (request, reply) => {
            const token = request.body?.token;
            let who;
            try {
                if (typeof token !== 'string' || !token.trim())
                    throw new Error('no token');
                who = await deps.tokens.authenticate(token.trim());
            }
            catch {
                return page(reply.code(401), loginPage('That token is not a valid Hoist admin token.'));
            }
            if (who.kind !== 'admin') {
                return page(reply.code(403), loginPage(`A ${who.kind} token cannot sign in to the dashboard; use an admin token.`));
            }
            const s = await sessions.create(who.token_id);
            return reply
                .header('set-cookie', sessionCookie(s.id, secure, Math.floor(SESSION_TTL_MS / 1000)))
                .redirect('/ui/builds', 303);
        });
        ui.post('/ui/logout', async (request, reply) => {
            await sessions.delete(cookieValue(request.headers.cookie, SESSION_COOKIE));
            return reply.header('set-cookie', sessionCookie('', secure, 0)).redirect('/ui/login', 303);
        });
        const listPage = async (request) => {
            const filter = listFilter(request.query);
            const rows = await insights.store.list(filter);
            return { filter, rows, next: rows.length === PAGE_SIZE ? rows[rows.length - 1].id : undefined };
        };
        ui.get('/ui/builds', async (request, reply) => {
            const { filter, rows, next } = await listPage(request);
            return page(reply, buildsPage(rows, filter, request.uiSession.csrf, next));
        });
        ui.get('/ui/builds/rows', async (request, reply) => {
            const { rows } = await listPage(request);
            return page(reply, buildRows(rows).value);
        });
        ui.get('/ui/builds/:id', async (request, reply) => {
            const id = request.params.id;
            const row = await service.store.getBuild(id);
            if (!row)
                throw new ApiError(404, 'build_not_found', `no build ${id}`);
            const info = (await service.info([row], (b) => `${deps.publicUrl()}/v1/builds/${b}`))[0];
            const project = await deps.projects.find(row.project_id);
            const ins = await insights.store.get(id);
            return page(reply, buildPage({ ...info, insights: ins }, project?.name ?? row.project_id, request.uiSession.csrf, deps.clock.now()));
        });
        registerProjectPages(ui, deps, () => service.endOrphans());
        ui.get('/ui/builders', async (request, reply) => {
            const { builders, queue } = await insights.fleet();
            return page(reply, buildersPage(builders, queue, request.uiSession.csrf, deps.clock.now()));
        });
        ui.get('/ui/charts', async (request, reply) => {
            const q = request.query;
            const c = await insights.charts(typeof q.project === 'string' && q.project ? q.project : null, typeof q.range === 'string' ? q.range : undefined);
            return page(reply, chartsPage({
                points: c.points,
                projects: (await deps.projects.list()).map((p) => p.name),
                project: c.project?.name ?? null,
                range: c.range,
                ranges: Object.keys(RANGES),
                csrf: request.uiSession.csrf,
            }));
        });
        ui.get('/ui/events', async (request, reply) => {
            const raw = reply.raw;
            reply.hijack();
            raw.writeHead(200, {
                'content-type': 'text/event-stream; charset=utf-8',
                'cache-control': 'no-store',
                'x-content-type-options': 'nosniff',
                connection: 'keep-alive',
            });
            raw.write('retry: 3000\n\n');
            streams.add(raw);
            const off = insights.events.subscribe((id) => raw.write(`event: build\ndata: ${id}\n\n`));
            const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
            ping.unref();
            request.raw.on('close', () => {
                off();
                clearInterval(ping);
                streams.delete(raw);
            });
        });
    }, { prefix: '' });
}

;// CONCATENATED MODULE: ./src/server/builds/metrics.ts

const metrics_STATUSES = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];
/** Registers the builds metrics; gauges read the database when scraped. */
function registerBuildMetrics(registry, store, now, runningBuilders) {
    new prom_client.Gauge({
        name: 'hoist_builds',
        help: 'Builds by status',
        labelNames: ['status'],
        registers: [registry],
        async collect() {
            const counts = await store.countByStatus();
            for (const s of metrics_STATUSES)
                this.set({ status: s }, counts[s] ?? 0);
        },
    });
    new prom_client.Gauge({
        name: 'hoist_builders_running',
        help: 'Builders whose buildkitd is running',
        registers: [registry],
        async collect() {
            this.set(await runningBuilders());
        },
    });
    new prom_client.Gauge({
        name: 'hoist_builds_waiting_over_5m',
        help: 'Active builds that have waited more than five minutes for a builder (alert when > 0)',
        registers: [registry],
        async collect() {
            this.set(await store.countWaitingSince(new Date(now().getTime() - 5 * 60_000).toISOString()));
        },
    });
    return {
        acquireSeconds: new prom_client.Histogram({
            name: 'hoist_build_acquire_seconds',
            help: 'Time from build creation to its first active builder answer',
            labelNames: ['platform'],
            buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
            registers: [registry],
        }),
        builderStarts: new prom_client.Counter({
            name: 'hoist_builder_starts_total',
            help: 'Builder launches by result (started, adopted, failed)',
            labelNames: ['result'],
            registers: [registry],
        }),
        builderCrashes: new prom_client.Counter({
            name: 'hoist_builder_crashes_total',
            help: 'Builders found unhealthy by a health check and replaced',
            registers: [registry],
        }),
        waitAlerts: new prom_client.Counter({
            name: 'hoist_build_wait_alerts_total',
            help: 'Builds that waited more than five minutes for a builder; each also logs an error (alert when it grows)',
            registers: [registry],
        }),
        providerCalls: new prom_client.Counter({
            name: 'hoist_provider_calls_total',
            help: 'Calls that change builders (launch, launchBatch, stop, destroy, snapshot, deleteSnapshot) by operation and by whether this replica was the leader (role="follower" should stay 0)',
            labelNames: ['op', 'role'],
            registers: [registry],
        }),
        buildsFinished: new prom_client.Counter({
            name: 'hoist_builds_finished_total',
            help: 'Builds that reached a final status',
            labelNames: ['status'],
            registers: [registry],
        }),
    };
}

;// CONCATENATED MODULE: ./src/server/builds/migrations.ts
// Builders are one row per (project, platform, role); the primary keeps the cache.
// A build_builders row is one platform of one build: waiting (builder_id NULL) or holding
// a slot on a builder while its build is queued or running.
const buildsMigrations = [
    {
        id: 'builds-001-init',
        sql: `
CREATE TABLE builders (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  role TEXT NOT NULL,
  provider TEXT NOT NULL,
  state TEXT NOT NULL,
  endpoint TEXT,
  pid INTEGER,
  started_at TEXT,
  stopped_at TEXT,
  last_used_at TEXT,
  restarts INTEGER NOT NULL DEFAULT 0,
  launch_failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (project_id, platform, role)
);
CREATE TABLE builds (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  platforms TEXT NOT NULL,
  options TEXT NOT NULL,
  created_by_token TEXT,
  queued_at TEXT NOT NULL,
  acquired_at TEXT,
  finished_at TEXT,
  last_heartbeat_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  error TEXT
);
CREATE INDEX builds_project ON builds(project_id, id);
CREATE INDEX builds_status ON builds(status);
CREATE TABLE build_builders (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT REFERENCES builders(id) ON DELETE SET NULL,
  waiting_since TEXT,
  last_poll_at TEXT,
  acquired_at TEXT,
  cert_serial TEXT,
  cert_expires_at TEXT,
  PRIMARY KEY (build_id, platform)
);
CREATE INDEX build_builders_builder ON build_builders(builder_id);
`,
    },
    {
        // The per-project active-build count on every create, and the retention purge.
        id: 'builds-bounds-001-indexes',
        sql: `
CREATE INDEX builds_project_status ON builds(project_id, status);
CREATE INDEX builds_finished ON builds(finished_at) WHERE finished_at IS NOT NULL;
`,
    },
    {
        // Every client certificate ever issued for a build: the gateway in front of the builders
        // lets a connection in only while its serial is here, unrevoked, and its build is active.
        // cert_pem is public; a renewal certifies the same key again from it.
        id: 'builds-002-certs',
        sql: `
CREATE TABLE build_certs (
  serial TEXT PRIMARY KEY,
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT NOT NULL,
  cert_pem TEXT NOT NULL,
  issued_at TEXT NOT NULL,
  not_after TEXT NOT NULL,
  revoked_at TEXT,
  revoke_reason TEXT
);
CREATE INDEX build_certs_build ON build_certs(build_id, platform);
`,
    },
    {
        // Autoscaling (issue 11): a project may have clones next to its primary, per pool. The
        // unique (project, platform, role) goes; one primary per (project, platform, pool) stays.
        // SQLite cannot drop a constraint: the table is rebuilt, and build_builders with it so its
        // foreign key never points at a dropped table (dropping a parent would null its references).
        id: 'builds-003-pools-clones',
        sql: {
            sqlite: `
CREATE TABLE builders_new (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  role TEXT NOT NULL,
  provider TEXT NOT NULL,
  pool TEXT NOT NULL,
  snapshot_id TEXT,
  state TEXT NOT NULL,
  endpoint TEXT,
  pid INTEGER,
  started_at TEXT,
  stopped_at TEXT,
  last_used_at TEXT,
  restarts INTEGER NOT NULL DEFAULT 0,
  launch_failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
INSERT INTO builders_new (id, project_id, platform, role, provider, pool, snapshot_id, state, endpoint, pid,
  started_at, stopped_at, last_used_at, restarts, launch_failures, last_error, created_at, updated_at)
  SELECT id, project_id, platform, role, provider, provider, NULL, state, endpoint, pid, started_at, stopped_at,
    last_used_at, restarts, launch_failures, last_error, created_at, updated_at FROM builders;
CREATE TABLE build_builders_new (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT REFERENCES builders_new(id) ON DELETE SET NULL,
  waiting_since TEXT,
  last_poll_at TEXT,
  acquired_at TEXT,
  cert_serial TEXT,
  cert_expires_at TEXT,
  PRIMARY KEY (build_id, platform)
);
INSERT INTO build_builders_new SELECT build_id, platform, builder_id, waiting_since, last_poll_at, acquired_at,
  cert_serial, cert_expires_at FROM build_builders;
DROP TABLE build_builders;
DROP TABLE builders;
ALTER TABLE builders_new RENAME TO builders;
ALTER TABLE build_builders_new RENAME TO build_builders;
CREATE INDEX build_builders_builder ON build_builders(builder_id);
CREATE UNIQUE INDEX builders_primary ON builders(project_id, platform, pool) WHERE role = 'primary';
CREATE INDEX builders_group ON builders(project_id, platform, pool);
`,
            postgres: `
ALTER TABLE builders DROP CONSTRAINT IF EXISTS builders_project_id_platform_role_key;
ALTER TABLE builders ADD COLUMN pool TEXT;
UPDATE builders SET pool = provider;
ALTER TABLE builders ALTER COLUMN pool SET NOT NULL;
ALTER TABLE builders ADD COLUMN snapshot_id TEXT;
CREATE UNIQUE INDEX builders_primary ON builders(project_id, platform, pool) WHERE role = 'primary';
CREATE INDEX builders_group ON builders(project_id, platform, pool);
`,
        },
    },
    {
        // The replica that launched or last adopted the builder (its gateway routes it). With several
        // replicas only the leader reaps builders, and it leaves alone one another live replica is
        // starting right now.
        id: 'builds-004-owner',
        sql: 'ALTER TABLE builders ADD COLUMN owner TEXT;',
    },
    {
        // Leader-only provisioning (see service.ts): the leader writes where each waiting platform
        // stands (placement, JSON) and what a builder is reached by (server name, CA certificate), so
        // a replica that is not the leader answers a build's polls from the database alone.
        id: 'builds-005-placements',
        sql: `
ALTER TABLE build_builders ADD COLUMN placement TEXT;
ALTER TABLE builders ADD COLUMN server_name TEXT;
ALTER TABLE builders ADD COLUMN ca_pem TEXT;
`,
    },
];

;// CONCATENATED MODULE: ./src/server/builds/routes.ts



const ID = { type: 'string', minLength: 1, maxLength: 128 };
const routes_STATUSES = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];
const createSchema = {
    // acquire=true: the answer carries each platform's builder when it is ready at once
    querystring: {
        type: 'object',
        properties: { acquire: { type: 'string', enum: ['true', 'false'] } },
    },
    body: {
        type: 'object',
        additionalProperties: false,
        properties: {
            project: { type: 'string', minLength: 1, maxLength: 128 },
            platforms: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
            options: { type: 'object' },
            context: {
                type: 'object',
                additionalProperties: false,
                required: ['source'],
                properties: {
                    source: { type: 'string', enum: ['cli', 'action'] },
                    github: {
                        type: 'object',
                        additionalProperties: { type: 'string', maxLength: 1024 },
                        maxProperties: 16,
                    },
                },
            },
        },
    },
};
const finishSchema = {
    params: { type: 'object', properties: { id: ID }, required: ['id'] },
    body: {
        type: 'object',
        additionalProperties: false,
        required: ['status'],
        properties: {
            status: { type: 'string', enum: ['success', 'failed', 'canceled'] },
            // Its size in bytes is checked by the service (a 413 that says what to do).
            error: { type: ['string', 'null'] },
            phases: {
                type: 'object',
                maxProperties: 16,
                additionalProperties: { type: 'number', minimum: 0, maximum: 1e10 },
            },
        },
    },
};
const idParams = { params: { type: 'object', properties: { id: ID }, required: ['id'] } };
const listSchema = {
    querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
            project: { type: 'string', minLength: 1, maxLength: 128 },
            status: { type: 'string', enum: routes_STATUSES },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
            before: { type: 'string', maxLength: 128 },
        },
    },
};
function registerBuildRoutes(app, deps, service, insights) {
    const buildUrl = (id) => `${deps.publicUrl()}/v1/builds/${id}`;
    /**
     * Authenticates; a build token that died with its build gets a 409 that says the build
     * finished, rather than a bare "revoked".
     */
    const authenticate = async (request, ...kinds) => {
        try {
            return await deps.auth.authenticate(request, ...kinds);
        }
        catch (err) {
            if (err instanceof ApiError && (err.code === 'token_revoked' || err.code === 'token_expired')) {
                const m = /^Bearer\s+(hoist_bld_\S+)\s*$/i.exec(request.headers.authorization ?? '');
                if (m) {
                    const row = await deps.db.get('SELECT build_id FROM tokens WHERE hash = ?', [sha256Hex(m[1])]);
                    const build = row?.build_id ? await service.store.getBuild(row.build_id) : undefined;
                    if (build && build.status !== 'queued' && build.status !== 'running') {
                        throw conflict('build_finished', `build ${build.id} already finished with status ${build.status} at ${build.finished_at}${build.error ? ` (${build.error})` : ''}; its build token works no more. Start a new build.`);
                    }
                }
            }
            throw err;
        }
    };
    // Bodies larger than any valid request are refused before they are read in full (with room
    // for JSON escapes: a control character takes 6 bytes as \u001b).
    app.post('/v1/builds', { schema: createSchema, bodyLimit: 4 * api_types/* BUILD_OPTIONS_MAX_BYTES */.r8 }, async (request, reply) => {
        const who = await authenticate(request, 'project', 'oidc', 'admin', 'build');
        const body = (request.body ?? {});
        const res = await service.create(who, body, buildUrl);
        const acquire = request.query.acquire === 'true';
        // the dashboard's record of the build and its builders, at the same time
        const [, builders] = await Promise.all([
            insights.created(res.build_id, who, body.context),
            acquire ? service.acquireAtCreate(res.build_id) : undefined,
        ]);
        if (builders) {
            res.builders = builders;
            if (builders.some((b) => b.status === 'active'))
                insights.events.changed(res.build_id);
        }
        return reply.code(201).send(res);
    });
    app.get('/v1/builds', { schema: listSchema }, async (request) => {
        const who = await authenticate(request);
        const q = request.query;
        const limit = q.limit === undefined ? 50 : Number(q.limit);
        if (limit < 1 || limit > 500)
            throw badRequest('invalid_request', 'querystring.limit must be between 1 and 500');
        const rows = await service.list(who, { project: q.project, status: q.status, limit, before: q.before });
        return { builds: await service.info(rows, buildUrl) };
    });
    app.get('/v1/builds/:id', { schema: idParams }, async (request) => {
        const who = await authenticate(request);
        const build = await service.visibleBuild(who, request.params.id);
        return { ...(await service.info([build], buildUrl))[0], insights: await insights.store.get(build.id) };
    });
    // The platform holds a slash: accept it percent-encoded (the client's form) or raw.
    app.get('/v1/builds/:id/builders/*', { schema: idParams }, async (request) => {
        const who = await authenticate(request);
        const params = request.params;
        let platform = params['*'] ?? '';
        if (platform.includes('%')) {
            try {
                platform = decodeURIComponent(platform);
            }
            catch {
                throw badRequest('invalid_platform', `platform "${platform}" is not valid percent-encoding`);
            }
        }
        const answer = await service.acquire(who, params.id, platform);
        if (answer.status === 'active')
            insights.events.changed(params.id);
        return answer;
    });
    app.post('/v1/builds/:id/heartbeat', { schema: idParams }, async (request) => {
        const who = await authenticate(request);
        return service.heartbeat(who, request.params.id);
    });
    app.post('/v1/builds/:id/finish', { schema: finishSchema, bodyLimit: 8 * api_types/* BUILD_ERROR_MAX_BYTES */.fI }, async (request) => {
        const who = await authenticate(request);
        const body = request.body;
        const row = await service.finish(who, request.params.id, body);
        await insights.finished(row, body.phases);
        return (await service.info([row], buildUrl))[0];
    });
    app.post('/v1/builds/:id/cancel', { schema: idParams }, async (request) => {
        const who = await authenticate(request);
        // the dashboard hears of it from the service (onEnded), as of every end
        const info = await service.cancel(who, request.params.id);
        return { ...info, build_url: buildUrl(info.id) };
    });
}

// EXTERNAL MODULE: ./src/lib/text.ts
var lib_text = __webpack_require__(79112);
;// CONCATENATED MODULE: ./src/server/provisioning/clock.ts
// Every timer and sleep of the provisioning layer goes through this clock, so a test replays an
// hour of launches, throttling and backoff in a few seconds of wall time (k8s.io/utils/clock).
const systemProvisioningClock = {
    now: () => new Date(),
    nowMs: () => Date.now(),
    after(ms, fn) {
        const t = setTimeout(fn, Math.max(0, ms));
        t.unref();
        return () => clearTimeout(t);
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref()),
};
/** Lets every promise continuation queued so far run (one macrotask turn). */
function settle() {
    return new Promise((r) => setImmediate(r));
}
function before(a, b) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
/** A binary min-heap of timers by (at, seq): replays fire hundreds of thousands of them. */
class TimerHeap {
    h = [];
    get size() {
        return this.h.length;
    }
    peek() {
        return this.h[0];
    }
    push(t) {
        const h = this.h;
        h.push(t);
        let i = h.length - 1;
        while (i > 0) {
            const p = (i - 1) >> 1;
            if (!before(h[i], h[p]))
                break;
            [h[i], h[p]] = [h[p], h[i]];
            i = p;
        }
    }
    pop() {
        const h = this.h;
        const top = h[0];
        const last = h.pop();
        if (h.length > 0 && last) {
            h[0] = last;
            let i = 0;
            for (;;) {
                const l = 2 * i + 1;
                const r = l + 1;
                let m = i;
                if (l < h.length && before(h[l], h[m]))
                    m = l;
                if (r < h.length && before(h[r], h[m]))
                    m = r;
                if (m === i)
                    break;
                [h[i], h[m]] = [h[m], h[i]];
                i = m;
            }
        }
        return top;
    }
}
/**
 * A clock that only moves when told. `advance` fires due timers in time order and lets the
 * promise chains they start run before moving on, so async code behaves as it would in real time.
 */
class FakeClock {
    ms;
    seq = 0;
    timers = new TimerHeap();
    live = 0;
    constructor(start = Date.UTC(2026, 0, 1)) {
        this.ms = typeof start === 'number' ? start : start.getTime();
    }
    now() {
        return new Date(this.ms);
    }
    nowMs() {
        return this.ms;
    }
    after(ms, fn) {
        const t = { at: this.ms + Math.max(0, ms), seq: this.seq++, fn, canceled: false };
        this.timers.push(t);
        this.live++;
        return () => {
            if (!t.canceled) {
                t.canceled = true;
                this.live--;
            }
        };
    }
    sleep(ms) {
        return new Promise((r) => this.after(ms, r));
    }
    /** Timers not fired yet. */
    get pending() {
        return this.live;
    }
    async advance(ms) {
        const target = this.ms + ms;
        await settle();
        for (;;) {
            const next = this.timers.peek();
            if (!next || next.at > target)
                break;
            // Every timer due at this instant fires, then the promise chains they started run.
            const at = next.at;
            this.ms = Math.max(this.ms, at);
            while (this.timers.peek()?.at === at) {
                const t = this.timers.pop();
                if (t.canceled)
                    continue;
                t.canceled = true;
                this.live--;
                t.fn();
            }
            await settle();
        }
        this.ms = target;
        await settle();
    }
    /** Advances in steps of `stepMs` until `done()` holds or `maxMs` passed; returns the time spent. */
    async runUntil(done, maxMs, stepMs = 100) {
        const start = this.ms;
        while (!done() && this.ms - start < maxMs)
            await this.advance(stepMs);
        return this.ms - start;
    }
}
/** The server's clock (which tests may set) for "now", with real timers. */
function serverClock(clock) {
    return {
        now: () => clock.now(),
        nowMs: () => clock.now().getTime(),
        after: systemProvisioningClock.after,
        sleep: systemProvisioningClock.sleep,
    };
}

;// CONCATENATED MODULE: ./src/server/provisioning/backoff.ts
// Backoff with full jitter and a retry-token budget, in one place (the AWS SDK's standard
// retryer): a retry costs tokens, a throttled retry costs more, a success gives one back, so a
// fleet that keeps failing stops retrying instead of spending the provider's quota for everyone.
/** Full jitter: a random wait in [0, min(cap, base * 2^attempt)). `attempt` counts from 0. */
function fullJitter(attempt, spec, random = Math.random) {
    const ceiling = Math.min(spec.capMs, spec.baseMs * 2 ** Math.min(attempt, 30));
    return Math.floor(random() * ceiling);
}
const AWS_RETRY_BUDGET = {
    capacity: 500,
    retryCost: 5,
    throttledRetryCost: 10,
    successRefund: 1,
};
class RetryBudget {
    spec;
    tokens;
    constructor(spec = AWS_RETRY_BUDGET) {
        this.spec = spec;
        this.tokens = spec.capacity;
    }
    get available() {
        return this.tokens;
    }
    /** Pays for one retry; false (nothing paid) when the budget cannot afford it. */
    tryRetry(throttled) {
        const cost = throttled ? this.spec.throttledRetryCost : this.spec.retryCost;
        if (this.tokens < cost)
            return false;
        this.tokens -= cost;
        return true;
    }
    onSuccess() {
        this.tokens = Math.min(this.spec.capacity, this.tokens + this.spec.successRefund);
    }
}

;// CONCATENATED MODULE: ./src/server/provisioning/breaker.ts
// A circuit breaker per pool: repeated throttling or capacity errors, or a queued build that got
// no launch in time, open it; new builds then go to the next pool. After `openMs` one probe
// launch is let through (half-open); its success closes the breaker. Like Karpenter's
// "unavailable offerings", an open pool is skipped for a while instead of retried.
class PoolBreaker {
    spec;
    consecutive = 0;
    openedAt = null;
    probing = false;
    /** Why it opened last, for the messages builds get. */
    reason = '';
    opened = 0;
    constructor(spec) {
        this.spec = spec;
    }
    state(nowMs) {
        if (this.openedAt === null)
            return 'closed';
        return nowMs - this.openedAt >= this.spec.openMs ? 'half-open' : 'open';
    }
    /** May a launch go out now? In half-open, only one probe at a time. */
    allowsLaunch(nowMs) {
        const s = this.state(nowMs);
        if (s === 'closed')
            return true;
        if (s === 'open')
            return false;
        return !this.probing;
    }
    /** Does this pool take new builds? (Open: no; half-open: yes, it probes with them.) */
    acceptsBuilds(nowMs) {
        return this.state(nowMs) !== 'open';
    }
    onLaunchStart(nowMs) {
        if (this.state(nowMs) === 'half-open')
            this.probing = true;
    }
    onSuccess() {
        this.consecutive = 0;
        this.openedAt = null;
        this.probing = false;
    }
    /** A throttling or capacity answer. Other failures do not say the pool is unavailable. */
    onUnavailable(nowMs, why) {
        this.probing = false;
        this.consecutive++;
        const s = this.state(nowMs);
        if (s === 'half-open' || (s === 'closed' && this.consecutive >= this.spec.failureThreshold)) {
            this.open(nowMs, why);
        }
    }
    /** The oldest build waiting on this pool has waited `waitedMs` with no launch answered. */
    onOldestWait(waitedMs, nowMs) {
        if (this.state(nowMs) === 'closed' && waitedMs >= this.spec.launchDeadlineMs) {
            this.open(nowMs, `no builder launched within ${Math.round(this.spec.launchDeadlineMs / 1000)} s`);
        }
    }
    open(nowMs, why) {
        this.openedAt = nowMs;
        this.probing = false;
        this.reason = why;
        this.opened++;
    }
}
/**
 * Which pool takes a project's new builds: the first whose breaker accepts builds, except that a
 * project that moved off its preferred pool returns only after `dwellMs` there, so it does not
 * flap between caches. Pure: the caller keeps `current` and `since`.
 */
function choosePool(accepting, current, nowMs, dwellMs) {
    const first = accepting.findIndex(Boolean);
    if (first < 0)
        return null;
    if (!current)
        return { index: first, since: nowMs };
    if (first === current.index)
        return current;
    if (first > current.index)
        return { index: first, since: nowMs };
    // A better pool is back: move up only once the dwell time passed, and only if the current
    // pool is still usable (when it is not, moving is not a choice).
    if (accepting[current.index] && nowMs - current.since < dwellMs)
        return current;
    return { index: first, since: nowMs };
}

;// CONCATENATED MODULE: ./src/server/provisioning/permits.ts
// Clone permits: how many clones may be in flight at once, globally and per snapshot. The limit
// adapts like TCP's window (additive increase, multiplicative decrease): a slow or failed clone
// halves it, a quick one raises it by one, so a cache source that starts to struggle is given
// room before it stops answering.
class ClonePermits {
    spec;
    limitValue;
    inFlight = 0;
    perSnapshot = new Map();
    lastDecrease = -Infinity;
    /** Most clones in flight ever seen. */
    peak = 0;
    constructor(spec) {
        this.spec = spec;
        this.limitValue = spec.globalMax;
    }
    get limit() {
        return this.limitValue;
    }
    get used() {
        return this.inFlight;
    }
    snapshotLimit() {
        return Math.max(this.spec.min, Math.min(this.spec.perSnapshotMax, this.limitValue));
    }
    usedBy(snapshotId) {
        return this.perSnapshot.get(snapshotId) ?? 0;
    }
    tryAcquire(snapshotId) {
        const mine = this.usedBy(snapshotId);
        if (this.inFlight >= this.limitValue || mine >= this.snapshotLimit())
            return null;
        this.inFlight++;
        this.peak = Math.max(this.peak, this.inFlight);
        this.perSnapshot.set(snapshotId, mine + 1);
        let released = false;
        return {
            snapshotId,
            done: (ok, latencyMs, nowMs) => {
                if (released)
                    return;
                released = true;
                this.inFlight--;
                const n = this.usedBy(snapshotId) - 1;
                if (n > 0)
                    this.perSnapshot.set(snapshotId, n);
                else
                    this.perSnapshot.delete(snapshotId);
                this.adapt(ok, latencyMs, nowMs);
            },
        };
    }
    adapt(ok, latencyMs, nowMs) {
        if (!ok || latencyMs > this.spec.slowMs) {
            if (nowMs - this.lastDecrease >= this.spec.decreaseEveryMs) {
                this.limitValue = Math.max(this.spec.min, Math.floor(this.limitValue / 2));
                this.lastDecrease = nowMs;
            }
        }
        else if (latencyMs <= this.spec.slowMs / 2) {
            this.limitValue = Math.min(this.spec.globalMax, this.limitValue + 1);
        }
    }
}

;// CONCATENATED MODULE: ./src/server/provisioning/placement.ts
function limitOf(s) {
    return s.buildsPerBuilder ?? Infinity;
}
/** A shared builder takes up to this many times its limit while clones may still come. */
const SHARE_FACTOR = 2;
/**
 * Primary first while it is below its limit (BuildKit deduplicates shared steps there), then a
 * clone with room. Without room: wait for a clone while one may still come and the build has
 * waited less than `shareAfterMs`; after that share the least loaded builder, primary first
 * (up to SHARE_FACTOR times its limit while clones still come, without bound once none can).
 * Clone capacity running out never fails a build.
 */
function placeBuild(builders, s, waitedMs, shareAfterMs, cloneMayCome) {
    const limit = limitOf(s);
    const running = builders.filter((b) => b.state === 'running');
    const primary = running.find((b) => b.role === 'primary');
    if (primary && primary.load < limit)
        return { kind: 'use', builderId: primary.id, shared: false };
    if (!s.autoscaling) {
        if (primary) {
            return {
                kind: 'wait',
                reason: `busy: ${primary.load} of ${limit} concurrent builds running`,
            };
        }
        const p = builders.find((b) => b.role === 'primary');
        return { kind: 'wait', reason: p?.state === 'snapshotting' ? 'being snapshotted' : 'starting' };
    }
    const clones = running.filter((b) => b.role === 'clone').sort((a, b) => a.load - b.load);
    const roomy = clones.find((b) => b.load < limit);
    if (roomy)
        return { kind: 'use', builderId: roomy.id, shared: false };
    if (running.length > 0 && (!cloneMayCome || waitedMs >= shareAfterMs)) {
        // Least loaded; a tie goes to the primary, whose cache is the freshest.
        const pick = [...running].sort((a, b) => a.load - b.load || (a.role === 'primary' ? -1 : 0) - (b.role === 'primary' ? -1 : 0))[0];
        if (!cloneMayCome || pick.load < limit * SHARE_FACTOR) {
            return { kind: 'use', builderId: pick.id, shared: true };
        }
    }
    const starting = builders.filter((b) => b.state === 'starting').length;
    const draining = builders.some((b) => b.role === 'primary' && b.state !== 'running' && b.state !== 'starting');
    const parts = [
        running.length ? `${running.length} builder(s) full (${limit} builds each)` : 'no builder running yet',
        starting ? `${starting} starting` : '',
        draining ? 'primary drained for a snapshot' : '',
    ].filter(Boolean);
    return { kind: 'wait', reason: parts.join(', ') };
}
/** Builders that hold or may soon hold builds (not stopped). */
function isUp(b) {
    return b.state !== 'stopped';
}
/**
 * What to launch for one (project, platform, pool): the primary when builds wait and it is not
 * up, and clones for the demand the builders up cannot hold, within the per-platform maximum.
 * `demand` counts the builds holding or waiting for a slot. Launches only the difference.
 */
function launchPlan(builders, s, demand, canClone) {
    if (demand === 0)
        return { primary: false, clones: 0 };
    const up = builders.filter(isUp);
    const primary = !up.some((b) => b.role === 'primary');
    if (!s.autoscaling || !canClone || s.buildsPerBuilder === null)
        return { primary, clones: 0 };
    const want = Math.min(s.maxBuildersPerPlatform, Math.ceil(demand / s.buildsPerBuilder));
    const have = up.length + (primary ? 1 : 0);
    return { primary, clones: Math.max(0, want - have) };
}
/** Running clones with no build, idle for at least `idleMs`: they stop (and go) first. */
function idleClones(clones, nowMs, idleMs) {
    return clones.filter((c) => c.load === 0 && nowMs - c.idleSinceMs >= idleMs).map((c) => c.id);
}

;// CONCATENATED MODULE: ./src/server/provisioning/batcher.ts
class Batcher {
    opts;
    window = [];
    openedAt = 0;
    cancelIdle = null;
    cancelMax = null;
    /** Batches executed, for tests and metrics. */
    batches = 0;
    constructor(opts) {
        this.opts = opts;
    }
    add(item) {
        return new Promise((resolve, reject) => {
            const now = this.opts.clock.nowMs();
            if (this.window.length === 0) {
                this.openedAt = now;
                this.cancelMax = this.opts.clock.after(this.opts.maxMs, () => this.flush());
            }
            this.window.push({ item, resolve, reject });
            this.cancelIdle?.();
            this.cancelIdle = null;
            if (this.window.length >= this.opts.maxItems) {
                this.flush();
                return;
            }
            const left = this.openedAt + this.opts.maxMs - now;
            this.cancelIdle = this.opts.clock.after(Math.min(this.opts.idleMs, left), () => this.flush());
        });
    }
    /** Items waiting for the current window to close. */
    get size() {
        return this.window.length;
    }
    /** Closes the current window now. */
    flush() {
        this.cancelIdle?.();
        this.cancelMax?.();
        this.cancelIdle = this.cancelMax = null;
        const batch = this.window;
        this.window = [];
        if (batch.length === 0)
            return;
        this.batches++;
        void this.run(batch);
    }
    async run(batch) {
        try {
            const out = await this.opts.exec(batch.map((w) => w.item));
            if (out.length !== batch.length) {
                throw new Error(`batch answered ${out.length} results for ${batch.length} items`);
            }
            batch.forEach((w, i) => w.resolve(out[i]));
        }
        catch (err) {
            for (const w of batch)
                w.reject(err);
        }
    }
}

;// CONCATENATED MODULE: ./src/server/provisioning/token-bucket.ts
// Token buckets for launch calls, as a cloud API meters them: a request bucket (one token per
// call) and a resource bucket (one token per instance). Time comes from the caller.
class TokenBucket {
    spec;
    tokens;
    at;
    constructor(spec, nowMs, initial = spec.burst) {
        this.spec = spec;
        this.tokens = Math.min(spec.burst, initial);
        this.at = nowMs;
    }
    refill(nowMs) {
        if (nowMs > this.at) {
            this.tokens = Math.min(this.spec.burst, this.tokens + ((nowMs - this.at) / 1000) * this.spec.perSecond);
            this.at = nowMs;
        }
    }
    /** Whole tokens available now. */
    available(nowMs) {
        this.refill(nowMs);
        return Math.floor(this.tokens + 1e-9);
    }
    /** Takes `n` tokens, or none when fewer are left. */
    take(n, nowMs) {
        this.refill(nowMs);
        if (this.tokens + 1e-9 < n)
            return false;
        this.tokens -= n;
        return true;
    }
    /** Gives back tokens taken for work that did not happen. */
    refund(n, nowMs) {
        this.refill(nowMs);
        this.tokens = Math.min(this.spec.burst, this.tokens + n);
    }
    /** Milliseconds until `n` tokens are available (0 when they are); Infinity past the burst. */
    waitMs(n, nowMs) {
        this.refill(nowMs);
        if (n > this.spec.burst)
            return Infinity;
        const missing = n - this.tokens;
        if (missing <= 1e-9)
            return 0;
        if (this.spec.perSecond <= 0)
            return Infinity;
        return Math.ceil((missing / this.spec.perSecond) * 1000);
    }
}
/** Takes `n` from every bucket, or from none when one of them is short. */
function takeAll(buckets, n, nowMs) {
    if (buckets.some((b) => b.available(nowMs) < n))
        return false;
    for (const b of buckets)
        b.take(n, nowMs);
    return true;
}
/** How many of `want` all the buckets allow together now. */
function allowance(buckets, want, nowMs) {
    return buckets.reduce((n, b) => Math.min(n, b.available(nowMs)), want);
}
/**
 * The share of a provider's declared limit this server takes: below it, so other users of the
 * same account (a noisy neighbour, a person at the console) keep room.
 */
function belowLimit(limit, share) {
    return {
        burst: Math.max(1, Math.floor(limit.burst * share)),
        perSecond: Math.max(0.01, limit.perSecond * share),
    };
}

;// CONCATENATED MODULE: ./src/server/provisioning/pool.ts
// One provider pool ("region"): its share of the provider's launch limits, its batcher, its
// circuit breaker, and the one place where launch calls, throttling answers, backoff and the
// retry budget meet. Nothing else calls the provider's launch.






/** Our own buckets or budget said no: the provider was not asked, and nothing failed. */
class LocalRefusal extends provider/* ProvisionError */.uv {
    constructor(message, retryAfterMs) {
        super('rate-limited', message, { retryAfterMs });
        this.name = 'LocalRefusal';
    }
}
/** With no declared limits (a local provider), the pool's own buckets never bind. */
const UNBOUNDED = { burst: 1_000_000, perSecond: 1_000_000 };
class Pool {
    spec;
    index;
    limits;
    shared;
    clock;
    random;
    onLeak;
    breaker;
    budget;
    requests;
    resources;
    pausedUntil = 0;
    pauseReason = '';
    throttledInARow = 0;
    failedInARow = 0;
    lastFailureThrottled = false;
    batcher;
    stats = {
        providerCalls: 0,
        launchesAsked: 0,
        launched: 0,
        failed: 0,
        throttled: 0,
        retryCalls: 0,
        heldBack: 0,
        callsPerSecond: new Map(),
    };
    constructor(spec, index, limits, shared, clock, random, onLeak) {
        this.spec = spec;
        this.index = index;
        this.limits = limits;
        this.shared = shared;
        this.clock = clock;
        this.random = random;
        this.onLeak = onLeak;
        const declared = spec.provider.capabilities().launchLimits;
        const now = clock.nowMs();
        this.requests = new TokenBucket(declared
            ? belowLimit({ burst: declared.requestBurst, perSecond: declared.requestsPerSecond }, limits.limitShare)
            : UNBOUNDED, now);
        this.resources = new TokenBucket(declared
            ? belowLimit({ burst: declared.resourceBurst, perSecond: declared.resourcesPerSecond }, limits.limitShare)
            : UNBOUNDED, now);
        this.breaker = new PoolBreaker(limits.breaker);
        this.budget = new RetryBudget(limits.retryBudget);
        // A provider without launch limits (a local one) gains nothing from waiting for a batch.
        this.batcher = new Batcher({
            idleMs: declared ? limits.batchIdleMs : 0,
            maxMs: declared ? limits.batchMaxMs : 0,
            maxItems: Math.max(1, spec.provider.capabilities().maxBatchSize),
            clock,
            exec: (specs) => this.exec(specs),
        });
    }
    get name() {
        return this.spec.name;
    }
    get provider() {
        return this.spec.provider;
    }
    /** May the reconciler queue launches here now? */
    canLaunch(nowMs) {
        return nowMs >= this.pausedUntil && this.breaker.allowsLaunch(nowMs);
    }
    /** How many launches the buckets would let through now (the reconciler asks for no more). */
    launchRoom(nowMs) {
        if (this.requests.available(nowMs) < 1 || this.shared.globalRequests.available(nowMs) < 1)
            return 0;
        // What waits in the open window takes its tokens when the window closes.
        const room = allowance([this.resources, this.shared.globalResources], 1_000_000, nowMs) - this.batcher.size;
        return Math.max(0, Math.min(room, this.spec.provider.capabilities().maxBatchSize - this.batcher.size));
    }
    /** Why new launches wait here, or '' when they do not. */
    describe(nowMs) {
        const parts = [];
        if (nowMs < this.pausedUntil) {
            parts.push(`${this.pauseReason}; launches paused for ${Math.ceil((this.pausedUntil - nowMs) / 1000)} s`);
        }
        const st = this.breaker.state(nowMs);
        if (st !== 'closed')
            parts.push(`circuit breaker ${st} (${this.breaker.reason})`);
        if (parts.length === 0 && this.launchRoom(nowMs) === 0)
            parts.push('launch rate limit reached');
        return parts.join('; ');
    }
    launch(spec) {
        this.breaker.onLaunchStart(this.clock.nowMs());
        return this.batcher.add(spec);
    }
    refuse(specs, why, retryAfterMs) {
        this.stats.heldBack += specs.length;
        return specs.map(() => ({ ok: false, error: new LocalRefusal(why, retryAfterMs) }));
    }
    /** One window of the batcher: at most one provider call, for as many as the buckets allow. */
    async exec(specs) {
        const now = this.clock.nowMs();
        if (now < this.pausedUntil)
            return this.refuse(specs, this.pauseReason, this.pausedUntil - now);
        const reqBuckets = [this.requests, this.shared.globalRequests];
        if (reqBuckets.some((b) => b.available(now) < 1)) {
            const wait = Math.max(...reqBuckets.map((b) => b.waitMs(1, now)));
            return this.refuse(specs, 'launch call rate limit of this server reached', wait);
        }
        // A call right after failed ones is a retry: the budget pays for it or it does not happen.
        if (this.failedInARow > 0 && !this.budget.tryRetry(this.lastFailureThrottled)) {
            const wait = fullJitter(this.failedInARow, this.limits.backoff, this.random);
            this.pause(now, wait, 'retry budget spent after repeated launch failures');
            return this.refuse(specs, 'retry budget spent after repeated launch failures', wait);
        }
        // Per project first, then the pool and global resource buckets, in order.
        const taken = [];
        const out = specs.map(() => null);
        let room = allowance([this.resources, this.shared.globalResources], specs.length, now);
        specs.forEach((s, i) => {
            if (room <= 0)
                return;
            if (!this.shared.project(s.projectId).take(1, now))
                return;
            taken.push(i);
            room--;
        });
        for (let i = 0; i < specs.length; i++) {
            if (!taken.includes(i)) {
                this.stats.heldBack++;
                out[i] = {
                    ok: false,
                    error: new LocalRefusal('launch rate limit of this server reached (instances a second)', 1000),
                };
            }
        }
        if (taken.length === 0)
            return out;
        for (const b of reqBuckets)
            b.take(1, now);
        this.resources.take(taken.length, now);
        this.shared.globalResources.take(taken.length, now);
        const batch = taken.map((i) => specs[i]);
        this.stats.providerCalls++;
        if (this.failedInARow > 0)
            this.stats.retryCalls++;
        this.stats.launchesAsked += batch.length;
        const sec = Math.floor(now / 1000);
        this.stats.callsPerSecond.set(sec, (this.stats.callsPerSecond.get(sec) ?? 0) + 1);
        // An hour of history is enough to check a rate; a server runs for months.
        if (this.stats.callsPerSecond.size > 3600) {
            for (const k of this.stats.callsPerSecond.keys())
                if (k < sec - 3600)
                    this.stats.callsPerSecond.delete(k);
        }
        const results = await this.callWithTimeout(batch);
        this.account(results);
        taken.forEach((i, k) => (out[i] = results[k]));
        return out;
    }
    async callWithTimeout(batch) {
        let timedOut = false;
        let cancel = () => undefined;
        const call = this.provider.launchBatch(batch).then((r) => {
            if (timedOut)
                for (const [i, x] of r.entries())
                    if (x.ok)
                        this.onLeak(batch[i]);
            return r;
        }, (err) => batch.map(() => ({
            ok: false,
            error: err instanceof provider/* ProvisionError */.uv
                ? err
                : new provider/* ProvisionError */.uv('transient', (0,errors/* errorMessage */.gJ)(err), { cause: err }),
        })));
        const timeout = new Promise((resolve) => {
            cancel = this.clock.after(this.limits.launchTimeoutMs, () => {
                timedOut = true;
                const msg = `${this.name}: the provider did not answer a launch within ${Math.round(this.limits.launchTimeoutMs / 1000)} s`;
                resolve(batch.map(() => ({ ok: false, error: new provider/* ProvisionError */.uv('transient', msg) })));
            });
        });
        try {
            return await Promise.race([call, timeout]);
        }
        finally {
            cancel();
        }
    }
    /** Throttling pauses the whole pool with jittered backoff; any success resets it. */
    account(results) {
        const now = this.clock.nowMs();
        let throttle = null;
        let unavailable = null;
        let ok = 0;
        for (const r of results) {
            if (r.ok) {
                ok++;
                continue;
            }
            this.stats.failed++;
            if (r.error.kind === 'rate-limited') {
                this.stats.throttled++;
                throttle ??= r.error;
            }
            else if (r.error.kind === 'capacity' || r.error.kind === 'quota') {
                unavailable ??= r.error;
            }
        }
        this.stats.launched += ok;
        if (ok > 0) {
            this.budget.onSuccess();
            this.breaker.onSuccess();
            this.failedInARow = 0;
        }
        if (throttle) {
            this.throttledInARow++;
            this.failedInARow++;
            this.lastFailureThrottled = true;
            const wait = Math.max(throttle.retryAfterMs ?? 0, fullJitter(this.throttledInARow, this.limits.backoff, this.random));
            this.pause(now, wait, `${this.name}: launches throttled by the provider (${throttle.message})`);
            this.breaker.onUnavailable(now, `throttled: ${throttle.message}`);
        }
        else if (unavailable) {
            this.failedInARow++;
            this.lastFailureThrottled = false;
            const wait = fullJitter(this.failedInARow, this.limits.backoff, this.random);
            this.pause(now, wait, `${this.name}: ${unavailable.kind} (${unavailable.message})`);
            this.breaker.onUnavailable(now, `${unavailable.kind}: ${unavailable.message}`);
        }
        else if (ok === 0 && results.length > 0) {
            this.failedInARow++;
            this.lastFailureThrottled = false;
        }
        else {
            this.throttledInARow = 0;
        }
    }
    pause(nowMs, ms, why) {
        if (nowMs + ms > this.pausedUntil) {
            this.pausedUntil = nowMs + ms;
            this.pauseReason = why;
        }
    }
}

;// CONCATENATED MODULE: ./src/server/provisioning/snapshots.ts
// Snapshot lifecycle decisions: at most one current snapshot per (project, platform, pool),
// taken only from a quiesced primary; a primary that is never idle is drained at a bounded age;
// superseded snapshots go once no clone uses them. Pure; the provisioner acts on the answers.
function snapshotDecision(primary, current, wantClones, nowMs, p) {
    if (!primary || primary.state === 'other')
        return 'none';
    const age = current ? nowMs - current.createdMs : Infinity;
    if (primary.load === 0) {
        // Quiesced: nothing runs on it, so its daemon can stop cleanly for the copy.
        if (!current)
            return wantClones || primary.dirty ? 'snapshot' : 'none';
        return primary.dirty && age >= p.minIntervalMs ? 'snapshot' : 'none';
    }
    if (primary.state === 'draining')
        return 'none';
    const busyFor = primary.busySinceMs === null ? 0 : nowMs - primary.busySinceMs;
    const needed = !current ? wantClones : primary.dirty && age >= p.maxAgeMs;
    return needed && busyFor >= p.drainAfterMs ? 'drain' : 'none';
}
/** Snapshots to delete: superseded (not current) and used by no live clone. */
function deletableSnapshots(snaps) {
    return snaps.filter((s) => !s.current && s.usedBy === 0).map((s) => s.id);
}

;// CONCATENATED MODULE: ./src/server/provisioning/provisioner.ts
// The provisioning layer: builds claim builders, and a level-triggered reconciler reads the
// demand (claims) and the fleet (builders), places waiting builds, launches only the difference
// through the pools, takes and deletes snapshots, stops idle builders, and fails builds that
// waited past --build-wait with what was busy. Every run reads the whole state again, so it is
// safe to run at any time; no event is trusted to arrive once, and there is no retry loop per
// builder: a failed launch only changes the state the next run reads.









const DEFAULT_LIMITS = {
    globalRequests: { burst: 20, perSecond: 10 },
    globalResources: { burst: 2000, perSecond: 20 },
    projectResources: { burst: 200, perSecond: 5 },
    limitShare: 0.6,
    batchIdleMs: 500,
    batchMaxMs: 2000,
    backoff: { baseMs: 1000, capMs: 30_000 },
    retryBudget: { capacity: 500, retryCost: 5, throttledRetryCost: 10, successRefund: 1 },
    breaker: { failureThreshold: 3, openMs: 3 * 60_000, launchDeadlineMs: 60_000 },
    dwellMs: 10 * 60_000,
    permits: { globalMax: 24, perSnapshotMax: 16, min: 1, slowMs: 45_000, decreaseEveryMs: 5000 },
    buildWaitMs: 30 * 60_000,
    alertWaitMs: 5 * 60_000,
    shareAfterMs: 60_000,
    maxLaunchTries: 3,
    launchTimeoutMs: 5 * 60_000,
    maxQueued: 10_000,
    tickMs: 1000,
    cloneIdleMs: 2 * 60_000,
    primaryIdleMs: 15 * 60_000,
    snapshot: { minIntervalMs: 10 * 60_000, maxAgeMs: 60 * 60_000, drainAfterMs: 30 * 60_000 },
    healthIntervalMs: 5000,
};
const silent = { info() { }, warn() { }, error() { } };
let provisioner_seq = 0;
const defaultHooks = {
    primaryId: (p, plat, pool) => Promise.resolve(`bkr_${p}_${plat.replace(/\W/g, '')}_${pool}`),
    newBuilderId: () => `bkr_c${(provisioner_seq++).toString(36)}`,
    newSnapshotId: () => `snap_${(provisioner_seq++).toString(36)}`,
    builderChanged: () => undefined,
    claimFailed: () => undefined,
    waitAlert: () => undefined,
    retireVeto: () => null,
    reconciled: () => undefined,
};
const groupKey = (projectId, platform, pool) => `${projectId}|${platform}|${pool}`;
class Provisioner {
    opts;
    limits;
    pools;
    permits;
    builders = new Map();
    claims = new Map();
    snapshots = new Map();
    projectPool = new Map();
    groupBackoff = new Map();
    snapshotting = new Set();
    projectBuckets = new Map();
    hooks;
    log;
    random;
    running = null;
    again = false;
    cancelTick = null;
    lastHealth = 0;
    checkingHealth = false;
    closed = false;
    stats = {
        waitAlerts: 0,
        failedWaits: 0,
        failedLaunchTries: 0,
        failedLaunches: 0,
        snapshotsTaken: 0,
        snapshotsDeleted: 0,
        drains: 0,
        sharedPlacements: 0,
        clonesStarted: 0,
        maxWaitMs: 0,
    };
    constructor(opts) {
        this.opts = opts;
        if (opts.pools.length === 0)
            throw new Error('the provisioner needs at least one pool');
        this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
        this.hooks = { ...defaultHooks, ...opts.hooks };
        this.log = opts.log ?? silent;
        this.random = opts.random ?? Math.random;
        const now = opts.clock.nowMs();
        const globalRequests = new TokenBucket(this.limits.globalRequests, now);
        const globalResources = new TokenBucket(this.limits.globalResources, now);
        const shared = {
            globalRequests,
            globalResources,
            project: (id) => {
                let b = this.projectBuckets.get(id);
                if (!b) {
                    b = new TokenBucket(this.limits.projectResources, opts.clock.nowMs());
                    this.projectBuckets.set(id, b);
                }
                return b;
            },
        };
        this.pools = opts.pools.map((p, i) => new Pool(p, i, this.limits, shared, opts.clock, this.random, (spec) => {
            // A launch answered after its timeout: nothing may keep running unaccounted for.
            void p.provider.destroy(spec.id).catch(() => undefined);
        }));
        this.permits = new ClonePermits(this.limits.permits);
    }
    get clock() {
        return this.opts.clock;
    }
    pool(name) {
        const p = this.pools.find((x) => x.name === name);
        if (!p)
            throw new Error(`no pool named ${name}`);
        return p;
    }
    /** Starts the periodic reconcile. */
    start() {
        this.schedule();
    }
    schedule() {
        if (this.closed)
            return;
        this.cancelTick?.();
        this.cancelTick = this.clock.after(this.limits.tickMs, () => {
            this.cancelTick = null;
            void this.reconcile().finally(() => this.schedule());
        });
    }
    close() {
        this.closed = true;
        this.cancelTick?.();
        for (const c of this.claims.values())
            this.wake(c);
    }
    // ---- claims ----
    /**
     * Registers a build's need for a builder of one platform (idempotent: a poll again refreshes
     * its settings) and answers where it stands now.
     */
    request(req) {
        const key = `${req.buildId}|${req.platform}`;
        this.noteScaling(req.projectId, req.platform, req.scaling);
        let c = this.claims.get(key);
        if (!c) {
            const waiting = [...this.claims.values()].filter((x) => !x.builderId && !x.failed).length;
            if (waiting >= this.limits.maxQueued) {
                return {
                    state: 'failed',
                    code: 'queue_full',
                    reason: `the build queue of this server is full (${waiting} builds wait for a builder, at most ${this.limits.maxQueued})`,
                };
            }
            c = {
                key,
                req,
                queuedMs: req.queuedAtMs ?? this.clock.nowMs(),
                shared: false,
                reason: 'waiting for the provisioner',
                tries: 0,
                alerted: false,
                waiters: [],
            };
            this.claims.set(key, c);
            this.kick();
        }
        else {
            c.req = { ...req, queuedAtMs: c.queuedMs };
        }
        return this.statusOf(c);
    }
    /** Registers the claim and waits up to `waitMs` for it to be placed (or to fail). */
    async acquire(req, waitMs) {
        const first = this.request(req);
        if (first.state !== 'waiting')
            return first;
        const c = this.claims.get(`${req.buildId}|${req.platform}`);
        await this.reconcile();
        if (c.builderId || c.failed || waitMs <= 0 || !this.changeComing(c))
            return this.statusOf(c);
        await new Promise((resolve) => {
            const cancel = this.clock.after(waitMs, done);
            function done() {
                cancel();
                resolve();
            }
            c.waiters.push(done);
        });
        return this.statusOf(c);
    }
    /** Is a builder of the claim's group on its way (starting, snapshotting, or about to launch)? */
    changeComing(c) {
        if (!c.pool)
            return false;
        const group = [...this.builders.values()].filter((b) => b.projectId === c.req.projectId && b.platform === c.req.platform && b.pool === c.pool);
        if (!group.some((b) => b.state === 'running'))
            return true;
        return group.some((b) => b.state === 'starting' || b.state === 'snapshotting');
    }
    /** Keys (build|platform) of every claim this provisioner holds. */
    claimKeys() {
        return new Set(this.claims.keys());
    }
    status(buildId, platform) {
        const c = this.claims.get(`${buildId}|${platform}`);
        return c ? this.statusOf(c) : { state: 'unknown' };
    }
    statusOf(c) {
        if (c.failed)
            return { state: 'failed', ...c.failed };
        if (c.builderId) {
            const b = this.builders.get(c.builderId);
            if (b?.running && b.state !== 'stopped') {
                return {
                    state: 'assigned',
                    builder: b,
                    running: b.running,
                    pool: b.pool,
                    coldCache: this.pool(b.pool).index > 0,
                    shared: c.shared,
                };
            }
        }
        return { state: 'waiting', reason: c.reason, retryAfterMs: 1000 };
    }
    /** The build ended (or gave this platform up): its slots free now. */
    release(buildId) {
        let any = false;
        for (const [key, c] of this.claims) {
            if (c.req.buildId !== buildId)
                continue;
            this.claims.delete(key);
            any = true;
            if (!c.builderId)
                continue;
            const b = this.builders.get(c.builderId);
            if (!b)
                continue;
            b.claims.delete(key);
            b.dirty = true;
            if (b.claims.size === 0) {
                b.idleSinceMs = this.clock.nowMs();
                b.busySinceMs = null;
            }
        }
        if (any)
            this.kick();
    }
    /** The builder crashed or was found unhealthy: its builds lose it and are placed again. */
    builderLost(id, why) {
        const b = this.builders.get(id);
        if (!b)
            return;
        this.log.warn({ builder_id: id, reason: why }, 'builder lost; its builds get another');
        for (const key of b.claims) {
            const c = this.claims.get(key);
            if (c) {
                c.builderId = undefined;
                c.reason = `builder ${b.platform} is being replaced (${why})`;
            }
        }
        b.claims.clear();
        if (b.role === 'clone') {
            this.builders.delete(id);
            void this.providerOf(b)
                .destroy(id)
                .catch(() => undefined);
            void this.hooks.builderChanged(b, 'destroyed');
        }
        else {
            b.state = 'stopped';
            b.running = undefined;
            void this.hooks.builderChanged(b, 'stopped');
        }
        this.kick();
    }
    /** After a server restart: builders with state (running or not) and the builds on them. */
    adopt(list) {
        const now = this.clock.nowMs();
        for (const a of list) {
            if (this.builders.has(a.id))
                continue;
            const b = {
                id: a.id,
                projectId: a.projectId,
                platform: a.platform,
                pool: a.pool,
                role: a.role,
                snapshotId: a.snapshotId,
                state: 'stopped',
                claims: new Set(),
                idleSinceMs: now,
                busySinceMs: null,
                dirty: false,
                launchedAtMs: now,
            };
            this.builders.set(a.id, b);
            for (const r of a.claims) {
                const key = `${r.buildId}|${r.platform}`;
                this.claims.set(key, {
                    key,
                    req: r,
                    queuedMs: r.queuedAtMs ?? now,
                    builderId: a.id,
                    shared: false,
                    reason: '',
                    tries: 0,
                    alerted: true,
                    waiters: [],
                });
                b.claims.add(key);
            }
            if (b.claims.size)
                b.busySinceMs = now;
            // Launching adopts a builder that still runs, or starts one its builds need again.
            if (a.running || b.claims.size > 0)
                this.launchBuilder(this.pool(a.pool), b);
        }
    }
    adoptSnapshot(s) {
        const b = this.builders.get(s.builderId);
        if (!b)
            return;
        const group = groupKey(b.projectId, b.platform, b.pool);
        const newer = [...this.snapshots.values()].some((x) => x.group === group && x.createdMs > s.createdMs);
        if (!newer)
            for (const x of this.snapshots.values())
                if (x.group === group)
                    x.current = false;
        this.snapshots.set(s.id, { ...s, group, current: !newer });
    }
    // ---- the reconciler ----
    /** Wakes the reconciler soon (coalesced). */
    kick() {
        void this.reconcile();
    }
    reconcile() {
        if (this.closed)
            return Promise.resolve();
        if (this.running) {
            this.again = true;
            return this.running;
        }
        this.running = (async () => {
            do {
                this.again = false;
                try {
                    await this.reconcileOnce();
                }
                catch (err) {
                    this.log.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'provisioning reconcile failed');
                }
                this.hooks.reconciled();
            } while (this.again && !this.closed);
        })().finally(() => (this.running = null));
        return this.running;
    }
    providerOf(b) {
        return this.pool(b.pool).provider;
    }
    view(b) {
        return { id: b.id, role: b.role, state: b.state, load: b.claims.size };
    }
    groupBuilders(projectId, platform, pool) {
        return [...this.builders.values()].filter((b) => b.projectId === projectId && b.platform === platform && b.pool === pool);
    }
    currentSnapshot(group) {
        return [...this.snapshots.values()].find((s) => s.group === group && s.current);
    }
    /** The pool new builds of this project go to: the first that accepts builds, with dwell. */
    poolFor(projectId, now) {
        const accepting = this.pools.map((p) => p.breaker.acceptsBuilds(now));
        const next = choosePool(accepting, this.projectPool.get(projectId), now, this.limits.dwellMs);
        if (!next)
            return null;
        const prev = this.projectPool.get(projectId);
        if (!prev || prev.index !== next.index) {
            if (prev) {
                this.log.warn({ project_id: projectId, from: this.pools[prev.index].name, to: this.pools[next.index].name }, next.index > prev.index
                    ? 'project moved to the next pool: new builds start there with a fresh cache'
                    : 'project returned to its preferred pool after the dwell time');
            }
            this.projectPool.set(projectId, next);
        }
        return this.pools[next.index];
    }
    async reconcileOnce() {
        const now = this.clock.nowMs();
        const waiting = [...this.claims.values()]
            .filter((c) => !c.builderId && !c.failed)
            .sort((a, b) => a.queuedMs - b.queuedMs || (a.key < b.key ? -1 : 1));
        // 1. Bounded wait: alert at five minutes, fail at --build-wait, saying what was busy.
        for (const c of waiting) {
            const waited = now - c.queuedMs;
            if (waited >= this.limits.alertWaitMs && !c.alerted) {
                c.alerted = true;
                this.stats.waitAlerts++;
                this.log.error({
                    build_id: c.req.buildId,
                    platform: c.req.platform,
                    waited_ms: waited,
                    why: this.describeBusy(c, now),
                }, `build ${c.req.buildId} has waited more than ${Math.round(this.limits.alertWaitMs / 60_000)} minutes for a builder`);
                this.hooks.waitAlert(c.req.buildId, c.req.platform, waited);
            }
            if (waited >= this.limits.buildWaitMs) {
                this.fail(c, 'wait_exceeded', `no ${c.req.platform} builder within ${Math.round(this.limits.buildWaitMs / 1000)} s (--build-wait): ${this.describeBusy(c, now)}`);
            }
        }
        // 2. Placement, oldest first, each waiting build on the pool its project uses now.
        const byGroup = new Map();
        for (const b of this.builders.values()) {
            const k = groupKey(b.projectId, b.platform, b.pool);
            const list = byGroup.get(k);
            if (list)
                list.push(b);
            else
                byGroup.set(k, [b]);
        }
        const ahead = new Map();
        for (const c of waiting) {
            if (c.failed)
                continue;
            const pool = this.poolFor(c.req.projectId, now);
            if (!pool) {
                c.reason = `every pool is unavailable: ${this.pools.map((p) => `${p.name}: ${p.describe(now)}`).join('; ')}`;
                continue;
            }
            c.pool = pool.name;
            const k = groupKey(c.req.projectId, c.req.platform, pool.name);
            const builders = byGroup.get(k) ?? [];
            const s = c.req.scaling;
            const canClone = this.canClone(pool, s);
            const up = builders.filter((b) => b.state !== 'stopped').length;
            // A clone may come only from a snapshot (current or being taken) and below the maximum.
            const cloneMayCome = canClone &&
                (builders.some((b) => b.state === 'starting' && b.role === 'clone') ||
                    (up < s.maxBuildersPerPlatform && (!!this.currentSnapshot(k) || this.snapshotting.has(k))));
            const d = placeBuild(builders.map((b) => this.view(b)), s, now - c.queuedMs, this.limits.shareAfterMs, cloneMayCome);
            if (d.kind === 'use') {
                this.assign(c, this.builders.get(d.builderId), d.shared, now);
                continue;
            }
            const n = ahead.get(k) ?? 0;
            ahead.set(k, n + 1);
            const poolNote = pool.describe(now);
            c.reason =
                `builder ${c.req.platform}${c.req.projectName ? ` of project ${c.req.projectName}` : ''} is ${d.reason}` +
                    (d.reason.startsWith('busy') ? `, ${n} build(s) ahead in the queue` : '') +
                    (c.lastError ? `; the builder failed to start (${c.lastError})` : '') +
                    (poolNote ? `; pool ${pool.name}: ${poolNote}` : '');
        }
        // 3. Launch the difference between demand and builders up, per (project, platform, pool).
        const groups = new Map();
        for (const c of this.claims.values()) {
            if (c.failed)
                continue;
            const poolName = c.builderId ? this.builders.get(c.builderId)?.pool : c.pool;
            if (!poolName)
                continue;
            const k = groupKey(c.req.projectId, c.req.platform, poolName);
            const g = groups.get(k) ?? {
                projectId: c.req.projectId,
                platform: c.req.platform,
                pool: this.pool(poolName),
                scaling: c.req.scaling,
                demand: 0,
                total: 0,
                oldestWait: 0,
            };
            // Builds already sharing a builder stay there (running builds never move): more builders
            // would not help them, so they are not demand for launches; they do show clones are wanted.
            if (!c.shared)
                g.demand++;
            g.total++;
            if (!c.builderId)
                g.oldestWait = Math.max(g.oldestWait, now - c.queuedMs);
            groups.set(k, g);
        }
        for (const [k, g] of groups)
            await this.launchFor(k, g, now);
        // 4. A pool whose oldest waiting build has no running builder in time opens its breaker.
        for (const p of this.pools) {
            let oldest = 0;
            for (const [k, g] of groups) {
                if (g.pool !== p || g.oldestWait === 0)
                    continue;
                const running = this.groupBuilders(g.projectId, g.platform, p.name).some((b) => b.state === 'running');
                if (!running && !this.snapshotting.has(k))
                    oldest = Math.max(oldest, g.oldestWait);
            }
            if (oldest > 0)
                p.breaker.onOldestWait(oldest, now);
        }
        // 5. Snapshots, idle builders, superseded snapshots.
        await this.snapshotsAndIdle(groups, now);
        // 6. Health of running builders, now and then.
        if (this.limits.healthIntervalMs > 0 && now - this.lastHealth >= this.limits.healthIntervalMs) {
            this.lastHealth = now;
            if (!this.checkingHealth) {
                this.checkingHealth = true;
                void this.checkHealth().finally(() => (this.checkingHealth = false));
            }
        }
    }
    canClone(pool, s) {
        return (s.autoscaling &&
            s.buildsPerBuilder !== null &&
            s.maxBuildersPerPlatform > 1 &&
            pool.provider.capabilities().cloneMethod !== 'none');
    }
    assign(c, b, shared, now) {
        c.builderId = b.id;
        c.shared = shared;
        c.reason = '';
        if (shared)
            this.stats.sharedPlacements++;
        if (b.claims.size === 0)
            b.busySinceMs = now;
        b.claims.add(c.key);
        const waited = now - c.queuedMs;
        this.stats.maxWaitMs = Math.max(this.stats.maxWaitMs, waited);
        this.wake(c);
    }
    fail(c, code, reason) {
        c.failed = { code, reason };
        if (code === 'wait_exceeded')
            this.stats.failedWaits++;
        else
            this.stats.failedLaunchTries++;
        this.log.warn({ build_id: c.req.buildId, platform: c.req.platform, reason }, 'build gets no builder');
        void Promise.resolve(this.hooks.claimFailed(c.req.buildId, c.req.platform, reason)).catch(() => undefined);
        this.wake(c);
    }
    wake(c) {
        const w = c.waiters;
        c.waiters = [];
        for (const f of w)
            f();
    }
    /** What kept a build waiting, for its failure message. */
    describeBusy(c, now) {
        const parts = [];
        for (const p of this.pools) {
            const d = p.describe(now);
            if (d)
                parts.push(`pool ${p.name}: ${d}`);
        }
        const builders = [...this.builders.values()].filter((b) => b.projectId === c.req.projectId && b.platform === c.req.platform);
        const busy = builders.filter((b) => b.state === 'running').map((b) => b.claims.size);
        if (busy.length)
            parts.push(`${busy.length} builder(s) of the project busy with ${busy.join('+')} build(s)`);
        const starting = builders.filter((b) => b.state === 'starting').length;
        if (starting)
            parts.push(`${starting} builder(s) still starting`);
        if (c.lastError)
            parts.push(`last start failed: ${c.lastError}`);
        if (parts.length === 0)
            parts.push(c.reason || 'no builder could be started');
        return parts.join('; ');
    }
    async launchFor(k, g, now) {
        const builders = this.groupBuilders(g.projectId, g.platform, g.pool.name);
        const snap = this.currentSnapshot(k);
        const canClone = this.canClone(g.pool, g.scaling);
        const plan = launchPlan(builders.map((b) => this.view(b)), g.scaling, g.demand, canClone && snap !== undefined);
        if (!plan.primary && plan.clones === 0)
            return;
        const back = this.groupBackoff.get(k);
        if (back && now < back.until)
            return;
        if (!g.pool.canLaunch(now))
            return;
        let room = g.pool.launchRoom(now);
        if (plan.primary && room > 0) {
            room--;
            let b = builders.find((x) => x.role === 'primary');
            if (!b) {
                const id = await this.hooks.primaryId(g.projectId, g.platform, g.pool.name);
                b = this.builders.get(id);
                if (!b) {
                    b = this.newBuilder(id, g, 'primary', undefined, now);
                    this.builders.set(id, b);
                }
            }
            if (b.state === 'stopped')
                this.launchBuilder(g.pool, b);
        }
        for (let i = 0; i < plan.clones && room > 0 && snap; i++) {
            const permit = this.permits.tryAcquire(snap.id);
            if (!permit)
                break;
            room--;
            const b = this.newBuilder(this.hooks.newBuilderId(), g, 'clone', snap.id, now);
            this.builders.set(b.id, b);
            this.stats.clonesStarted++;
            this.launchBuilder(g.pool, b, permit);
        }
    }
    newBuilder(id, g, role, snapshotId, now) {
        return {
            id,
            projectId: g.projectId,
            platform: g.platform,
            pool: g.pool.name,
            role,
            snapshotId,
            state: 'stopped',
            claims: new Set(),
            idleSinceMs: now,
            busySinceMs: null,
            dirty: false,
            launchedAtMs: now,
        };
    }
    launchBuilder(pool, b, permit) {
        const started = this.clock.nowMs();
        b.state = 'starting';
        b.launchedAtMs = started;
        void this.hooks.builderChanged(b, 'starting');
        const spec = {
            id: b.id,
            projectId: b.projectId,
            platform: b.platform,
            role: b.role,
            ...(b.snapshotId ? { snapshotId: b.snapshotId } : {}),
            ...(this.limits.maxUsedSpaceBytes ? { maxUsedSpaceBytes: this.limits.maxUsedSpaceBytes } : {}),
        };
        const flight = (this.ops.get(b.id) ?? Promise.resolve())
            .then(() => pool.launch(spec))
            .catch((err) => ({
            ok: false,
            error: err instanceof provider/* ProvisionError */.uv ? err : new provider/* ProvisionError */.uv('transient', (0,errors/* errorMessage */.gJ)(err)),
        }))
            .then((r) => this.launched(pool, b, r, started, permit))
            .finally(() => this.inflight.delete(flight));
        this.inflight.add(flight);
    }
    /** Launches not answered yet. */
    inflight = new Set();
    async launched(pool, b, r, started, permit) {
        const now = this.clock.nowMs();
        const k = groupKey(b.projectId, b.platform, b.pool);
        if (r.ok) {
            permit?.done(true, now - started, now);
            this.groupBackoff.delete(k);
            b.state = 'running';
            b.running = r.builder;
            b.lastError = undefined;
            if (b.claims.size === 0)
                b.idleSinceMs = now;
            this.log.info({ builder_id: b.id, pool: b.pool, role: b.role, adopted: r.builder.adopted, ms: now - started }, r.builder.adopted ? 'builder adopted' : 'builder started');
            await this.hooks.builderChanged(b, 'running');
            for (const key of b.claims) {
                const c = this.claims.get(key);
                if (c)
                    this.wake(c);
            }
        }
        else {
            const err = r.error;
            const local = err instanceof LocalRefusal;
            if (permit) {
                if (local)
                    permit.done(true, this.limits.permits.slowMs / 2 + 1, now);
                else
                    permit.done(false, now - started, now);
            }
            b.lastError = err.message;
            if (!local)
                this.stats.failedLaunches++;
            // A builder that failed to start is not retried in place: a clone is destroyed, a primary
            // (whose cache must survive) goes back to stopped; demand decides what comes next.
            const held = [...b.claims];
            b.claims.clear();
            for (const key of held) {
                const c = this.claims.get(key);
                if (c)
                    c.builderId = undefined;
            }
            if (b.role === 'clone') {
                this.builders.delete(b.id);
                if (!local)
                    await pool.provider.destroy(b.id).catch(() => undefined);
                await this.hooks.builderChanged(b, 'destroyed');
            }
            else {
                b.state = 'stopped';
                b.running = undefined;
                await this.hooks.builderChanged(b, local ? 'stopped' : 'failed');
            }
            if (!local) {
                this.log.warn({ builder_id: b.id, pool: b.pool, kind: err.kind, err: err.message }, 'builder failed to start');
                if (err.kind === 'transient' || err.kind === 'permanent') {
                    const back = this.groupBackoff.get(k) ?? { failures: 0, until: 0 };
                    back.failures++;
                    back.until = now + Math.max(500, fullJitter(back.failures, this.limits.backoff, this.random));
                    this.groupBackoff.set(k, back);
                    // The oldest waiting build of the group pays one try; past the bound it fails.
                    const victim = [...this.claims.values()]
                        .filter((c) => !c.builderId &&
                        !c.failed &&
                        c.pool === b.pool &&
                        c.req.projectId === b.projectId &&
                        c.req.platform === b.platform)
                        .sort((x, y) => x.queuedMs - y.queuedMs)[0];
                    if (victim) {
                        victim.tries++;
                        victim.lastError = err.message;
                        if (victim.tries >= this.limits.maxLaunchTries) {
                            this.fail(victim, 'launch_failed', `builder ${b.platform} could not start after ${victim.tries} attempts: ${err.message}`);
                        }
                    }
                }
            }
        }
        this.kick();
    }
    async snapshotsAndIdle(groups, now) {
        // Snapshot or drain primaries of autoscaled groups.
        const seen = new Set();
        for (const b of this.builders.values()) {
            if (b.role !== 'primary')
                continue;
            const k = groupKey(b.projectId, b.platform, b.pool);
            seen.add(k);
            const g = groups.get(k);
            const scaling = g?.scaling ?? this.lastScaling(b);
            if (!scaling || !this.canClone(this.pool(b.pool), scaling) || this.snapshotting.has(k))
                continue;
            const wantClones = !!g && g.total > (scaling.buildsPerBuilder ?? Infinity);
            const d = snapshotDecision({
                state: b.state === 'running' ? 'running' : b.state === 'draining' ? 'draining' : 'other',
                load: b.claims.size,
                dirty: b.dirty,
                busySinceMs: b.busySinceMs,
            }, this.currentSnapshot(k), wantClones, now, this.limits.snapshot);
            if (d === 'drain') {
                b.state = 'draining';
                this.stats.drains++;
                this.log.info({ builder_id: b.id }, 'primary drained: no new builds until its snapshot is taken');
            }
            else if (d === 'snapshot') {
                void this.takeSnapshot(k, b);
            }
        }
        // Superseded snapshots no clone uses go.
        const usedBy = (id) => [...this.builders.values()].filter((b) => b.snapshotId === id).length;
        for (const id of deletableSnapshots([...this.snapshots.values()].map((s) => ({ id: s.id, current: s.current, usedBy: usedBy(s.id) })))) {
            const s = this.snapshots.get(id);
            const owner = this.builders.get(s.builderId);
            this.snapshots.delete(id);
            this.stats.snapshotsDeleted++;
            const provider = owner ? this.providerOf(owner) : this.pools[0].provider;
            await provider
                .deleteSnapshot(id)
                .catch((err) => this.log.warn({ snapshot_id: id, err: (0,errors/* errorMessage */.gJ)(err) }, 'snapshot delete failed'));
        }
        // Idle clones stop (and go) first; an idle primary stops, cache kept, once no clone of it runs.
        const clones = [...this.builders.values()].filter((b) => b.role === 'clone' && b.state === 'running');
        for (const id of idleClones(clones.map((b) => ({ id: b.id, load: b.claims.size, idleSinceMs: b.idleSinceMs })), now, this.limits.cloneIdleMs)) {
            const b = this.builders.get(id);
            if (!b || !(await this.mayRetire(b, now)))
                continue;
            this.builders.delete(id);
            this.log.info({ builder_id: id }, 'idle clone destroyed');
            this.serialize(id, async () => {
                await this.providerOf(b)
                    .destroy(id)
                    .catch(() => undefined);
                await this.hooks.builderChanged(b, 'destroyed');
            });
        }
        for (const b of [...this.builders.values()]) {
            if (b.role !== 'primary' || b.state !== 'running' || b.claims.size > 0)
                continue;
            if (now - b.idleSinceMs < this.limits.primaryIdleMs)
                continue;
            const clonesUp = [...this.builders.values()].some((x) => x.role === 'clone' && x.projectId === b.projectId && x.platform === b.platform && x.pool === b.pool);
            if (clonesUp || !(await this.mayRetire(b, now)))
                continue;
            b.state = 'stopped';
            b.running = undefined;
            this.log.info({ builder_id: b.id, why: 'idle' }, 'builder stopped; cache kept');
            this.serialize(b.id, async () => {
                await this.providerOf(b)
                    .stop(b.id)
                    .catch(() => undefined);
                await this.hooks.builderChanged(b, 'stopped');
            });
        }
    }
    /**
     * Still idle after asking the hooks (an await: a claim may have come meanwhile)? A vetoed builder
     * counts as busy now, so it is asked again only after another idle period.
     */
    async mayRetire(b, now) {
        let veto;
        try {
            veto = await this.hooks.retireVeto(b.id);
        }
        catch (err) {
            veto = `cannot check its builds: ${(0,errors/* errorMessage */.gJ)(err)}`;
        }
        if (veto) {
            b.idleSinceMs = now;
            this.log.info({ builder_id: b.id, why: veto }, 'idle builder kept');
            return false;
        }
        return this.builders.get(b.id) === b && b.state === 'running' && b.claims.size === 0;
    }
    /** Provider calls on one builder run one after another (a launch waits for its stop). */
    ops = new Map();
    serialize(id, fn) {
        const p = (this.ops.get(id) ?? Promise.resolve()).then(fn).catch((err) => {
            this.log.error({ builder_id: id, err: (0,errors/* errorMessage */.gJ)(err) }, 'builder operation failed');
        });
        this.ops.set(id, p);
        void p.finally(() => {
            if (this.ops.get(id) === p)
                this.ops.delete(id);
        });
        return p;
    }
    /** Resolves once no provider call on any builder is in flight (for a clean shutdown). */
    async idle() {
        while (this.ops.size > 0 || this.inflight.size > 0) {
            await Promise.allSettled([...this.ops.values(), ...this.inflight]);
        }
    }
    scalingSeen = new Map();
    lastScaling(b) {
        return this.scalingSeen.get(`${b.projectId}|${b.platform}`);
    }
    async takeSnapshot(k, primary) {
        if (primary.claims.size > 0)
            return;
        this.snapshotting.add(k);
        primary.state = 'snapshotting';
        const id = this.hooks.newSnapshotId();
        const started = this.clock.nowMs();
        try {
            const info = await this.providerOf(primary).snapshot(primary.id, id);
            for (const s of this.snapshots.values())
                if (s.group === k)
                    s.current = false;
            this.snapshots.set(id, {
                id,
                group: k,
                builderId: primary.id,
                createdMs: this.clock.nowMs(),
                current: true,
            });
            primary.dirty = false;
            if (info.restarted) {
                primary.running = info.restarted;
                await this.hooks.builderChanged(primary, 'restarted');
            }
            this.stats.snapshotsTaken++;
            this.log.info({
                builder_id: primary.id,
                snapshot_id: id,
                downtime_ms: info.downtimeMs,
                ms: this.clock.nowMs() - started,
            }, 'snapshot taken from the quiesced primary');
        }
        catch (err) {
            this.log.error({ builder_id: primary.id, err: (0,errors/* errorMessage */.gJ)(err) }, 'snapshot failed; clones wait for the next one');
            this.groupBackoff.set(k, { failures: 1, until: this.clock.nowMs() + this.limits.backoff.capMs });
        }
        finally {
            this.snapshotting.delete(k);
            if (primary.state === 'snapshotting')
                primary.state = primary.running ? 'running' : 'stopped';
            primary.idleSinceMs = this.clock.nowMs();
            this.kick();
        }
    }
    async checkHealth() {
        for (const b of [...this.builders.values()]) {
            if (b.state !== 'running' && b.state !== 'draining')
                continue;
            const h = await this.providerOf(b)
                .health(b.id)
                .catch((err) => ({ healthy: false, reason: (0,errors/* errorMessage */.gJ)(err) }));
            if (!h.healthy && this.builders.get(b.id) === b && (b.state === 'running' || b.state === 'draining')) {
                this.builderLost(b.id, h.reason);
            }
        }
    }
    /** Remembers a project's settings for decisions made while no build of it waits. */
    noteScaling(projectId, platform, s) {
        this.scalingSeen.set(`${projectId}|${platform}`, s);
    }
    /** Builds waiting for a builder and how long the oldest has waited. */
    queue() {
        const now = this.clock.nowMs();
        const w = [...this.claims.values()].filter((c) => !c.builderId && !c.failed);
        return { waiting: w.length, oldestWaitMs: w.reduce((m, c) => Math.max(m, now - c.queuedMs), 0) };
    }
}

// EXTERNAL MODULE: ./src/lib/der.ts
var der = __webpack_require__(61412);
;// CONCATENATED MODULE: ./src/server/http/rate-limit.ts


/**
 * The client a per-client limit counts: an IPv4 address, or the /64 of an IPv6 one (an IPv6
 * client is handed at least a /64 and can pick any address in it; a limit per address would be a
 * limit per request). An IPv4-mapped IPv6 address is its IPv4 address.
 */
function clientKey(ip) {
    if ((0,external_node_net_.isIP)(ip) !== 6)
        return ip;
    const b = (0,der/* ipBytes */.tF)(ip);
    if (b.subarray(0, 12).equals(Buffer.from('00000000000000000000ffff', 'hex'))) {
        return [...b.subarray(12)].join('.');
    }
    const groups = [0, 2, 4, 6].map((i) => b.readUInt16BE(i).toString(16));
    return `${groups.join(':')}::/64`;
}
/** Most clients tracked at once; past it, idle ones are forgotten first, then the oldest. */
const MAX_CLIENTS = 100_000;
/**
 * One token bucket per client key (the peer IP): `ratePerSec` tokens a second, at most `burst`
 * held. Memory stays bounded: a bucket that has refilled is the same as no bucket, so those are
 * dropped when the map grows, and the oldest go if that is not enough.
 */
class TokenBuckets {
    ratePerSec;
    burst;
    now;
    buckets = new Map();
    constructor(ratePerSec, burst, now = () => Date.now()) {
        this.ratePerSec = ratePerSec;
        this.burst = burst;
        this.now = now;
    }
    /** Takes one token for `key`; when none is left, says in how many whole seconds one will be. */
    take(key) {
        const now = this.now();
        let b = this.buckets.get(key);
        if (!b && this.buckets.size >= MAX_CLIENTS)
            this.sweep(now);
        const r = takeToken(b, now, this.ratePerSec, this.burst);
        if (b)
            Object.assign(b, r.bucket);
        else
            this.buckets.set(key, (b = r.bucket));
        return r.decision;
    }
    get size() {
        return this.buckets.size;
    }
    sweep(now) {
        const full = (this.burst / this.ratePerSec) * 1000;
        for (const [k, b] of this.buckets)
            if (now - b.at >= full)
                this.buckets.delete(k);
        // Still full (many clients at once): forget the least recently inserted tenth.
        let drop = this.buckets.size >= MAX_CLIENTS ? Math.ceil(MAX_CLIENTS / 10) : 0;
        for (const k of this.buckets.keys()) {
            if (drop-- <= 0)
                break;
            this.buckets.delete(k);
        }
    }
}
/**
 * One token from a bucket (a missing bucket is a full one): the decision and the bucket after it.
 * Time never runs backwards for a bucket: replicas whose clocks differ a little refill it from
 * the latest time any of them wrote, never twice for the same interval.
 */
function takeToken(b, nowMs, ratePerSec, burst) {
    const at = Math.max(b?.at ?? nowMs, nowMs);
    const tokens = b ? Math.min(burst, b.tokens + (Math.max(0, nowMs - b.at) / 1000) * ratePerSec) : burst;
    if (tokens >= 1)
        return { decision: { ok: true }, bucket: { tokens: tokens - 1, at } };
    return {
        decision: { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - tokens) / ratePerSec)) },
        bucket: { tokens, at },
    };
}
/**
 * takeToken() on a bucket in the database (table rate_buckets), shared by every replica. Call it
 * inside a transaction: the row is locked from the read to the write, so concurrent takes on
 * several replicas queue on it and the limit holds across them. Cost: three short statements
 * (insert-if-absent, locked read, write) in the caller's transaction.
 */
async function takeSharedToken(tx, key, nowMs, ratePerSec, burst) {
    await tx.run('INSERT INTO rate_buckets (key, tokens, at_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING', [key, burst, nowMs]);
    const row = await tx.get(`SELECT tokens, at_ms FROM rate_buckets WHERE key = ?${tx.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, [key]);
    const r = takeToken(row ? { tokens: Number(row.tokens), at: Number(row.at_ms) } : undefined, nowMs, ratePerSec, burst);
    await tx.run('UPDATE rate_buckets SET tokens = ?, at_ms = ? WHERE key = ?', [
        r.bucket.tokens,
        r.bucket.at,
        key,
    ]);
    return r.decision;
}
/** TokenBuckets as a ClientLimiter: SQLite runs one replica, so its memory is the whole truth. */
class LocalClientLimiter {
    ratePerSec;
    burst;
    scope = 'replica';
    buckets;
    constructor(ratePerSec, burst, now) {
        this.ratePerSec = ratePerSec;
        this.burst = burst;
        this.buckets = new TokenBuckets(ratePerSec, burst, now);
    }
    take(key) {
        const d = this.buckets.take(key);
        return d.ok ? d : { ...d, cause: 'limited' };
    }
}
/**
 * One token of a shared bucket in one PostgreSQL statement: the row is created full (minus the
 * token) or refilled and drawn under the row lock that ON CONFLICT takes, so concurrent takes on
 * any number of replicas queue on it. The time is the database's (one clock for every replica),
 * unless the caller passes one (tests). A refusal changes nothing and returns no row.
 */
const TAKE_SHARED_TOKEN_PG = `
INSERT INTO rate_buckets AS b (key, tokens, at_ms)
VALUES (?, ?::float8 - 1, COALESCE(?::bigint, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint))
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(?::float8, b.tokens + GREATEST(0, excluded.at_ms - b.at_ms) / 1000.0 * ?::float8) - 1,
  at_ms = GREATEST(b.at_ms, excluded.at_ms)
WHERE LEAST(?::float8, b.tokens + GREATEST(0, excluded.at_ms - b.at_ms) / 1000.0 * ?::float8) >= 1
RETURNING tokens`;
function sharedStep(m, key, nowMs) {
    const until = m.deniedUntil.get(key);
    if (until !== undefined && until > nowMs) {
        return { kind: 'denied', retryAfterSec: Math.max(1, Math.ceil((until - nowMs) / 1000)) };
    }
    if (m.downUntil > nowMs || (m.downUntil > 0 && m.probing)) {
        return { kind: 'down', retryAfterSec: Math.max(1, Math.ceil((m.downUntil - nowMs) / 1000)) };
    }
    return { kind: 'ask' };
}
/** Seconds a refused client waits: one token's refill, an upper bound of the real wait. */
const refillSec = (ratePerSec) => Math.max(1, Math.ceil(1 / ratePerSec));
/** Most refused clients remembered; past it the expired go, then the oldest. */
const MAX_DENIED = 100_000;
/**
 * The per-client limit in PostgreSQL, shared by every replica: one bucket row per client
 * (`rate_buckets`, key `<prefix><client>`), one statement per take. See sharedStep() for what a
 * replica answers from memory.
 *
 * When the database cannot be reached (or does not answer within `timeoutMs`) the limiter fails
 * closed, with a 503 that says so: the exchange it guards cannot succeed without the database
 * anyway (the jti and the new token are written there), so refusing costs no exchange that
 * could have worked, and it never lets a flood through to signature checks and JWKS fetches
 * while the shared count is unknown.
 */
class SharedClientLimiter {
    db;
    ratePerSec;
    burst;
    opts;
    scope = 'shared';
    memory = { deniedUntil: new Map(), downUntil: 0, probing: false };
    constructor(db, ratePerSec, burst, opts) {
        this.db = db;
        this.ratePerSec = ratePerSec;
        this.burst = burst;
        this.opts = opts;
    }
    async take(client) {
        const now = this.opts.now?.() ?? Date.now();
        const step = sharedStep(this.memory, client, now);
        if (step.kind === 'denied')
            return { ok: false, retryAfterSec: step.retryAfterSec, cause: 'limited' };
        if (step.kind === 'down')
            return this.unavailable(step.retryAfterSec);
        const probe = this.memory.downUntil > 0;
        if (probe)
            this.memory.probing = true;
        let granted;
        try {
            granted = await this.ask(client);
        }
        catch (err) {
            const cooldown = this.opts.cooldownMs ?? 5000;
            if (this.memory.downUntil === 0)
                this.opts.onDown?.(err);
            this.memory.downUntil = (this.opts.now?.() ?? Date.now()) + cooldown;
            return this.unavailable(Math.ceil(cooldown / 1000));
        }
        finally {
            if (probe)
                this.memory.probing = false;
        }
        if (this.memory.downUntil > 0) {
            this.memory.downUntil = 0;
            this.opts.onUp?.();
        }
        if (granted) {
            this.memory.deniedUntil.delete(client);
            return { ok: true };
        }
        this.remember(client, now + 1000 / this.ratePerSec, now);
        return { ok: false, retryAfterSec: refillSec(this.ratePerSec), cause: 'limited' };
    }
    /** Deletes the rows of clients whose bucket has refilled (the same as no row). */
    async purge() {
        const fullMs = Math.ceil((this.burst / this.ratePerSec) * 1000);
        const r = await this.db.run(`DELETE FROM rate_buckets WHERE key LIKE ? AND at_ms < floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - ?`, [`${this.opts.prefix.replace(/[\\%_]/g, '\\$&')}%`, fullMs]);
        return r.changes;
    }
    async ask(client) {
        const timeoutMs = this.opts.timeoutMs ?? 2000;
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`the database did not answer within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
            const rows = await Promise.race([
                this.db.all(TAKE_SHARED_TOKEN_PG, [
                    this.opts.prefix + client,
                    this.burst,
                    this.opts.bucketNow?.() ?? null,
                    this.burst,
                    this.ratePerSec,
                    this.burst,
                    this.ratePerSec,
                ]),
                timeout,
            ]);
            return rows.length > 0;
        }
        finally {
            clearTimeout(timer);
        }
    }
    unavailable(retryAfterSec) {
        return {
            ok: false,
            retryAfterSec,
            cause: 'unavailable',
            detail: 'the database that holds the rate limit shared by every replica cannot be reached',
        };
    }
    remember(client, until, now) {
        const d = this.memory.deniedUntil;
        if (!d.has(client) && d.size >= MAX_DENIED) {
            for (const [k, t] of d)
                if (t <= now)
                    d.delete(k);
            let drop = d.size >= MAX_DENIED ? Math.ceil(MAX_DENIED / 10) : 0;
            for (const k of d.keys()) {
                if (drop-- <= 0)
                    break;
                d.delete(k);
            }
        }
        d.set(client, until);
    }
}

;// CONCATENATED MODULE: ./src/server/cluster/leader.ts
/** Handler lists and the elected/demoted transitions shared by both kinds of leader. */
class LeaderBase {
    replicaId;
    clock;
    log;
    elected = false;
    since = null;
    elections = 0;
    electedFns = new Set();
    demotedFns = new Set();
    constructor(replicaId, clock, log) {
        this.replicaId = replicaId;
        this.clock = clock;
        this.log = log;
    }
    isLeader() {
        return this.elected;
    }
    onElected(fn) {
        this.electedFns.add(fn);
        if (this.elected)
            void this.call(fn, 'elected');
        return () => this.electedFns.delete(fn);
    }
    onDemoted(fn) {
        this.demotedFns.add(fn);
        return () => this.demotedFns.delete(fn);
    }
    status() {
        return {
            mode: this.mode,
            replica_id: this.replicaId,
            leader: this.isLeader(),
            leader_since: this.elected && this.since ? this.since.toISOString() : null,
            leader_id: this.isLeader() ? this.replicaId : this.knownLeader(),
            elections: this.elections,
        };
    }
    knownLeader() {
        return null;
    }
    /** Marks this replica the leader and runs the elected handlers (awaited, in order). */
    async becomeLeader() {
        if (this.elected)
            return;
        this.elected = true;
        this.since = this.clock.now();
        this.elections++;
        for (const fn of [...this.electedFns])
            await this.call(fn, 'elected');
    }
    async becomeFollower() {
        if (!this.elected)
            return;
        this.elected = false;
        this.since = null;
        for (const fn of [...this.demotedFns])
            await this.call(fn, 'demoted');
    }
    async call(fn, what) {
        try {
            await fn();
        }
        catch (err) {
            this.log.error({ err, replica_id: this.replicaId }, `a leader ${what} handler failed`);
        }
    }
}
/** SQLite: one replica, always the leader from start() to stop(). */
class SingleLeader extends LeaderBase {
    mode = 'single';
    async otherReplicas() {
        return [];
    }
    async start() {
        await this.becomeLeader();
    }
    async stop() {
        await this.becomeFollower();
    }
}
/**
 * Is a lease confirmed at `confirmedAtMs` still ours at `nowMs`? The confirmation time is when
 * the confirming query was sent, so a slow answer never stretches the lease.
 */
function leaseHeld(confirmedAtMs, nowMs, leaseMs) {
    return confirmedAtMs !== null && nowMs >= confirmedAtMs && nowMs - confirmedAtMs < leaseMs;
}
/** A replica id: the one given, else host, pid and a random suffix (a restarted pod is a new replica). */
function replicaIdOf(given, host, pid, random) {
    const id = given?.trim() || `${host}-${pid}-${random}`;
    // application_name of the lock's session carries it: PostgreSQL keeps 63 bytes of it.
    return id.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 48);
}

;// CONCATENATED MODULE: ./src/server/builds/store.ts
const ACTIVE_STATUSES = ['queued', 'running'];
const ACTIVE_SQL = `('queued', 'running')`;
class BuildStore {
    db;
    constructor(db) {
        this.db = db;
    }
    async insertBuild(b, platforms, db = this.db) {
        await db.run(`INSERT INTO builds (id, project_id, status, platforms, options, created_by_token, queued_at, acquired_at,
         finished_at, last_heartbeat_at, expires_at, cancel_requested, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
            b.id,
            b.project_id,
            b.status,
            b.platforms,
            b.options,
            b.created_by_token,
            b.queued_at,
            b.acquired_at,
            b.finished_at,
            b.last_heartbeat_at,
            b.expires_at,
            b.cancel_requested,
            b.error,
        ]);
        for (const p of platforms) {
            await db.run('INSERT INTO build_builders (build_id, platform) VALUES (?, ?)', [b.id, p]);
        }
    }
    getBuild(id, db = this.db) {
        return db.get('SELECT * FROM builds WHERE id = ?', [id]);
    }
    async listBuilds(filter, db = this.db) {
        const where = [];
        const params = [];
        if (filter.project_id) {
            where.push('project_id = ?');
            params.push(filter.project_id);
        }
        if (filter.status) {
            where.push('status = ?');
            params.push(filter.status);
        }
        if (filter.build_id) {
            where.push('id = ?');
            params.push(filter.build_id);
        }
        if (filter.before) {
            where.push('id < ?');
            params.push(filter.before);
        }
        params.push(filter.limit);
        return db.all(`SELECT * FROM builds ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, params);
    }
    buildBuilders(buildIds, db = this.db) {
        if (buildIds.length === 0)
            return Promise.resolve([]);
        return db.all(`SELECT * FROM build_builders WHERE build_id IN (${buildIds.map(() => '?').join(', ')}) ORDER BY build_id, platform`, buildIds);
    }
    getBuildBuilder(buildId, platform, db = this.db) {
        return db.get('SELECT * FROM build_builders WHERE build_id = ? AND platform = ?', [
            buildId,
            platform,
        ]);
    }
    /** Builds of active status holding a slot on this builder. */
    async activeOnBuilder(builderId, db = this.db) {
        const r = await db.get(`SELECT COUNT(*) AS n FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE bb.builder_id = ? AND b.status IN ${ACTIVE_SQL}`, [builderId]);
        return Number(r?.n ?? 0);
    }
    /** Queued or running builds of a project. */
    async countActive(projectId, db = this.db) {
        const r = await db.get(`SELECT COUNT(*) AS n FROM builds WHERE project_id = ? AND status IN ${ACTIVE_SQL}`, [projectId]);
        return Number(r?.n ?? 0);
    }
    /**
     * Deletes up to `limit` builds that finished before `before`, their platform rows and their
     * build tokens (already revoked); returns how many builds went. Run it in a transaction.
     */
    async purgeFinished(before, limit, db = this.db) {
        const ids = (await db.all(`SELECT id FROM builds WHERE finished_at IS NOT NULL AND finished_at < ? AND status NOT IN ${ACTIVE_SQL}
         ORDER BY finished_at LIMIT ?`, [before, limit])).map((r) => r.id);
        if (ids.length === 0)
            return 0;
        const list = ids.map(() => '?').join(', ');
        await db.run(`DELETE FROM tokens WHERE kind = 'build' AND build_id IN (${list})`, ids);
        await db.run(`DELETE FROM build_certs WHERE build_id IN (${list})`, ids);
        await db.run(`DELETE FROM build_builders WHERE build_id IN (${list})`, ids);
        await db.run(`DELETE FROM builds WHERE id IN (${list})`, ids);
        return ids.length;
    }
    /** Waiting platform requests of active builds for (project, platform) that queued before `since` and polled after `polledAfter`. */
    async waitersBefore(projectId, platform, buildId, since, polledAfter, db = this.db) {
        const r = await db.get(`SELECT COUNT(*) AS n FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE b.project_id = ? AND bb.platform = ? AND bb.builder_id IS NULL AND bb.waiting_since IS NOT NULL
         AND b.status IN ${ACTIVE_SQL} AND bb.build_id <> ?
         AND (bb.waiting_since < ? OR (bb.waiting_since = ? AND bb.build_id < ?)) AND bb.last_poll_at >= ?`, [projectId, platform, buildId, since, since, buildId, polledAfter]);
        return Number(r?.n ?? 0);
    }
    async markWaiting(buildId, platform, now, db = this.db) {
        await db.run(`UPDATE build_builders SET waiting_since = COALESCE(waiting_since, ?), last_poll_at = ? WHERE build_id = ? AND platform = ?`, [now, now, buildId, platform]);
        await db.run(`UPDATE builds SET last_heartbeat_at = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`, [
            now,
            buildId,
        ]);
        return (await this.getBuildBuilder(buildId, platform, db));
    }
    /** Records the acquisition; false when the build stopped being active meanwhile. */
    async recordAcquired(a, db = this.db) {
        const r = await db.run(`UPDATE builds SET status = 'running', acquired_at = COALESCE(acquired_at, ?), last_heartbeat_at = ?
       WHERE id = ? AND status IN ${ACTIVE_SQL}`, [a.now, a.now, a.buildId]);
        if (r.changes === 0)
            return false;
        await db.run(`UPDATE build_builders SET builder_id = ?, acquired_at = COALESCE(acquired_at, ?), last_poll_at = ?,
         cert_serial = ?, cert_expires_at = ? WHERE build_id = ? AND platform = ?`, [a.builderId, a.now, a.now, a.certSerial, a.certExpiresAt, a.buildId, a.platform]);
        await db.run('UPDATE builders SET last_used_at = ?, updated_at = ? WHERE id = ?', [
            a.now,
            a.now,
            a.builderId,
        ]);
        return true;
    }
    async heartbeat(buildId, now, db = this.db) {
        const r = await db.run(`UPDATE builds SET last_heartbeat_at = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`, [now, buildId]);
        return r.changes;
    }
    /** Moves an active build to a final status; false when it had already finished. */
    async finish(buildId, status, error, now, db = this.db) {
        const r = await db.run(`UPDATE builds SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`, [status, now, error, buildId]);
        if (r.changes === 0)
            return false;
        // The idle timer of its builders starts now.
        await db.run(`UPDATE builders SET last_used_at = ?, updated_at = ? WHERE id IN
         (SELECT builder_id FROM build_builders WHERE build_id = ? AND builder_id IS NOT NULL)`, [now, now, buildId]);
        return true;
    }
    requestCancel(buildId, db = this.db) {
        return db.run(`UPDATE builds SET cancel_requested = 1 WHERE id = ? AND status IN ${ACTIVE_SQL}`, [
            buildId,
        ]);
    }
    /** Active builds whose heartbeats stopped or whose deadline passed. */
    overdue(heartbeatBefore, now, db = this.db) {
        return db.all(`SELECT * FROM builds WHERE status IN ${ACTIVE_SQL} AND (last_heartbeat_at < ? OR expires_at <= ?)`, [heartbeatBefore, now]);
    }
    /** Active builds with a platform that has waited for a builder since before `before`. */
    waitedTooLong(before, db = this.db) {
        return db.all(`SELECT b.*, bb.platform AS wait_platform FROM builds b JOIN build_builders bb ON bb.build_id = b.id
       WHERE b.status IN ${ACTIVE_SQL} AND bb.builder_id IS NULL AND bb.waiting_since IS NOT NULL AND bb.waiting_since < ?`, [before]);
    }
    async countWaitingSince(before, db = this.db) {
        const r = await db.get(`SELECT COUNT(DISTINCT b.id) AS n FROM builds b JOIN build_builders bb ON bb.build_id = b.id
       WHERE b.status IN ${ACTIVE_SQL} AND bb.builder_id IS NULL AND b.queued_at < ?`, [before]);
        return Number(r?.n ?? 0);
    }
    async countByStatus(db = this.db) {
        const rows = await db.all('SELECT status, COUNT(*) AS n FROM builds GROUP BY status');
        return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    }
    // ---- client certificates ----
    async insertCert(c, db = this.db) {
        await db.run(`INSERT INTO build_certs (serial, build_id, platform, builder_id, cert_pem, issued_at, not_after)
       VALUES (?, ?, ?, ?, ?, ?, ?)`, [c.serial, c.build_id, c.platform, c.builder_id, c.cert_pem, c.issued_at, c.not_after]);
    }
    /** The newest unrevoked certificate of each platform of a build. */
    async currentCerts(buildId, db = this.db) {
        const rows = await db.all(`SELECT * FROM build_certs WHERE build_id = ? AND revoked_at IS NULL ORDER BY platform, issued_at DESC, serial`, [buildId]);
        const out = [];
        for (const r of rows)
            if (!out.some((o) => o.platform === r.platform))
                out.push(r);
        return out;
    }
    certsOf(buildId, db = this.db) {
        return db.all('SELECT * FROM build_certs WHERE build_id = ? ORDER BY issued_at, serial', [
            buildId,
        ]);
    }
    /** Revokes the unrevoked certificates of a build (of one platform when given); returns their serials. */
    async revokeCerts(buildId, reason, now, platform, db = this.db) {
        const where = platform === undefined ? '' : ' AND platform = ?';
        const params = platform === undefined ? [buildId] : [buildId, platform];
        const rows = await db.all(`SELECT serial FROM build_certs WHERE build_id = ? AND revoked_at IS NULL${where}`, params);
        if (rows.length === 0)
            return [];
        await db.run(`UPDATE build_certs SET revoked_at = ?, revoke_reason = ? WHERE build_id = ? AND revoked_at IS NULL${where}`, [now, reason, ...params]);
        return rows.map((r) => r.serial);
    }
    /**
     * Of these serials, the ones that may open a builder now: unrevoked, unexpired, of an active
     * build. With the builder they were issued for and their build.
     */
    liveCerts(serials, now, unexpired, db = this.db) {
        if (serials.length === 0)
            return Promise.resolve([]);
        return db.all(`SELECT c.serial, c.build_id, c.builder_id, c.platform FROM build_certs c JOIN builds b ON b.id = c.build_id
       WHERE c.serial IN (${serials.map(() => '?').join(', ')}) AND c.revoked_at IS NULL
         AND b.status IN ${ACTIVE_SQL}${unexpired ? ' AND c.not_after > ?' : ''}`, unexpired ? [...serials, now] : serials);
    }
    /** Active builds whose creating token was revoked (or deleted). */
    orphanedByToken(db = this.db) {
        return db.all(`SELECT b.*, t.revoked_at AS token_revoked_at FROM builds b LEFT JOIN tokens t ON t.id = b.created_by_token
       WHERE b.status IN ${ACTIVE_SQL} AND b.created_by_token IS NOT NULL AND (t.id IS NULL OR t.revoked_at IS NOT NULL)`);
    }
    // ---- builders ----
    getBuilder(id, db = this.db) {
        return db.get('SELECT * FROM builders WHERE id = ?', [id]);
    }
    findPrimary(projectId, platform, pool, db = this.db) {
        return db.get(`SELECT * FROM builders WHERE project_id = ? AND platform = ? AND pool = ? AND role = 'primary'`, [projectId, platform, pool]);
    }
    /** Inserts the row; a primary that exists already wins (one per project, platform and pool). */
    async insertBuilderIfAbsent(b, db = this.db) {
        const conflict = b.role === 'primary'
            ? ` ON CONFLICT (project_id, platform, pool) WHERE role = 'primary' DO NOTHING`
            : '';
        await db.run(`INSERT INTO builders (id, project_id, platform, role, provider, pool, snapshot_id, state, endpoint, pid,
         started_at, stopped_at, last_used_at, restarts, launch_failures, last_error, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)${conflict}`, [
            b.id,
            b.project_id,
            b.platform,
            b.role,
            b.provider,
            b.pool,
            b.snapshot_id,
            b.state,
            b.endpoint,
            b.pid,
            b.started_at,
            b.stopped_at,
            b.last_used_at,
            b.restarts,
            b.launch_failures,
            b.last_error,
            b.created_at,
            b.updated_at,
        ]);
        if (b.role !== 'primary')
            return b;
        return (await this.findPrimary(b.project_id, b.platform, b.pool, db));
    }
    /** Platforms of active builds that hold a builder, for adopting them after a restart. */
    activeHolders(db = this.db) {
        return db.all(`SELECT bb.*, b.project_id, b.queued_at FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE bb.builder_id IS NOT NULL AND b.status IN ${ACTIVE_SQL}`);
    }
    /** Every platform of an active build that polled for a builder (the durable demand). */
    demand(db = this.db) {
        return db.all(`SELECT bb.build_id, bb.platform, b.project_id, b.queued_at, bb.builder_id, bb.placement
       FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE b.status IN ${ACTIVE_SQL} AND (bb.waiting_since IS NOT NULL OR bb.builder_id IS NOT NULL)
       ORDER BY b.queued_at, bb.build_id, bb.platform`);
    }
    async setPlacement(buildId, platform, placement, db = this.db) {
        await db.run('UPDATE build_builders SET placement = ? WHERE build_id = ? AND platform = ?', [
            placement,
            buildId,
            platform,
        ]);
    }
    listBuilders(provider, db = this.db) {
        return db.all('SELECT * FROM builders WHERE provider = ? ORDER BY id', [provider]);
    }
    async updateBuilder(id, patch, now, db = this.db) {
        const keys = Object.keys(patch);
        if (keys.length === 0)
            return;
        await db.run(`UPDATE builders SET ${keys.map((k) => `${k} = ?`).join(', ')}, updated_at = ? WHERE id = ?`, [...keys.map((k) => patch[k]), now, id]);
    }
    /**
     * Marks a builder stopped unless its row changed since `seenUpdatedAt` (another replica launched
     * or adopted it meanwhile); true when it did.
     */
    async markStoppedIfUnchanged(id, seenUpdatedAt, now, db = this.db) {
        const r = await db.run(`UPDATE builders SET state = 'stopped', pid = NULL, stopped_at = ?, updated_at = ? WHERE id = ? AND updated_at = ?`, [now, now, id, seenUpdatedAt]);
        return r.changes > 0;
    }
    async countBuildersRunning(db = this.db) {
        const r = await db.get(`SELECT COUNT(*) AS n FROM builders WHERE state = 'running'`);
        return Number(r?.n ?? 0);
    }
}
function toBuildInfo(b, bbs, buildUrl) {
    const platforms = JSON.parse(b.platforms);
    return {
        id: b.id,
        project_id: b.project_id,
        status: b.status,
        platforms,
        builders: platforms.map((p) => ({
            platform: p,
            builder_id: bbs.find((x) => x.build_id === b.id && x.platform === p)?.builder_id ?? null,
        })),
        queued_at: b.queued_at,
        acquired_at: b.acquired_at,
        finished_at: b.finished_at,
        error: b.error,
        build_url: buildUrl,
        ...bakeTargets(b.options),
    };
}
/** The targets a `hoist bake` recorded in its options, when it is one. */
function bakeTargets(options) {
    let parsed;
    try {
        parsed = JSON.parse(options);
    }
    catch {
        return {};
    }
    const targets = parsed?.targets;
    if (!Array.isArray(targets))
        return {};
    return {
        targets: targets
            .filter((t) => typeof t?.name === 'string')
            .map((t) => ({
            name: t.name,
            platforms: Array.isArray(t.platforms) ? t.platforms.filter((p) => typeof p === 'string') : [],
        })),
    };
}

// EXTERNAL MODULE: ./node_modules/pg/esm/index.mjs
var esm = __webpack_require__(83849);
;// CONCATENATED MODULE: ./src/server/db/postgres.ts

/** `?` → `$n`; our SQL never contains a literal question mark. */
function toPg(sql) {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
}
class PgHandle {
    q;
    dialect = 'postgres';
    constructor(q) {
        this.q = q;
    }
    async all(sql, params = []) {
        return (await this.q.query(toPg(sql), params)).rows;
    }
    async get(sql, params = []) {
        return (await this.q.query(toPg(sql), params)).rows[0];
    }
    async run(sql, params = []) {
        return { changes: (await this.q.query(toPg(sql), params)).rowCount ?? 0 };
    }
    async exec(sql) {
        await this.q.query(sql);
    }
    transaction(fn) {
        void fn;
        return Promise.reject(new Error('nested transactions are not supported'));
    }
    async close() {
        throw new Error('cannot close inside a transaction');
    }
}
class PostgresDb extends PgHandle {
    url;
    pool;
    constructor(
    /** The connection URL (with its password): for connections of their own, such as the leader lock's. */
    url, onIdleError = () => undefined) {
        const pool = new esm/* default.Pool */.Ay.Pool({ connectionString: url, max: 10 });
        // An idle client's error (a database restart) must not crash the process; the pool reconnects.
        pool.on('error', onIdleError);
        super(pool);
        this.url = url;
        this.pool = pool;
    }
    async transaction(fn) {
        const client = await this.pool.connect();
        try {
            await client.query('BEGIN');
            try {
                const result = await fn(new PgHandle(client));
                await client.query('COMMIT');
                return result;
            }
            catch (err) {
                await client.query('ROLLBACK').catch(() => undefined);
                throw err;
            }
        }
        finally {
            client.release();
        }
    }
    async close() {
        await this.pool.end();
    }
}

;// CONCATENATED MODULE: ./src/server/cluster/signals.ts
// Wake-ups between replicas: a follower tells the leader "a build asked for a builder / ended"
// (topic demand), the leader tells every replica "placements changed" (topic placement). On
// PostgreSQL they are NOTIFY on channels every replica LISTENs on, over one connection of its own
// that reconnects when it drops; on SQLite (one process) they are calls in this process. A signal
// is only a hint to read the database now: every reader also polls, so a lost one costs latency,
// never correctness.



const CHANNEL = { demand: 'hoist_demand', placement: 'hoist_placement' };
const RECONNECT_MS = 1000;
/** One process: a signal is an event. */
class LocalSignals {
    events = new external_node_events_.EventEmitter().setMaxListeners(0);
    async notify(topic) {
        this.events.emit(topic);
    }
    on(topic, fn) {
        this.events.on(topic, fn);
        return () => this.events.off(topic, fn);
    }
    async start() { }
    async stop() { }
}
/** PostgreSQL LISTEN/NOTIFY. */
class PgSignals extends LocalSignals {
    db;
    log;
    client = null;
    stopped = false;
    retry = null;
    warned = false;
    constructor(db, log) {
        super();
        this.db = db;
        this.log = log;
    }
    async notify(topic) {
        await this.db.run('SELECT pg_notify(?, ?)', [CHANNEL[topic], '']).catch(() => undefined);
    }
    async start() {
        await this.connect();
    }
    async stop() {
        this.stopped = true;
        if (this.retry)
            clearTimeout(this.retry);
        const c = this.client;
        this.client = null;
        if (c) {
            let timer;
            await Promise.race([
                c.end().catch(() => undefined),
                new Promise((r) => (timer = setTimeout(r, 1000))),
            ]);
            clearTimeout(timer);
        }
    }
    async connect() {
        if (this.stopped)
            return;
        const c = new esm/* default.Client */.Ay.Client({
            connectionString: this.db.url,
            application_name: 'hoist-signals',
            keepAlive: true,
            connectionTimeoutMillis: 5000,
        });
        let dead = false;
        const again = () => {
            if (dead)
                return;
            dead = true;
            if (this.client === c)
                this.client = null;
            c.removeAllListeners('notification');
            void c.end().catch(() => undefined);
            if (!this.stopped && !this.retry) {
                this.retry = setTimeout(() => {
                    this.retry = null;
                    void this.connect();
                }, RECONNECT_MS);
                this.retry.unref();
            }
        };
        c.on('error', again);
        c.on('end', again);
        c.on('notification', (n) => {
            const topic = Object.keys(CHANNEL).find((t) => CHANNEL[t] === n.channel);
            if (topic)
                void super.notify(topic);
        });
        try {
            await c.connect();
            for (const ch of Object.values(CHANNEL))
                await c.query(`LISTEN ${ch}`);
            this.client = c;
            if (this.warned)
                this.log.info('replica signals (LISTEN) reconnected');
            this.warned = false;
            // What was signalled while disconnected is read now.
            for (const t of Object.keys(CHANNEL))
                void super.notify(t);
        }
        catch (err) {
            if (!this.warned) {
                this.log.warn({ err: err.message }, 'replica signals (LISTEN) cannot connect; polling only, retrying');
            }
            this.warned = true;
            again();
        }
    }
}
function createSignals(db, log) {
    return db instanceof PostgresDb ? new PgSignals(db, log) : new LocalSignals();
}

;// CONCATENATED MODULE: ./src/server/builds/placements.ts
/** The leader's claim status as a placement; null when its provisioner does not know the claim. */
function placementOf(st) {
    switch (st.state) {
        case 'assigned':
            return {
                state: 'assigned',
                builder_id: st.builder.id,
                pool: st.pool,
                role: st.builder.role,
                shared: st.shared,
                cold_cache: st.coldCache,
            };
        case 'waiting':
            return { state: 'waiting', reason: st.reason || 'waiting for the provisioner' };
        case 'failed':
            return { state: 'failed', code: st.code, reason: st.reason };
        default:
            return null;
    }
}
/** A stored placement, or null when absent or not one (a newer or older server wrote it). */
function parsePlacement(json) {
    if (!json)
        return null;
    try {
        const p = JSON.parse(json);
        if (p.state === 'waiting' && typeof p.reason === 'string')
            return p;
        if (p.state === 'failed' && typeof p.reason === 'string')
            return p;
        if (p.state === 'assigned' && typeof p.builder_id === 'string')
            return p;
    }
    catch {
        // not JSON
    }
    return null;
}
/** The builder a follower would send the build to: the placement's, else the one it holds. */
function placementTarget(placement, heldBuilderId) {
    if (placement?.state === 'assigned')
        return placement.builder_id;
    return placement === null ? heldBuilderId : null;
}
/**
 * The answer from the database alone: the leader's placement first (it may have moved the build
 * off a builder it is replacing); without one, the builder the build already holds (a poll again
 * after a lost connection, also while no replica leads). The builder's row must say running and
 * carry its address, server name and CA, all written by the replica that launched or adopted it.
 */
function followerView(placement, heldBuilderId, builder, leaderId) {
    if (placement?.state === 'failed')
        return { kind: 'failed', code: placement.code, reason: placement.reason };
    if (placement?.state === 'waiting')
        return { kind: 'waiting', reason: placement.reason };
    const target = placementTarget(placement, heldBuilderId);
    if (!target) {
        return {
            kind: 'waiting',
            reason: leaderId
                ? `waiting for the leader replica (${leaderId}) to place this build`
                : 'waiting for a leader replica to place this build (none holds the lease right now; one takes over within seconds)',
        };
    }
    if (!builder ||
        builder.id !== target ||
        builder.state !== 'running' ||
        !builder.endpoint ||
        !builder.server_name ||
        !builder.ca_pem) {
        return { kind: 'waiting', reason: `builder ${target} is starting` };
    }
    return {
        kind: 'assigned',
        builderId: target,
        pool: placement?.state === 'assigned' ? placement.pool : builder.pool,
        role: placement?.state === 'assigned' ? placement.role : builder.role === 'clone' ? 'clone' : 'primary',
        shared: placement?.state === 'assigned' ? placement.shared : false,
        coldCache: placement?.state === 'assigned' ? placement.cold_cache : false,
        endpoint: builder.endpoint,
        serverName: builder.server_name,
        caPem: builder.ca_pem,
    };
}
const claimKey = (buildId, platform) => `${buildId}|${platform}`;
/**
 * One pass of the leader's demand loop: which rows become claims (waiting, unknown to the
 * provisioner) and which builds' claims go (none of their rows is active any more). `known` is
 * the provisioner's claim keys taken BEFORE the rows were read, so a claim made meanwhile (a build
 * created after the read) is never released by mistake.
 */
function demandDiff(known, rows) {
    const request = rows.filter((r) => r.builder_id === null && !known.has(claimKey(r.build_id, r.platform)));
    const active = new Set(rows.map((r) => r.build_id));
    const release = new Set();
    for (const k of known) {
        const buildId = k.slice(0, k.indexOf('|'));
        if (!active.has(buildId))
            release.add(buildId);
    }
    return { request, release: [...release] };
}

;// CONCATENATED MODULE: ./src/server/builds/service.ts
// The build lifecycle: create → acquire a builder per platform (pending while busy or
// starting) → heartbeats → finish, plus the sweep that expires silent builds, fails builds
// that waited too long, stops idle builders and replaces crashed ones.
//
// Several replicas (PostgreSQL): only the leader provisions. Any replica serves the API; the
// leader alone holds a Provisioner with claims and builders and calls the provider's launch,
// stop, snapshot and destroy (every such call is counted in hoist_provider_calls_total by role).
// - Demand is durable: a build is a queued row, and each of its platforms a build_builders row
//   that a poll marks waiting (waiting_since). Those rows are the demand, whichever replica wrote them.
// - The leader's demand loop (DEMAND_POLL_MS, after each provisioning pass, and at once on the
//   `demand` signal a follower sends with LISTEN/NOTIFY) reads every active platform row,
//   registers the waiting ones its provisioner does not know, releases claims of builds that
//   ended anywhere, and writes each claim's standing into build_builders.placement (waiting with
//   its reason, assigned to a builder, failed), then signals `placement`.
// - A follower answers polls from the database alone (./placements.ts): an assigned placement whose
//   builder row is running (address, server name and CA written by the leader) gets a client
//   certificate from the provider's key store (no launch) and the same slot checks in one
//   transaction as on the leader; otherwise pending with the leader's reason, after waiting up to
//   FOLLOWER_WAIT_MS for a `placement` signal.
// - The leader answers its own polls from its provisioner, as a single process does. SQLite is one
//   process, always the leader: none of the above runs there.
// - Each election gets a new provisioner, rebuilt from the builder rows, the builds holding them
//   and the provider's list (a running builder is adopted, never launched twice; one of a live
//   replica that this provider cannot see is left to it), then the demand loop adds the waiting
//   platforms. A demoted replica closes its provisioner and keeps an idle one.














const MAX_PLATFORMS = 8;
const HEALTH_INTERVAL_MS = 5000;
/** A builder another replica marked starting this recently may still be about to spawn. */
const STARTING_GRACE_MS = 60_000;
const RECONCILE_INTERVAL_MS = 60_000;
const MAX_LAUNCH_FAILURES = 3;
const POLL_RETRY_MS = 1000;
/** What a project at its active-build cap is told to wait before trying again. */
const CAP_RETRY_AFTER_SEC = 30;
/** Finished builds deleted per transaction by the retention purge. */
const PURGE_BATCH = 500;
/** A certificate past this fraction of its life is renewed by the next heartbeat. */
const RENEW_FRACTION = 0.5;
/** How long the gateway trusts one database answer about a serial. */
const VERDICT_CACHE_MS = 1000;
/** The leader reads the demand at least this often (signals make it sooner). */
const DEMAND_POLL_MS = 1000;
/** A takeover that failed (provider or database unreachable) is tried again after this. */
const TAKEOVER_RETRY_MS = 5000;
/** How long a follower's poll waits for the leader's placement before answering pending. */
const FOLLOWER_WAIT_MS = 2000;
/** A follower re-reads its placement at least this often while it waits (signals may be lost). */
const FOLLOWER_RECHECK_MS = 250;
/** Provider calls that change builders: the leader's alone. */
const MUTATIONS = new Set(['launch', 'launchBatch', 'stop', 'destroy', 'snapshot', 'deleteSnapshot']);
const SERVER = { subject: 'hoist server', token_id: null };
function actorOf(who) {
    return { subject: `${who.kind} token ${who.token_id}`, token_id: who.token_id };
}
/** A chain of promises per key: one acquire at a time per (project, platform). */
class KeyedMutex {
    tails = new Map();
    async run(key, fn) {
        const prev = this.tails.get(key) ?? Promise.resolve();
        let release;
        const next = new Promise((r) => (release = r));
        const tail = prev.then(() => next);
        this.tails.set(key, tail);
        await prev;
        try {
            return await fn();
        }
        finally {
            release();
            if (this.tails.get(key) === tail)
                this.tails.delete(key);
        }
    }
}
/** A project's autoscaling settings as the provisioning layer reads them. */
function scalingOf(p) {
    return {
        autoscaling: p.autoscaling === true,
        buildsPerBuilder: p.max_concurrent_builds,
        maxBuildersPerPlatform: p.autoscaling === true ? (p.max_builders_per_platform ?? 1) : 1,
    };
}
class BuildService {
    deps;
    store;
    prov;
    /** Has `prov` been started (it is replaced, not restarted, at the next election)? */
    provStarted = false;
    /** True between a completed takeover and the next demotion. */
    leading = false;
    /** Bumped at each election and demotion: a takeover that was overtaken stops there. */
    term = 0;
    /** Several replicas share the database (PostgreSQL): placements go through it. */
    shared;
    signals;
    demandTimer = null;
    syncing = null;
    syncAgain = false;
    syncSoon = null;
    pools;
    /** Database writes about one builder, in the order the provisioner made them. */
    rowWrites = new Map();
    mutex = new KeyedMutex();
    timer = null;
    sweeping = null;
    lastReconcile = 0;
    lastPurge = 0;
    closed = false;
    /** Runs the sweep's build work and reconciliation; every replica serves the API. */
    leader;
    verdicts = new Map();
    metrics;
    /** Told of each build that ends, whoever ended it (the dashboard's live updates). */
    onEnded;
    constructor(deps) {
        this.deps = deps;
        this.store = new BuildStore(deps.db);
        this.metrics = deps.metrics;
        this.leader = deps.leader ?? new SingleLeader('local', deps.clock, deps.logger);
        this.shared = deps.db.dialect === 'postgres';
        this.signals = createSignals(deps.db, deps.logger);
        const guardedOf = new Map();
        this.pools = (deps.pools ?? [{ name: deps.provider.name, provider: deps.provider }]).map((p) => {
            if (!guardedOf.has(p.provider)) {
                guardedOf.set(p.provider, guardProvider(p.provider, (op) => this.providerCalled(op)));
            }
            return { ...p, provider: guardedOf.get(p.provider) };
        });
        this.prov = this.newProvisioner();
    }
    /** Where builders come from: demand, placement, launches, snapshots, idle stops (the leader's). */
    get provisioner() {
        return this.prov;
    }
    providerCalled(op) {
        const leader = this.leader.isLeader();
        this.metrics?.providerCalls?.inc({ op, role: leader ? 'leader' : 'follower' });
        if (!leader) {
            this.log.warn({ op, replica_id: this.leader.replicaId }, 'provider call on a replica that is not the leader (a launch or stop begun before losing the lease)');
        }
    }
    newProvisioner() {
        const deps = this.deps;
        const cfg = deps.config;
        const limits = {
            ...cfg.provisioning,
            buildWaitMs: cfg.builderWaitMs,
            primaryIdleMs: cfg.idleTimeoutMs,
            healthIntervalMs: HEALTH_INTERVAL_MS,
            maxLaunchTries: MAX_LAUNCH_FAILURES,
            maxUsedSpaceBytes: cfg.maxUsedSpaceBytes,
            tickMs: cfg.sweepIntervalMs,
        };
        return new Provisioner({
            pools: this.pools,
            clock: serverClock(deps.clock),
            limits,
            log: deps.logger,
            hooks: {
                primaryId: (projectId, platform, pool) => this.primaryId(projectId, platform, pool),
                newBuilderId: () => newId('bkr'),
                newSnapshotId: () => newId('snap'),
                builderChanged: (b, event) => this.persistBuilder(b, event),
                claimFailed: async (buildId, _platform, reason) => {
                    await this.finishInternal(buildId, 'failed', reason);
                },
                waitAlert: () => this.metrics?.waitAlerts?.inc(),
                // Another replica's provisioner may have placed a build here; the database has every build.
                retireVeto: async (builderId) => {
                    const n = await this.store.activeOnBuilder(builderId);
                    return n > 0 ? `${n} active build(s) on it, placed by this or another replica` : null;
                },
                reconciled: () => this.syncLater(),
            },
        });
    }
    /** Every provider of every pool (the first is deps.provider). */
    get providers() {
        return [...new Set(this.pools.map((p) => p.provider))];
    }
    providerOfPool(pool) {
        return (this.pools.find((p) => p.name === pool) ?? this.pools[0]).provider;
    }
    now() {
        return this.deps.clock.now();
    }
    get log() {
        return this.deps.logger;
    }
    // ---- API operations ----
    async create(who, req, buildUrl) {
        if (who.kind === 'build') {
            throw new ApiError(403, 'wrong_token_kind', 'a build token cannot create builds; use a project, OIDC or admin token');
        }
        const project = await this.resolveProject(who, req.project);
        const platforms = this.validatePlatforms(req.platforms);
        const options = JSON.stringify(req.options ?? {});
        const optionsBytes = Buffer.byteLength(options);
        if (optionsBytes > api_types/* BUILD_OPTIONS_MAX_BYTES */.r8) {
            throw tooLarge('options_too_large', `body.options is ${optionsBytes} bytes as JSON; at most ${api_types/* BUILD_OPTIONS_MAX_BYTES */.r8} are accepted. Options describe a build for the record (tags, target, platforms): leave large data such as build args or files out of them`);
        }
        const cap = this.deps.config.maxActiveBuildsPerProject;
        const now = this.now();
        // A build lives no longer than the token that created it: a short OIDC token gives a short build.
        const parent = await this.deps.tokens.get(who.token_id);
        let expiresAt = new Date(now.getTime() + this.deps.config.maxBuildDurationMs);
        const cappedByToken = parent?.expires_at != null && Date.parse(parent.expires_at) < expiresAt.getTime();
        if (cappedByToken)
            expiresAt = new Date(parent.expires_at);
        const id = newId('bld');
        const row = {
            id,
            project_id: project.id,
            status: 'queued',
            platforms: JSON.stringify(platforms),
            options,
            created_by_token: who.token_id,
            queued_at: iso(now),
            acquired_at: null,
            finished_at: null,
            last_heartbeat_at: iso(now),
            expires_at: iso(expiresAt),
            cancel_requested: 0,
            error: null,
        };
        const token = await this.deps.db.transaction(async (tx) => {
            // Creations of one project queue on its row, so the count below cannot be raced past the
            // cap (SQLite transactions are serial already).
            if (tx.dialect === 'postgres') {
                await tx.get('SELECT id FROM projects WHERE id = ? FOR UPDATE', [project.id]);
            }
            await this.takeCreateToken(project, tx);
            const active = await this.store.countActive(project.id, tx);
            if (active >= cap) {
                throw tooMany('too_many_active_builds', `project ${project.name} has ${active} queued or running builds, the most this server allows per project; retry after ${CAP_RETRY_AFTER_SEC} s, once some have finished. Stale ones can be canceled (list them with: hoist builds list --project ${project.name}; POST /v1/builds/ID/cancel), or the operator can raise --project-max-active-builds (HOIST_PROJECT_MAX_ACTIVE_BUILDS, now ${cap}).`, CAP_RETRY_AFTER_SEC);
            }
            await this.store.insertBuild(row, platforms, tx);
            await this.deps.audit.record({
                action: 'build.create',
                outcome: 'ok',
                project_id: project.id,
                subject: actorOf(who).subject,
                reason: `build ${id} created for ${platforms.join(', ')}${cappedByToken ? `; it ends when the token that created it expires (${iso(expiresAt)})` : ''}`,
                details: { build_id: id, platforms, created_by_token: who.token_id, expires_at: iso(expiresAt) },
            }, tx);
            return this.deps.tokens.mintBuildToken({ project_id: project.id, build_id: id, expires_at: expiresAt }, tx);
        });
        this.log.info({ build_id: id, project_id: project.id, platforms }, 'build created');
        return { build_id: id, build_token: token.token, build_url: buildUrl(id), platforms };
    }
    /**
     * One token of the project's creation bucket, or a 429 that says when to retry. The bucket is a
     * database row, so the limit holds however many replicas serve the project's requests.
     */
    async takeCreateToken(project, tx) {
        const cfg = this.deps.config;
        if (cfg.createRatePerMin <= 0)
            return;
        const d = await takeSharedToken(tx, `build-create:${project.id}`, this.now().getTime(), cfg.createRatePerMin / 60, cfg.createBurst);
        if (d.ok)
            return;
        throw tooMany('build_rate_limited', `project ${project.name} is creating builds faster than this server allows: ${cfg.createRatePerMin} a minute per project (bursts of ${cfg.createBurst}); retry after ${d.retryAfterSec} s. The operator can raise the limit with --build-create-rate and --build-create-burst (HOIST_BUILD_CREATE_RATE, HOIST_BUILD_CREATE_BURST).`, d.retryAfterSec);
    }
    async resolveProject(who, requested) {
        if (requested === undefined || requested === '') {
            if (!who.project_id) {
                throw badRequest('project_required', 'body.project is required with an admin token: name the project id or name');
            }
            return this.deps.projects.require(who.project_id);
        }
        const project = await this.deps.projects.find(requested);
        if (!project || (who.kind !== 'admin' && project.id !== who.project_id)) {
            throw notFound('project_not_found', `no project "${requested}" is visible to this token${who.kind === 'admin' ? '' : '; a token can only create builds in its own project'}`);
        }
        return project;
    }
    validatePlatforms(raw) {
        const supported = this.deps.provider.platforms();
        if (raw === undefined || raw === null)
            return [supported[0]];
        if (!Array.isArray(raw))
            throw badRequest('invalid_platforms', `body.platforms must be an array such as ["${supported[0]}"]`);
        if (raw.length === 0)
            return [supported[0]];
        if (raw.length > MAX_PLATFORMS) {
            throw badRequest('invalid_platforms', `body.platforms has ${raw.length} entries; at most ${MAX_PLATFORMS} are accepted`);
        }
        const out = [];
        raw.forEach((p, i) => {
            const r = (0,provider/* parsePlatform */.FL)(p, supported);
            if (!r.ok)
                throw badRequest('invalid_platform', `body.platforms[${i}]: ${r.message}`);
            if (!out.includes(r.platform))
                out.push(r.platform);
        });
        return out;
    }
    /** The build, if this token may see it; 404 otherwise (nothing learned about other projects). */
    async visibleBuild(who, id) {
        const build = await this.store.getBuild(id);
        if (!build ||
            (who.kind !== 'admin' && build.project_id !== who.project_id) ||
            (who.kind === 'build' && who.build_id !== build.id)) {
            throw notFound('build_not_found', `no build ${id} is visible to this token`);
        }
        return build;
    }
    finishedError(b, what) {
        return conflict('build_finished', `build ${b.id} already finished with status ${b.status} at ${b.finished_at}${b.error ? ` (${b.error})` : ''}; ${what}`);
    }
    async acquire(who, buildId, rawPlatform) {
        const build = await this.visibleBuild(who, buildId);
        if (!ACTIVE_STATUSES.includes(build.status)) {
            throw this.finishedError(build, 'start a new build to get a builder');
        }
        const platforms = JSON.parse(build.platforms);
        const parsed = (0,provider/* parsePlatform */.FL)(rawPlatform, this.deps.provider.platforms());
        if (!parsed.ok)
            throw badRequest('invalid_platform', parsed.message);
        if (!platforms.includes(parsed.platform)) {
            throw badRequest('platform_not_in_build', `platform ${parsed.platform} is not part of build ${build.id}; it was created for ${platforms.join(', ')}`);
        }
        if (build.cancel_requested)
            throw conflict('build_canceled', `build ${build.id} was canceled; finish it with status canceled`);
        const project = await this.deps.projects.require(build.project_id);
        return this.place(build, project, parsed.platform);
    }
    /**
     * The builders of a build just created, answered in the creation's own response when they are
     * ready at once (POST /v1/builds?acquire=true): one round trip less per build. Never waits for a
     * launch: a platform whose builder is not ready, or whose answer is an error, is `pending` here,
     * and the client's poll (GET .../builders/PLATFORM) waits for it or reports the error.
     */
    async acquireAtCreate(buildId) {
        const build = await this.store.getBuild(buildId);
        if (!build)
            return [];
        const project = await this.deps.projects.require(build.project_id);
        const platforms = JSON.parse(build.platforms);
        return Promise.all(platforms.map((platform) => this.place(build, project, platform, 0).catch((err) => {
            // the client's poll meets the same answer again, and reports it; an unexpected one is logged here
            if (!(err instanceof ApiError)) {
                this.log.error({ build_id: buildId, platform, err: (0,errors/* errorMessage */.gJ)(err) }, 'acquire at create failed');
            }
            return {
                status: 'pending',
                retry_after_ms: 0,
                reason: err instanceof ApiError ? err.message : 'ask again',
            };
        })));
    }
    /** One platform's builder for a build already checked: from the provisioner, or on a follower from the database. */
    place(build, project, platform, waitMs) {
        if (!this.answersFromProvisioner())
            return this.acquireFromDb(build, project, platform, waitMs);
        return this.mutex.run(`${project.id}|${platform}`, () => this.acquireLocked(build, project, platform, waitMs));
    }
    /** The leader (and a single process) place builds in memory; other replicas read the database. */
    answersFromProvisioner() {
        return !this.shared || (this.leading && this.leader.isLeader());
    }
    /**
     * A replica that is not the leader: the leader's placement, read from the database (waiting up
     * to FOLLOWER_WAIT_MS for it), then the same certificate and slot checks as on the leader.
     */
    async acquireFromDb(build, project, platform, maxWaitMs) {
        const t0 = Date.now();
        const waitMs = Math.min(maxWaitMs ?? FOLLOWER_WAIT_MS, FOLLOWER_WAIT_MS, this.deps.config.acquireWaitMs, Math.floor(this.deps.config.heartbeatGraceMs / 2));
        let asked = false;
        // The poll is the demand (and counts as a heartbeat), recorded before the leader is asked.
        const first = await this.store.getBuildBuilder(build.id, platform);
        if (!first?.builder_id)
            await this.store.markWaiting(build.id, platform, iso(this.now()));
        for (;;) {
            const bb = await this.store.getBuildBuilder(build.id, platform);
            const fresh = await this.store.getBuild(build.id);
            if (!fresh || !ACTIVE_STATUSES.includes(fresh.status)) {
                // The leader failed it (no builder in time, launches failing) or it ended meanwhile.
                throw new ApiError(503, 'builder_unavailable', `${fresh?.error ?? 'the build is no longer waiting for a builder'}; build ${build.id} was marked ${fresh?.status ?? 'gone'}. Check the server log${this.deps.provider.name === 'local' ? ' and the buildkitd log in the data directory' : ''}.`);
            }
            const placement = parsePlacement(bb?.placement);
            const target = placementTarget(placement, bb?.builder_id ?? null);
            const row = target ? await this.store.getBuilder(target) : undefined;
            let view = followerView(placement, bb?.builder_id ?? null, row, this.leader.status().leader_id);
            if (view.kind === 'assigned') {
                // A builder that died since the leader's last check is not handed out; the leader replaces it.
                // its certificate is signed while its health is checked (dropped unused if it failed)
                const issued = this.issueFor(build, project, view.pool, view.builderId);
                issued.cert.catch(() => undefined);
                const h = await this.providerOfPool(view.pool).health(view.builderId);
                // Through this replica's own gateway (it routes any builder): the one that launched it may be gone.
                const endpoint = this.providerOfPool(view.pool).gatewayEndpoint ?? view.endpoint;
                if (h.healthy)
                    return this.grant(build, project, platform, { ...view, endpoint }, issued);
                view = {
                    kind: 'waiting',
                    reason: `builder ${view.builderId} is not healthy (${h.reason}); the leader replaces it`,
                };
            }
            if (view.kind === 'failed') {
                if (view.code === 'queue_full') {
                    throw tooMany('build_queue_full', `${view.reason}; retry after ${CAP_RETRY_AFTER_SEC} s`, CAP_RETRY_AFTER_SEC);
                }
                await this.finishInternal(build.id, 'failed', view.reason);
                throw new ApiError(503, 'builder_unavailable', `${view.reason}; build ${build.id} was marked failed.`);
            }
            if (!asked && placement === null) {
                asked = true;
                await this.signals.notify('demand');
            }
            const left = waitMs - (Date.now() - t0);
            if (left <= 0) {
                await this.store.markWaiting(build.id, platform, iso(this.now()));
                return { status: 'pending', retry_after_ms: POLL_RETRY_MS, reason: view.reason };
            }
            await this.nextSignal('placement', Math.min(left, FOLLOWER_RECHECK_MS));
        }
    }
    /** Resolves at the next signal of `topic`, or after `ms`. */
    nextSignal(topic, ms) {
        return new Promise((resolve) => {
            const done = () => {
                clearTimeout(timer);
                off();
                resolve();
            };
            const timer = setTimeout(done, ms);
            const off = this.signals.on(topic, done);
        });
    }
    async acquireLocked(build, project, platform, maxWaitMs) {
        const now = iso(this.now());
        const req = {
            buildId: build.id,
            projectId: project.id,
            platform,
            scaling: scalingOf(project),
            projectName: project.name,
            queuedAtMs: Date.parse(build.queued_at),
        };
        // A waiting build's polls count as heartbeats, also while this request waits for a launch.
        const bb = await this.store.getBuildBuilder(build.id, platform);
        if (!bb?.builder_id)
            await this.store.markWaiting(build.id, platform, now);
        // One request never waits so long that its own build would expire for silence meanwhile.
        const waitMs = Math.min(maxWaitMs ?? Infinity, this.deps.config.acquireWaitMs, Math.floor(this.deps.config.heartbeatGraceMs / 2));
        let st = await this.provisioner.acquire(req, waitMs);
        // A builder that died since its last check is replaced before anyone is sent to it. Its
        // client certificate is signed meanwhile, and dropped unused if the check fails.
        let issued;
        if (st.state === 'assigned') {
            const first = st;
            issued = this.issueFor(build, project, first.pool, first.builder.id);
            issued.cert.catch(() => undefined); // reported by grant(), or dropped with the builder
            const h = await this.providerOfPool(first.pool).health(first.builder.id);
            if (!h.healthy) {
                issued = undefined;
                this.metrics?.builderCrashes.inc();
                this.provisioner.builderLost(first.builder.id, h.reason);
                st = await this.provisioner.acquire(req, waitMs);
            }
        }
        if (st.state === 'failed' && st.code === 'queue_full') {
            // The bounded queue is full: this build is not failed, it is told to come back.
            throw tooMany('build_queue_full', `${st.reason}; retry after ${CAP_RETRY_AFTER_SEC} s`, CAP_RETRY_AFTER_SEC);
        }
        if (st.state === 'failed' || st.state === 'unknown') {
            const reason = st.state === 'failed' ? st.reason : 'the build is no longer waiting for a builder';
            await this.finishInternal(build.id, 'failed', reason);
            throw new ApiError(503, 'builder_unavailable', `${reason}; build ${build.id} was marked failed. Check the server log${this.deps.provider.name === 'local' ? ' and the buildkitd log in the data directory' : ''}.`);
        }
        if (st.state === 'waiting') {
            await this.store.markWaiting(build.id, platform, iso(this.now()));
            return { status: 'pending', retry_after_ms: POLL_RETRY_MS, reason: st.reason };
        }
        return this.grant(build, project, platform, {
            builderId: st.builder.id,
            role: st.builder.role,
            pool: st.pool,
            shared: st.shared,
            coldCache: st.coldCache,
            endpoint: st.running.endpoint,
            serverName: st.running.serverName,
            caPem: st.running.caPem,
        }, issued);
    }
    /** The client certificate of a build on a builder: its builder's CA, the build's lifetime. */
    issueFor(build, project, pool, builderId) {
        const notAfter = this.certNotAfter(build);
        const cert = this.providerOfPool(pool).issueClientCert(builderId, {
            commonName: `build ${build.id}`,
            organization: project.id,
            notAfter,
        });
        return { cert, notAfter };
    }
    /** A client certificate for the placed builder, and the slot taken in one transaction. */
    async grant(build, project, platform, st, 
    /** Its certificate, if already being signed for this very builder (see acquireLocked). */
    issued) {
        const builder = { id: st.builderId, role: st.role };
        const { cert: signing, notAfter } = issued ?? this.issueFor(build, project, st.pool, builder.id);
        const cert = await signing;
        const serial = serialOf(cert.certPem);
        const after = iso(this.now());
        const limit = project.max_concurrent_builds;
        const held = (await this.store.getBuildBuilder(build.id, platform))?.builder_id === builder.id;
        const ok = await this.deps.db.transaction(async (tx) => {
            // Another replica may have given this builder's last slot away meanwhile: count again,
            // queued on a per-builder lock, before taking it.
            if (limit !== null && !held) {
                if (tx.dialect === 'postgres') {
                    await tx.get('SELECT pg_advisory_xact_lock(7153, hashtext(?)) AS l', [builder.id]);
                }
                if ((await this.store.activeOnBuilder(builder.id, tx)) >= limit)
                    return 'busy';
            }
            const acquired = await this.store.recordAcquired({
                buildId: build.id,
                platform,
                builderId: builder.id,
                now: after,
                certSerial: serial,
                certExpiresAt: iso(notAfter),
            }, tx);
            if (!acquired)
                return null;
            // One current key per (build, platform): an acquire again (a retry) retires the earlier one.
            const retired = await this.store.revokeCerts(build.id, 'replaced by a new acquire', after, platform, tx);
            await this.store.insertCert({
                serial,
                build_id: build.id,
                platform,
                builder_id: builder.id,
                cert_pem: cert.certPem,
                issued_at: after,
                not_after: iso(notAfter),
            }, tx);
            await this.auditCert(build, platform, builder.id, serial, notAfter, 'acquire', tx);
            return retired;
        });
        if (ok === 'busy') {
            await this.store.markWaiting(build.id, platform, iso(this.now()));
            return {
                status: 'pending',
                retry_after_ms: POLL_RETRY_MS,
                reason: `builder ${platform} of project ${project.name} is busy: ${limit} of ${limit} concurrent builds running`,
            };
        }
        if (!ok) {
            const b = (await this.store.getBuild(build.id));
            throw this.finishedError(b, 'start a new build to get a builder');
        }
        if (ok.length) {
            this.verdicts.clear();
            for (const p of this.providers)
                p.closeSerials(ok);
        }
        if (!build.acquired_at) {
            this.metrics?.acquireSeconds.observe({ platform }, (Date.parse(after) - Date.parse(build.queued_at)) / 1000);
        }
        this.log.info({
            build_id: build.id,
            builder_id: builder.id,
            platform,
            cert_serial: serial,
            pool: st.pool,
            role: builder.role,
            cold_cache: st.coldCache,
            shared: st.shared,
        }, 'builder acquired');
        return {
            status: 'active',
            builder_id: builder.id,
            platform,
            pool: st.pool,
            role: builder.role,
            cold_cache: st.coldCache,
            shared: st.shared,
            endpoint: st.endpoint,
            server_name: st.serverName,
            ca_pem: st.caPem,
            cert_pem: cert.certPem,
            key_pem: cert.keyPem,
            expires_at: iso(notAfter),
            build_expires_at: build.expires_at,
            heartbeat_ms: this.heartbeatMs(),
        };
    }
    /** A new certificate ends after one lifetime, or with its build when that comes first. */
    certNotAfter(build) {
        const byLife = this.now().getTime() + this.deps.config.certLifetimeMs;
        return new Date(Math.min(byLife, Date.parse(build.expires_at)));
    }
    /** Often enough that a renewal at half life arrives with time to spare. */
    heartbeatMs() {
        return Math.max(250, Math.min(5000, Math.floor(this.deps.config.certLifetimeMs / 4)));
    }
    async auditCert(build, platform, builderId, serial, notAfter, kind, db) {
        await this.deps.audit.record({
            action: 'build.cert_issue',
            outcome: 'ok',
            project_id: build.project_id,
            subject: `build ${build.id}`,
            reason: `client certificate ${serial} for builder ${builderId} (${platform}) issued on ${kind}, valid until ${iso(notAfter)}`,
            details: {
                build_id: build.id,
                platform,
                builder_id: builderId,
                serial,
                not_after: iso(notAfter),
                kind,
            },
        }, db);
    }
    /** Renews the certificates past RENEW_FRACTION of their life, for the same keys. */
    renewCerts(build) {
        return this.mutex.run(`renew|${build.id}`, async () => {
            const out = [];
            const nowMs = this.now().getTime();
            for (const c of await this.store.currentCerts(build.id)) {
                const issued = Date.parse(c.issued_at);
                const end = Date.parse(c.not_after);
                if (nowMs < issued + (end - issued) * RENEW_FRACTION)
                    continue;
                if (end >= Date.parse(build.expires_at))
                    continue; // it already lasts as long as the build
                const notAfter = this.certNotAfter(build);
                const pool = (await this.store.getBuilder(c.builder_id))?.pool ?? this.pools[0].name;
                const certPem = await this.providerOfPool(pool).renewClientCert(c.builder_id, {
                    certPem: c.cert_pem,
                    notAfter,
                });
                const serial = serialOf(certPem);
                const now = iso(this.now());
                const stored = await this.deps.db.transaction(async (tx) => {
                    // a build that ended meanwhile gets nothing
                    const fresh = await this.store.getBuild(build.id, tx);
                    if (!fresh || !ACTIVE_STATUSES.includes(fresh.status))
                        return false;
                    await this.store.insertCert({
                        serial,
                        build_id: build.id,
                        platform: c.platform,
                        builder_id: c.builder_id,
                        cert_pem: certPem,
                        issued_at: now,
                        not_after: iso(notAfter),
                    }, tx);
                    await this.auditCert(build, c.platform, c.builder_id, serial, notAfter, 'renewal', tx);
                    return true;
                });
                if (!stored)
                    break;
                out.push({ platform: c.platform, cert_pem: certPem, expires_at: iso(notAfter) });
            }
            return out;
        });
    }
    /**
     * The gateway's question for every new builder connection: is this serial, issued for this
     * builder, unrevoked, unexpired, and of an active build? Answers are kept for a second.
     */
    async authorizeConnection(peer) {
        const cached = this.verdicts.get(peer.serial);
        if (cached && cached.until > Date.now())
            return cached.verdict;
        const [row] = await this.store.liveCerts([peer.serial], iso(this.now()), true);
        const verdict = row && row.builder_id === peer.builderId
            ? { ok: true, owner: row.build_id }
            : {
                ok: false,
                reason: row
                    ? `certificate was issued for builder ${row.builder_id}`
                    : 'no active build holds this certificate (finished, canceled, expired, revoked or unknown)',
            };
        this.verdicts.set(peer.serial, { verdict, until: Date.now() + VERDICT_CACHE_MS });
        if (this.verdicts.size > 10_000)
            this.verdicts.clear();
        return verdict;
    }
    /**
     * Level-triggered: closes every open builder connection whose certificate no longer belongs
     * to an active build (ended here, on another replica, or with its project). Expiry of a
     * certificate alone does not close a connection: it only gates new ones.
     */
    async recheckConnections() {
        const open = this.providers.flatMap((p) => p.openConnections());
        if (open.length === 0)
            return 0;
        const serials = [...new Set(open.map((c) => c.serial))];
        const live = new Set((await this.store.liveCerts(serials, iso(this.now()), false)).map((r) => r.serial));
        const dead = serials.filter((s) => !live.has(s));
        if (dead.length === 0)
            return 0;
        this.verdicts.clear();
        let n = 0;
        for (const p of this.providers)
            n += p.closeSerials(dead);
        if (n)
            this.log.info({ connections: n }, 'closed builder connections of builds that ended');
        return n;
    }
    /** Ends the active builds whose creating token was revoked, then drops dead connections. */
    async endOrphans() {
        for (const b of await this.store.orphanedByToken()) {
            const why = b.token_revoked_at
                ? `the token that created this build was revoked at ${b.token_revoked_at}`
                : 'the token that created this build no longer exists';
            await this.finishInternal(b.id, 'canceled', why, SERVER);
        }
        await this.recheckConnections();
    }
    /** The stable id of a project's primary in a pool: its cache is keyed by it. */
    async primaryId(projectId, platform, pool) {
        const found = await this.store.findPrimary(projectId, platform, pool);
        if (found)
            return found.id;
        const now = iso(this.now());
        const row = await this.store.insertBuilderIfAbsent(this.newRow(newId('bkr'), projectId, platform, pool, 'primary', null, now));
        return row.id;
    }
    newRow(id, projectId, platform, pool, role, snapshotId, now) {
        return {
            id,
            project_id: projectId,
            platform,
            role,
            provider: this.providerOfPool(pool).name,
            pool,
            snapshot_id: snapshotId,
            state: 'stopped',
            endpoint: null,
            pid: null,
            started_at: null,
            stopped_at: null,
            last_used_at: now,
            restarts: 0,
            launch_failures: 0,
            last_error: null,
            created_at: now,
            updated_at: now,
        };
    }
    /** Records what the provisioner did to a builder, one write after another per builder. */
    persistBuilder(b, event) {
        const snapshot = {
            running: b.running,
            lastError: b.lastError,
        };
        const write = async () => {
            const now = iso(this.now());
            let row = await this.store.getBuilder(b.id);
            if (!row) {
                if (event === 'destroyed')
                    return;
                row = await this.store.insertBuilderIfAbsent(this.newRow(b.id, b.projectId, b.platform, b.pool, b.role, b.snapshotId ?? null, now));
            }
            switch (event) {
                case 'starting':
                    await this.store.updateBuilder(b.id, { state: 'starting', owner: this.leader.replicaId }, now);
                    break;
                case 'running': {
                    const r = snapshot.running;
                    const replacing = row.state === 'running' || row.state === 'failed' || row.started_at !== null;
                    await this.store.updateBuilder(b.id, {
                        state: 'running',
                        owner: this.leader.replicaId,
                        endpoint: r.endpoint,
                        pid: r.pid,
                        started_at: iso(r.startedAt),
                        stopped_at: null,
                        server_name: r.serverName,
                        ca_pem: r.caPem,
                        launch_failures: 0,
                        last_error: null,
                        ...(replacing && !r.adopted && row.state !== 'stopped' ? { restarts: row.restarts + 1 } : {}),
                        ...(r.adopted ? {} : { last_used_at: now }),
                    }, now);
                    this.metrics?.builderStarts.inc({ result: r.adopted ? 'adopted' : 'started' });
                    break;
                }
                case 'restarted': {
                    // The same builder under a new buildkitd (a snapshot stopped it): where it runs now.
                    const r = snapshot.running;
                    await this.store.updateBuilder(b.id, {
                        endpoint: r.endpoint,
                        pid: r.pid,
                        started_at: iso(r.startedAt),
                        server_name: r.serverName,
                        ca_pem: r.caPem,
                    }, now);
                    break;
                }
                case 'failed':
                    await this.store.updateBuilder(b.id, {
                        state: 'failed',
                        pid: null,
                        launch_failures: row.launch_failures + 1,
                        last_error: (snapshot.lastError ?? 'unknown error').slice(0, 1000),
                    }, now);
                    this.metrics?.builderStarts.inc({ result: 'failed' });
                    break;
                case 'stopped':
                    await this.store.updateBuilder(b.id, { state: 'stopped', pid: null, stopped_at: now }, now);
                    break;
                case 'destroyed':
                    await this.store.updateBuilder(b.id, { state: 'destroyed', pid: null, endpoint: null, stopped_at: now }, now);
                    break;
            }
        };
        const p = (this.rowWrites.get(b.id) ?? Promise.resolve()).then(write).catch((err) => {
            this.log.error({ builder_id: b.id, event, err: (0,errors/* errorMessage */.gJ)(err) }, 'recording a builder change failed');
        });
        this.rowWrites.set(b.id, p);
        void p.finally(() => {
            if (this.rowWrites.get(b.id) === p)
                this.rowWrites.delete(b.id);
        });
        return p;
    }
    async heartbeat(who, buildId) {
        const build = await this.visibleBuild(who, buildId);
        if (!ACTIVE_STATUSES.includes(build.status))
            throw this.finishedError(build, 'stop the build');
        await this.store.heartbeat(build.id, iso(this.now()));
        const certs = who.kind === 'build' ? await this.renewCerts(build) : [];
        return { cancel: build.cancel_requested === 1, ...(certs.length ? { certs } : {}) };
    }
    /**
     * Ends the build on the server at once: status canceled, token and certificates revoked, its
     * builder connections closed. The client learns it from its next heartbeat (409).
     */
    async cancel(who, buildId) {
        const build = await this.visibleBuild(who, buildId);
        if (!ACTIVE_STATUSES.includes(build.status))
            throw this.finishedError(build, 'there is nothing to cancel');
        await this.store.requestCancel(build.id);
        await this.finishInternal(build.id, 'canceled', build.acquired_at ? `canceled by ${actorOf(who).subject}` : 'canceled before it got a builder', actorOf(who));
        return (await this.info([(await this.store.getBuild(build.id))], () => ''))[0];
    }
    async finish(who, buildId, req) {
        const build = await this.visibleBuild(who, buildId);
        if (!ACTIVE_STATUSES.includes(build.status)) {
            throw this.finishedError(build, 'finish is accepted once per build');
        }
        const error = req.status === 'success' ? null : (req.error ?? null);
        const errorBytes = error === null ? 0 : Buffer.byteLength(error);
        if (errorBytes > api_types/* BUILD_ERROR_MAX_BYTES */.fI) {
            throw tooLarge('error_too_large', `body.error is ${errorBytes} bytes; at most ${api_types/* BUILD_ERROR_MAX_BYTES */.fI} are accepted. Send the gist of the failure (hoist build truncates its own); build ${build.id} is still ${build.status}, so finish it again with a shorter error`);
        }
        const ok = await this.finishInternal(build.id, req.status, error, actorOf(who));
        const after = (await this.store.getBuild(build.id));
        if (!ok)
            throw this.finishedError(after, 'finish is accepted once per build');
        return after;
    }
    /**
     * Final status, token and certificates revoked, builder connections closed, slots freed,
     * audited; false when the build had already finished.
     */
    async finishInternal(buildId, status, rawError, actor = SERVER) {
        const now = iso(this.now());
        // The server's own reasons quote builder errors: bounded like a client's.
        const error = rawError === null ? null : (0,lib_text/* truncateUtf8 */.C)(rawError, api_types/* BUILD_ERROR_MAX_BYTES */.fI);
        const ok = await this.deps.db.transaction(async (tx) => {
            const changed = await this.store.finish(buildId, status, error, now, tx);
            if (!changed)
                return false;
            await this.deps.tokens.revokeForBuild(buildId, tx);
            const serials = await this.store.revokeCerts(buildId, `build ${status}`, now, undefined, tx);
            const b = (await this.store.getBuild(buildId, tx));
            await this.deps.audit.record({
                action: status === 'canceled' ? 'build.cancel' : status === 'expired' ? 'build.expire' : 'build.finish',
                outcome: 'ok',
                project_id: b.project_id,
                subject: actor.subject,
                reason: `build ${buildId} ended with status ${status}${error ? `: ${error.slice(0, 500)}` : ''}`,
                details: { build_id: buildId, status, revoked_serials: serials },
            }, tx);
            return true;
        });
        if (ok) {
            // the dashboard hears of every end, the server's own (expiry, a failed launch) included
            this.onEnded?.(buildId);
            // Its certificates open nothing from now on, and what they opened closes now.
            this.verdicts.clear();
            this.provisioner.release(buildId);
            // The leader frees the slot now rather than at its next read of the demand.
            if (this.shared && !this.leading)
                void this.signals.notify('demand');
            let closed = 0;
            for (const p of this.providers)
                closed += p.closeConnections([buildId]);
            this.metrics?.buildsFinished.inc({ status });
            this.log.info({ build_id: buildId, status, error, connections_closed: closed }, 'build finished');
        }
        return ok;
    }
    async info(rows, buildUrl) {
        const bbs = await this.store.buildBuilders(rows.map((r) => r.id));
        return rows.map((r) => toBuildInfo(r, bbs, buildUrl(r.id)));
    }
    async list(who, q) {
        let projectId;
        if (q.project) {
            const p = await this.deps.projects.find(q.project);
            if (!p || (who.kind !== 'admin' && p.id !== who.project_id)) {
                throw notFound('project_not_found', `no project "${q.project}" is visible to this token`);
            }
            projectId = p.id;
        }
        else if (who.kind !== 'admin') {
            projectId = who.project_id ?? undefined;
        }
        return this.store.listBuilds({
            project_id: projectId,
            status: q.status,
            build_id: who.kind === 'build' ? (who.build_id ?? '') : undefined,
            limit: q.limit ?? 50,
            before: q.before,
        });
    }
    // ---- background work ----
    /**
     * Starts the sweep; the provisioner starts when this replica is elected (at once on SQLite),
     * after adopting what the providers still hold.
     */
    async start() {
        for (const p of this.providers)
            p.authorizeConnections((peer) => this.authorizeConnection(peer));
        this.lastReconcile = Date.now();
        this.lastPurge = Date.now();
        this.timer = setInterval(() => void this.sweep(), this.deps.config.sweepIntervalMs);
        this.timer.unref();
        if (this.shared) {
            await this.signals.start();
            this.signals.on('demand', () => {
                if (this.leading)
                    this.syncLater(0);
            });
            this.demandTimer = setInterval(() => void this.syncDemand(), DEMAND_POLL_MS);
            this.demandTimer.unref();
        }
        this.leader.onElected(() => this.takeOver());
        this.leader.onDemoted(() => this.stepDown());
        // Without a leader of the server's (a service built on its own), this process is the only one.
        if (!this.deps.leader)
            await this.leader.start();
    }
    /**
     * This replica became the leader (at start, or the previous one died or left): a provisioner of
     * its own rebuilt from the database and the providers (builders that run are adopted, and
     * routed here on demand), strays go, old builds are purged, then the waiting demand is read.
     */
    async takeOver() {
        if (this.closed)
            return;
        const term = ++this.term;
        try {
            await this.takeOverOnce(term);
        }
        catch (err) {
            // A provider or the database failing now must not leave a leader that never provisions.
            this.log.error({ err: (0,errors/* errorMessage */.gJ)(err), retry_ms: TAKEOVER_RETRY_MS }, 'taking over as leader failed; trying again');
            const t = setTimeout(() => {
                if (term === this.term && !this.closed && this.leader.isLeader())
                    void this.takeOver();
            }, TAKEOVER_RETRY_MS);
            t.unref();
        }
    }
    async takeOverOnce(term) {
        const t0 = Date.now();
        this.leading = false;
        if (this.provStarted) {
            this.prov.close();
            this.prov = this.newProvisioner();
            this.provStarted = false;
        }
        await this.adoptFleet();
        if (term !== this.term || this.closed)
            return;
        this.prov.start();
        this.provStarted = true;
        const now = iso(this.now());
        for (const pool of this.pools) {
            for (const l of await pool.provider.list()) {
                if (l.state !== 'running')
                    continue;
                await this.deps.db.run(`UPDATE builders SET owner = ?, updated_at = ? WHERE id = ? AND state IN ('running', 'starting')`, [this.leader.replicaId, now, l.id]);
            }
        }
        await this.reconcile();
        this.lastReconcile = Date.now();
        await this.purgeFinished();
        this.lastPurge = Date.now();
        if (term !== this.term || this.closed)
            return;
        this.leading = true;
        this.log.info({ replica_id: this.leader.replicaId, ms: Date.now() - t0, builders: this.prov.builders.size }, 'leader: builders adopted');
        if (this.shared)
            await this.syncDemand();
    }
    /** Lost the lease or stopping: the provisioner stops deciding; another replica's takes over. */
    stepDown() {
        this.term++;
        const was = this.leading;
        this.leading = false;
        if (this.provStarted) {
            this.prov.close();
            this.prov = this.newProvisioner();
            this.provStarted = false;
        }
        if (was) {
            this.log.info({ replica_id: this.leader.replicaId }, 'no longer the leader: provisioning and build sweeps stop here');
        }
    }
    /** Reads the demand soon (coalesced): after a provisioning pass or a follower's signal. */
    syncLater(ms = 100) {
        if (!this.shared || !this.leading || this.closed || this.syncSoon)
            return;
        this.syncSoon = setTimeout(() => {
            this.syncSoon = null;
            void this.syncDemand();
        }, ms);
        this.syncSoon.unref();
    }
    /** The leader's demand loop, one pass at a time (a call during a pass runs one more after it). */
    syncDemand() {
        if (this.syncing) {
            this.syncAgain = true;
            return this.syncing;
        }
        this.syncing = (async () => {
            do {
                this.syncAgain = false;
                try {
                    await this.syncOnce();
                }
                catch (err) {
                    this.log.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'reading the build demand failed');
                }
            } while (this.syncAgain && !this.closed);
        })().finally(() => (this.syncing = null));
        return this.syncing;
    }
    async syncOnce() {
        if (!this.shared || !this.leading || !this.leader.isLeader() || this.closed)
            return;
        const prov = this.prov;
        const known = prov.claimKeys();
        const rows = await this.store.demand();
        if (prov !== this.prov || !this.leading)
            return;
        const { request, release } = demandDiff(known, rows);
        for (const id of release)
            prov.release(id);
        const projects = new Map();
        for (const r of request) {
            if (!projects.has(r.project_id))
                projects.set(r.project_id, await this.deps.projects.find(r.project_id));
            const project = projects.get(r.project_id);
            if (!project)
                continue;
            prov.request({
                buildId: r.build_id,
                projectId: project.id,
                platform: r.platform,
                scaling: scalingOf(project),
                projectName: project.name,
                queuedAtMs: Date.parse(r.queued_at),
            });
        }
        if (request.length > 0)
            await prov.reconcile();
        let changed = 0;
        for (const r of rows) {
            const placement = placementOf(prov.status(r.build_id, r.platform));
            if (!placement)
                continue;
            const json = JSON.stringify(placement);
            if (json === r.placement)
                continue;
            await this.store.setPlacement(r.build_id, r.platform, json);
            changed++;
        }
        if (changed > 0)
            await this.signals.notify('placement');
    }
    /**
     * After a start: every builder row is handed to the provisioner with the builds that held it;
     * one whose daemon still runs is adopted, a clone with neither daemon nor builds is destroyed,
     * a provider builder with no row is a stray and is destroyed; snapshots are adopted or deleted.
     */
    async adoptFleet() {
        const holders = await this.store.activeHolders();
        const projects = new Map();
        const scaling = async (projectId) => {
            if (!projects.has(projectId))
                projects.set(projectId, await this.deps.projects.find(projectId));
            const p = projects.get(projectId);
            return p ? scalingOf(p) : { autoscaling: false, buildsPerBuilder: null, maxBuildersPerPlatform: 1 };
        };
        const now = iso(this.now());
        for (const pool of this.pools) {
            const listed = await pool.provider.list();
            const rows = (await this.store.listBuilders(pool.provider.name)).filter((r) => r.pool === pool.name && r.state !== 'destroyed');
            await this.destroyStrays(pool.provider, listed, rows);
            const adopted = [];
            for (const row of rows) {
                const running = listed.some((l) => l.id === row.id && l.state === 'running');
                const claims = [];
                for (const h of holders.filter((x) => x.builder_id === row.id)) {
                    claims.push({
                        buildId: h.build_id,
                        projectId: h.project_id,
                        platform: h.platform,
                        scaling: await scaling(h.project_id),
                        queuedAtMs: Date.parse(h.queued_at),
                    });
                }
                if (row.role === 'clone' && !running && claims.length === 0) {
                    await pool.provider.destroy(row.id).catch(() => undefined);
                    await this.store.updateBuilder(row.id, { state: 'destroyed', pid: null, endpoint: null, stopped_at: now }, now);
                    continue;
                }
                if (!running && (row.state === 'running' || row.state === 'starting')) {
                    // Never undo another live replica's start (its process may not exist yet), nor touch a
                    // builder of a live replica that this provider cannot see.
                    const mine = await reapVerdict({
                        owner: row.owner ?? null,
                        me: this.leader.replicaId,
                        visible: listed.some((l) => l.id === row.id),
                        ownerAlive: row.owner
                            ? this.leader.otherReplicas().then((o) => o.includes(row.owner), () => true)
                            : Promise.resolve(false),
                        startingRecently: row.state === 'starting' &&
                            this.now().getTime() - Date.parse(row.updated_at) < STARTING_GRACE_MS,
                    });
                    if (mine)
                        await this.store.markStoppedIfUnchanged(row.id, row.updated_at, now);
                    // Another live replica's builder on a host this provider cannot see: never launched here.
                    else if (!listed.some((l) => l.id === row.id))
                        continue;
                }
                adopted.push({
                    id: row.id,
                    projectId: row.project_id,
                    platform: row.platform,
                    pool: pool.name,
                    role: row.role === 'clone' ? 'clone' : 'primary',
                    ...(row.snapshot_id ? { snapshotId: row.snapshot_id } : {}),
                    running,
                    claims,
                });
            }
            this.provisioner.adopt(adopted);
            for (const snap of await pool.provider.listSnapshots().catch(() => [])) {
                if (rows.some((r) => r.id === snap.builderId && r.role === 'primary')) {
                    this.provisioner.adoptSnapshot({
                        id: snap.id,
                        builderId: snap.builderId,
                        createdMs: snap.createdAt.getTime(),
                    });
                }
                else {
                    this.log.warn({ snapshot_id: snap.id }, 'deleting a snapshot of a builder that has no row');
                    await pool.provider.deleteSnapshot(snap.id).catch(() => undefined);
                }
            }
        }
    }
    /** Builders a provider holds that no row and no launch knows: left over, destroyed. */
    async destroyStrays(provider, listed, rows) {
        const known = new Set(rows.filter((r) => r.state !== 'destroyed').map((r) => r.id));
        for (const l of listed) {
            if (known.has(l.id) || this.provisioner.builders.has(l.id))
                continue;
            this.log.warn({ builder_id: l.id, pid: l.pid }, 'removing builder that has no row (stray)');
            await provider
                .destroy(l.id)
                .catch((err) => this.log.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'destroy failed'));
        }
    }
    /** Level-triggered: strays of every provider go (rows and running builders are the provisioner's). */
    async reconcile() {
        if (!this.leader.isLeader())
            return;
        for (const pool of this.pools) {
            const listed = await pool.provider.list();
            const rows = await this.store.listBuilders(pool.provider.name);
            await this.destroyStrays(pool.provider, listed, rows);
        }
    }
    sweep() {
        if (this.sweeping || this.closed)
            return this.sweeping ?? Promise.resolve();
        this.sweeping = this.sweepOnce()
            .catch((err) => this.log.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'builds sweep failed'))
            .finally(() => (this.sweeping = null));
        return this.sweeping;
    }
    async sweepOnce() {
        if (!this.leader.isLeader()) {
            // Builds ended by the leader (or on another replica) lose their connections here too.
            await this.recheckConnections();
            return;
        }
        const cfg = this.deps.config;
        const nowD = this.now();
        const now = iso(nowD);
        // Silent builds expire and free their slots.
        for (const b of await this.store.overdue(iso(new Date(nowD.getTime() - cfg.heartbeatGraceMs)), now)) {
            const why = b.expires_at <= now
                ? `exceeded the maximum build duration of ${Math.round(cfg.maxBuildDurationMs / 1000)} s`
                : `no heartbeat for more than ${Math.round(cfg.heartbeatGraceMs / 1000)} s (last at ${b.last_heartbeat_at})`;
            await this.finishInternal(b.id, 'expired', why);
        }
        // Builds whose creating token was revoked end; connections of ended builds close.
        await this.endOrphans();
        // Builds that waited too long for a builder fail and say so.
        for (const b of await this.store.waitedTooLong(iso(new Date(nowD.getTime() - cfg.builderWaitMs)))) {
            await this.finishInternal(b.id, 'failed', `no ${b.wait_platform} builder became available within ${Math.round(cfg.builderWaitMs / 1000)} s; raise the project's max_concurrent_builds or retry later`);
        }
        if (this.closed)
            return;
        if (Date.now() - this.lastReconcile >= RECONCILE_INTERVAL_MS) {
            this.lastReconcile = Date.now();
            await this.reconcile();
        }
        if (Date.now() - this.lastPurge >= cfg.purgeIntervalMs) {
            this.lastPurge = Date.now();
            await this.purgeFinished();
        }
    }
    /**
     * Deletes builds that finished more than the retention period ago, with their platform rows
     * and their (revoked) build tokens, a batch per transaction so no lock is held for long.
     */
    async purgeFinished() {
        const before = iso(new Date(this.now().getTime() - this.deps.config.retentionMs));
        let total = 0;
        for (;;) {
            const n = await this.deps.db.transaction((tx) => this.store.purgeFinished(before, PURGE_BATCH, tx));
            total += n;
            if (n < PURGE_BATCH || this.closed)
                break;
        }
        // Rows of destroyed clones stay while a kept build names them.
        await this.deps.db.run(`DELETE FROM builders WHERE state = 'destroyed' AND id NOT IN
         (SELECT builder_id FROM build_builders WHERE builder_id IS NOT NULL)
         AND id NOT IN (SELECT builder_id FROM build_certs)`);
        // A creation bucket that has refilled is the same as none.
        const cfg = this.deps.config;
        if (cfg.createRatePerMin > 0) {
            const fullMs = (cfg.createBurst / (cfg.createRatePerMin / 60)) * 1000;
            await this.deps.db.run(`DELETE FROM rate_buckets WHERE key LIKE 'build-create:%' AND at_ms < ?`, [
                Math.floor(this.now().getTime() - fullMs),
            ]);
        }
        if (total > 0) {
            this.log.info({ purged: total, finished_before: before }, 'purged finished builds past the retention period');
        }
        return total;
    }
    /** Server stop: end the sweep and the provisioner, then stop builders (cache kept) or leave them to be adopted. */
    async shutdown() {
        this.closed = true;
        if (this.timer)
            clearInterval(this.timer);
        if (this.demandTimer)
            clearInterval(this.demandTimer);
        if (this.syncSoon)
            clearTimeout(this.syncSoon);
        await this.sweeping;
        await this.syncing;
        await this.signals.stop();
        this.provisioner.close();
        await this.provisioner.idle();
        await Promise.allSettled([...this.rowWrites.values()]);
        // Builders serve every replica's builds: while another replica runs, they stay up for it.
        const others = await this.leader.otherReplicas().catch(() => []);
        const stop = this.deps.config.buildersOnExit === 'stop' && others.length === 0;
        if (this.deps.config.buildersOnExit === 'stop' && others.length > 0) {
            this.log.info({ other_replicas: others }, 'other replicas are running: builders are left running for them');
        }
        for (const p of this.providers)
            await p.close({ stopBuilders: stop });
        if (stop) {
            const now = iso(this.now());
            for (const p of this.providers) {
                for (const row of await this.store.listBuilders(p.name)) {
                    if (row.state !== 'stopped' && row.state !== 'destroyed') {
                        await this.store.updateBuilder(row.id, { state: 'stopped', pid: null, stopped_at: now }, now);
                    }
                }
            }
        }
        if (!this.deps.leader)
            await this.leader.stop();
    }
}
/**
 * May the leader stop, replace or mark stopped this builder? Yes when nobody or this replica
 * started it, when its provider sees it (one data directory or one cluster for every replica),
 * or when the replica that started it is gone. Never a builder another live replica is starting
 * right now (its process may not exist yet), nor one of a live replica that this provider cannot
 * see (another host's local builders are that replica's to look after).
 */
async function reapVerdict(r) {
    if (r.owner === null || r.owner === r.me)
        return true;
    if (!r.startingRecently && r.visible)
        return true;
    return !(await r.ownerAlive);
}
/** The serial as the gateway sees it (node:crypto's upper-case hex). */
function serialOf(certPem) {
    return new external_node_crypto_.X509Certificate(certPem).serialNumber.toUpperCase();
}
/**
 * The provider as the provisioning layer sees it: every call that changes builders is reported
 * first (counted by the replica's role; a follower's is logged as a warning).
 */
function guardProvider(p, called) {
    return new Proxy(p, {
        get(target, prop) {
            const v = Reflect.get(target, prop, target);
            if (typeof v !== 'function')
                return v;
            const f = v.bind(target);
            if (typeof prop !== 'string' || !MUTATIONS.has(prop))
                return f;
            return (...args) => {
                called(prop);
                return f(...args);
            };
        },
    });
}

;// CONCATENATED MODULE: ./src/providers/simulated.ts
// The `simulated` provider: a fake cloud instance API for scale this machine cannot hold. It
// meters launch calls like EC2 (per-account request and resource token buckets: RunInstances
// burst 5 refilling 2/s, 1000 instances refilling 2/s), shares them with a configurable noisy
// neighbour, takes time to start instances, fails some at random, and has a clone service whose
// latency grows with concurrent clones and which stops answering past a saturation point. Its
// builders run no buildkitd; the provisioning layer cannot tell it from a real provider.


function refill(b, now) {
    if (now > b.at) {
        b.tokens = Math.min(b.spec.burst, b.tokens + ((now - b.at) / 1000) * b.spec.perSecond);
        b.at = now;
    }
}
class SimulatedProvider {
    name;
    o;
    requests;
    resources;
    instances = new Map();
    snaps = new Map();
    /** Clones that will never be answered, by builder id: destroy releases them. */
    hung = new Map();
    stopNeighbour = null;
    stats = {
        calls: 0,
        throttledCalls: 0,
        instancesAsked: 0,
        instancesStarted: 0,
        instancesFailed: 0,
        neighbourCalls: 0,
        neighbourThrottled: 0,
        acceptedPerSecond: new Map(),
        clonesInFlight: 0,
        clonePeak: 0,
        cloneSaturated: false,
        clonesDone: 0,
        snapshots: 0,
    };
    constructor(opts) {
        this.o = {
            name: 'simulated',
            platforms: ['linux/amd64'],
            requestBucket: { burst: 5, perSecond: 2 },
            resourceBucket: { burst: 1000, perSecond: 2 },
            launchLatencyMs: { min: 5000, max: 15_000 },
            failureRate: 0.02,
            maxBatchSize: 50,
            clone: { baseMs: 3000, perConcurrentMs: 400, saturation: 48 },
            snapshotMs: 5000,
            random: Math.random,
            ...opts,
        };
        this.name = this.o.name;
        const now = opts.clock.nowMs();
        this.requests = { spec: this.o.requestBucket, tokens: this.o.requestBucket.burst, at: now };
        this.resources = {
            spec: this.o.resourceBucket,
            tokens: this.o.initialResources ?? this.o.resourceBucket.burst,
            at: now,
        };
        if (this.o.neighbour && this.o.neighbour.callsPerSecond > 0)
            this.startNeighbour(this.o.neighbour);
    }
    /** With a CA made first, so builders can issue real client certificates. */
    static async create(opts) {
        const ca = opts.ca ?? (await (0,pki/* createCa */.xs)({ commonName: `hoist ${opts.name ?? 'simulated'} builders` }));
        return new SimulatedProvider({ ...opts, ca });
    }
    get now() {
        return this.o.clock.nowMs();
    }
    accept(now) {
        const sec = Math.floor(now / 1000);
        this.stats.acceptedPerSecond.set(sec, (this.stats.acceptedPerSecond.get(sec) ?? 0) + 1);
    }
    startNeighbour(n) {
        const every = 1000 / n.callsPerSecond;
        const tick = () => {
            const now = this.now;
            refill(this.requests, now);
            refill(this.resources, now);
            this.stats.neighbourCalls++;
            if (this.requests.tokens >= 1 && this.resources.tokens >= n.instancesPerCall) {
                this.requests.tokens -= 1;
                this.resources.tokens -= n.instancesPerCall;
                this.accept(now);
            }
            else {
                this.stats.neighbourThrottled++;
            }
            this.stopNeighbour = this.o.clock.after(every, tick);
        };
        this.stopNeighbour = this.o.clock.after(every, tick);
    }
    platforms() {
        return this.o.platforms;
    }
    capabilities() {
        return {
            cloneMethod: 'reflink',
            maxBatchSize: this.o.maxBatchSize,
            launchLimits: {
                requestBurst: this.o.requestBucket.burst,
                requestsPerSecond: this.o.requestBucket.perSecond,
                resourceBurst: this.o.resourceBucket.burst,
                resourcesPerSecond: this.o.resourceBucket.perSecond,
            },
        };
    }
    async launch(spec) {
        const [r] = await this.launchBatch([spec]);
        if (!r.ok)
            throw r.error;
        return r.builder;
    }
    /** One RunInstances call: one request token, one resource token per instance. */
    async launchBatch(specs) {
        const now = this.now;
        this.stats.calls++;
        this.stats.instancesAsked += specs.length;
        refill(this.requests, now);
        refill(this.resources, now);
        if (this.requests.tokens < 1) {
            this.stats.throttledCalls++;
            const retryAfterMs = Math.ceil(((1 - this.requests.tokens) / this.o.requestBucket.perSecond) * 1000);
            return specs.map(() => ({
                ok: false,
                error: new provider/* ProvisionError */.uv('rate-limited', 'RequestLimitExceeded: request rate exceeded', {
                    retryAfterMs,
                }),
            }));
        }
        this.requests.tokens -= 1;
        this.accept(now);
        return Promise.all(specs.map((s) => this.startOne(s)));
    }
    async startOne(spec) {
        const existing = this.instances.get(spec.id);
        if (existing?.state === 'running')
            return { ok: true, builder: this.running(existing, true) };
        const now = this.now;
        refill(this.resources, now);
        if (this.resources.tokens < 1) {
            const retryAfterMs = Math.ceil(((1 - this.resources.tokens) / this.o.resourceBucket.perSecond) * 1000);
            this.stats.instancesFailed++;
            return {
                ok: false,
                error: new provider/* ProvisionError */.uv('rate-limited', 'RequestLimitExceeded: instance launch rate exceeded', {
                    retryAfterMs,
                }),
            };
        }
        this.resources.tokens -= 1;
        const up = [...this.instances.values()].filter((i) => i.state !== 'stopped').length;
        if (this.o.capacity !== undefined && up >= this.o.capacity) {
            this.stats.instancesFailed++;
            return { ok: false, error: new provider/* ProvisionError */.uv('capacity', 'InsufficientInstanceCapacity') };
        }
        if (spec.role === 'clone' && (!spec.snapshotId || !this.snaps.has(spec.snapshotId))) {
            return {
                ok: false,
                error: new provider/* ProvisionError */.uv('permanent', `snapshot ${spec.snapshotId ?? '(none)'} does not exist`),
            };
        }
        const inst = { id: spec.id, spec, state: 'starting', startedAt: now };
        this.instances.set(spec.id, inst);
        const { min, max } = this.o.launchLatencyMs;
        await this.o.clock.sleep(min + this.o.random() * (max - min));
        if (spec.role === 'clone') {
            const ok = await this.cloneVolume(spec.id);
            if (!ok) {
                this.instances.delete(spec.id);
                this.stats.instancesFailed++;
                return { ok: false, error: new provider/* ProvisionError */.uv('transient', 'clone canceled: instance destroyed') };
            }
        }
        if (this.instances.get(spec.id) !== inst) {
            this.stats.instancesFailed++;
            return { ok: false, error: new provider/* ProvisionError */.uv('transient', 'instance terminated while starting') };
        }
        if (this.o.random() < this.o.failureRate) {
            this.instances.delete(spec.id);
            this.stats.instancesFailed++;
            return { ok: false, error: new provider/* ProvisionError */.uv('transient', 'instance failed its status checks') };
        }
        inst.state = 'running';
        inst.startedAt = this.now;
        this.stats.instancesStarted++;
        return { ok: true, builder: this.running(inst, false) };
    }
    /**
     * The cache cluster makes a copy-on-write child of the snapshot. Latency grows with the clones
     * in flight; past the saturation point it stops answering (what the real one did).
     */
    cloneVolume(id) {
        const c = this.o.clone;
        this.stats.clonesInFlight++;
        this.stats.clonePeak = Math.max(this.stats.clonePeak, this.stats.clonesInFlight);
        if (this.stats.clonesInFlight > c.saturation)
            this.stats.cloneSaturated = true;
        const done = () => {
            this.stats.clonesInFlight--;
        };
        if (this.stats.cloneSaturated) {
            return new Promise((resolve) => {
                this.hung.set(id, () => {
                    done();
                    resolve(false);
                });
            });
        }
        const latency = c.baseMs + c.perConcurrentMs * this.stats.clonesInFlight;
        return this.o.clock.sleep(latency).then(() => {
            done();
            this.stats.clonesDone++;
            return true;
        });
    }
    running(i, adopted) {
        return {
            id: i.id,
            endpoint: `tcp://${i.id}.builders.simulated.invalid:1234`,
            serverName: `${i.id}.builders.simulated.invalid`,
            caPem: this.o.ca?.certPem ?? '',
            pid: null,
            startedAt: new Date(i.startedAt),
            adopted,
        };
    }
    async snapshot(builderId, snapshotId) {
        const i = this.instances.get(builderId);
        if (!i || i.state !== 'running') {
            throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} is not running; snapshot refused`);
        }
        i.state = 'stopped';
        const started = this.now;
        await this.o.clock.sleep(this.o.snapshotMs);
        if (this.instances.get(builderId) === i)
            i.state = 'running';
        const info = {
            id: snapshotId,
            builderId,
            createdAt: new Date(this.now),
            sizeBytes: null,
            downtimeMs: this.now - started,
        };
        this.snaps.set(snapshotId, info);
        this.stats.snapshots++;
        return info;
    }
    async deleteSnapshot(snapshotId) {
        this.snaps.delete(snapshotId);
    }
    async listSnapshots() {
        return [...this.snaps.values()];
    }
    async list() {
        return [...this.instances.values()].map((i) => ({
            id: i.id,
            role: i.spec.role ?? 'primary',
            state: i.state === 'running' ? 'running' : 'stopped',
            pid: null,
            endpoint: i.state === 'running' ? this.running(i, true).endpoint : null,
        }));
    }
    async stop(id) {
        const i = this.instances.get(id);
        if (i)
            i.state = 'stopped';
    }
    async destroy(id) {
        this.instances.delete(id);
        const h = this.hung.get(id);
        if (h) {
            this.hung.delete(id);
            h();
        }
    }
    async health(id) {
        const i = this.instances.get(id);
        return i?.state === 'running' ? { healthy: true } : { healthy: false, reason: 'instance not running' };
    }
    async issueClientCert(id, opts) {
        if (!this.o.ca)
            throw new provider/* ProvisionError */.uv('permanent', 'this simulated provider has no CA (use create())');
        if (!this.instances.has(id))
            throw new provider/* ProvisionError */.uv('permanent', `no builder ${id}`);
        return (0,pki/* issueClientCert */.lw)(this.o.ca, opts);
    }
    async renewClientCert(id, opts) {
        if (!this.o.ca)
            throw new provider/* ProvisionError */.uv('permanent', 'this simulated provider has no CA (use create())');
        if (!this.instances.has(id))
            throw new provider/* ProvisionError */.uv('permanent', `no builder ${id}`);
        return (0,pki/* renewClientCert */.z8)(this.o.ca, opts);
    }
    authorizeConnections() { }
    closeConnections() {
        return 0;
    }
    closeSerials() {
        return 0;
    }
    openConnections() {
        return [];
    }
    async close(opts) {
        this.stopNeighbour?.();
        this.stopNeighbour = null;
        for (const h of this.hung.values())
            h();
        this.hung.clear();
        if (opts.stopBuilders)
            for (const i of this.instances.values())
                i.state = 'stopped';
    }
}

;// CONCATENATED MODULE: ./src/server/builds/index.ts
// The builds plugin of `hoist server`: build lifecycle routes, the provider, the sweep.











const buildsPlugin = {
    name: 'builds',
    migrations: [...buildsMigrations, ...insightsMigrations],
    options: [...BUILDS_OPTIONS, ...INSIGHTS_OPTIONS],
    async register(app, deps) {
        const config = loadBuildsConfig(deps.config.pluginOptions);
        const logger = deps.logger.child({ component: 'builds' });
        const { provider, details } = await createProvider(config, deps.config.dataDir, logger);
        // Pools in order of preference: the provider's own first, then simulated ones (trials only).
        const pools = [{ name: config.pools[0].name, provider }];
        for (const p of config.pools.slice(1)) {
            pools.push({
                name: p.name,
                provider: await SimulatedProvider.create({
                    clock: systemProvisioningClock,
                    name: p.name,
                    platforms: provider.platforms(),
                }),
            });
        }
        const service = new BuildService({
            pools,
            db: deps.db,
            tokens: deps.tokens,
            projects: deps.projects,
            clock: deps.clock,
            logger,
            provider,
            config,
            audit: deps.audit,
            leader: deps.leader,
        });
        service.metrics = registerBuildMetrics(deps.metrics, service.store, () => deps.clock.now(), () => service.store.countBuildersRunning());
        const insights = new Insights(deps, provider, loadInsightsConfig(deps.config.pluginOptions));
        // an end the server decides (expiry, a launch that failed, an orphan) reaches open dashboards too
        service.onEnded = (buildId) => insights.events.changed(buildId);
        registerBuildRoutes(app, deps, service, insights);
        insights.registerRoutes(app, deps, service);
        registerUi(app, deps, insights, service);
        // A revoked token or a deleted project ends its builds now, not at the next sweep.
        app.addHook('onResponse', async (request, reply) => {
            if (request.method === 'DELETE' && reply.statusCode < 300) {
                await service
                    .endOrphans()
                    .catch((err) => logger.error({ err: (0,errors/* errorMessage */.gJ)(err) }, 'ending the builds of a revoked token failed'));
            }
        });
        deps.lifecycle.onStart(() => service.start());
        deps.lifecycle.onStart(() => insights.start());
        deps.lifecycle.onShutdown(() => service.shutdown());
        deps.lifecycle.onShutdown(() => insights.stop());
        logger.info({
            ...details,
            pools: pools.map((p) => `${p.name} (${p.provider.name}, clones: ${p.provider.capabilities().cloneMethod})`),
            cert_lifetime_ms: config.certLifetimeMs,
            idle_timeout_ms: config.idleTimeoutMs,
            max_build_duration_ms: config.maxBuildDurationMs,
            heartbeat_grace_ms: config.heartbeatGraceMs,
            builders_on_exit: config.buildersOnExit,
        }, 'builds enabled');
    },
};

;// CONCATENATED MODULE: ./src/server/auth/guard.ts

/** The Bearer token of a request, or a 401 that says how to send one. */
function bearerToken(request) {
    const h = request.headers.authorization;
    if (!h) {
        throw unauthorized('missing_token', 'this endpoint needs a Hoist token: send "Authorization: Bearer <token>"');
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m)
        throw unauthorized('invalid_token', 'the Authorization header must be "Bearer <token>"');
    return m[1];
}
/**
 * Authentication and authorization for routes:
 *   const who = await auth.authenticate(request, 'admin', 'project');   // kinds allowed
 *   auth.requireProject(who, projectId);                              // no cross-project access
 * or as a route pre-handler: `{ preHandler: auth.require('build') }`, then `request.hoistAuth!`.
 */
class Auth {
    tokens;
    constructor(tokens) {
        this.tokens = tokens;
    }
    async authenticate(request, ...kinds) {
        const who = await this.tokens.authenticate(bearerToken(request));
        if (kinds.length && !kinds.includes(who.kind)) {
            throw forbidden('wrong_token_kind', `a ${who.kind} token cannot call this endpoint; it needs a${kinds[0] === 'admin' || kinds[0] === 'oidc' ? 'n' : ''} ${kinds.join(' or ')} token`);
        }
        request.hoistAuth = who;
        return who;
    }
    require(...kinds) {
        return async (request) => {
            await this.authenticate(request, ...kinds);
        };
    }
    /**
     * Admin tokens reach every project; any other token only its own. Answers 404 (not 403)
     * for another project so a token learns nothing about projects it does not belong to.
     */
    requireProject(who, projectId) {
        if (who.kind === 'admin')
            return;
        if (who.project_id !== projectId) {
            throw notFound('project_not_found', `no project ${projectId} is visible to this token`);
        }
    }
    /** A build token drives only its own build; project/oidc/admin tokens reach builds of their project. */
    requireBuild(who, build) {
        this.requireProject(who, build.project_id);
        if (who.kind === 'build' && who.build_id !== build.id) {
            throw notFound('build_not_found', `no build ${build.id} is visible to this token`);
        }
    }
}

;// CONCATENATED MODULE: ./src/server/db/migrations/001-core.ts
// Each OIDC exchange writes a jti, a token and an audit event: indexes are kept few (and
// partial where most rows would not use them) so a commit writes few pages.
// Portable types: TEXT ids and ISO-8601 UTC timestamps (they sort as strings), INTEGER 0/1.
const coreSchema = {
    id: '001-core',
    sql: `
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  max_concurrent_builds INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
  build_id TEXT,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE INDEX tokens_project ON tokens(project_id);
CREATE INDEX tokens_build ON tokens(build_id) WHERE build_id IS NOT NULL;
CREATE TABLE trust_policies (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  repository TEXT NOT NULL,
  repository_lc TEXT NOT NULL,
  repository_id TEXT,
  repository_owner_id TEXT,
  refs TEXT NOT NULL,
  environment TEXT,
  workflow TEXT,
  allow_pull_request_target INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX trust_policies_repo ON trust_policies(repository_lc);
CREATE INDEX trust_policies_project ON trust_policies(project_id);
CREATE TABLE oidc_jtis (
  jti TEXT PRIMARY KEY,
  expires_at TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  project_id TEXT,
  subject TEXT,
  reason TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX audit_events_project ON audit_events(project_id, id);
`,
};

;// CONCATENATED MODULE: ./src/server/db/migrations/002-project-autoscaling.ts
// Per-project autoscaling: off by default (one primary per platform, builds queue past its
// limit, as before); max_concurrent_builds stays the "builds per builder" setting.
// INTEGER 0/1 for the flag: both dialects accept it, and one ADD COLUMN per statement for SQLite.
const projectAutoscaling = {
    id: '002-project-autoscaling',
    sql: `
ALTER TABLE projects ADD COLUMN autoscaling INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN max_builders_per_platform INTEGER NOT NULL DEFAULT 10;
`,
};

;// CONCATENATED MODULE: ./src/server/db/migrations/003-cluster.ts
// Several replicas on one PostgreSQL database share what one process used to keep in memory:
// - cluster_members: each replica reports in every poll (seen_ms in the database's clock, so
//   replicas' clocks need not agree); the leader lease itself is an advisory lock, not a row;
// - rate_buckets: token buckets every replica draws from (build creations per project).
const clusterSchema = {
    id: '003-cluster',
    sql: {
        sqlite: `
CREATE TABLE cluster_members (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_ms INTEGER NOT NULL);
CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at_ms INTEGER NOT NULL);
`,
        postgres: `
CREATE TABLE cluster_members (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_ms BIGINT NOT NULL);
CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at_ms BIGINT NOT NULL);
`,
    },
};

;// CONCATENATED MODULE: ./src/server/db/migrations/004-shared-aggregates.ts
// Aggregated audit rows shared by every replica: an aggregated row (refusals of tokens that did
// not verify) has a unique `agg_key` (client, reason and minute window) and its count and last
// time in columns, so each replica adds its refusals to the one row with an atomic
// INSERT ... ON CONFLICT (agg_key) DO UPDATE. Every other audit row leaves them NULL (NULLs never
// conflict). The OIDC per-client limit reuses `rate_buckets` (keys "oidc:<client>").
const sharedAggregates = {
    id: '004-shared-aggregates',
    sql: {
        sqlite: `
ALTER TABLE audit_events ADD COLUMN agg_key TEXT;
ALTER TABLE audit_events ADD COLUMN agg_count INTEGER;
ALTER TABLE audit_events ADD COLUMN agg_last_at TEXT;
CREATE UNIQUE INDEX audit_events_agg ON audit_events(agg_key);
`,
        postgres: `
ALTER TABLE audit_events ADD COLUMN agg_key TEXT;
ALTER TABLE audit_events ADD COLUMN agg_count BIGINT;
ALTER TABLE audit_events ADD COLUMN agg_last_at TEXT;
CREATE UNIQUE INDEX audit_events_agg ON audit_events(agg_key);
`,
    },
};

;// CONCATENATED MODULE: ./src/server/db/migrations/index.ts




/** The server's own migrations, in order. Plugins (builds) append theirs via HoistPlugin.migrations. */
const coreMigrations = [coreSchema, projectAutoscaling, clusterSchema, sharedAggregates];

// EXTERNAL MODULE: ./node_modules/jose/dist/webapi/util/errors.js
var util_errors = __webpack_require__(5674);
// EXTERNAL MODULE: ./node_modules/jose/dist/webapi/jwks/remote.js + 1 modules
var remote = __webpack_require__(87315);
// EXTERNAL MODULE: ./node_modules/jose/dist/webapi/util/decode_protected_header.js
var decode_protected_header = __webpack_require__(61196);
// EXTERNAL MODULE: ./node_modules/jose/dist/webapi/jwt/verify.js + 2 modules
var verify = __webpack_require__(64490);
;// CONCATENATED MODULE: ./src/server/auth/oidc.ts


/** Claims every GitHub Actions ID token carries and Hoist relies on. */
const REQUIRED_CLAIMS = [
    'iss',
    'aud',
    'exp',
    'iat',
    'jti',
    'sub',
    'repository',
    'repository_id',
    'repository_owner',
    'repository_owner_id',
    'ref',
    'event_name',
    'job_workflow_ref',
];
const STRING_CLAIMS = REQUIRED_CLAIMS.filter((c) => !['aud', 'exp', 'iat'].includes(c));
/** A token that failed verification. `reason` is a short code for metrics and audit. */
class InvalidIdToken extends ApiError {
    reason;
    constructor(reason, message) {
        super(401, 'invalid_token', `invalid GitHub OIDC token: ${message}`);
        this.reason = reason;
    }
}
/** Longest pause before a failed discovery of the issuer is tried again. */
const DISCOVERY_RETRY_MAX_MS = 5000;
/** How long a discovery document is used before it is read again (default). */
const DISCOVERY_MAX_AGE_MS = 10 * 60_000;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** What callers see when the issuer's discovery names another issuer: nothing but "not now". */
class IssuerMismatch extends ApiError {
    constructor() {
        super(503, 'issuer_unavailable', 'the OIDC issuer cannot be verified by this server right now (its configuration is being checked by the operator); try again later');
    }
}
/** Errors of jwtVerify that say the key set may be out of date, not that the token is bad. */
function keysMayBeStale(err) {
    return (err instanceof util_errors/* JWKSNoMatchingKey */.BT ||
        err instanceof util_errors/* JWKSTimeout */.xb ||
        err instanceof util_errors/* JWKSInvalid */.Dm ||
        err instanceof TypeError ||
        (err instanceof util_errors/* JOSEError */.i4 && /JSON Web Key Set/.test(err.message)));
}
/**
 * Verifies GitHub Actions ID tokens against the issuer's JWKS (found through its discovery
 * document): RS256 only, issuer, one audience, exp/nbf/iat with leeway, a maximum age and
 * the required claims. A new `kid` (key rotation) triggers a JWKS refetch, at most once per cooldown.
 *
 * The discovery document must name the configured issuer (OpenID Connect Discovery 1.0 §4.3);
 * one that names another is refused (503, logged for the operator). It is read again every
 * `discoveryMaxAgeMs`, and when a token's key cannot be found in (or fetched from) the current
 * `jwks_uri`, at most once per JWKS cooldown, so a moved `jwks_uri` is followed. A refresh that
 * fails keeps the previous keys; an issuer that is down is asked again after a pause.
 */
class GithubOidcVerifier {
    cfg;
    clock;
    log;
    current = null;
    inflight = null;
    failure = null;
    constructor(cfg, clock, log) {
        this.cfg = cfg;
        this.clock = clock;
        this.log = log;
    }
    get audience() {
        return this.cfg.audience;
    }
    get maxAgeMs() {
        return this.cfg.discoveryMaxAgeMs ?? DISCOVERY_MAX_AGE_MS;
    }
    async keySet() {
        const c = this.current;
        if (c && Date.now() - c.at < this.maxAgeMs)
            return c;
        return this.refresh();
    }
    /** Reads the discovery document again (one request at a time, none during the retry pause). */
    refresh() {
        const f = this.failure;
        if (f && Date.now() < f.until) {
            return this.current && !f.fatal ? Promise.resolve(this.current) : Promise.reject(f.error);
        }
        this.inflight ??= this.discover()
            .then((d) => {
            this.current = d;
            this.failure = null;
            return d;
        }, (err) => {
            // An issuer that is down is asked again after a short pause, not once per request.
            const fatal = err instanceof IssuerMismatch;
            const pause = Math.min(this.cfg.jwksCooldownMs, DISCOVERY_RETRY_MAX_MS);
            this.failure = { error: err, fatal, until: Date.now() + pause };
            if (fatal)
                this.current = null;
            if (this.current) {
                this.log?.warn({ err: err.message, issuer: this.cfg.issuer }, 'reading the OIDC discovery document again failed; the keys read before stay in use');
                return this.current;
            }
            throw err;
        })
            .finally(() => (this.inflight = null));
        return this.inflight;
    }
    async discover() {
        const url = `${this.cfg.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
        let doc;
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(this.cfg.jwksTimeoutMs) });
            if (!res.ok)
                throw new Error(`HTTP ${res.status}`);
            doc = (await res.json());
            if (doc === null || typeof doc !== 'object')
                throw new Error('it is not a JSON object');
        }
        catch (err) {
            throw new ApiError(503, 'issuer_unavailable', `cannot read the OIDC issuer's discovery document ${url}: ${err.message}; try again later`);
        }
        if (doc.issuer !== this.cfg.issuer) {
            // Discovery §4.3: the issuer in the document must equal the one it was fetched for, or
            // its keys may sign tokens for another issuer. The caller learns only "not now".
            this.log?.error({ configured_issuer: this.cfg.issuer, discovery_issuer: doc.issuer ?? null, discovery_url: url }, `the OIDC discovery document at ${url} names issuer ${JSON.stringify(doc.issuer ?? null)}, not the configured ${this.cfg.issuer}; every GitHub OIDC exchange is refused (503) until they match: check --oidc-issuer (HOIST_OIDC_ISSUER) and the issuer`);
            throw new IssuerMismatch();
        }
        let jwksUri;
        try {
            if (typeof doc.jwks_uri !== 'string')
                throw new Error('no jwks_uri');
            jwksUri = new URL(doc.jwks_uri);
            if (jwksUri.protocol !== 'https:' && jwksUri.protocol !== 'http:')
                throw new Error('not http(s)');
        }
        catch {
            throw new ApiError(503, 'issuer_unavailable', `the OIDC issuer's discovery document ${url} has no valid jwks_uri`);
        }
        const prev = this.current;
        if (prev && prev.jwksUri === jwksUri.href)
            return { ...prev, at: Date.now() };
        const jwks = (0,remote/* createRemoteJWKSet */.RD)(jwksUri, {
            cooldownDuration: this.cfg.jwksCooldownMs,
            timeoutDuration: this.cfg.jwksTimeoutMs,
            cacheMaxAge: 10 * 60_000,
        });
        return { jwks, jwksUri: jwksUri.href, at: Date.now() };
    }
    async verify(token) {
        if (!JWT_SHAPE.test(token))
            throw new InvalidIdToken('malformed', 'it is not a JWT (header.payload.signature)');
        let header;
        try {
            header = (0,decode_protected_header/* decodeProtectedHeader */._)(token);
        }
        catch {
            throw new InvalidIdToken('malformed', 'its header is not valid base64url JSON');
        }
        if (header.alg !== 'RS256') {
            throw new InvalidIdToken('alg', `algorithm ${String(header.alg)} is not accepted; GitHub signs with RS256`);
        }
        if (typeof header.kid !== 'string' || !header.kid) {
            throw new InvalidIdToken('kid', 'its header has no key id (kid)');
        }
        const keys = await this.keySet();
        const check = async (d) => (await (0,verify/* jwtVerify */.V)(token, d.jwks, {
            algorithms: ['RS256'],
            issuer: this.cfg.issuer,
            audience: this.cfg.audience,
            clockTolerance: this.cfg.leewaySec,
            maxTokenAge: this.cfg.maxAgeSec,
            requiredClaims: [...REQUIRED_CLAIMS],
            currentDate: this.clock.now(),
        })).payload;
        let payload;
        try {
            payload = await check(keys);
        }
        catch (err) {
            // An unknown kid or an unreachable jwks_uri: the issuer may have moved its keys. Read the
            // discovery document again (at most once per cooldown) and, if jwks_uri changed, retry.
            if (!keysMayBeStale(err) || Date.now() - keys.at < this.cfg.jwksCooldownMs)
                throw this.explain(err);
            const fresh = await this.refresh();
            if (fresh.jwksUri === keys.jwksUri)
                throw this.explain(err);
            try {
                payload = await check(fresh);
            }
            catch (again) {
                throw this.explain(again);
            }
        }
        if (Array.isArray(payload.aud) && payload.aud.length !== 1) {
            throw new InvalidIdToken('audience', `it names ${payload.aud.length} audiences; exactly one (${this.cfg.audience}) is accepted`);
        }
        const iat = payload.iat;
        if (iat > this.clock.now().getTime() / 1000 + this.cfg.leewaySec) {
            throw new InvalidIdToken('iat', 'it was issued in the future (iat); check the clocks');
        }
        for (const c of STRING_CLAIMS) {
            const v = payload[c];
            if (typeof v !== 'string' || v === '')
                throw new InvalidIdToken('claims', `claim ${c} must be a non-empty string`);
        }
        return payload;
    }
    explain(err) {
        if (err instanceof util_errors/* JWTExpired */.n) {
            // jose reports a failed maxTokenAge as an expiry of the iat claim.
            return err.claim === 'iat'
                ? new InvalidIdToken('too_old', `it is too old (issued more than ${this.cfg.maxAgeSec} s ago); request a fresh one`)
                : new InvalidIdToken('expired', 'it has expired (exp)');
        }
        if (err instanceof util_errors/* JWTClaimValidationFailed */.ie) {
            switch (err.claim) {
                case 'iss':
                    return new InvalidIdToken('issuer', `wrong issuer (iss); this server accepts ${this.cfg.issuer}`);
                case 'aud':
                    return new InvalidIdToken('audience', `wrong audience (aud); request the token with audience ${this.cfg.audience}`);
                case 'nbf':
                    return new InvalidIdToken('not_yet_valid', 'it is not valid yet (nbf); check the clocks');
                case 'iat':
                    return err.reason === 'check_failed'
                        ? new InvalidIdToken('too_old', `it is too old (issued more than ${this.cfg.maxAgeSec} s ago); request a fresh one`)
                        : new InvalidIdToken('claims', 'claim iat is missing or invalid');
                default:
                    return new InvalidIdToken('claims', err.reason === 'missing'
                        ? `required claim ${err.claim} is missing`
                        : `claim ${err.claim} is invalid`);
            }
        }
        if (err instanceof util_errors/* JWSSignatureVerificationFailed */.h2) {
            return new InvalidIdToken('signature', 'its signature does not verify');
        }
        if (err instanceof util_errors/* JWKSNoMatchingKey */.BT || err instanceof util_errors/* JWKSMultipleMatchingKeys */.$4) {
            return new InvalidIdToken('kid', 'it is signed with a key the issuer does not publish (unknown kid)');
        }
        if (err instanceof util_errors/* JOSEAlgNotAllowed */.Rb || err instanceof util_errors/* JOSENotSupported */.T0) {
            return new InvalidIdToken('alg', 'its algorithm is not accepted; GitHub signs with RS256');
        }
        if (err instanceof util_errors/* JWKSTimeout */.xb) {
            return new ApiError(503, 'issuer_unavailable', 'the OIDC issuer did not answer for its keys in time; try again later');
        }
        if (err instanceof util_errors/* JWKSInvalid */.Dm) {
            return new ApiError(503, 'issuer_unavailable', "the OIDC issuer's JWKS is not valid; try again later");
        }
        if (err instanceof util_errors/* JOSEError */.i4 && /JSON Web Key Set/.test(err.message)) {
            return new ApiError(503, 'issuer_unavailable', "the OIDC issuer's keys (JWKS) cannot be read; try again later");
        }
        if (err instanceof util_errors/* JWSInvalid */.Ye || err instanceof util_errors/* JWTInvalid */.Dp) {
            return new InvalidIdToken('malformed', 'it is not a well-formed signed JWT');
        }
        if (err instanceof util_errors/* JOSEError */.i4)
            return new InvalidIdToken('invalid', err.code);
        if (err instanceof TypeError ||
            (err instanceof Error && /fetch|ECONNREFUSED|network/i.test(err.message))) {
            return new ApiError(503, 'issuer_unavailable', `cannot fetch the OIDC issuer's keys: ${err.message}; try again later`);
        }
        return new InvalidIdToken('invalid', 'it cannot be verified');
    }
}

;// CONCATENATED MODULE: ./src/server/auth/exchange.ts




const OIDC_AUDIT_ACTION = 'auth.github_oidc';
/**
 * `POST /v1/auth/github-oidc`: verify the ID token, accept its jti once, match the trust
 * policies, pin ids on first use, mint an OIDC token, and audit the result. Everything after
 * verification happens in one transaction. Verified tokens are audited one by one; tokens that
 * do not verify are audited in aggregate (RefusalAudit), so junk cannot flood the database.
 */
class OidcExchange {
    deps;
    constructor(deps) {
        this.deps = deps;
    }
    /** `client` is the caller's IP address, for the aggregated audit of unverifiable tokens. */
    async exchange(req, client = 'unknown') {
        const d = this.deps;
        let claims;
        try {
            claims = await d.verifier.verify(req.token);
        }
        catch (err) {
            // Nothing about projects: the caller proved nothing. An issuer outage is audited too.
            // Anyone can send junk, so these are aggregated: one row per client, reason and minute.
            const reason = err instanceof InvalidIdToken ? err.reason : err instanceof ApiError ? err.code : 'error';
            await d.refusals.record(client, reason, {
                action: OIDC_AUDIT_ACTION,
                outcome: 'refused',
                project_id: null,
                subject: null,
                reason: err.message,
                details: { verification: reason },
            });
            d.onOutcome?.({ outcome: 'refused', code: reason });
            throw err;
        }
        const details = {
            repository: claims.repository,
            repository_id: claims.repository_id,
            repository_owner_id: claims.repository_owner_id,
            ref: claims.ref,
            event_name: claims.event_name,
            workflow: parseJobWorkflowRef(claims.job_workflow_ref)?.path ?? null,
            job_workflow_ref: claims.job_workflow_ref,
            environment: claims.environment ?? null,
            run_id: claims.run_id ?? null,
            jti: claims.jti,
        };
        const result = await d.db.transaction(async (tx) => {
            const now = d.clock.now();
            const exp = typeof claims.exp === 'number' ? claims.exp : 0;
            const fresh = await tx.run('INSERT INTO oidc_jtis (jti, expires_at, seen_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING', [claims.jti, iso(new Date((exp + d.leewaySec) * 1000)), iso(now)]);
            if (fresh.changes === 0) {
                const reason = `invalid GitHub OIDC token: it was already exchanged (jti ${claims.jti} seen before); request a fresh ID token`;
                await d.audit.record({
                    action: OIDC_AUDIT_ACTION,
                    outcome: 'refused',
                    project_id: null,
                    subject: claims.sub,
                    reason,
                    details,
                }, tx);
                return { error: new ApiError(401, 'token_replayed', reason), code: 'replay' };
            }
            let requested = null;
            if (req.project) {
                const p = await d.projects.find(req.project, tx);
                requested = p ? { id: p.id, name: p.name } : { missing: req.project };
            }
            const candidates = await d.trust.forRepository(claims.repository, tx);
            const decision = decideTrust(claims, candidates, requested);
            if (!decision.granted) {
                await d.audit.record({
                    action: OIDC_AUDIT_ACTION,
                    outcome: 'refused',
                    project_id: decision.project_id,
                    subject: claims.sub,
                    reason: decision.reason,
                    details,
                }, tx);
                const status = decision.code === 'ambiguous_project' ? 400 : 403;
                return { error: new ApiError(status, decision.code, decision.reason), code: decision.code };
            }
            await d.trust.pin(decision.pins, tx);
            const expiresAt = new Date(now.getTime() + d.tokenTtlSec * 1000);
            const { token, info } = await d.tokens.mint({
                kind: 'oidc',
                name: `github ${claims.repository} ${claims.ref}${claims.run_id ? ` run ${claims.run_id}` : ''}`,
                project_id: decision.project_id,
                expires_at: expiresAt,
            }, tx);
            await d.audit.record({
                action: OIDC_AUDIT_ACTION,
                outcome: 'granted',
                project_id: decision.project_id,
                subject: claims.sub,
                reason: decision.reason,
                details: {
                    ...details,
                    policy_id: decision.policy_id,
                    token_id: info.id,
                    pinned: decision.pins.length > 0,
                },
            }, tx);
            return {
                response: {
                    token,
                    expires_at: info.expires_at ?? expiresAt.toISOString(),
                    project_id: decision.project_id,
                },
            };
        });
        if ('error' in result) {
            d.onOutcome?.({ outcome: 'refused', code: result.code });
            throw result.error;
        }
        d.onOutcome?.({ outcome: 'granted', code: 'granted' });
        return result.response;
    }
    /**
     * Forgets jtis whose ID tokens have expired anyway (they can no longer verify), and OIDC and
     * build tokens that expired more than a week ago (their audit events stay).
     */
    async purgeExpired() {
        const now = this.deps.clock.now();
        const jtis = await this.deps.db.run('DELETE FROM oidc_jtis WHERE expires_at < ?', [iso(now)]);
        const tokens = await this.deps.db.run("DELETE FROM tokens WHERE kind IN ('oidc', 'build') AND expires_at IS NOT NULL AND expires_at < ?", [iso(new Date(now.getTime() - 7 * 86400_000))]);
        return { jtis: jtis.changes, tokens: tokens.changes };
    }
}

;// CONCATENATED MODULE: ./src/server/audit/refusals.ts

/** Rows waiting for the next flush at most; past it they are flushed at once. */
const MAX_PENDING = 10_000;
/**
 * Rows remembered as written at most. Forgetting one only costs an extra immediate write of
 * its next refusal (an increment of the same row), so memory stays bounded however many
 * addresses send junk.
 */
const MAX_WRITTEN = 100_000;
/** The aggregated row a refusal belongs to: its client, reason and window (start ms). */
function aggregateKey(action, client, code, atMs, windowMs) {
    const windowStart = Math.floor(atMs / windowMs) * windowMs;
    return { key: `${action}|${code}|${iso(new Date(windowStart))}|${client}`, windowStart };
}
/** Adds one refusal to a batch of deltas (pure: the same refusals give the same batch). */
function addRefusal(batch, key, at, event) {
    const d = batch.get(key);
    if (d) {
        d.count++;
        if (at < d.firstAt)
            d.firstAt = at;
        if (at > d.lastAt)
            d.lastAt = at;
    }
    else {
        batch.set(key, { key, count: 1, firstAt: at, lastAt: at, event });
    }
}
/** Puts a batch that could not be written back in front of newer refusals, keeping at most `max` rows. */
function mergeBack(pending, failed, max) {
    const out = new Map();
    let dropped = 0;
    for (const d of failed) {
        if (out.size >= max) {
            dropped += d.count;
            continue;
        }
        out.set(d.key, { ...d });
    }
    for (const d of pending.values()) {
        const o = out.get(d.key);
        if (o) {
            o.count += d.count;
            if (d.firstAt < o.firstAt)
                o.firstAt = d.firstAt;
            if (d.lastAt > o.lastAt)
                o.lastAt = d.lastAt;
        }
        else if (out.size >= max) {
            dropped += d.count;
        }
        else {
            out.set(d.key, d);
        }
    }
    return { pending: out, dropped };
}
/**
 * Audits refusals of tokens that did not verify without one database write each. Every
 * (client, reason, minute window) has exactly one audit row, whichever replicas refused: its
 * unique `agg_key` turns each replica's write into an atomic increment of its count
 * (AuditLog.addToAggregates). The first refusal a replica sees for a row is written at once, so
 * it shows in the audit immediately; later ones are counted in memory and added in one batch
 * every few seconds. So junk costs each replica at most one write per client, reason and minute
 * plus one batched statement per flush, however much of it arrives.
 *
 * Windows follow each replica's clock: with clocks a little apart, a refusal near a minute's
 * edge may be counted in the neighbouring minute's row, never twice and never in a second row
 * of its own minute.
 */
class RefusalAudit {
    audit;
    clock;
    windowMs;
    onError;
    flushEveryMs;
    pending = new Map();
    /** Rows this replica has written at least once, by key, with their window start. */
    written = new Map();
    timer = null;
    flushing = null;
    constructor(audit, clock, windowMs = 60_000, onError = () => undefined, flushEveryMs = Math.min(windowMs, 5000)) {
        this.audit = audit;
        this.clock = clock;
        this.windowMs = windowMs;
        this.onError = onError;
        this.flushEveryMs = flushEveryMs;
    }
    /** Records one refusal of `client` for `code`; `event` is the row to create if none exists. */
    async record(client, code, event) {
        const now = this.clock.now();
        const { key, windowStart } = aggregateKey(event.action, client, code, now.getTime(), this.windowMs);
        const at = iso(now);
        const row = {
            ...event,
            details: { ...event.details, client_ip: client, window_start: iso(new Date(windowStart)) },
        };
        if (this.written.has(key)) {
            addRefusal(this.pending, key, at, row);
            if (this.pending.size >= MAX_PENDING)
                void this.flush();
            return;
        }
        // Marked before the write is awaited, so concurrent refusals are batched, not written too.
        if (this.written.size >= MAX_WRITTEN)
            this.written.clear();
        this.written.set(key, windowStart);
        try {
            await this.audit.addToAggregates([{ key, count: 1, firstAt: at, lastAt: at, event: row }]);
        }
        catch (err) {
            this.onError(err);
            addRefusal(this.pending, key, at, row);
        }
    }
    /** Writes every pending count now (one batch), and forgets rows whose window has ended. */
    async flush() {
        // One flush at a time: a second caller waits for the running one, then writes what is left.
        while (this.flushing)
            await this.flushing;
        this.flushing = this.writePending();
        try {
            await this.flushing;
        }
        finally {
            this.flushing = null;
        }
    }
    async writePending() {
        const nowMs = this.clock.now().getTime();
        for (const [k, start] of this.written)
            if (start + this.windowMs <= nowMs)
                this.written.delete(k);
        if (!this.pending.size)
            return;
        const batch = [...this.pending.values()];
        this.pending = new Map();
        try {
            await this.audit.addToAggregates(batch);
        }
        catch (err) {
            // Kept for the next flush (the timer's, a few seconds on): one attempt per interval.
            const merged = mergeBack(this.pending, batch, MAX_PENDING);
            this.pending = merged.pending;
            this.onError(err);
            if (merged.dropped) {
                this.onError(new Error(`${merged.dropped} refusals could not be audited (too many waiting)`));
            }
        }
    }
    /** Flushes every few seconds, until stop(). */
    start() {
        this.timer ??= setInterval(() => void this.flush().catch(this.onError), this.flushEveryMs);
        this.timer.unref();
    }
    /** Stops the timer and writes what is pending. */
    async stop() {
        if (this.timer)
            clearInterval(this.timer);
        this.timer = null;
        await this.flush();
    }
}

;// CONCATENATED MODULE: ./src/server/http/routes/management.ts




const idParam = {
    type: 'object',
    properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
    required: ['id'],
};
const projectName = { type: 'string', pattern: PROJECT_NAME_PATTERN, maxLength: 63 };
// Types only: ranges and the settings' rules are checked by projects/settings.ts, whose
// messages name the field and the accepted range.
const settingsProps = {
    max_concurrent_builds: { type: ['number', 'null'] },
    autoscaling: { type: 'boolean' },
    max_builders_per_platform: { type: 'number' },
};
const GLOB = { type: 'string', minLength: 1, maxLength: 256, pattern: '^refs/' };
const tokenBody = {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
        name: { type: 'string', minLength: 1, maxLength: 200 },
        expires_in: { type: 'integer', minimum: 60, maximum: 10 * 365 * 86400 },
    },
};
function checkRepository(repo) {
    if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repo)) {
        throw badRequest('invalid_request', `body.repository must be "owner/name" as in GitHub, got "${repo}"`);
    }
}
/** The admin API: projects, project tokens, trust policies, audit events. */
function registerManagementRoutes(app, deps, trust) {
    const { auth, projects, tokens, audit, db, clock } = deps;
    const admin = { preHandler: auth.require('admin') };
    /** Mints an admin or project token and audits it, in the caller's transaction. */
    const mintAudited = async (tx, req, subject) => {
        const minted = await tokens.mint({
            kind: req.kind,
            name: req.name,
            project_id: req.project_id,
            expires_at: req.ttlSec ? new Date(clock.now().getTime() + req.ttlSec * 1000) : null,
        }, tx);
        await audit.record({
            action: 'token.create',
            outcome: 'ok',
            project_id: req.project_id,
            subject,
            reason: `${req.kind} token ${minted.info.id} created`,
            details: { token_id: minted.info.id, name: req.name },
        }, tx);
        return { ...minted.info, token: minted.token };
    };
    app.post('/v1/projects', {
        ...admin,
        schema: {
            body: {
                type: 'object',
                additionalProperties: false,
                required: ['name'],
                properties: { name: projectName, ...settingsProps },
            },
        },
    }, async (req, reply) => {
        const p = await db.transaction(async (tx) => {
            const p = await projects.create(req.body, tx);
            await audit.record({
                action: 'project.create',
                outcome: 'ok',
                project_id: p.id,
                subject: req.hoistAuth.token_id,
                reason: `project ${p.name} created`,
                details: {},
            }, tx);
            return p;
        });
        return reply.code(201).send(p);
    });
    app.get('/v1/projects', admin, async () => ({ projects: await projects.list() }));
    app.get('/v1/projects/:id', { ...admin, schema: { params: idParam } }, async (req) => projects.require(req.params.id));
    app.patch('/v1/projects/:id', {
        ...admin,
        schema: {
            params: idParam,
            body: {
                type: 'object',
                additionalProperties: false,
                minProperties: 1,
                properties: { name: projectName, ...settingsProps },
            },
        },
    }, async (req) => updateProjectAudited(deps, req.params.id, req.body, {
        subject: req.hoistAuth.token_id,
        reason: 'project updated',
    }));
    app.delete('/v1/projects/:id', { ...admin, schema: { params: idParam } }, async (req, reply) => {
        await db.transaction(async (tx) => {
            const p = await projects.delete(req.params.id, tx);
            await audit.record({
                action: 'project.delete',
                outcome: 'ok',
                project_id: p.id,
                subject: req.hoistAuth.token_id,
                reason: `project ${p.name} deleted`,
                details: {},
            }, tx);
        });
        return reply.code(204).send();
    });
    // ---- project tokens ----
    app.post('/v1/projects/:id/tokens', {
        ...admin,
        schema: {
            params: idParam,
            body: tokenBody,
        },
    }, async (req, reply) => {
        const body = await db.transaction(async (tx) => {
            const p = await projects.require(req.params.id, tx);
            return mintAudited(tx, {
                kind: 'project',
                name: req.body.name,
                project_id: p.id,
                ttlSec: req.body.expires_in ?? deps.config.projectTokenTtlSec,
            }, req.hoistAuth.token_id);
        });
        return reply.code(201).send(body);
    });
    app.get('/v1/projects/:id/tokens', {
        ...admin,
        schema: {
            params: idParam,
            querystring: {
                type: 'object',
                additionalProperties: false,
                properties: { kind: { type: 'string', enum: ['project', 'oidc', 'build', 'all'] } },
            },
        },
    }, async (req) => {
        const p = await projects.require(req.params.id);
        const kind = req.query.kind ?? 'project';
        return { tokens: await tokens.list({ project_id: p.id, ...(kind === 'all' ? {} : { kind }) }) };
    });
    app.delete('/v1/projects/:id/tokens/:tokenId', admin, async (req) => db.transaction(async (tx) => {
        const p = await projects.require(req.params.id, tx);
        const t = await tokens.revoke(req.params.tokenId, { project_id: p.id }, tx);
        await audit.record({
            action: 'token.revoke',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth.token_id,
            reason: `token ${t.id} revoked`,
            details: { token_id: t.id },
        }, tx);
        return t;
    }));
    // ---- admin tokens ----
    app.post('/v1/admin/tokens', {
        ...admin,
        schema: {
            body: tokenBody,
        },
    }, async (req, reply) => {
        const body = await db.transaction((tx) => mintAudited(tx, { kind: 'admin', name: req.body.name, project_id: null, ttlSec: req.body.expires_in ?? null }, req.hoistAuth.token_id));
        return reply.code(201).send(body);
    });
    app.get('/v1/admin/tokens', admin, async () => ({ tokens: await tokens.list({ kind: 'admin' }) }));
    app.delete('/v1/admin/tokens/:tokenId', admin, async (req) => {
        const cur = await tokens.get(req.params.tokenId);
        if (cur && cur.kind !== 'admin') {
            throw badRequest('not_admin_token', `token ${cur.id} is a ${cur.kind} token; revoke it under its project`);
        }
        if (cur && cur.id === req.hoistAuth.token_id) {
            throw badRequest('revoke_self', 'a token cannot revoke itself; use another admin token');
        }
        return db.transaction(async (tx) => {
            const t = await tokens.revoke(req.params.tokenId, {}, tx);
            await audit.record({
                action: 'token.revoke',
                outcome: 'ok',
                project_id: null,
                subject: req.hoistAuth.token_id,
                reason: `admin token ${t.id} revoked`,
                details: { token_id: t.id },
            }, tx);
            return t;
        });
    });
    // ---- trust policies ----
    app.post('/v1/projects/:id/trust-policies', {
        ...admin,
        schema: {
            params: idParam,
            body: {
                type: 'object',
                additionalProperties: false,
                required: ['provider', 'repository'],
                properties: {
                    provider: { type: 'string', enum: ['github'] },
                    repository: { type: 'string', minLength: 3, maxLength: 200 },
                    repository_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 20 },
                    repository_owner_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 20 },
                    refs: { type: 'array', items: GLOB, maxItems: 50 },
                    environment: { type: 'string', minLength: 1, maxLength: 255 },
                    workflow: { type: 'string', minLength: 1, maxLength: 512 },
                    allow_pull_request_target: { type: 'boolean' },
                },
            },
        },
    }, async (req, reply) => {
        checkRepository(req.body.repository);
        const policy = await db.transaction(async (tx) => {
            const p = await projects.require(req.params.id, tx);
            const policy = await trust.add(p.id, req.body, tx);
            await audit.record({
                action: 'trust_policy.create',
                outcome: 'ok',
                project_id: p.id,
                subject: req.hoistAuth.token_id,
                reason: `trust policy ${policy.id} for ${policy.repository} added`,
                details: { policy },
            }, tx);
            return policy;
        });
        return reply.code(201).send(policy);
    });
    app.get('/v1/projects/:id/trust-policies', { ...admin, schema: { params: idParam } }, async (req) => {
        const p = await projects.require(req.params.id);
        return { trust_policies: await trust.list(p.id) };
    });
    app.delete('/v1/projects/:id/trust-policies/:policyId', admin, async (req, reply) => {
        await db.transaction(async (tx) => {
            const p = await projects.require(req.params.id, tx);
            await trust.remove(p.id, req.params.policyId, tx);
            await audit.record({
                action: 'trust_policy.delete',
                outcome: 'ok',
                project_id: p.id,
                subject: req.hoistAuth.token_id,
                reason: `trust policy ${req.params.policyId} removed`,
                details: {},
            }, tx);
        });
        return reply.code(204).send();
    });
    // ---- audit ----
    app.get('/v1/audit', {
        ...admin,
        schema: {
            querystring: {
                type: 'object',
                additionalProperties: false,
                properties: {
                    project: { type: 'string', maxLength: 128 },
                    action: { type: 'string', maxLength: 64 },
                    before: { type: 'string', maxLength: 64 },
                    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
                },
            },
        },
    }, async (req) => {
        const q = req.query;
        let projectId;
        if (q.project)
            projectId = (await projects.find(q.project))?.id ?? q.project;
        const limit = q.limit === undefined ? 100 : Number(q.limit);
        if (limit < 1 || limit > 1000)
            throw badRequest('invalid_request', 'querystring.limit must be between 1 and 1000');
        return {
            events: await audit.list({ project_id: projectId, action: q.action, before: q.before, limit }),
        };
    });
    app.get('/v1/auth/whoami', async (req) => {
        const who = await auth.authenticate(req);
        return { ...who, checked_at: iso(clock.now()) };
    });
}

;// CONCATENATED MODULE: ./src/server/http/routes/oidc.ts


function registerOidcRoutes(app, exchange, limiter = null, onLimited = () => undefined) {
    app.post('/v1/auth/github-oidc', {
        bodyLimit: 64 * 1024,
        // Before the body is read or parsed: a refused request costs as little as possible.
        onRequest: async (req, reply) => {
            if (!limiter)
                return;
            const client = clientKey(req.ip);
            const d = await limiter.take(client);
            if (d.ok)
                return;
            onLimited(d);
            reply.header('retry-after', String(d.retryAfterSec));
            if (d.cause === 'unavailable') {
                return reply
                    .code(503)
                    .send(errorBody('rate_limit_unavailable', `GitHub OIDC exchanges are paused: ${d.detail}, and no exchange can succeed without it; retry after ${d.retryAfterSec} s. Operators: check that PostgreSQL is up and reachable from every replica (--database-url); the server logs when it is reachable again.`));
            }
            const scope = limiter.scope === 'shared' ? 'per client, counted across all replicas' : 'per client';
            return reply
                .code(429)
                .send(errorBody('rate_limited', `too many GitHub OIDC exchanges from ${client === req.ip ? req.ip : `${req.ip} (counted as ${client})`}: this server accepts ${limiter.ratePerSec} a second ${scope} (bursts of ${limiter.burst}); retry after ${d.retryAfterSec} s. One exchange per job is enough: reuse the token it returns until it expires. Operators can raise the limit with --oidc-rate-limit and --oidc-rate-burst (HOIST_OIDC_RATE_LIMIT, HOIST_OIDC_RATE_BURST).`));
        },
        schema: {
            body: {
                type: 'object',
                additionalProperties: false,
                required: ['token'],
                properties: {
                    token: { type: 'string', minLength: 1, maxLength: 16384 },
                    project: { type: 'string', minLength: 1, maxLength: 128 },
                },
            },
        },
    }, async (req) => exchange.exchange(req.body, req.ip));
}

// EXTERNAL MODULE: ./node_modules/semver/index.js
var semver = __webpack_require__(62088);
var semver_default = /*#__PURE__*/__webpack_require__.n(semver);
;// CONCATENATED MODULE: ./src/server/releases/catalog.ts





const RELEASE_FILE = /^hoist-(.+)-([a-z0-9]+)-([a-z0-9]+)\.tar\.gz$/;
/** Node's names: linux/darwin/win32 and x64/arm64; common aliases accepted. */
function normalizeOs(os) {
    const o = os.toLowerCase();
    const map = {
        linux: 'linux',
        darwin: 'darwin',
        macos: 'darwin',
        win32: 'win32',
        windows: 'win32',
    };
    return map[o] ?? null;
}
function normalizeArch(arch) {
    const a = arch.toLowerCase();
    const map = {
        x64: 'x64',
        amd64: 'x64',
        x86_64: 'x64',
        arm64: 'arm64',
        aarch64: 'arm64',
        arm: 'arm',
    };
    return map[a] ?? null;
}
/** Classifies a version spec, or null when it is none of latest, a version, a semver range. */
function classifySpec(spec) {
    const s = spec.trim();
    if (s === 'latest')
        return 'latest';
    if (semver_default().valid(semver_default().clean(s) ?? ''))
        return 'exact';
    if (semver_default().validRange(s))
        return 'range';
    return null;
}
/**
 * Picks the version a spec means among the available ones: `latest` = the highest stable
 * version (a prerelease only when there is nothing else), exact = that version, a range =
 * the highest version satisfying it.
 */
function resolveVersion(spec, versions) {
    const valid = versions.filter((v) => semver_default().valid(v));
    const kind = classifySpec(spec);
    if (kind === 'latest') {
        const stable = valid.filter((v) => !semver_default().prerelease(v));
        return semver_default().rsort([...(stable.length ? stable : valid)])[0] ?? null;
    }
    if (kind === 'exact') {
        const want = semver_default().clean(spec.trim());
        return valid.find((v) => semver_default().eq(v, want)) ?? null;
    }
    if (kind === 'range')
        return semver_default().maxSatisfying(valid, spec.trim());
    return null;
}
async function scanReleases(dir) {
    let names;
    try {
        names = await (0,promises_.readdir)(dir);
    }
    catch {
        return [];
    }
    const out = [];
    for (const file of names) {
        const m = RELEASE_FILE.exec(file);
        if (m && semver_default().valid(m[1]))
            out.push({ version: m[1], os: m[2], arch: m[3], file });
    }
    return out;
}
const digestCache = new Map();
/** sha256 of a file, cached by size and mtime. */
async function fileDigest(path) {
    const st = await (0,promises_.stat)(path);
    const key = `${st.size}:${st.mtimeMs}`;
    const hit = digestCache.get(path);
    if (hit && hit.key === key)
        return { sha256: hit.sha256, size: st.size };
    const hash = (0,external_node_crypto_.createHash)('sha256');
    await new Promise((resolve, reject) => {
        (0,external_node_fs_.createReadStream)(path)
            .on('data', (chunk) => hash.update(chunk))
            .on('end', resolve)
            .on('error', reject);
    });
    const sha256 = hash.digest('hex');
    digestCache.set(path, { key, sha256 });
    return { sha256, size: st.size };
}
function releasePath(dir, file) {
    return (0,external_node_path_.join)(dir, file);
}

;// CONCATENATED MODULE: ./src/server/http/routes/releases.ts



/** CLI releases for the setup action: resolve a spec, then download the tarball. No token needed. */
function registerReleaseRoutes(app, deps) {
    const dir = deps.config.releasesDir;
    app.get('/v1/cli/releases/:spec', {
        schema: {
            params: { type: 'object', properties: { spec: { type: 'string', minLength: 1, maxLength: 128 } } },
            querystring: {
                type: 'object',
                additionalProperties: false,
                properties: { os: { type: 'string', maxLength: 32 }, arch: { type: 'string', maxLength: 32 } },
            },
        },
    }, async (req) => {
        const spec = req.params.spec;
        if (!classifySpec(spec)) {
            throw badRequest('invalid_version_spec', `"${spec}" is not a version spec; use latest, an exact version such as 1.2.3, or a semver range such as ^1.2`);
        }
        const os = normalizeOs(req.query.os ?? process.platform);
        if (!os)
            throw badRequest('invalid_request', `querystring.os "${req.query.os}" is not known; use linux, darwin or win32`);
        const arch = normalizeArch(req.query.arch ?? process.arch);
        if (!arch)
            throw badRequest('invalid_request', `querystring.arch "${req.query.arch}" is not known; use x64 or arm64`);
        const all = await scanReleases(dir);
        const mine = all.filter((r) => r.os === os && r.arch === arch);
        const version = resolveVersion(spec, mine.map((r) => r.version));
        if (!version) {
            const have = [...new Set(mine.map((r) => r.version))].join(', ');
            throw notFound('release_not_found', mine.length
                ? `no CLI release for ${os}-${arch} matches "${spec}"; available: ${have}`
                : `this server has no CLI release for ${os}-${arch}${all.length ? '' : ' (its releases directory is empty; build the CLI with npm run build or set --releases-dir)'}`);
        }
        const rel = mine.find((r) => r.version === version);
        const { sha256, size } = await fileDigest(releasePath(dir, rel.file));
        const body = {
            version,
            url: `${deps.publicUrl()}/v1/cli/downloads/${rel.file}`,
            sha256,
            size,
        };
        return body;
    });
    app.get('/v1/cli/downloads/:file', async (req, reply) => {
        const file = req.params.file;
        if (!RELEASE_FILE.test(file))
            throw notFound('release_not_found', `no CLI release file "${file}"`);
        const all = await scanReleases(dir);
        if (!all.some((r) => r.file === file))
            throw notFound('release_not_found', `no CLI release file "${file}"`);
        const path = releasePath(dir, file);
        const { sha256, size } = await fileDigest(path);
        return reply
            .header('content-type', 'application/gzip')
            .header('content-length', size)
            .header('x-checksum-sha256', sha256)
            .header('content-disposition', `attachment; filename="${file}"`)
            .send((0,external_node_fs_.createReadStream)(path));
    });
}

;// CONCATENATED MODULE: ./src/server/http/routes/system.ts


const digest = (s) => (0,external_node_crypto_.createHash)('sha256').update(s).digest();
/** Whether `header` is `Bearer <expected>`, compared in constant time (digests of equal length). */
function bearerMatches(header, expected) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return (0,external_node_crypto_.timingSafeEqual)(digest(m?.[1] ?? ''), digest(expected)) && m !== null;
}
function registerSystemRoutes(app, deps) {
    app.get('/healthz', async (_req, reply) => {
        try {
            await deps.db.get('SELECT 1 AS ok');
        }
        catch {
            return reply.code(503).send({ status: 'unhealthy', database: 'unreachable' });
        }
        // Which replica leads (runs reconciliation and the sweeps): a load balancer may route on it.
        return { status: 'ok', database: deps.db.dialect, cluster: deps.leader.status() };
    });
    // Open by default, as Prometheus exporters are; with --metrics-token it needs that bearer token.
    const token = deps.config.metricsToken;
    app.get('/metrics', async (req, reply) => {
        if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
            return reply
                .code(401)
                .header('www-authenticate', 'Bearer realm="hoist metrics"')
                .send(errorBody(req.headers.authorization ? 'invalid_token' : 'missing_token', 'this server protects /metrics: send "Authorization: Bearer <token>" with the token it was started with (--metrics-token or HOIST_METRICS_TOKEN); in Prometheus set authorization.credentials_file in the scrape config'));
        }
        const text = await deps.metrics.metrics();
        return reply.header('content-type', deps.metrics.contentType).send(text);
    });
}

;// CONCATENATED MODULE: ./src/server/auth/tokens.ts




const tokens_COLUMNS = 'id, kind, name, project_id, build_id, created_at, expires_at, last_used_at, revoked_at';
function toTokenInfo(r) {
    return {
        id: r.id,
        kind: r.kind,
        name: r.name,
        project_id: r.project_id,
        build_id: r.build_id,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
        revoked_at: r.revoked_at,
    };
}
const KIND_BY_PREFIX = Object.entries(api_types/* TOKEN_PREFIXES */.$Q).map(([k, p]) => [p, k]);
/** The token kind its prefix announces, or null for a string that is no Hoist token. */
function tokenKindOf(token) {
    for (const [prefix, kind] of KIND_BY_PREFIX)
        if (token.startsWith(prefix))
            return kind;
    return null;
}
/**
 * Random tokens with a typed prefix (hoist_adm_, hoist_prj_, hoist_oidc_, hoist_bld_), stored only
 * as SHA-256 hashes. Methods take an optional `db` so callers can mint inside their transaction.
 */
class TokenService {
    db;
    clock;
    constructor(db, clock) {
        this.db = db;
        this.clock = clock;
    }
    async mint(req, db = this.db) {
        if (req.kind !== 'admin' && !req.project_id)
            throw new Error(`a ${req.kind} token needs a project`);
        if (req.kind === 'build' && !req.build_id)
            throw new Error('a build token needs a build id');
        const token = api_types/* TOKEN_PREFIXES */.$Q[req.kind] + (0,external_node_crypto_.randomBytes)(32).toString('base64url');
        const row = {
            id: newId('tok'),
            kind: req.kind,
            name: req.name,
            project_id: req.kind === 'admin' ? null : (req.project_id ?? null),
            build_id: req.build_id ?? null,
            created_at: iso(this.clock.now()),
            expires_at: req.expires_at ? iso(req.expires_at) : null,
            last_used_at: null,
            revoked_at: null,
        };
        await db.run(`INSERT INTO tokens (id, kind, name, project_id, build_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
            row.id,
            row.kind,
            row.name,
            row.project_id,
            row.build_id,
            sha256Hex(token),
            row.created_at,
            row.expires_at,
        ]);
        return { token, info: toTokenInfo(row) };
    }
    /** Resolves a presented token, records its use, and refuses unknown, revoked or expired ones. */
    async authenticate(token) {
        const kind = tokenKindOf(token);
        if (!kind) {
            throw unauthorized('invalid_token', `the token is not a Hoist token (expected one starting with ${Object.values(api_types/* TOKEN_PREFIXES */.$Q).join(', ')})`);
        }
        const row = await this.db.get(`SELECT ${tokens_COLUMNS} FROM tokens WHERE hash = ?`, [
            sha256Hex(token),
        ]);
        if (!row || row.kind !== kind) {
            throw unauthorized('invalid_token', 'the token is not known to this Hoist server');
        }
        const now = this.clock.now();
        if (row.revoked_at)
            throw unauthorized('token_revoked', `the token "${row.name}" was revoked at ${row.revoked_at}`);
        if (row.expires_at && row.expires_at <= iso(now)) {
            throw unauthorized('token_expired', `the token "${row.name}" expired at ${row.expires_at}`);
        }
        await this.db.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', [iso(now), row.id]);
        return { kind: row.kind, token_id: row.id, project_id: row.project_id, build_id: row.build_id };
    }
    async get(id, db = this.db) {
        const row = await db.get(`SELECT ${tokens_COLUMNS} FROM tokens WHERE id = ?`, [id]);
        return row && toTokenInfo(row);
    }
    async list(filter, db = this.db) {
        const where = [];
        const params = [];
        if (filter.project_id) {
            where.push('project_id = ?');
            params.push(filter.project_id);
        }
        if (filter.kind) {
            where.push('kind = ?');
            params.push(filter.kind);
        }
        const rows = await db.all(`SELECT ${tokens_COLUMNS} FROM tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, params);
        return rows.map(toTokenInfo);
    }
    /** Revokes one token (idempotent); 404 when it does not exist or belongs to another project. */
    async revoke(id, opts = {}, db = this.db) {
        const cur = await this.get(id, db);
        if (!cur || (opts.project_id !== undefined && cur.project_id !== opts.project_id)) {
            throw notFound('token_not_found', `no token with id ${id}${opts.project_id ? ` in project ${opts.project_id}` : ''}`);
        }
        if (!cur.revoked_at) {
            await db.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
                iso(this.clock.now()),
                id,
            ]);
        }
        return (await this.get(id, db));
    }
    /** Revokes every token of a build: called when the build finishes or expires. */
    async revokeForBuild(buildId, db = this.db) {
        const r = await db.run('UPDATE tokens SET revoked_at = ? WHERE build_id = ? AND revoked_at IS NULL', [
            iso(this.clock.now()),
            buildId,
        ]);
        return r.changes;
    }
    /** Mints the token of one build: kind build, bound to its project and build id. */
    mintBuildToken(opts, db = this.db) {
        return this.mint({
            kind: 'build',
            name: opts.name ?? `build ${opts.build_id}`,
            project_id: opts.project_id,
            build_id: opts.build_id,
            expires_at: opts.expires_at,
        }, db);
    }
}

;// CONCATENATED MODULE: ./src/server/cluster/pg-leader.ts
// Leader election on PostgreSQL: a session-level advisory lock held on a connection of its own.
// PostgreSQL releases it the moment that session ends, so when the leader's process dies (SIGKILL,
// OOM, node loss with the socket reset) the next replica to poll takes over within one poll
// interval. A leader confirms it still holds the lock at every poll and counts itself the leader
// only for one lease period after the last confirmation it sent, so a leader cut off from the
// database stops its loops before the server gives the lock away (the server notices a silent
// client only after its TCP keepalives, set longer than the lease).


/** pg_try_advisory_lock(int4, int4): Hoist's number, then "control-plane leader". */
const LOCK_KEY = [7152, 2];
const HOLDER_SQL = `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted`;
const MINE_SQL = `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1
  AND objid = $2 AND objsubid = 2 AND granted AND pid = pg_backend_pid()`;
const DB_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const APP_PREFIX = 'hoist:';
function defaultSleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal.aborted)
            return resolve();
        const t = setTimeout(done, ms);
        function done() {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
        }
        signal.addEventListener('abort', done);
    });
}
class PgLeader extends LeaderBase {
    opts;
    mode = 'postgres-advisory-lock';
    pollMs;
    leaseMs;
    client = null;
    confirmedAt = null;
    holder = null;
    /** When this replica last saw another replica hold the lock (to measure the vacancy). */
    holderSeenAt = null;
    lastHolder = null;
    stopping = new AbortController();
    loop = null;
    sleep;
    lastError = null;
    constructor(opts) {
        super(opts.replicaId, opts.clock, opts.logger);
        this.opts = opts;
        this.pollMs = opts.pollMs ?? 1000;
        this.leaseMs = opts.leaseMs ?? 5000;
        if (this.leaseMs <= this.pollMs)
            throw new Error('the lease must be longer than the poll interval');
        this.sleep = opts.sleep ?? defaultSleep;
    }
    isLeader() {
        return this.elected && leaseHeld(this.confirmedAt, this.now(), this.leaseMs);
    }
    knownLeader() {
        return this.holder;
    }
    now() {
        return this.opts.clock.now().getTime();
    }
    async start() {
        await this.tick();
        this.loop = (async () => {
            while (!this.stopping.signal.aborted) {
                await this.sleep(this.pollMs, this.stopping.signal);
                if (this.stopping.signal.aborted)
                    break;
                await this.tick();
            }
        })();
    }
    async stop() {
        this.stopping.abort();
        await this.loop;
        if (this.client) {
            // Leaving the member list and closing the session frees the lock for the next replica now.
            await this.client
                .query('DELETE FROM cluster_members WHERE id = $1', [this.replicaId])
                .catch(() => undefined);
        }
        await this.dropClient();
        if (this.elected)
            this.log.info({ replica_id: this.replicaId }, 'leader lease released');
        await this.becomeFollower();
    }
    async otherReplicas() {
        if (this.stopping.signal.aborted && !this.client)
            return [];
        // Before the first poll (a plugin's start hook asks) the session is opened here.
        const c = this.client ?? (await this.connect());
        const rows = await c.query(`SELECT id FROM cluster_members WHERE id <> $1 AND seen_ms > ${DB_MS} - $2`, [this.replicaId, this.leaseMs]);
        return rows.rows.map((r) => r.id);
    }
    /** One poll: connect when needed, take or confirm the lock, report in. Never throws. */
    async tick() {
        const sentAt = this.now();
        try {
            const c = this.client ?? (await this.connect());
            if (this.elected) {
                const mine = (await c.query(MINE_SQL, LOCK_KEY)).rows[0].n === 1;
                if (!mine)
                    throw new Error('the advisory lock is no longer held by this session');
                this.confirmedAt = sentAt;
                if (!leaseHeld(this.confirmedAt, this.now(), this.leaseMs)) {
                    throw new Error(`confirming the lease took longer than the lease (${this.leaseMs} ms)`);
                }
            }
            else {
                const got = (await c.query('SELECT pg_try_advisory_lock($1, $2) AS got', LOCK_KEY))
                    .rows[0].got;
                if (got) {
                    this.confirmedAt = sentAt;
                    const vacantMs = this.holderSeenAt === null ? null : sentAt - this.holderSeenAt;
                    this.holder = this.replicaId;
                    this.log.info({
                        replica_id: this.replicaId,
                        previous_leader: this.lastHolder,
                        vacant_ms: vacantMs,
                        lease_ms: this.leaseMs,
                    }, this.lastHolder ? 'took over as leader' : 'elected leader');
                    this.opts.onTakeover?.({ previousLeader: this.lastHolder, vacantMs });
                    await this.becomeLeader();
                }
                else {
                    const row = (await c.query(HOLDER_SQL, LOCK_KEY)).rows[0];
                    const name = row?.name.startsWith(APP_PREFIX) ? row.name.slice(APP_PREFIX.length) : null;
                    if (name) {
                        this.holderSeenAt = sentAt;
                        this.lastHolder = name;
                    }
                    if (name !== this.holder) {
                        this.log.info({ replica_id: this.replicaId, leader_id: name }, 'following');
                    }
                    this.holder = name;
                }
            }
            await c.query(`INSERT INTO cluster_members (id, started_at, seen_ms) VALUES ($1, $2, ${DB_MS})
         ON CONFLICT (id) DO UPDATE SET seen_ms = EXCLUDED.seen_ms`, [this.replicaId, new Date(sentAt).toISOString()]);
            if (this.isLeader()) {
                // Replicas gone for a day: each restart is a new id, so the list would only grow.
                await c.query(`DELETE FROM cluster_members WHERE seen_ms < ${DB_MS} - 86400000`);
            }
            if (this.lastError) {
                this.log.info({ replica_id: this.replicaId }, 'leader election reaches the database again');
                this.lastError = null;
            }
        }
        catch (err) {
            const message = err.message;
            if (message !== this.lastError) {
                this.log.warn({ replica_id: this.replicaId, err: message, was_leader: this.elected }, this.elected
                    ? 'lost the leader lease; background work stops here and another replica takes over'
                    : 'leader election cannot reach the database; retrying');
            }
            this.lastError = message;
            this.holder = null;
            // A broken or slow session may still hold the lock on the server: end it so it is freed.
            await this.dropClient();
            await this.becomeFollower();
        }
    }
    async connect() {
        const timeout = Math.max(this.leaseMs - this.pollMs, 500);
        const c = new esm/* default.Client */.Ay.Client({
            connectionString: this.opts.url,
            application_name: `${APP_PREFIX}${this.replicaId}`,
            connectionTimeoutMillis: timeout,
            query_timeout: timeout,
            keepAlive: true,
            keepAliveInitialDelayMillis: 1000,
            // The server gives a silent leader's lock away only after these (about 16 s), well after
            // the leader stopped counting itself the leader (one lease).
            options: '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3',
        });
        c.on('error', () => undefined); // a dropped session surfaces in the next query
        try {
            await c.connect();
        }
        catch (err) {
            await c.end().catch(() => undefined);
            throw err;
        }
        this.client = c;
        return c;
    }
    async dropClient() {
        const c = this.client;
        this.client = null;
        this.confirmedAt = null;
        if (!c)
            return;
        // end() waits for the server's goodbye, which a dead connection never sends.
        let timer;
        await Promise.race([
            c.end().catch(() => undefined),
            new Promise((r) => (timer = setTimeout(r, 1000))),
        ]);
        clearTimeout(timer);
    }
}

;// CONCATENATED MODULE: ./src/server/cluster/index.ts
// The leader of a deployment's replicas: created once per server, started after every plugin
// registered its handlers, stopped after their shutdown hooks ran.







function createLeader(opts) {
    const id = replicaIdOf(opts.replicaId, (0,external_node_os_.hostname)(), process.pid, randomHex(3));
    const log = opts.logger.child({ component: 'cluster' });
    const takeovers = opts.metrics
        ? new prom_client.Counter({
            name: 'hoist_leader_elections_total',
            help: 'Times this replica became the leader (took the lease)',
            registers: [opts.metrics],
        })
        : null;
    const leader = opts.db instanceof PostgresDb
        ? new PgLeader({
            url: opts.db.url,
            replicaId: id,
            clock: opts.clock,
            logger: log,
            onTakeover: () => takeovers?.inc(),
        })
        : new SingleLeader(id, opts.clock, log);
    if (opts.metrics) {
        new prom_client.Gauge({
            name: 'hoist_leader',
            help: '1 while this replica is the leader (runs reconciliation and the sweeps), else 0',
            registers: [opts.metrics],
            collect() {
                this.set(leader.isLeader() ? 1 : 0);
            },
        });
        if (!(leader instanceof PgLeader))
            leader.onElected(() => takeovers?.inc());
    }
    return leader;
}

;// CONCATENATED MODULE: ./src/server/http/app.ts
// The Hoist control plane as a Fastify app.
//
// HOW TO PLUG IN (the builds API, issue 4):
//   1. Write `src/server/builds/index.ts` exporting `buildsPlugin: HoistPlugin` (see ./plugin.ts).
//      Import only types from ./plugin.ts and runtime helpers from ../auth/guard.ts, ./errors.ts,
//      ../auth/tokens.ts, ../db/index.ts (never from this file, to keep imports acyclic).
//   2. Add it to PLUGINS below: one import line and one array entry.
//   - Migrations: `buildsPlugin.migrations` (e.g. [{id: 'builds-001-init', sql: {sqlite, postgres}}]);
//     they run after the core ones (../db/migrations), each once, in order.
//   - Routes: `register(app, deps)`; authenticate with `await deps.auth.authenticate(req, 'project', 'oidc', 'admin')`,
//     then `deps.auth.requireProject(who, projectId)` / `deps.auth.requireBuild(who, build)`.
//     Throw `ApiError` (./errors.ts) for 4xx; use Fastify JSON schemas for bodies.
//   - Build tokens: `deps.tokens.mintBuildToken({project_id, build_id, expires_at}, tx)`,
//     `deps.tokens.revokeForBuild(build_id, tx)` when the build finishes or expires.
//   - Lifecycle: `deps.lifecycle.onStart(fn)` (re-adopt builders) and `deps.lifecycle.onShutdown(fn)`.
//   - Flags: `buildsPlugin.options` adds `hoist server --NAME` / env; read `deps.config.pluginOptions[NAME]`.
//   - Metrics: register yours on `deps.metrics` (a prom-client Registry served at /metrics).




















/** Server plugins, registered in order. */
const PLUGINS = [buildsPlugin];
/** Core migrations then each plugin's, in order. */
function allMigrations(plugins = PLUGINS) {
    return [...coreMigrations, ...plugins.flatMap((p) => p.migrations ?? [])];
}
class LifecycleHooks {
    starts = [];
    shutdowns = [];
    onStart(fn) {
        this.starts.push(fn);
    }
    onShutdown(fn) {
        this.shutdowns.push(fn);
    }
}
async function buildApp(opts) {
    const { config, db, logger } = opts;
    const clock = opts.clock ?? systemClock;
    const plugins = opts.plugins ?? PLUGINS;
    // Typed as the default instance so plugins and route modules share one FastifyInstance type.
    const app = fastify_default()({
        ...(config.tls ? { https: { cert: config.tls.certPem, key: config.tls.keyPem } } : {}),
        loggerInstance: logger,
        // One log line per request, written in the onResponse hook below.
        logController: new fastify.LogController({ disableRequestLogging: true }),
        bodyLimit: config.bodyLimit,
        // Only the named proxies' X-Forwarded-For sets request.ip (the key of the rate limits); from
        // any other peer the header is ignored, so a client cannot pick its own bucket.
        ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
        return503OnClosing: true,
        ajv: {
            customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
        },
        routerOptions: { maxParamLength: 256 },
        // Router errors (a bad percent-encoding, a path parameter over 256 bytes) in our error shape.
        frameworkErrors: (err, _req, res) => {
            const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
            const reply = res;
            void reply
                .code(tooLong ? 414 : 400)
                .send(tooLong
                ? errorBody('uri_too_long', 'a path segment is longer than 256 bytes')
                : errorBody('bad_url', 'the URL is not validly percent-encoded'));
        },
        // Malformed HTTP (a wrong Content-Length, huge headers) never reaches a route.
        clientErrorHandler: (err, socket) => {
            if (err.code === 'ECONNRESET' || socket.destroyed)
                return;
            const [status, text, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
                ? [431, 'Request Header Fields Too Large', 'headers_too_large', 'the request headers are too large']
                : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
                    ? [408, 'Request Timeout', 'request_timeout', 'the request was not received in time']
                    : [
                        400,
                        'Bad Request',
                        'bad_http_request',
                        'the request is not valid HTTP/1.1 (check Content-Length and framing)',
                    ];
            const body = JSON.stringify(errorBody(code, message));
            if (socket.writable) {
                socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
            }
            socket.destroy(err);
        },
    });
    // Every body is parsed as JSON, whatever its content type says, by one parser: the same
    // messages, and the same refusal of prototype-poisoning keys, for application/json and the rest.
    app.removeContentTypeParser(['application/json', 'text/plain']);
    app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
        const text = typeof body === 'string' ? body : body.toString('utf8');
        if (text.trim() === '') {
            // application/json promises a body; without a content type an empty body is no body
            const json = /^application\/json\b/i.test(req.headers['content-type'] ?? '');
            return json
                ? done(new ApiError(400, 'invalid_body', 'the request body is empty; send a JSON object'), undefined)
                : done(null, undefined);
        }
        try {
            done(null, parseJsonBody(text));
        }
        catch (err) {
            done(err instanceof ApiError
                ? err
                : new ApiError(400, 'invalid_body', 'the request body is not valid JSON; send a JSON object with Content-Type: application/json'), undefined);
        }
    });
    const metrics = new prom_client.Registry();
    (0,prom_client.collectDefaultMetrics)({ register: metrics });
    const httpDuration = new prom_client.Histogram({
        name: 'hoist_http_request_duration_seconds',
        help: 'HTTP request duration by route and status',
        labelNames: ['method', 'route', 'status'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers: [metrics],
    });
    const exchanges = new prom_client.Counter({
        name: 'hoist_oidc_exchanges_total',
        help: 'GitHub OIDC exchanges by outcome and reason',
        labelNames: ['outcome', 'reason'],
        registers: [metrics],
    });
    app.addHook('onResponse', async (req, reply) => {
        const route = req.routeOptions.url ?? 'unmatched';
        const seconds = reply.elapsedTime / 1000;
        httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, seconds);
        const line = {
            method: req.method,
            route,
            // The path only: a query string may carry what a client should not have put there (a token).
            url: req.url.split('?', 1)[0],
            status: reply.statusCode,
            ms: Math.round(reply.elapsedTime * 10) / 10,
        };
        if (reply.statusCode >= 500)
            req.log.error(line, 'request');
        else
            req.log.info(line, 'request');
    });
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)));
    const tokens = new TokenService(db, clock);
    const projects = new ProjectStore(db, clock);
    const audit = new AuditLog(db, clock);
    const trust = new TrustPolicyStore(db, clock);
    const lifecycle = new LifecycleHooks();
    const leader = opts.leader ?? createLeader({ db, clock, logger, metrics, replicaId: process.env.HOIST_REPLICA_ID });
    // Registered first, so it runs last: plugins' shutdown hooks still see the other replicas.
    lifecycle.onShutdown(() => leader.stop());
    const scheme = config.tls ? 'https' : 'http';
    const listeningUrl = () => {
        const addr = app.server.address();
        if (addr && typeof addr === 'object') {
            const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
            return `${scheme}://${host}:${addr.port}`;
        }
        return `${scheme}://${config.host}:${config.port}`;
    };
    // Never a request's Host header: a client would choose the URLs the server hands out.
    const publicUrl = () => config.publicUrl ?? listeningUrl();
    const deps = {
        config,
        db,
        logger,
        clock,
        tokens,
        auth: new Auth(tokens),
        projects,
        audit,
        metrics,
        lifecycle,
        leader,
        publicUrl,
    };
    const refusals = new RefusalAudit(audit, clock, 60_000, (err) => logger.warn({ error: err.message }, 'writing the count of an aggregated OIDC refusal failed; it is kept for the next flush'));
    let verifier = null;
    const exchange = new OidcExchange({
        db,
        clock,
        get verifier() {
            // Created on first use: with --listen HOST:0 the default audience is known only once listening.
            verifier ??= new GithubOidcVerifier({
                issuer: config.oidc.issuer,
                audience: config.oidc.audience ?? config.publicUrl ?? listeningUrl(),
                leewaySec: config.oidc.leewaySec,
                maxAgeSec: config.oidc.maxAgeSec,
                jwksCooldownMs: config.oidc.jwksCooldownMs,
                jwksTimeoutMs: config.oidc.jwksTimeoutMs,
            }, clock, logger);
            return verifier;
        },
        projects,
        trust,
        tokens,
        audit,
        refusals,
        tokenTtlSec: config.oidc.tokenTtlSec,
        leewaySec: config.oidc.leewaySec,
        onOutcome: (o) => exchanges.inc({ outcome: o.outcome, reason: o.code }),
    });
    registerSystemRoutes(app, deps);
    registerManagementRoutes(app, deps, trust);
    const limiter = oidcLimiter(db, config, logger);
    registerOidcRoutes(app, exchange, limiter, (d) => exchanges.inc({
        outcome: 'refused',
        reason: d.cause === 'limited' ? 'rate_limited' : 'rate_limit_unavailable',
    }));
    registerReleaseRoutes(app, deps);
    for (const p of plugins)
        await p.register(app, deps);
    // Expired jtis can never verify again, and expired OIDC/build tokens pile up: purge them now and then.
    let purge = null;
    let purgeBuckets = null;
    lifecycle.onStart(async () => {
        purge = setInterval(() => {
            exchange
                .purgeExpired()
                .catch((err) => logger.warn({ err }, 'purging expired jtis and tokens failed'));
        }, 10 * 60_000);
        purge.unref();
        if (limiter instanceof SharedClientLimiter) {
            // Rows of clients whose bucket has refilled are the same as none; any replica may delete them.
            purgeBuckets = setInterval(() => {
                limiter
                    .purge()
                    .catch((err) => logger.warn({ error: err.message }, 'purging refilled OIDC rate-limit rows failed'));
            }, 60_000);
            purgeBuckets.unref();
        }
        refusals.start();
        // After every plugin's start hook: their onElected handlers are in place.
        await leader.start();
    });
    lifecycle.onShutdown(async () => {
        if (purge)
            clearInterval(purge);
        if (purgeBuckets)
            clearInterval(purgeBuckets);
        await refusals.stop();
    });
    return {
        app,
        deps,
        lifecycle,
        purgeExpired: () => exchange.purgeExpired(),
        flushRefusals: () => refusals.flush(),
    };
}
/**
 * JSON.parse, refusing the keys that poison prototypes once objects are merged ("__proto__",
 * "constructor": {"prototype": ...}) anywhere in the document, as Fastify's own parser does.
 */
function parseJsonBody(text) {
    let poisoned = false;
    const value = JSON.parse(text, (key, v) => {
        if (key === '__proto__' ||
            (key === 'constructor' && v !== null && typeof v === 'object' && 'prototype' in v)) {
            poisoned = true;
        }
        return v;
    });
    if (poisoned) {
        throw new ApiError(400, 'invalid_body', 'the request body holds a "__proto__" or "constructor": {"prototype"} key, which is refused; remove it');
    }
    return value;
}
/**
 * The per-client limit of OIDC exchanges: in this process on SQLite (one replica, nothing to
 * share, no database work per request); in PostgreSQL when replicas share it, so a client gets
 * the configured rate in total, however a balancer spreads its requests.
 */
function oidcLimiter(db, config, logger) {
    const { rateLimitPerSec: rate, rateBurst: burst } = config.oidc;
    if (rate <= 0)
        return null;
    if (db.dialect !== 'postgres')
        return new LocalClientLimiter(rate, burst);
    return new SharedClientLimiter(db, rate, burst, {
        prefix: 'oidc:',
        onDown: (err) => logger.error({ error: err.message }, 'the shared OIDC rate limit cannot reach PostgreSQL: exchanges are answered 503 until it answers again (one probe every 5 s)'),
        onUp: () => logger.info('the shared OIDC rate limit reaches PostgreSQL again'),
    });
}

// EXTERNAL MODULE: external "node:tls"
var external_node_tls_ = __webpack_require__(41692);
// EXTERNAL MODULE: external "node:url"
var external_node_url_ = __webpack_require__(73136);
;// CONCATENATED MODULE: ./src/server/config.ts






const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
/** `dist/releases` next to the bundle running this code (dist/cli/index.js → dist/releases). */
function defaultReleasesDir() {
    const here = (0,external_node_path_.dirname)((0,external_node_url_.fileURLToPath)(require("url").pathToFileURL(__filename).href));
    const up = ['..', 'releases'];
    return (0,external_node_path_.join)(here, ...up);
}
const SERVER_OPTIONS = [
    { flag: 'listen', env: 'HOIST_LISTEN', help: 'HOST:PORT to listen on (default 127.0.0.1:8080)' },
    {
        flag: 'data-dir',
        env: 'HOIST_DATA_DIR',
        help: 'directory for the SQLite database and builders (required)',
    },
    {
        flag: 'database-url',
        env: 'HOIST_DATABASE_URL',
        help: 'postgres://… to use PostgreSQL; default SQLite in the data dir',
    },
    {
        flag: 'database-url-file',
        env: 'HOIST_DATABASE_URL_FILE',
        help: 'file holding the database URL (keeps a password out of the process list)',
    },
    {
        flag: 'tls-cert',
        env: 'HOIST_TLS_CERT',
        help: 'PEM certificate (chain) to serve HTTPS with; needs --tls-key',
    },
    {
        flag: 'tls-key',
        env: 'HOIST_TLS_KEY',
        help: 'PEM private key of --tls-cert',
    },
    {
        flag: 'public-url',
        env: 'HOIST_PUBLIC_URL',
        help: 'URL clients reach this server at; required unless --listen is a loopback address',
    },
    {
        flag: 'trust-proxy',
        env: 'HOIST_TRUST_PROXY',
        help: 'comma-separated proxy addresses/CIDRs (or "loopback") whose X-Forwarded-For names the client',
    },
    { flag: 'oidc-issuer', env: 'HOIST_OIDC_ISSUER', help: `GitHub OIDC issuer (default ${GITHUB_ISSUER})` },
    {
        flag: 'oidc-audience',
        env: 'HOIST_OIDC_AUDIENCE',
        help: 'audience OIDC tokens must carry; default the public URL',
    },
    {
        flag: 'oidc-token-ttl',
        env: 'HOIST_OIDC_TOKEN_TTL',
        help: 'seconds an exchanged token lives, at most 3600 (default 3600)',
    },
    {
        flag: 'oidc-max-age',
        env: 'HOIST_OIDC_MAX_AGE',
        help: 'oldest ID token accepted, seconds since iat (default 600)',
    },
    {
        flag: 'oidc-leeway',
        env: 'HOIST_OIDC_LEEWAY',
        help: 'clock tolerance in seconds, at most 60 (default 30)',
    },
    {
        flag: 'oidc-jwks-cooldown-ms',
        env: 'HOIST_OIDC_JWKS_COOLDOWN_MS',
        help: 'least ms between JWKS refetches (default 30000)',
    },
    {
        flag: 'oidc-rate-limit',
        env: 'HOIST_OIDC_RATE_LIMIT',
        help: 'OIDC exchanges a second per client IP (in total over every replica on PostgreSQL), 0 = no limit (default 20)',
    },
    {
        flag: 'oidc-rate-burst',
        env: 'HOIST_OIDC_RATE_BURST',
        help: 'OIDC exchanges a client IP may send at once (default twice the rate, at least 1)',
    },
    {
        flag: 'project-token-ttl',
        env: 'HOIST_PROJECT_TOKEN_TTL',
        help: 'default lifetime of project tokens in seconds (default: none)',
    },
    {
        flag: 'releases-dir',
        env: 'HOIST_RELEASES_DIR',
        help: 'directory of hoist-<version>-<os>-<arch>.tar.gz CLI releases',
    },
    {
        flag: 'log-level',
        env: 'HOIST_LOG_LEVEL',
        help: 'fatal, error, warn, info, debug, trace or silent (default info)',
    },
    { flag: 'body-limit', env: 'HOIST_BODY_LIMIT', help: 'largest request body in bytes (default 262144)' },
    {
        flag: 'metrics-token',
        env: 'HOIST_METRICS_TOKEN',
        help: 'bearer token /metrics requires (16+ characters; prefer the variable); default open',
    },
];
/** `label` names where the value came from: "--flag", or the HOIST_* variable when no flag was given. */
function config_int(label, raw, def, min, max) {
    if (raw === undefined || raw === '')
        return def;
    if (!/^\d+$/.test(raw.trim()))
        throw new errors/* ConfigurationError */.j1(`${label} must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max)
        throw new errors/* ConfigurationError */.j1(`${label} must be between ${min} and ${max}, got ${n}`);
    return n;
}
function url(label, raw) {
    let u;
    try {
        u = new URL(raw);
    }
    catch {
        throw new errors/* ConfigurationError */.j1(`${label} must be a URL such as https://hoist.example.com, got "${raw}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new errors/* ConfigurationError */.j1(`${label} must be an http(s) URL, got "${raw}"`);
    }
    return raw.replace(/\/+$/, '');
}
function parseListen(raw, label = '--listen') {
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
    if (!m || Number(m[3]) > 65535) {
        throw new errors/* ConfigurationError */.j1(`${label} must be HOST:PORT such as 127.0.0.1:8080, got "${raw}"`);
    }
    return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
/** "loopback", "127.0.0.1", "10.0.0.0/8", "::1" …: the proxies whose X-Forwarded-For is believed. */
function parseTrustProxy(label, raw) {
    const entries = raw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
    for (const e of entries) {
        const [addr, prefix, extra] = e.split('/');
        const family = (0,external_node_net_.isIP)(addr ?? '');
        const okPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
        if (PROXY_NAMES.includes(e) || (family !== 0 && okPrefix && extra === undefined))
            continue;
        throw new errors/* ConfigurationError */.j1(`${label} takes the addresses of your reverse proxies, comma-separated: IPs, CIDRs such as 10.0.0.0/8, or ${PROXY_NAMES.join(', ')}; got "${e}". (Trusting every peer would let any client pick the address its rate limit is keyed on.)`);
    }
    if (entries.length === 0)
        throw new errors/* ConfigurationError */.j1(`${label} is empty; name at least one proxy address`);
    return entries;
}
/** 127.0.0.0/8, ::1, localhost: a listener only this machine can reach. */
function isLoopbackHost(host) {
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
/** True when a database URL carries a password (in the userinfo or a password= parameter). */
function hasPassword(databaseUrl) {
    if (/[?&]password=[^&]/i.test(databaseUrl))
        return true;
    try {
        return new URL(databaseUrl).password !== '';
    }
    catch {
        return /\/\/[^/@:]*:[^@/]+@/.test(databaseUrl);
    }
}
/** The database URL from --database-url-file: its first line; the file should be private. */
function readDatabaseUrlFile(label, file, warnings) {
    let text;
    try {
        text = (0,external_node_fs_.readFileSync)(file, 'utf8');
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`${label}: cannot read ${file}: ${err.message}; write the database URL (postgres://USER:PASSWORD@HOST:PORT/DB) into it`);
    }
    const url = text.split(/\r?\n/)[0].trim();
    if (!url)
        throw new errors/* ConfigurationError */.j1(`${label}: ${file} is empty; write the database URL on its first line`);
    const mode = (0,external_node_fs_.statSync)(file).mode & 0o777;
    if (mode & 0o077) {
        warnings.push(`the database URL file ${file} is readable by group or others (mode 0${mode.toString(8)}); run chmod 600 ${file}`);
    }
    return url;
}
/** Builds the config from flag values (name → value) with HOIST_* environment variables as fallback. */
function loadConfig(flags, env, pluginOptions = []) {
    const v = (flag) => {
        const spec = SERVER_OPTIONS.find((s) => s.flag === flag);
        const val = flags[flag] ?? (spec ? env[spec.env] : undefined);
        return val === '' ? undefined : val;
    };
    const label = (flag) => {
        if (flags[flag])
            return `--${flag}`;
        return SERVER_OPTIONS.find((s) => s.flag === flag)?.env ?? `--${flag}`;
    };
    const dataDir = v('data-dir');
    if (!dataDir) {
        throw new errors/* ConfigurationError */.j1('the data directory is not set: pass --data-dir DIR or set HOIST_DATA_DIR');
    }
    const { host, port } = parseListen(v('listen') ?? '127.0.0.1:8080', label('listen'));
    const publicUrl = v('public-url') && url(label('public-url'), v('public-url'));
    if (!publicUrl && !isLoopbackHost(host)) {
        throw new errors/* ConfigurationError */.j1(`--public-url (HOIST_PUBLIC_URL) is required when listening on ${host}, which is not a loopback address: it is the URL clients reach this server at, used in build and download URLs and as the default OIDC audience, and it is never taken from a request's Host header (a client controls that). Pass e.g. --public-url https://hoist.example.com`);
    }
    const warnings = [];
    let databaseUrl = v('database-url');
    const urlFile = v('database-url-file');
    if (urlFile !== undefined) {
        if (databaseUrl !== undefined) {
            throw new errors/* ConfigurationError */.j1(`${label('database-url')} and ${label('database-url-file')} are both set; keep one (the file keeps a password out of the process list)`);
        }
        databaseUrl = readDatabaseUrlFile(label('database-url-file'), urlFile, warnings);
    }
    else if (flags['database-url'] && hasPassword(flags['database-url'])) {
        warnings.push('--database-url holds a password, and every user of this machine can read command-line arguments in the process list; pass the URL in HOIST_DATABASE_URL or in a file named by --database-url-file (mode 0600) instead, or use PGPASSWORD or ~/.pgpass');
    }
    const rawProxy = v('trust-proxy');
    const trustProxy = rawProxy === undefined ? undefined : parseTrustProxy(label('trust-proxy'), rawProxy);
    const logLevel = v('log-level') ?? 'info';
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
        throw new errors/* ConfigurationError */.j1(`${label('log-level')} must be fatal, error, warn, info, debug, trace or silent, got "${logLevel}"`);
    }
    const metricsToken = v('metrics-token');
    if (metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(metricsToken)) {
        throw new errors/* ConfigurationError */.j1(`${label('metrics-token')} must be at least 16 printable characters without spaces (for example the output of: openssl rand -hex 32)`);
    }
    const tls = loadTls(v('tls-cert'), v('tls-key'), label);
    const ttl = v('project-token-ttl');
    const rateLimitPerSec = config_int(label('oidc-rate-limit'), v('oidc-rate-limit'), 20, 0, 10_000_000);
    const plugin = {};
    for (const o of pluginOptions)
        plugin[o.name] = flags[o.name] ?? env[o.env];
    return {
        host,
        port,
        dataDir: (0,external_node_path_.resolve)(dataDir),
        tls,
        databaseUrl,
        publicUrl: publicUrl || undefined,
        trustProxy,
        warnings,
        oidc: {
            issuer: url(label('oidc-issuer'), v('oidc-issuer') ?? GITHUB_ISSUER),
            audience: v('oidc-audience'),
            tokenTtlSec: config_int(label('oidc-token-ttl'), v('oidc-token-ttl'), 3600, 60, 3600),
            maxAgeSec: config_int(label('oidc-max-age'), v('oidc-max-age'), 600, 10, 86400),
            leewaySec: config_int(label('oidc-leeway'), v('oidc-leeway'), 30, 0, 60),
            jwksCooldownMs: config_int(label('oidc-jwks-cooldown-ms'), v('oidc-jwks-cooldown-ms'), 30_000, 0, 3_600_000),
            jwksTimeoutMs: 5000,
            rateLimitPerSec,
            rateBurst: config_int(label('oidc-rate-burst'), v('oidc-rate-burst'), Math.max(1, 2 * rateLimitPerSec), 1, 100_000_000),
        },
        projectTokenTtlSec: ttl ? config_int(label('project-token-ttl'), ttl, 0, 60, 10 * 365 * 86400) : null,
        releasesDir: (0,external_node_path_.resolve)(v('releases-dir') ?? defaultReleasesDir()),
        logLevel,
        bodyLimit: config_int(label('body-limit'), v('body-limit'), 256 * 1024, 1024, 64 * 1024 * 1024),
        metricsToken,
        pluginOptions: plugin,
    };
}
/** Reads and checks the HTTPS certificate and key now, so a mistake stops the start with a reason. */
function loadTls(certFile, keyFile, label) {
    if (!certFile && !keyFile)
        return undefined;
    if (!certFile || !keyFile) {
        const missing = certFile ? 'tls-key' : 'tls-cert';
        throw new errors/* ConfigurationError */.j1(`HTTPS needs both a certificate and its key: ${label(certFile ? 'tls-cert' : 'tls-key')} is set but --${missing} (${SERVER_OPTIONS.find((o) => o.flag === missing).env}) is not`);
    }
    const read = (flag, file) => {
        try {
            return (0,external_node_fs_.readFileSync)(file, 'utf8');
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`${label(flag)}: cannot read ${file} (${err.message})`);
        }
    };
    const certPem = read('tls-cert', certFile);
    const keyPem = read('tls-key', keyFile);
    try {
        (0,external_node_tls_.createSecureContext)({ cert: certPem, key: keyPem });
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`${label('tls-cert')} and ${label('tls-key')} are not a PEM certificate and its private key (${err.message}); give the server certificate (with its intermediates) and the key it was issued for`);
    }
    return { certPem, keyPem, certFile: (0,external_node_path_.resolve)(certFile) };
}

// EXTERNAL MODULE: ./node_modules/better-sqlite3/lib/index.js
var lib = __webpack_require__(4918);
var lib_default = /*#__PURE__*/__webpack_require__.n(lib);
;// CONCATENATED MODULE: ./src/server/db/sqlite.ts

const CHECKPOINT_EVERY_MS = 1000;
/**
 * better-sqlite3 is synchronous and has one connection, so an async transaction must keep
 * every other caller out until it ends: calls outside the transaction wait on `gate`.
 */
class SqliteDb {
    dialect = 'sqlite';
    db;
    gate = null;
    timer = null;
    stmts = new Map();
    constructor(file) {
        this.db = new (lib_default())(file);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.db.pragma('foreign_keys = ON');
        this.db.pragma('busy_timeout = 5000');
        this.db.pragma('cache_size = -16000');
        // SQLite's automatic checkpoint runs inside a COMMIT every 1000 WAL pages (about 110 OIDC
        // exchanges) and fsyncs twice, stalling the event loop each time. One checkpoint a second,
        // between transactions, does the same work with a tenth of the stalls (bench:oidc p99).
        this.db.pragma('wal_autocheckpoint = 0');
        this.timer = setInterval(() => this.checkpoint(), CHECKPOINT_EVERY_MS);
        this.timer.unref();
    }
    /** Copies committed WAL pages into the database file; skipped while a transaction is open. */
    checkpoint() {
        if (this.gate || !this.db.open)
            return;
        try {
            this.db.pragma('wal_checkpoint(PASSIVE)');
        }
        catch {
            // SQLITE_BUSY from another process: the next tick retries.
        }
    }
    stmt(sql) {
        let s = this.stmts.get(sql);
        if (!s) {
            s = this.db.prepare(sql);
            if (this.stmts.size > 500)
                this.stmts.clear();
            this.stmts.set(sql, s);
        }
        return s;
    }
    /** Resolves once no transaction is open (for close(); statements check the gate inline). */
    async waitGate() {
        while (this.gate)
            await this.gate;
    }
    allNow(sql, params) {
        return this.stmt(sql).all(...params);
    }
    getNow(sql, params) {
        return this.stmt(sql).get(...params);
    }
    runNow(sql, params) {
        return { changes: this.stmt(sql).run(...params).changes };
    }
    // Each statement checks the gate and runs with no await in between, so it can never slip
    // into a transaction that another caller opened meanwhile.
    async all(sql, params = []) {
        while (this.gate)
            await this.gate;
        return this.allNow(sql, params);
    }
    async get(sql, params = []) {
        while (this.gate)
            await this.gate;
        return this.getNow(sql, params);
    }
    async run(sql, params = []) {
        while (this.gate)
            await this.gate;
        return this.runNow(sql, params);
    }
    async exec(sql) {
        while (this.gate)
            await this.gate;
        this.db.exec(sql);
    }
    async transaction(fn) {
        // Checked and claimed with no await in between: waking from an awaited helper would let
        // two waiters both see the gate open and BEGIN on the one connection (the second fails and
        // its ROLLBACK undoes the first's work).
        while (this.gate)
            await this.gate;
        let release;
        this.gate = new Promise((r) => (release = r));
        const tx = {
            dialect: 'sqlite',
            all: async (sql, params = []) => this.allNow(sql, params),
            get: async (sql, params = []) => this.getNow(sql, params),
            run: async (sql, params = []) => this.runNow(sql, params),
            exec: async (sql) => void this.db.exec(sql),
            transaction: () => Promise.reject(new Error('nested transactions are not supported')),
            close: () => Promise.reject(new Error('cannot close inside a transaction')),
        };
        try {
            this.stmt('BEGIN IMMEDIATE').run();
            try {
                const result = await fn(tx);
                this.stmt('COMMIT').run();
                return result;
            }
            catch (err) {
                if (this.db.inTransaction)
                    this.stmt('ROLLBACK').run();
                throw err;
            }
        }
        finally {
            this.gate = null;
            release();
        }
    }
    async close() {
        await this.waitGate();
        if (this.timer)
            clearInterval(this.timer);
        if (this.db.open)
            this.db.close();
    }
}

;// CONCATENATED MODULE: ./src/server/db/index.ts





/** Opens the database named by `databaseUrl` (postgres:// or sqlite:PATH), or the SQLite file in dataDir. */
async function openDatabase(opts) {
    const url = opts.databaseUrl;
    if (url && /^postgres(ql)?:\/\//i.test(url)) {
        const db = new PostgresDb(url, opts.onIdleError);
        try {
            await db.get('SELECT 1 AS ok');
        }
        catch (err) {
            await db.close().catch(() => undefined);
            throw new errors/* ConfigurationError */.j1(`cannot connect to the PostgreSQL database ${redactUrl(url)}: ${err.message}. Check --database-url (HOIST_DATABASE_URL) and that the database is running.`);
        }
        return db;
    }
    let file;
    if (!url) {
        file = (0,external_node_path_.join)(opts.dataDir, 'hoist.db');
        try {
            (0,external_node_fs_.mkdirSync)(opts.dataDir, { recursive: true, mode: 0o700 });
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`cannot create the data directory ${opts.dataDir}: ${err.message}; pass a writable --data-dir (HOIST_DATA_DIR)`);
        }
    }
    else if (url.startsWith('sqlite:')) {
        file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    }
    else {
        throw new errors/* ConfigurationError */.j1(`unsupported database URL ${redactUrl(url)}: use postgres://user:pass@host:port/db, sqlite:/path/to/file.db, or leave it empty for SQLite in the data directory`);
    }
    let db;
    try {
        // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of the
        // database file, so they are private too whatever the umask (0077, in effect).
        if (!(0,external_node_fs_.existsSync)(file))
            (0,external_node_fs_.closeSync)((0,external_node_fs_.openSync)(file, 'wx', 0o600));
        db = new SqliteDb(file);
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`cannot open the SQLite database ${file}: ${err.message}; check --data-dir (HOIST_DATA_DIR) or --database-url`);
    }
    narrowSqliteModes(file, opts.onWarning);
    return db;
}
/**
 * Takes group and other permissions off the database file and its -wal and -shm files (an
 * older Hoist, or a copy, may have left them readable), saying so when it changes anything.
 */
function narrowSqliteModes(file, warn = () => undefined) {
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        let mode;
        try {
            mode = (0,external_node_fs_.statSync)(f).mode & 0o7777;
        }
        catch {
            continue; // no such file (yet)
        }
        if ((mode & 0o077) === 0)
            continue;
        try {
            (0,external_node_fs_.chmodSync)(f, mode & ~0o077);
            warn(`the database file ${f} was readable by group or others (mode ${octal(mode)}); it is now ${octal(mode & ~0o077)}`);
        }
        catch (err) {
            warn(`the database file ${f} is readable by group or others (mode ${octal(mode)}) and cannot be changed: ${err.message}; run chmod 600 ${f}`);
        }
    }
}
/**
 * A warning when an existing data directory can be read or entered by group or others: it
 * holds the database and the builders' keys. Undefined when it is private or does not exist.
 */
function dataDirWarning(dir) {
    let mode;
    try {
        const st = (0,external_node_fs_.statSync)(dir);
        if (!st.isDirectory())
            return undefined;
        mode = st.mode & 0o7777;
    }
    catch {
        return undefined;
    }
    if ((mode & 0o077) === 0)
        return undefined;
    return `the data directory ${dir} is accessible to group or others (mode ${octal(mode)}); it holds the database and builder keys: run chmod 700 ${dir}`;
}
const octal = (mode) => `0${mode.toString(8).padStart(3, '0')}`;
/** Applies, in order, each migration not applied yet; each one in its own transaction. */
async function migrate(db, migrations) {
    const seen = new Set();
    for (const m of migrations) {
        if (seen.has(m.id))
            throw new Error(`duplicate migration id ${m.id}`);
        seen.add(m.id);
    }
    await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
    const applied = [];
    for (const m of migrations) {
        await db.transaction(async (tx) => {
            // Several replicas may start at once on one PostgreSQL database.
            if (tx.dialect === 'postgres')
                await tx.get('SELECT pg_advisory_xact_lock(7152001) AS l');
            const done = await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id]);
            if (done)
                return;
            const sql = typeof m.sql === 'string' ? m.sql : m.sql[tx.dialect];
            await tx.exec(sql);
            await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [
                m.id,
                new Date().toISOString(),
            ]);
            applied.push(m.id);
        });
    }
    return applied;
}
/** A database URL fit for logs and messages: the password (in the userinfo or the query) hidden. */
function redactUrl(url) {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

// EXTERNAL MODULE: ./node_modules/pino/pino.js
var pino = __webpack_require__(65005);
;// CONCATENATED MODULE: ./src/server/server.ts




/** The server's JSON logger, to stdout unless `destination` is given (tests read the lines). */
function createLogger(level, destination) {
    const opts = {
        level,
        base: { service: 'hoist-server' },
        redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '***' },
    };
    return destination ? (0,pino.pino)(opts, destination) : (0,pino.pino)(opts);
}
/** Opens and migrates the database named by the config. */
async function openMigrated(config, plugins = PLUGINS, logger) {
    const db = await openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        onIdleError: (err) => logger?.warn({ err }, 'an idle PostgreSQL connection failed; it will be replaced'),
        onWarning: (message) => logger?.warn(message),
    });
    try {
        await migrate(db, allMigrations(plugins));
    }
    catch (err) {
        await db.close().catch(() => undefined);
        throw err;
    }
    return db;
}
async function startServer(config, opts = {}) {
    const logger = opts.logger ?? createLogger(config.logLevel);
    const plugins = opts.plugins ?? PLUGINS;
    for (const w of config.warnings)
        logger.warn(w);
    const loose = dataDirWarning(config.dataDir);
    if (loose)
        logger.warn({ data_dir: config.dataDir }, loose);
    const db = await openMigrated(config, plugins, logger);
    let built;
    try {
        built = await buildApp({ config, db, logger, clock: opts.clock, plugins });
        await built.app.ready();
        for (const fn of built.lifecycle.starts)
            await fn();
        await built.app.listen({ host: config.host, port: config.port });
    }
    catch (err) {
        await db.close().catch(() => undefined);
        throw err;
    }
    const { app, deps, lifecycle } = built;
    const url = deps.publicUrl();
    logger.info({
        listen: app.addresses(),
        public_url: url,
        database: config.databaseUrl ? redactUrl(config.databaseUrl) : `sqlite in ${config.dataDir}`,
        oidc_issuer: config.oidc.issuer,
        oidc_audience: config.oidc.audience ?? url,
        releases_dir: config.releasesDir,
    }, 'hoist server listening');
    if (!config.publicUrl && !config.oidc.audience) {
        // Workflows ask for ID tokens with the URL they reach Hoist at; a listen address rarely is it.
        logger.warn({ oidc_audience: url }, `neither --public-url nor --oidc-audience is set: GitHub OIDC tokens must carry the audience ${url}; set --public-url to the URL clients use`);
    }
    // Refused since, but a project created before could still shadow another's id.
    for (const p of await deps.projects.list()) {
        if (nameLooksLikeId(p.name)) {
            logger.warn({ project_id: p.id, name: p.name }, `project "${p.name}" has a name shaped like an id, so commands that take "id or name" may act on another project; rename it (PATCH /v1/projects/${p.id} {"name": "..."})`);
        }
    }
    if (config.trustProxy) {
        logger.info({ trust_proxy: config.trustProxy }, 'X-Forwarded-For from these proxies names the client (rate limits and audit use it)');
    }
    if (config.tls) {
        logger.info({ tls_cert: config.tls.certFile }, 'serving HTTPS');
    }
    else {
        const loopback = /^(127\.|::1$|localhost$)/.test(config.host);
        logger[loopback ? 'info' : 'warn']({ listen: `${config.host}:${config.port}` }, 'serving plain HTTP: tokens and builder keys cross the network in clear; use it only behind a reverse proxy on this host that terminates TLS, or set --tls-cert and --tls-key');
    }
    if (config.metricsToken === undefined) {
        logger.info({ metrics: `${url}/metrics` }, '/metrics is open to anyone who can reach this server (the Prometheus convention); set --metrics-token (HOIST_METRICS_TOKEN) to require a bearer token');
    }
    let stopping = null;
    const stop = () => (stopping ??= (async () => {
        await app.close();
        for (const fn of [...lifecycle.shutdowns].reverse()) {
            try {
                await fn();
            }
            catch (err) {
                logger.error({ err }, 'shutdown hook failed');
            }
        }
        await db.close();
        logger.info('hoist server stopped');
    })());
    const addr = app.server.address();
    const listened = addr && typeof addr === 'object'
        ? `${config.tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
        : url;
    return {
        app,
        deps,
        url: listened,
        stop,
        purgeExpired: built.purgeExpired,
        flushRefusals: built.flushRefusals,
    };
}

;// CONCATENATED MODULE: ./src/server/command.ts









function usage() {
    const opts = [
        ...SERVER_OPTIONS,
        ...PLUGINS.flatMap((p) => p.options ?? []).map((o) => ({
            flag: o.name,
            env: o.env,
            help: o.description,
        })),
    ];
    const width = Math.max(...opts.map((o) => o.flag.length)) + 8;
    return [
        'Usage: hoist server [flags]            run the control plane',
        '       hoist server init [flags]       create the database and print a new admin token (last line)',
        '',
        'Flags (each also read from its environment variable):',
        ...opts.map((o) => `  --${o.flag} VALUE`.padEnd(width + 6) + `${o.help} [${o.env}]`),
        '',
    ].join('\n');
}
function parse(argv) {
    const pluginOptions = PLUGINS.flatMap((p) => p.options ?? []);
    const options = {
        help: { type: 'boolean', short: 'h' },
    };
    for (const o of SERVER_OPTIONS)
        options[o.flag] = { type: 'string' };
    for (const o of pluginOptions)
        options[o.name] = { type: 'string' };
    let values;
    try {
        ({ values } = (0,external_node_util_.parseArgs)({ args: argv, options, strict: true, allowPositionals: false }));
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`${(0,errors/* errorMessage */.gJ)(err).replace(/\. To specify a positional.*$/s, '')}\n\n${usage()}`);
    }
    if (values.help)
        return { help: true };
    const flags = {};
    for (const [k, v] of Object.entries(values))
        if (typeof v === 'string')
            flags[k] = v;
    return { config: loadConfig(flags, process.env, pluginOptions) };
}
/** `hoist server init`: migrates the database and prints a new admin token as the last stdout line. */
async function init(config) {
    for (const w of config.warnings)
        process.stderr.write(`hoist server: warning: ${w}\n`);
    const db = await openMigrated(config);
    try {
        const tokens = new TokenService(db, systemClock);
        const existing = await tokens.list({ kind: 'admin' });
        const { token, info } = await db.transaction(async (tx) => {
            const minted = await tokens.mint({ kind: 'admin', name: existing.length ? 'admin (server init)' : 'initial admin' }, tx);
            await new AuditLog(db, systemClock).record({
                action: 'token.create',
                outcome: 'ok',
                project_id: null,
                subject: 'hoist server init',
                reason: `admin token ${minted.info.id} created by hoist server init`,
                details: { token_id: minted.info.id },
            }, tx);
            return minted;
        });
        const where = config.databaseUrl ? redactUrl(config.databaseUrl) : `${config.dataDir}/hoist.db`;
        process.stdout.write(`Hoist database ready (${where}). New admin token ${info.id}${existing.length ? ` (${existing.length} other admin token(s) exist)` : ''}; it is shown only once:\n${token}\n`);
        return 0;
    }
    finally {
        await db.close();
    }
}
/** `hoist server [init] [flags]`; returns the exit code. */
async function runServerCommand(argv) {
    const isInit = argv[0] === 'init';
    let parsed;
    try {
        parsed = parse(isInit ? argv.slice(1) : argv);
    }
    catch (err) {
        if (err instanceof errors/* ConfigurationError */.j1) {
            process.stderr.write(`hoist server: ${err.message}\n`);
            return 2;
        }
        throw err;
    }
    if ('help' in parsed) {
        process.stdout.write(usage());
        return 0;
    }
    const { config } = parsed;
    try {
        if (isInit)
            return await init(config);
        const server = await startServer(config);
        await new Promise((resolve) => {
            const onSignal = (sig) => {
                server.deps.logger.info({ signal: sig }, 'shutting down');
                process.off('SIGINT', onSignal);
                process.off('SIGTERM', onSignal);
                server.stop().then(resolve, (err) => {
                    server.deps.logger.error({ err }, 'shutdown failed');
                    resolve();
                });
            };
            process.on('SIGINT', onSignal);
            process.on('SIGTERM', onSignal);
        });
        return 0;
    }
    catch (err) {
        if (err instanceof errors/* ConfigurationError */.j1) {
            process.stderr.write(`hoist server: ${err.message}\n`);
            return 2;
        }
        const code = err.code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
            process.stderr.write(`hoist server: cannot listen on ${config.host}:${config.port}: ${(0,errors/* errorMessage */.gJ)(err)}; pick another --listen address\n`);
            return 1;
        }
        throw err;
    }
}



/***/ })

};
;